"""Three herald replicas on one PostgreSQL behind the real HAProxy
(README.md, "Three replicas behind HAProxy"), run on conf/haproxy.cfg
itself: the shipped example is what is tested.

The file is rendered as its header says: 127.0.0.1 and the test's ports
go into its one `bind` line and its three `server` lines, and the global
lines that need root and the package's user (`chroot`, `user`, `group`)
are dropped. haproxy runs in the foreground (`-db`) as the test's user;
its log (stdout: each request, and each server going DOWN or UP) is
what the tests watch of HAProxy.

Environment: HAPROXY_BIN (default /usr/sbin/haproxy, Debian's haproxy,
installed by `conf/install-deps.sh --test`). A missing haproxy fails the
tests with a message saying so, as a missing Alertmanager or PostgreSQL
does; nothing is skipped."""

import os
import re
import subprocess
import threading

import pytest

import harness
import test_reliability as reliability
from test_replicas import delivered_counts, replica_name, robot, start_replicas  # noqa: F401

HAPROXY_BIN = os.environ.get("HAPROXY_BIN", "/usr/sbin/haproxy")
EXAMPLE = harness.REPO / "conf" / "haproxy.cfg"

def missing_haproxy():
    """Why haproxy cannot run, or None."""
    if os.access(HAPROXY_BIN, os.X_OK):
        return None
    return ("haproxy not found at %s: install the Debian package haproxy "
            "(bash conf/install-deps.sh --test) or set HAPROXY_BIN" % HAPROXY_BIN)


_NEEDS_ROOT = re.compile(r"\s*(chroot|user|group)\s")
_BIND = re.compile(r"(\s*bind\s+)\S+(.*)")
_SERVER = re.compile(r"(\s*server\s+\S+\s+)\S+(.*)")


def render(port, replica_ports):
    """conf/haproxy.cfg with HAProxy on 127.0.0.1:port and its servers at
    the replicas' ports, in order; fails if the file no longer has the
    shape its header promises."""
    out, binds, servers = [], 0, []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if _NEEDS_ROOT.match(line):
            continue
        m = _BIND.fullmatch(line)
        if m:
            binds += 1
            line = "%s127.0.0.1:%d%s" % (m.group(1), port, m.group(2))
        m = _SERVER.fullmatch(line)
        if m:
            servers.append(line)
            if len(servers) <= len(replica_ports):
                line = "%s127.0.0.1:%d%s" % (m.group(1), replica_ports[len(servers) - 1],
                                             m.group(2))
        out.append(line)
    assert binds == 1 and len(servers) == len(replica_ports), \
        "%s should have one bind line and %d server lines: %d and %r" % (
            EXAMPLE, len(replica_ports), binds, servers)
    return "\n".join(out) + "\n"


class HAProxy(harness._Process):
    name = "haproxy"

    def __init__(self, workdir, replicas):
        super().__init__(workdir)
        self.port = harness.free_port()
        self.config_path = self.workdir / "haproxy.cfg"
        self.config_path.write_text(render(self.port, [h.port for h in replicas]),
                                    encoding="utf-8")

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, ready_timeout=15.0):
        if missing_haproxy():
            raise harness.HarnessError(missing_haproxy())
        self._spawn([HAPROXY_BIN, "-db", "-f", str(self.config_path)], harness.clean_env())
        # through HAProxy to a replica's readiness
        self.wait_ready(self.base_url + "/-/ready", ready_timeout)
        return self

    def server_events(self, since=0):
        """[(server, "DOWN" or "UP")] HAProxy logged after offset `since`
        of its log."""
        return re.findall(r"Server herald/(\S+) is (DOWN|UP)", self.log()[since:])


@pytest.fixture
def haproxy_factory(tmp_path, request):
    started = []

    def make(replicas):
        lb = HAProxy(tmp_path / ("haproxy-%d" % len(started)), replicas)
        started.append(lb)
        error = None
        try:
            lb.start()
        except harness.HarnessError as e:
            error = str(e)
        if error:
            pytest.fail(error, pytrace=False)
        return lb

    yield make

    for lb in started:
        lb.stop(timeout=10.0)
    if any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
           for w in ("setup", "call")):
        for lb in started:
            if lb.proc is None:
                continue
            print("----- %s log -----\n%s" % (lb.workdir.name, lb.log_tail(20000)))


