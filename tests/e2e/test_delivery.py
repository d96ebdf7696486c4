"""Delivery (README.md, "Configure a DingTalk robot" and "Design notes"):
retries with backoff, 130101 throttling, permanent DingTalk errors as dead
letters without retries, transport errors up to max_age, graceful SIGTERM
during a delivery, and @-mentions from the receiver and the route script."""

import json
import re
import signal
import time

import pytest

import harness
from harness import DT_SECRET, KEYWORD, T1, T2
from mock_webhook import MockWebhook


def ops(mock, secret_env="DT_SECRET", **extra):
    spec = {"channel": "dingtalk", "url": mock.url(T1),
            "secret": harness.lua_env(secret_env), "template": "dingtalk"}
    spec.update(extra)
    return spec


def start(herald_factory, receivers, default="ops", env=None, extra=None):
    return herald_factory(receivers, default_receiver=default,
                          env=dict({"DT_SECRET": DT_SECRET}, **(env or {})), extra=extra)


def fire(h, path="/webhook", name="DiskFull", **labels):
    payload = harness.am_payload([{"labels": dict({"alertname": name, "instance": "db:9100"},
                                                  **labels),
                                   "annotations": {"summary": "disk on db is full"}}])
    status, data = harness.http("POST", h.base_url + path, payload)
    assert status == 200, (status, data)


@pytest.mark.concurrency
def test_http_500_is_retried_then_delivered(mock_dingtalk, herald_factory):
    h = start(herald_factory, {"ops": ops(mock_dingtalk)}, extra={"delivery": harness.FAST_RETRIES})
    mock_dingtalk.fail_next(T1, 2, http_status=500)
    fire(h)
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=10)
    [rec] = mock_dingtalk.accepted(T1)
    assert "DiskFull" in rec["json"]["markdown"]["title"]
    rejected = mock_dingtalk.rejected(T1)
    assert [r["http_status"] for r in rejected] == [500, 500], rejected
    retries = harness.retries(h)
    assert [a for a, _, _ in retries] == [1, 2], h.log_tail()
    assert all("500" in reason for _, reason, _ in retries), retries
    # backoff with jitter: attempt 1 waits 50..100 ms, attempt 2 100..200 ms
    assert 50 <= retries[0][2] <= 100 and 100 <= retries[1][2] <= 200, retries
    # ... and the retries really happen after the announced delay (the mock
    # stamps each attempt; allow 3 s of scheduling slack on a loaded machine,
    # shared by pytest-xdist workers, and under the sanitizers)
    attempts = [r["time"] for r in rejected] + [rec["time"]]
    for i, (_, _, delay) in enumerate(retries):
        gap = attempts[i + 1] - attempts[i]
        assert gap <= delay / 1000.0 + 3.0, \
            "attempt %d came %.0f ms after attempt %d, announced 'retrying in %d ms'" % (
                i + 2, gap * 1000, i + 1, delay)
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_deliveries_total"] == 1,
                       timeout=30)
    m = harness.metrics(h.base_url)
    assert m["herald_delivery_retries_total"] == 2 and m["herald_dead_letters_total"] == 0, m
    harness.wait_outbox_empty(h)
    assert len(mock_dingtalk.accepted(T1)) == 1  # delivered once, not again


@pytest.mark.concurrency
def test_too_fast_130101_waits_a_minute_and_shutdown_is_bounded(mock_dingtalk, herald_factory):
    shutdown_timeout = 2.0
    h = start(herald_factory, {"ops": ops(mock_dingtalk)},
              extra={"delivery": harness.FAST_RETRIES,
                     "shutdown_timeout": "%gs" % shutdown_timeout})
    mock_dingtalk.fail_next(T1, 1, 130101)
    fire(h)
    harness.wait_until(lambda: harness.retries(h), timeout=10, message="a retry is logged")
    [(attempt, reason, delay)] = harness.retries(h)
    assert attempt == 1 and "130101" in reason, reason
    assert delay >= 59000, delay
    assert mock_dingtalk.accepted() == []

    t0 = time.monotonic()
    rc = h.stop(timeout=10)
    elapsed = time.monotonic() - t0
    assert not h.killed, "herald did not exit within 10 s of SIGTERM"
    assert rc == 0, rc
    # shutdown_timeout plus a margin: far below the minute the retry waits
    assert elapsed < shutdown_timeout + 5, elapsed
    assert re.search(r"\b1 notification kept in the store for the next start", h.log()), \
        h.log_tail()
    assert mock_dingtalk.accepted() == [] and len(mock_dingtalk.rejected()) == 1


