"""Several herald replicas on one PostgreSQL (README.md, "Several replicas
on PostgreSQL"): any replica takes any alert, a replica that dies leaves
its notifications to the others once its lease runs out, and the dedup
window and repeat interval hold across replicas.

The replicas share one database of the tests' own server and one mock
DingTalk robot with its rate limit off (one alert, one message), where
deliveries are counted by alert name."""

import itertools
import json
import re
import threading

import pytest

import harness
import test_reliability as reliability
from harness import DT_SECRET, T1
from mock_dingtalk import MockDingTalk

_databases = itertools.count()


@pytest.fixture
def robot():
    mock = MockDingTalk(rate_limit=10 ** 6)
    mock.add_signed(T1, DT_SECRET)
    mock.start()
    yield mock
    mock.stop()


def start_replicas(herald_factory, postgres, mock, count, lease="30s", delivery=None,
                   receiver=None):
    """`count` heralds serving one new database."""
    database = postgres.create_database("replicas_%d" % next(_databases))
    env = {"HERALD_PG_DSN": postgres.dsn(database), "DT_SECRET": DT_SECRET}
    extra = {"shutdown_timeout": "2s",
             "store": {"backend": "postgresql", "dsn": harness.lua_env("HERALD_PG_DSN"),
                       "lease": lease}}
    if delivery:
        extra["delivery"] = delivery
    receivers = {"ops": reliability.ops(mock, rate_per_minute=0, **(receiver or {}))}
    replicas = [herald_factory(receivers, "ops", env=env, extra=extra) for _ in range(count)]
    for h in replicas:
        h.database = database
    return replicas


def delivered_counts(mock, pattern):
    counts = {}
    for text in reliability.texts(mock):
        for name in set(re.findall(pattern, text)):
            counts[name] = counts.get(name, 0) + 1
    return counts


def replica_name(h):
    return re.search(r"replica (\S+) on postgresql://", h.log()).group(1)


@pytest.mark.concurrency
def test_three_replicas_deliver_each_alert_once(herald_factory, postgres, robot):
    replicas = start_replicas(herald_factory, postgres, robot, 3)
    names = {replica_name(h) for h in replicas}
    assert len(names) == 3, names
    total = 60
    for i in range(total):
        reliability.post_ok(replicas[i % 3], [reliability.alert(
            "Each%03d" % i, fingerprint="%016x" % (0xe0000 + i))])
    harness.wait_until(lambda: len(delivered_counts(robot, r"Each\d{3}")) == total,
                       timeout=30, message="every alert delivered")
    for h in replicas:
        harness.wait_outbox_empty(h)
    counts = delivered_counts(robot, r"Each\d{3}")
    assert {n: c for n, c in counts.items() if c != 1} == {}
    # each replica delivered what it was posted, and claimed nothing of the others'
    assert postgres.psql("SELECT count(DISTINCT claimed_by) FROM deliveries",
                         replicas[0].database) == "3"
    assert not any("left by a replica that stopped" in h.log() for h in replicas)
    # each lists the three, itself marked (their files differ in `listen`,
    # which the configuration digest counts)
    for h in replicas:
        status, data = harness.http("GET", h.base_url + "/api/v1/replicas")
        assert status == 200, data
        answer = json.loads(data)
        live = [r for r in answer["replicas"] if r["live"]]
        assert {r["id"] for r in live} == names, answer
        assert [r["id"] for r in live if r["self"]] == [replica_name(h)], answer
        assert answer["configs_differ"] is True, answer


