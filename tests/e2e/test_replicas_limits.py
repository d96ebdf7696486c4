"""Replicas sharing robots (README.md, "Several replicas on PostgreSQL"):
a robot's 20-a-minute window, a service's penalty pause and an
operator's requests hold across replicas (core/store/postgresql/
admission.c and requests.c, core/delivery/send.c).

  1. a storm spread over three replicas to one robot that enforces 20 a
     minute with a 10-minute block: never a 130101, every alert in one of
     the messages;
  2. a 130101 one replica got pauses the robot for the others, and an
     operator's unpause reaches every replica;
  3. an operator's send-now reaches the replica that holds the
     notification, whichever replica's writer looks first.

Every wait polls an observable event (the mock, a replica's metrics or
log, the database)."""

import itertools
import re

import pytest

import harness
import test_queue_ops as queue_ops
import test_reliability as reliability
from harness import DT_SECRET, T1
from mock_dingtalk import MockDingTalk

_databases = itertools.count()
ERR_TOO_FAST = 130101


@pytest.fixture
def strict_robot():
    """DingTalk's own limit: 20 a minute, then 130101 for ten minutes."""
    mock = MockDingTalk(rate_limit=20, rate_window=60.0, block_seconds=600.0)
    mock.add_signed(T1, DT_SECRET)
    mock.start()
    yield mock
    mock.stop()


def start_replicas(herald_factory, postgres, mock, count, **receiver):
    database = postgres.create_database("limits_%d" % next(_databases))
    env = {"HERALD_PG_DSN": postgres.dsn(database), "DT_SECRET": DT_SECRET}
    extra = {"shutdown_timeout": "2s",
             "store": {"backend": "postgresql", "dsn": harness.lua_env("HERALD_PG_DSN")}}
    receivers = {"ops": reliability.ops(mock, **receiver)}
    replicas = [herald_factory(receivers, "ops", env=env, extra=extra) for _ in range(count)]
    for h in replicas:
        h.database = database
    # each plans with its share of the window once it sees the others
    for h in replicas:
        harness.wait_until(lambda: harness.metrics(h.base_url).get("herald_replicas") == count,
                           timeout=15, message="%d live replicas seen" % count)
    return replicas


def test_a_storm_over_three_replicas_keeps_the_robot_under_its_limit(
        herald_factory, postgres, strict_robot):
    """300 one-alert requests, posted in turn to three replicas by 8
    threads, for one robot: the replicas admit each send against the
    window they share, so the robot never answers 130101 (which would
    block it for ten minutes: the mock counts every 60 s) and every alert
    is in one of them. (Each replica judging the window alone sends more
    than 20 in the storm's first seconds.) Not a concurrency test: its
    minute of waiting for the window is spent once per build, not under
    ThreadSanitizer too; the other tests here are."""
    total = 300
    replicas = start_replicas(herald_factory, postgres, strict_robot, 3, split="alert")
    names = ["Storm%03d" % i for i in range(total)]
    # instances long enough (a digest lists each) that one replica's share
    # of the storm needs six digests or more, so replicas judging the
    # window alone overrun it
    padding = "-" + "x" * 1000

    def post_one(i):
        alert = reliability.alert(names[i], instance="s%03d%s" % (i, padding),
                                  fingerprint="%016x" % (0x7000 + i))
        return reliability.post(replicas[i % 3], [alert], timeout=10)

    answers = harness.post_concurrently(total, post_one)
    assert len(answers) == total and all(s == 200 for s, _ in answers), answers[:5]
    strict_robot.wait_for(lambda m: len(set(reliability.names_in(m, r"Storm\d{3}"))) >= total
                          or m.rejected(), timeout=150)
    for h in replicas:
        harness.wait_outbox_empty(h, timeout=30)
    accepted = strict_robot.accepted(T1)
    per_message = [len(set(re.findall(r"Storm\d{3}", t)))
                   for t in reliability.texts(strict_robot)]
    print("%d messages, alerts per message: %s" % (len(accepted), per_message))
    assert [r for r in reliability.rejections(strict_robot) if r[1] == ERR_TOO_FAST] == [], \
        "the replicas together made the robot answer 130101"
    assert reliability.rejections(strict_robot) == []
    missing = sorted(set(names) - set(reliability.names_in(strict_robot, r"Storm\d{3}")))
    assert not missing, "%d alerts in no message; first: %s" % (len(missing), missing[:10])
    # nothing went that the shared window did not admit
    admitted = postgres.psql("SELECT count(*) FROM target_sends", replicas[0].database)
    assert int(admitted) == len(accepted), (admitted, len(accepted))