def test_wrong_secret_is_a_dead_letter_without_retries(mock_dingtalk, herald_factory):
    wrong = "SECwrongwrongwrong0123456789abcd"
    h = start(herald_factory, {"ops": ops(mock_dingtalk, secret_env="WRONG_SECRET")},
              env={"WRONG_SECRET": wrong}, extra={"delivery": harness.FAST_RETRIES})
    fire(h)
    harness.wait_until(lambda: "dead letter" in h.log(), timeout=30,
                       message="dead letter logged")
    dead = harness.dead_letters(h)
    assert len(dead) == 1 and "sign not match" in dead[0] and "310000" in dead[0], dead
    harness.wait_outbox_empty(h)  # given up: nothing left to retry
    rejected = mock_dingtalk.rejected(T1)
    assert len(rejected) == 1, [(r["errcode"], r["errmsg"]) for r in rejected]
    assert rejected[0]["errcode"] == 310000
    assert mock_dingtalk.accepted() == []
    assert harness.retries(h) == []
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1 and m["herald_delivery_retries_total"] == 0, m
    assert wrong not in h.log()  # redacted by the harness anyway; check the raw file
    assert wrong.encode() not in h.log_path.read_bytes()


@pytest.mark.concurrency
def test_notifications_behind_a_failing_head_expire_at_max_age_together(mock_dingtalk,
                                                                        herald_factory):
    """A failing target sends one message at a time; those waiting behind
    it reach max_age too and are given up then, all together, without an
    attempt of their own, not one per failed attempt of the one in front.

    The backoff (15..30 s) outlasts max_age (3 s), so how many attempts fit
    before max_age is fixed: the head fails once and is given up at once,
    the target stays paused long past max_age, and every notification
    behind it is given up by the age check alone. Were they given up one
    per attempt instead, each would wait out a pause of its own (minutes)."""
    count, max_age_ms = 20, 3000
    # no rate limit, so no digest carries them all through one attempt
    h = start(herald_factory, {"ops": ops(mock_dingtalk, rate_per_minute=0)},
              extra={"delivery": {"retry_initial": "30s", "retry_max_delay": "30s",
                                  "max_age": "3s"}})
    mock_dingtalk.fail_next(T1, 1, http_status=500)
    # the head first, alone: while a target has not failed yet herald sends
    # to it many at once, and each of those would fail on its own attempt
    fire(h, name="Head")

    def dead(n):
        status, rows = harness.api_get(h, "deadletters")
        return status == 200 and len(rows) == n and rows
    [head] = harness.wait_until(lambda: dead(1), timeout=10, message="the head's dead letter")
    assert head["attempts"] == 1, head
    assert head["last_error"].startswith("gave up at the maximum age of 3 s; last error: "
                                         "HTTP 500"), head
    for i in range(count):
        fire(h, name="Behind%02d" % i)
    rows = harness.wait_until(lambda: dead(count + 1), timeout=30,
                              message="%d more dead letters" % count)
    behind = [r for r in rows if r["id"] != head["id"]]
    assert all(r["attempts"] == 0 for r in behind), [(r["title"], r["attempts"]) for r in behind]
    waiting = "gave up at the maximum age of 3 s, waiting for its target; last error: "
    assert all(r["last_error"].startswith(waiting) for r in behind), \
        [r["last_error"] for r in behind]
    # herald's own clock: given up once max_age had passed, not before
    assert all(harness.api_time_ms(r["finished_at"]) - harness.api_time_ms(r["created_at"])
               > max_age_ms for r in behind), behind
    assert len(mock_dingtalk.rejected(T1)) == 1 and mock_dingtalk.accepted() == [], \
        mock_dingtalk.snapshot()