def accepted(h):
    return harness.metrics(h.base_url)["herald_requests_accepted_total"]


def firing(name, n):
    return reliability.alert(name, fingerprint="%016x" % (0xa0000 + n))


def test_the_example_is_valid_as_shipped():
    """What the README has an operator run on the copied file."""
    if missing_haproxy():
        pytest.fail(missing_haproxy(), pytrace=False)
    res = subprocess.run([HAPROXY_BIN, "-c", "-f", str(EXAMPLE)], capture_output=True,
                         timeout=30)
    out = (res.stdout + res.stderr).decode("utf-8", "replace")
    assert res.returncode == 0 and "Configuration file is valid" in out, out
    assert "WARNING" not in out and "ALERT" not in out, out


def test_alerts_posted_through_haproxy_are_spread_over_the_replicas_and_sent_once(
        herald_factory, postgres, robot, haproxy_factory):  # noqa: F811
    replicas = start_replicas(herald_factory, postgres, robot, 3,
                              receiver={"repeat_interval": "4h"})
    lb = haproxy_factory(replicas)
    total = 30
    for i in range(total):
        answer = reliability.post_ok(lb, [firing("Spread%02d" % i, i)])
        assert answer["notifications"] == 1, answer
    harness.wait_until(lambda: len(delivered_counts(robot, r"Spread\d{2}")) == total,
                       timeout=30, message="every alert delivered")
    # what HAProxy replays (retry-on) is held back whichever replica takes it
    for i in range(6):
        answer = reliability.post_ok(lb, [firing("Spread%02d" % i, i)])
        assert answer["notifications"] == 0, answer
    for h in replicas:
        harness.wait_outbox_empty(h)
    counts = delivered_counts(robot, r"Spread\d{2}")
    assert {n: c for n, c in counts.items() if c != 1} == {}
    taken = [accepted(h) for h in replicas]
    assert sum(taken) == total + 6 and sum(1 for n in taken if n) >= 2, taken

    # the replicas as the README shows them: through HAProxy and on the command line
    names = {replica_name(h) for h in replicas}
    status, answer = harness.http_json("GET", lb.base_url + "/api/v1/replicas")
    assert status == 200, answer
    assert {r["id"] for r in answer["replicas"] if r["live"]} == names, answer
    rc, out, err = harness.herald_cli(replicas[0], "replicas")
    assert rc == 0 and all(name in out for name in names), (rc, out, err)


