"""Connection floods (README.md, "HTTP endpoints", and conf/README.md,
`connections`): idle and slow connections from other addresses do not
shut out a well-behaved client on 127.0.0.1; a request head or body that
is not complete in time gets its connection closed; one address cannot
hold more than connections.per_address connections.

The flood comes from 127.0.0.2 and up over raw sockets, is bounded in
connections and time, and every socket is closed at the end."""

import contextlib
import re
import resource
import select
import socket
import time

import pytest

import harness

FIXTURE = (harness.REPO / "tests" / "fixtures" / "am-firing-1.json").read_bytes()
IDLE_FLOOD = 2000
# Every wait for herald to show something is bounded by this; it is
# generous for a sanitized build on a loaded machine.
BOUND = 60.0


def start(herald_factory, tmp_path, connections):
    console = tmp_path / "console.jsonl"
    h = herald_factory({"console": {"channel": "console", "path": str(console)}},
                       default_receiver="console", extra={"connections": connections})
    h.console = console
    return h


@pytest.fixture
def sockets():
    """A list the test appends its raw sockets to; all closed at the end."""
    opened = []
    yield opened
    for s in opened:
        with contextlib.suppress(OSError):
            s.close()


def enough_descriptors(n):
    """Raise this process's soft RLIMIT_NOFILE to hold n more sockets; the
    hard limit, which herald (started after this) raises its own to, must
    hold them beside the descriptors herald keeps for itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 512
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip("RLIMIT_NOFILE hard limit %d is below the %d this test needs" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def connect_from(source, port, opened):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    opened.append(s)
    s.bind((source, 0))
    s.settimeout(BOUND)
    s.connect(("127.0.0.1", port))
    return s


def flood_address(i):
    """127.0.0.2, 127.0.0.3, ...: never the well-behaved client's address."""
    return "127.0.0.%d" % (2 + i)