def test_a_channel_that_sets_no_verdict_is_retried_not_delivered(herald_factory):
    """A channel whose classify() sets no verdict (a bug in a third-party
    plugin) must not have its messages counted as delivered: herald
    retries them and says why."""
    mock = MockWebhook().start()
    try:
        plugin_dir = harness.build_dir() / "tests" / "e2e" / "plugins"
        h = herald_factory({"nv": {"channel": "no_verdict", "url": mock.url("/hook")}},
                           default_receiver="nv",
                           extra={"plugin_dir": str(plugin_dir), "delivery": harness.FAST_RETRIES})
        fire(h)
        mock.wait_for(lambda m: len(m.accepted()) >= 2, timeout=15)
        assert len(mock.accepted()) >= 2, "no retry after a missing verdict"
        assert "channel no_verdict gave no verdict (HTTP 200)" in h.log(), h.log_tail()
        assert harness.metrics(h.base_url).get("herald_deliveries_total", 0) == 0
    finally:
        mock.stop()


@pytest.mark.concurrency
def test_connection_refused_retries_until_max_age(herald_factory):
    closed = harness.free_port()  # nothing listens here
    url = "http://127.0.0.1:%d/robot/send?access_token=T9" % closed
    h = start(herald_factory, {"ops": {"channel": "dingtalk", "url": url,
                                       "secret": harness.lua_env("DT_SECRET")}},
              extra={"delivery": dict(harness.FAST_RETRIES, max_age="3s")})
    fire(h)
    harness.wait_until(lambda: "dead letter" in h.log(), timeout=10,
                       message="dead letter after max_age")
    retries = harness.retries(h)
    # with 50..200 ms between attempts, 3 s leaves room for many more than 3
    # retries, even when each refused connect is slow on a loaded machine
    assert len(retries) >= 3, "only %d retries within max_age 3s:\n%s" % (
        len(retries), h.log_tail())
    assert [a for a, _, _ in retries] == list(range(1, len(retries) + 1)), retries
    for attempt, reason, delay in retries:
        assert reason.startswith("transport:"), reason
        # jittered exponential backoff: [d/2, d] with d = 100 ms * 2^(n-1), at most 200 ms
        d = min(100 * 2 ** (attempt - 1), 200)
        assert d // 2 <= delay <= d, (attempt, delay)
    [dead] = harness.dead_letters(h)
    assert "maximum age" in dead and "transport:" in dead, dead
    assert re.search(r"connect|refused", dead, re.I), dead
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1, m
    assert m["herald_delivery_retries_total"] == len(retries), m


@pytest.mark.concurrency
def test_sigterm_waits_for_slow_delivery(mock_dingtalk, herald_factory):
    # shutdown_timeout set explicitly (the harness default is 3 s): well
    # above the 1 s the delivery takes
    h = start(herald_factory, {"ops": ops(mock_dingtalk)}, extra={"shutdown_timeout": "10s"})
    mock_dingtalk.set_delay(T1, 1.0)
    fire(h)
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_outbox_in_flight"] == 1,
                       timeout=30, message="delivery in flight")
    rc = h.stop(timeout=30)
    assert not h.killed and rc == 0, (rc, h.log_tail())
    assert len(mock_dingtalk.accepted(T1)) == 1, mock_dingtalk.snapshot()
    log = h.log()
    assert "delivered notification" in log and "not delivered" not in log, log