@pytest.mark.concurrency
def test_a_replica_killed_under_load_leaves_its_notifications_to_the_others(
        herald_factory, postgres, robot):
    """300 posts spread over three replicas by 8 threads, a slow robot so
    that notifications wait; kill -9 of one replica after 100
    acknowledgements. Every post answered 200 is delivered; the survivors
    take the dead one's notifications once its 3 s lease runs out, and
    duplicates stay within max_unrecorded of the dead replica."""
    total, max_unrecorded = 300, 4
    robot.set_delay(T1, 0.05)
    replicas = start_replicas(herald_factory, postgres, robot, 3, lease="3s",
                              delivery={"max_in_flight": 2, "max_unrecorded": max_unrecorded,
                                        "retry_initial": "200ms", "retry_max_delay": "500ms"})
    victim, survivors = replicas[0], replicas[1:]
    lock = threading.Lock()
    next_index = [0]
    acked, failed = set(), {}
    # set before the kill, not read from victim.proc: Popen.poll() answers
    # None while kill9's wait() holds the process, and a dying herald can
    # take a while to go, so a thread could post to it more than once
    victim_gone = threading.Event()

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= total:
                    return
                next_index[0] += 1
            target = replicas[i % 3]
            if target is victim and victim_gone.is_set():  # the dead one: to the next
                target = survivors[i % 2]
            try:
                status, _ = reliability.post(target, [reliability.alert(
                    "Load%04d" % i, fingerprint="%016x" % (0xd0000 + i))], timeout=10)
            except OSError as e:
                status = repr(e)
            with lock:
                (acked.add(i) if status == 200 else failed.__setitem__(i, status))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    harness.wait_until(lambda: len(acked) >= 100, timeout=60, interval=0.01,
                       message="100 posts acknowledged")
    victim_gone.set()
    assert harness.kill9(victim) == -9
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "posting threads did not finish"
    # what failed was in flight at the victim when it died
    assert len(acked) >= total - 8, (len(acked), failed)
    robot.set_delay(T1, 0)

    want = {"Load%04d" % i for i in acked}
    try:
        harness.wait_until(lambda: want <= set(delivered_counts(robot, r"Load\d{4}")),
                           timeout=60, message="every acknowledged post delivered")
    except harness.HarnessError:
        missing = sorted(want - set(delivered_counts(robot, r"Load\d{4}")))
        pytest.fail("%d acknowledged notification(s) never delivered: %s"
                    % (len(missing), missing[:20]), pytrace=False)
    for h in survivors:
        harness.wait_outbox_empty(h, timeout=30)
    assert any("left by a replica that stopped" in h.log() for h in survivors), \
        "\n".join(h.log_tail() for h in survivors)
    assert postgres.psql("SELECT count(*) FROM deliveries WHERE state <> 'delivered'",
                         victim.database) == "0"
    counts = delivered_counts(robot, r"Load\d{4}")
    extra_sends = sum(c - 1 for c in counts.values())
    assert extra_sends <= max_unrecorded, sorted((n, c) for n, c in counts.items() if c > 1)
    # back on its feet it is a replica again, with nothing left to take
    victim.start()
    assert "left by a replica that stopped" not in victim.log()


@pytest.mark.concurrency
def test_the_same_alert_posted_to_two_replicas_is_sent_once(herald_factory, postgres, robot):
    """Two un-clustered Alertmanagers, each pointed at its own replica, post
    the same alerts at the same moment: each is sent once; posted again
    later, to either, it is a repeat within repeat_interval, held back."""
    a, b = start_replicas(herald_factory, postgres, robot, 2,
                          receiver={"repeat_interval": "4h"})
    rounds = 20
    started = harness.rfc3339(harness.now_seconds())  # one firing each, whoever posts it

    def firing(i):
        return dict(reliability.alert("Both%02d" % i, fingerprint="%016x" % (0xb0000 + i)),
                    startsAt=started)
    for i in range(rounds):
        alerts = [firing(i)]
        both = threading.Barrier(2)
        answers = [None, None]

        def post(k, h):
            both.wait(timeout=10)
            answers[k] = reliability.post(h, alerts)
        threads = [threading.Thread(target=post, args=(k, h)) for k, h in enumerate((a, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert [status for status, _ in answers] == [200, 200], answers
        assert sum(answer["notifications"] for _, answer in answers) == 1, answers
    harness.wait_until(lambda: len(delivered_counts(robot, r"Both\d{2}")) == rounds,
                       timeout=30, message="every alert delivered")
    for i in range(rounds):  # a repeat, to the other replica this time
        replica = (a, b)[i % 2]
        answer = reliability.post_ok(replica, [firing(i)])
        assert answer["notifications"] == 0, answer
    for h in (a, b):
        harness.wait_outbox_empty(h)
    counts = delivered_counts(robot, r"Both\d{2}")
    assert {n: c for n, c in counts.items() if c != 1} == {}