@pytest.mark.concurrency
def test_a_killed_and_a_stopping_replica_fail_no_post_and_leave_the_rotation(
        herald_factory, postgres, robot, haproxy_factory):  # noqa: F811
    """Four clients post through HAProxy; one replica is killed with
    SIGKILL and another stopped with SIGTERM (its /-/ready and ingest
    answer 503 until it exits). Every post is answered 200, a refused one
    replayed on another replica, and delivered; HAProxy marks both DOWN.
    Both start again, HAProxy marks them UP and sends them requests
    again."""
    max_unrecorded = 4
    replicas = start_replicas(herald_factory, postgres, robot, 3, lease="3s",
                              delivery={"max_unrecorded": max_unrecorded},
                              receiver={"repeat_interval": "4h"})
    killed, stopped, survivor = replicas
    names = {h: ("herald%d" % (k + 1)) for k, h in enumerate(replicas)}  # as in the cfg
    lb = haproxy_factory(replicas)

    # Posting is fast: the posts of the failing phase are bounded, and they
    # come while HAProxy still has the two in its rotation (it needs a
    # check or two to mark them DOWN). Then the clients wait for that.
    cond = threading.Condition()
    state = {"next": 0, "phase": "before", "failing": 0, "stop": False}
    answers = {}  # i -> (phase the post started in, status)

    def worker():
        while True:
            with cond:
                cond.wait_for(lambda: state["stop"] or state["phase"] != "failing"
                              or state["failing"] < 100, timeout=60)
                if state["stop"] or state["next"] >= 1000:
                    return
                i, phase = state["next"], state["phase"]
                state["next"] += 1
                state["failing"] += phase == "failing"
            try:
                status, _ = reliability.post(lb, [firing("Fail%03d" % i, i)], timeout=60)
            except OSError as e:
                status = repr(e)
            with cond:
                answers[i] = (phase, status)

    def count(phase=None, status=None):
        with cond:
            return sum(1 for p, s in answers.values()
                       if phase in (None, p) and status in (None, s))

    def enter(phase):
        with cond:
            state["phase"] = phase
            cond.notify_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        harness.wait_until(lambda: count(status=200) >= 30, timeout=60,
                           message="30 posts acknowledged")
        mark = len(lb.log())
        enter("failing")
        assert harness.kill9(killed) == -9
        assert stopped.stop(timeout=30) == 0
        harness.wait_until(
            lambda: {(names[killed], "DOWN"), (names[stopped], "DOWN")}
            <= set(lb.server_events(mark)),
            timeout=30, message="HAProxy marks both replicas DOWN")
        enter("down")
        harness.wait_until(lambda: count(phase="down") >= 30, timeout=60,
                           message="30 posts answered after both were marked DOWN")
    finally:
        with cond:
            state["stop"] = True
            cond.notify_all()
        for t in threads:
            t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "posting threads did not finish"

    # HAProxy took each replica out at its first refusal (observe layer7)
    # and replayed the request on another: no client saw a failure
    with cond:
        refused = {i: a for i, a in answers.items() if a[1] != 200}
    assert refused == {}, refused
    want = {"Fail%03d" % i for i in answers}
    try:
        harness.wait_until(lambda: want <= set(delivered_counts(robot, r"Fail\d{3}")),
                           timeout=60, message="every acknowledged post delivered")
    except harness.HarnessError:
        missing = sorted(want - set(delivered_counts(robot, r"Fail\d{3}")))
        pytest.fail("%d acknowledged post(s) never delivered: %s" % (len(missing), missing[:20]),
                    pytrace=False)
    harness.wait_outbox_empty(survivor, timeout=30)
    counts = delivered_counts(robot, r"Fail\d{3}")
    assert sum(c - 1 for c in counts.values()) <= max_unrecorded, \
        sorted((n, c) for n, c in counts.items() if c > 1)

    # back: HAProxy's checks see them ready and the rotation takes them again
    mark = len(lb.log())
    killed.start()
    stopped.start()
    harness.wait_until(
        lambda: {(names[killed], "UP"), (names[stopped], "UP")} <= set(lb.server_events(mark)),
        timeout=30, message="HAProxy marks both replicas UP again")
    for i in range(9):
        reliability.post_ok(lb, [firing("Back%d" % i, 1000 + i)])
    assert accepted(killed) > 0 and accepted(stopped) > 0
    harness.wait_until(lambda: len(delivered_counts(robot, r"Back\d")) == 9, timeout=30,
                       message="the posts after the return delivered")


def test_alertmanager_delivers_through_haproxy(herald_factory, postgres, robot,  # noqa: F811
                                               haproxy_factory, alertmanager_factory):
    replicas = start_replicas(herald_factory, postgres, robot, 3,
                              receiver={"repeat_interval": "4h"})
    lb = haproxy_factory(replicas)
    am = alertmanager_factory(lb.base_url + "/webhook")
    labels = {"alertname": "BehindHAProxy", "instance": "10.0.0.12:9100", "severity": "warning"}

    starts = am.fire(labels, {"summary": "through the load balancer"})
    harness.wait_until(lambda: delivered_counts(robot, r"BehindHAProxy"), timeout=30,
                       message="the alert delivered")
    # HAProxy's own log line for Alertmanager's POST, answered 200 by a replica
    assert re.search(r' herald herald/herald\d \S+ 200 .*"POST /webhook HTTP/1\.1"', lb.log()), \
        lb.log_tail()

    am.resolve(labels, starts_at=starts)
    harness.wait_until(lambda: any("BehindHAProxy" in t and "恢复" in t
                                   for t in reliability.texts(robot)),
                       timeout=30, message="the resolution delivered")
    for h in replicas:
        harness.wait_outbox_empty(h)
    assert delivered_counts(robot, r"BehindHAProxy") == {"BehindHAProxy": 2}