def test_mentions_from_receiver_and_route_script(mock_dingtalk, herald_factory):
    receivers = {
        "ops": ops(mock_dingtalk, mentions={"mobiles": ["13800000000"]}),
        "wms": {"channel": "dingtalk_keyword", "url": mock_dingtalk.url(T2),
                "keyword": KEYWORD, "mentions": {"mobiles": ["13800000009"]}},
    }
    h = start(herald_factory, receivers)

    fire(h, name="OpsAlert")
    mock_dingtalk.wait_for(lambda m: m.accepted(T1) or m.rejected(), timeout=10)
    [rec] = mock_dingtalk.accepted(T1)
    msg = rec["json"]
    assert "@13800000000" in msg["markdown"]["text"], msg
    assert msg["at"]["atMobiles"] == ["13800000000"], msg

    fire(h, name="WmsAlert", project="wms")  # scripts/route.lua: wms, @13800000001
    mock_dingtalk.wait_for(lambda m: m.accepted(T2) or m.rejected(), timeout=10)
    assert mock_dingtalk.rejected() == []
    [rec] = mock_dingtalk.accepted(T2)
    msg = rec["json"]
    text = msg[msg["msgtype"]].get("text") or msg[msg["msgtype"]].get("content")
    assert "WmsAlert" in text
    for mobile in ("13800000009", "13800000001"):
        assert "@" + mobile in text, (mobile, text)
    assert sorted(msg["at"]["atMobiles"]) == ["13800000001", "13800000009"], msg
    assert len(mock_dingtalk.accepted(T1)) == 1  # the wms alert did not go to ops


@pytest.mark.concurrency
def test_ready_answers_503_while_stopping(mock_dingtalk, herald_factory):
    """README: GET /-/ready is "readiness (503 while stopping)".  Draining a
    slow delivery keeps herald stopping for about 5 s: readiness must say
    503 then (not 200, and not a refused connection)."""
    # shutdown_timeout set explicitly (the harness default is 3 s): herald
    # must wait out the whole 5 s delivery
    h = start(herald_factory, {"ops": ops(mock_dingtalk)}, extra={"shutdown_timeout": "30s"})
    mock_dingtalk.set_delay(T1, 5.0)
    fire(h)
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_outbox_in_flight"] == 1,
                       timeout=30, message="delivery in flight")
    h.proc.send_signal(signal.SIGTERM)
    harness.wait_until(lambda: "stopping" in h.log(), timeout=30, message="SIGTERM logged")
    # ask for about 1 s, or until 3 answers of 503, whichever comes first:
    # the delivery keeps herald stopping for several seconds more
    answers = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and h.running() and answers.count(503) < 3:
        try:
            answers.append(harness.http("GET", h.base_url + "/-/ready", timeout=3)[0])
        except OSError as e:
            answers.append(type(e).__name__ + ": " + str(getattr(e, "reason", e)))
        time.sleep(0.1)
    rc = h.stop(timeout=40)
    assert rc == 0 and len(mock_dingtalk.accepted(T1)) == 1
    assert answers, "herald stopped before readiness could be asked"
    assert all(a == 503 for a in answers), "GET /-/ready while stopping answered %r" % answers


def test_a_group_too_long_for_one_message_goes_as_numbered_parts(mock_dingtalk, herald_factory):
    """250 alerts in one group to one robot: instead of one message cut at
    20,000 bytes after a few dozen alerts, numbered parts that together
    list every alert, none cut, within the robot's rate limit."""
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    count = 250
    payload = harness.am_payload([
        {"labels": {"alertname": "Flood", "instance": "host-%03d:9100" % i},
         "annotations": {"summary": "disk on host-%03d is almost full" % i}}
        for i in range(count)])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200, (status, data)
    parts = json.loads(data)["notifications"]
    assert 2 <= parts <= 20, data
    harness.wait_outbox_empty(h)
    assert mock_dingtalk.rejected() == []
    accepted = mock_dingtalk.accepted(T1)
    assert len(accepted) == parts, [r["body_bytes"] for r in accepted]
    titles = sorted(r["json"]["markdown"]["title"] for r in accepted)
    assert all(re.search(r"\(\d+/%d\)$" % parts, t) for t in titles), titles
    texts = "".join(r["json"]["markdown"]["text"] for r in accepted)
    assert "truncated" not in texts
    for i in range(count):
        assert texts.count("host-%03d:9100" % i) >= 1, i