def paused_targets(h):
    return harness.metrics(h.base_url).get("herald_paused_targets")


@pytest.mark.concurrency
def test_a_pause_one_replica_saw_holds_the_others_until_an_unpause_reaches_all(
        herald_factory, postgres, strict_robot):
    """Replica A's message is refused with 130101: A pauses the robot
    (ten minutes, as DingTalk blocks it). A message posted to replica B
    waits too: B's send is refused by the shared pause (its metrics then
    show the robot paused) instead of going into the penalty. One
    `herald queue unpause`, which one replica's writer takes, resumes
    the robot on both."""
    a, b = start_replicas(herald_factory, postgres, strict_robot, 2)
    queue_ops.paused_by_130101(a, strict_robot, "PausedAtA")
    assert paused_targets(a) == 1
    queue_ops.post(b, "PostedAtB")
    harness.wait_until(lambda: paused_targets(b) == 1, timeout=15,
                       message="replica B refused by the pause replica A saw")
    assert strict_robot.accepted(T1) == [], "replica B sent into the robot's penalty"

    out = queue_ops.cli(b, "queue", "unpause", "ops")
    assert "unpause ops:" in out, out
    strict_robot.wait_for(lambda m: len(m.accepted(T1)) == 2, timeout=20)
    got = " ".join(queue_ops.accepted_names(strict_robot))
    assert "PausedAtA" in got and "PostedAtB" in got, got
    for h in (a, b):
        harness.wait_until(lambda: "unpaused by an operator" in h.log(), timeout=15,
                           message="the unpause applied by %s" % h.base_url)
        harness.wait_until(lambda: paused_targets(h) == 0, timeout=15,
                           message="no target paused at %s" % h.base_url)
    # the one 130101 the test injected, no other
    assert [r[1] for r in reliability.rejections(strict_robot)] == [ERR_TOO_FAST]


@pytest.mark.concurrency
def test_send_now_reaches_the_replica_holding_the_notification(
        herald_factory, postgres, strict_robot):
    """Three notifications wait at replica A behind a 130101 pause. Each
    `herald queue send-now`, made through replica C's store connection,
    is applied by A, the one replica that can send it, whichever
    replica's writer polls the requests first: all three go long before
    the ten-minute pause ends, while the robot is still paused."""
    a, b, c = start_replicas(herald_factory, postgres, strict_robot, 3)
    held = [queue_ops.paused_by_130101(a, strict_robot, "HeldAtA1")]
    for name in ("HeldAtA2", "HeldAtA3"):
        queue_ops.post(a, name)
        held.append(harness.wait_until(lambda: queue_ops.waiting(a, name), timeout=15,
                                       message="%s waiting behind the pause" % name))
    for row in held:
        out = queue_ops.cli(c, "queue", "send-now", str(row["id"]))
        assert "send-now %d:" % row["id"] in out, out
    strict_robot.wait_for(lambda m: len(m.accepted(T1)) == 3, timeout=30)
    got = " ".join(queue_ops.accepted_names(strict_robot))
    assert all(n in got for n in ("HeldAtA1", "HeldAtA2", "HeldAtA3")), got
    assert paused_targets(a) == 1, "the pause ended: send-now was not what sent them"
    for h in (b, c):
        assert "not waiting any more" not in h.log(), h.log_tail()