def closed_by_peer(s):
    """Whether herald has closed s: a read gives the end of the stream or a
    reset. Does not wait."""
    poller = select.poll()  # select() stops at descriptor 1023
    poller.register(s, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return s.recv(65536) == b""
    except OSError:
        return True


def wait_closed(s, timeout=BOUND):
    """Wait, with a bound, for herald to close s; True when it did."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(65536)
            if data == b"":
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def get_healthy(s):
    """GET /-/healthy on an open socket, keeping it alive; the status."""
    s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"Healthy.\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data else 0


def open_connections(h):
    return harness.metrics(h.base_url, timeout=BOUND)["herald_connections_open"]


def post_alert_and_see_it_delivered(h):
    status, data = harness.http("POST", h.base_url + "/webhook", FIXTURE, timeout=BOUND)
    assert status == 200, data
    harness.wait_until(lambda: harness.read_json_lines(h.console), timeout=BOUND,
                       message="the alert delivered to the console receiver")


def test_idle_flood_from_other_addresses_leaves_probes_and_ingest_served(
        herald_factory, tmp_path, sockets):
    enough_descriptors(IDLE_FLOOD)
    # Deadlines far off: the flood must stay open while the client is served.
    h = start(herald_factory, tmp_path, {"head_timeout": "1h"})
    per_address = 50  # under the default connections.per_address (128)
    for i in range(IDLE_FLOOD):
        connect_from(flood_address(i // per_address), h.port, sockets)
    # herald holds every one of them (this client's own connection too)
    harness.wait_until(lambda: open_connections(h) >= IDLE_FLOOD + 1, timeout=BOUND,
                       message="herald holding the %d idle connections" % IDLE_FLOOD)
    assert harness.http("GET", h.base_url + "/-/healthy", timeout=BOUND)[0] == 200
    assert harness.http("GET", h.base_url + "/-/ready", timeout=BOUND)[0] == 200
    post_alert_and_see_it_delivered(h)
    # the overall limit is sized from the file descriptors herald raised
    sized = re.search(r"accepting up to (\d+) connections, 128 per address "
                      r"\((\d+) file descriptors\)", h.log())
    assert sized and IDLE_FLOOD < int(sized.group(1)) < int(sized.group(2)), h.log_tail()


def test_slow_heads_are_closed_at_the_head_deadline_while_others_are_served(
        herald_factory, tmp_path, sockets):
    h = start(herald_factory, tmp_path, {"head_timeout": "1s"})
    slow = []
    for i in range(40):
        connecting = time.monotonic()  # herald accepts, and counts, after this
        s = connect_from(flood_address(i % 8), h.port, sockets)
        s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
        slow.append((s, connecting))
    assert harness.http("GET", h.base_url + "/-/healthy", timeout=BOUND)[0] == 200
    post_alert_and_see_it_delivered(h)
    # A header line every 500 ms keeps each one active: only the deadline
    # for a complete head ends it.
    open_ones = dict(slow)
    closed_after = []
    bound = time.monotonic() + BOUND
    n = 0
    while open_ones and time.monotonic() < bound:
        for s in list(open_ones):
            if closed_by_peer(s):
                closed_after.append(time.monotonic() - open_ones.pop(s))
                continue
            try:
                s.sendall(b"X-Slow-%d: still coming\r\n" % n)
            except OSError:
                closed_after.append(time.monotonic() - open_ones.pop(s))
        n += 1
        time.sleep(0.5)  # the pace of the slow client, not a wait for herald
    assert not open_ones, "%d slow heads still open after %.0f s" % (len(open_ones), BOUND)
    # the deadline, not something sooner (herald's clock counts whole ms)
    assert min(closed_after) >= 0.99, closed_after
    m = harness.metrics(h.base_url, timeout=BOUND)
    assert m['herald_connections_overdue_total{part="head"}'] >= 40
    assert "no complete request head within 1000 ms (connections.head_timeout)" in h.log()


def test_slow_body_is_closed_at_the_body_deadline(herald_factory, tmp_path, sockets):
    h = start(herald_factory, tmp_path, {"body_timeout": "1s"})
    started = time.monotonic()
    s = connect_from(flood_address(0), h.port, sockets)
    s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(FIXTURE))
    bound = started + BOUND
    sent = 0
    closed = False
    while time.monotonic() < bound and sent < len(FIXTURE) - 1:
        if closed_by_peer(s):
            closed = True
            break
        try:
            s.sendall(FIXTURE[sent:sent + 1])  # never the last byte
        except OSError:
            closed = True
            break
        sent += 1
        time.sleep(0.05)  # the pace of the slow client
    assert closed or wait_closed(s), "the slow body's connection is still open"
    assert time.monotonic() - started >= 0.99
    m = harness.metrics(h.base_url, timeout=BOUND)
    assert m['herald_connections_overdue_total{part="body"}'] == 1
    assert m["herald_requests_accepted_total"] == 0
    assert "the request body was not complete within 1000 ms of its head" in h.log()
    # an ordinary client is still served
    post_alert_and_see_it_delivered(h)


def test_one_address_is_refused_past_its_limit_while_another_connects(
        herald_factory, tmp_path, sockets):
    h = start(herald_factory, tmp_path, {"per_address": 8, "head_timeout": "1h"})
    held = []
    for _ in range(8):
        s = connect_from("127.0.0.2", h.port, sockets)
        assert get_healthy(s) == 200  # served: herald holds it, kept alive
        held.append(s)
    ninth = connect_from("127.0.0.2", h.port, sockets)
    assert wait_closed(ninth), "the ninth connection from 127.0.0.2 was not refused"
    other = connect_from("127.0.0.3", h.port, sockets)
    assert get_healthy(other) == 200
    assert all(get_healthy(s) == 200 for s in held)  # the eight still work
    m = harness.metrics(h.base_url, timeout=BOUND)
    assert m['herald_connections_refused_total{reason="per_address"}'] == 1
    assert ("refusing a connection from 127.0.0.2: it has 8 open, the limit per address "
            "(connections.per_address)") in h.log(), h.log_tail()
    # a place freed is a place taken again
    held.pop().close()

    def served_again():
        s = connect_from("127.0.0.2", h.port, sockets)
        return not closed_by_peer(s) and get_healthy(s) == 200
    harness.wait_until(served_again, timeout=BOUND, message="127.0.0.2 served once it closed one")


def test_overall_limit_refuses_beyond_max(herald_factory, tmp_path, sockets):
    h = start(herald_factory, tmp_path, {"max": 16, "head_timeout": "1h"})
    assert "accepting up to 16 connections, 16 per address" in h.log(), h.log_tail()
    for i in range(16):
        assert get_healthy(connect_from(flood_address(i), h.port, sockets)) == 200
    extra = connect_from(flood_address(16), h.port, sockets)
    assert wait_closed(extra), "a connection beyond connections.max was not refused"
    assert ("refusing a connection from 127.0.0.18: 16 are open, the limit (connections.max)"
            in h.log()), h.log_tail()
    sockets.pop(0).close()  # a place freed is a place taken again
    m = harness.wait_until(lambda: harness.metrics(h.base_url, timeout=BOUND), timeout=BOUND,
                           message="/metrics served once a connection closed")
    assert m['herald_connections_refused_total{reason="limit"}'] >= 1


def test_a_reload_says_connections_wait_for_a_restart(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path, {"per_address": 8})
    text = h.config_path.read_text(encoding="utf-8")
    assert "per_address = 8," in text, text
    h.config_path.write_text(text.replace("per_address = 8,", "per_address = 9,"),
                             encoding="utf-8")
    status, data = harness.http("POST", h.base_url + "/-/reload", timeout=BOUND)
    assert status == 200, data
    assert ("connections changed to max auto, per_address 9, head_timeout 10000 ms, "
            "body_timeout 60000 ms; max auto, per_address 8, head_timeout 10000 ms, "
            "body_timeout 60000 ms stays in force until a restart") in h.log(), h.log_tail()
