"""End to end for the feishu channel: the real Alertmanager (or a webhook
POST) through `herald serve` to the mock Feishu bot, which checks the
signature, time window, size and rate limits like the real service; plus
retries (11232, HTTP 5xx) and permanent failures (19021, 19022, 19001)
through the binary."""

import re
import time

import pytest

import harness
from mock_feishu import MockFeishu

# Test values only; never a real bot's.
FS_SECRET = "feishu-e2e-secret-0123456789"
SIGNED = "fsSigned01"
OPEN = "fsOpen02"
FAR = "fsFar03"  # its IP allowlist does not hold 127.0.0.1
USER = "ou_7d8a6e6df7621556ce0d21922b676706"
LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100",
          "severity": "warning", "env": "prod"}
ANNOTATIONS = {"summary": "主机 10.0.0.11 无法访问",
               "description": "node_exporter on 10.0.0.11:9100 has been down for 1 minute"}
DELIVERY_TIMEOUT = 30.0


@pytest.fixture
def mock_feishu(request):
    mock = MockFeishu()
    mock.add_bot(SIGNED, secret=FS_SECRET)
    mock.add_bot(OPEN)
    mock.add_bot(FAR, allowed_ips=["10.9.8.7"])
    mock.start()
    yield mock
    if any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
           for w in ("setup", "call")):
        for r in mock.rejected():
            print("  mock Feishu rejected token=%s code=%s msg=%s body=%.300s"
                  % (r["token"], r["code"], r["msg"], r["body"]))
    mock.stop()


def signed_receiver(mock, secret_env="FS_SECRET", **extra):
    spec = {"channel": "feishu", "url": mock.url(SIGNED),
            "secret": harness.lua_env(secret_env)}
    spec.update(extra)
    return spec


def start(herald_factory, receivers, env=None, extra=None):
    return herald_factory(receivers, default_receiver="fs",
                          env=dict({"FS_SECRET": FS_SECRET}, **(env or {})), extra=extra)


def fire(h, name="DiskFull", description="disk on db is full"):
    payload = harness.am_payload([{"labels": {"alertname": name, "instance": "db:9100"},
                                   "annotations": {"summary": "disk on db is full",
                                                   "description": description}}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200, (status, data)


def card_parts(msg):
    """(title, header template, markdown) of an interactive card."""
    card = msg["card"]
    return (card["header"]["title"]["content"], card["header"]["template"],
            card["elements"][0]["content"])


def wait_accepted(mock, token, n, timeout=DELIVERY_TIMEOUT):
    """The first n accepted records for `token`; fails at the first rejection."""
    mock.wait_for(lambda m: len(m.accepted(token)) >= n or m.rejected(), timeout=timeout)
    recs = mock.accepted(token)
    if len(recs) < n or mock.rejected():
        pytest.fail("mock Feishu accepted %d message(s) for %s within %.0f s, wanted %d; "
                    "rejected: %r" % (len(recs), token, timeout, n,
                                      [(r["code"], r["msg"]) for r in mock.rejected()]),
                    pytrace=False)
    return recs[:n]


def test_alertmanager_to_signed_feishu_card(mock_feishu, herald_factory, alertmanager_factory):
    receivers = {"fs": signed_receiver(mock_feishu,
                                       mentions={"user_ids": [USER], "mobiles": ["13800000000"]})}
    h = start(herald_factory, receivers)
    am = alertmanager_factory(h.base_url + "/webhook")

    starts = am.fire(LABELS, ANNOTATIONS, generator_url="http://prometheus.example:9090/graph")
    [firing] = wait_accepted(mock_feishu, SIGNED, 1)
    msg = firing["json"]
    # the mock accepted it, so timestamp and sign were right and recent
    assert msg["msg_type"] == "interactive"
    assert re.fullmatch(r"\d{10}", msg["timestamp"])
    assert abs(int(msg["timestamp"]) - time.time()) < 60
    title, colour, text = card_parts(msg)
    assert title == "[故障] HostDown" and colour == "red", msg
    for needle in ("HostDown", "10.0.0.11:9100", ANNOTATIONS["summary"], "warning",
                   harness.shanghai(starts), "故障",
                   "[查看详情](http://prometheus.example:9090/graph)", "<at id=%s></at>" % USER):
        assert needle in text, "firing card lacks %r:\n%s" % (needle, text)
    # a custom bot cannot mention a mobile: left out, and said so in the log
    assert "13800000000" not in text
    assert "mobile mention(s) left out" in h.log()

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    [_, resolved] = wait_accepted(mock_feishu, SIGNED, 2)
    r_title, r_colour, r_text = card_parts(resolved["json"])
    assert r_title == "[恢复] HostDown" and r_colour == "green"
    assert "恢复" in r_text and "10.0.0.11:9100" in r_text
    assert mock_feishu.rejected() == []
    raw_log = h.log_path.read_bytes()  # h.log() redacts secrets itself
    assert FS_SECRET.encode() not in raw_log and ("/hook/" + SIGNED).encode() not in raw_log


def test_text_msgtype_with_all_mentioned(mock_feishu, herald_factory):
    receivers = {"fs": {"channel": "feishu", "url": mock_feishu.url(OPEN), "msgtype": "text",
                        "mentions": {"all": True}}}
    h = start(herald_factory, receivers)
    fire(h)
    [rec] = wait_accepted(mock_feishu, OPEN, 1)
    msg = rec["json"]
    assert set(msg) == {"msg_type", "content"}, msg  # no secret, no signature fields
    text = msg["content"]["text"]
    assert text.startswith("[故障] DiskFull\n"), text
    assert "db:9100" in text and text.endswith('<at user_id="all"></at>'), text


def test_long_description_is_cut_to_fit(mock_feishu, herald_factory):
    h = start(herald_factory, {"fs": signed_receiver(mock_feishu)})
    fire(h, description="磁盘使用率过高，" * 3000)  # about 72 KB
    [rec] = wait_accepted(mock_feishu, SIGNED, 1)
    assert 19000 < rec["body_bytes"] <= 20000, rec["body_bytes"]
    _, _, text = card_parts(rec["json"])
    assert text.endswith("…（内容过长，已截断）"), text[-100:]
    assert "DiskFull" in text


def wait_accepted_after_injected(mock, token, timeout=DELIVERY_TIMEOUT):
    """Injected failures are expected here: wait for the first acceptance
    or a rejection that was not injected."""
    def done(m):
        return m.accepted(token) or [r for r in m.rejected() if not r["injected"]]
    mock.wait_for(done, timeout=timeout)
    recs = mock.accepted(token)
    if not recs:
        pytest.fail("nothing accepted for %s; rejected: %r" % (
            token, [(r["code"], r["msg"]) for r in mock.rejected()]), pytrace=False)
    return recs


def test_rate_limited_11232_waits_as_told_then_delivers(mock_feishu, herald_factory):
    h = start(herald_factory, {"fs": signed_receiver(mock_feishu)},
              extra={"delivery": harness.FAST_RETRIES})
    mock_feishu.fail_next(SIGNED, 1, code=11232, retry_after=1)
    mock_feishu.fail_next(SIGNED, 1, http_status=500)
    fire(h)
    [rec] = wait_accepted_after_injected(mock_feishu, SIGNED)
    assert card_parts(rec["json"])[0] == "[故障] DiskFull"
    retries = harness.retries(h)
    assert [a for a, _, _ in retries] == [1, 2], h.log_tail()
    assert "11232" in retries[0][1] and "frequency limited" in retries[0][1], retries
    assert retries[0][2] == 1000, retries  # Retry-After: 1
    assert "500" in retries[1][1], retries
    attempts = [r["time"] for r in mock_feishu.rejected(SIGNED)] + [rec["time"]]
    assert attempts[1] - attempts[0] >= 0.9, attempts
    harness.wait_outbox_empty(h)
    assert len(mock_feishu.accepted(SIGNED)) == 1  # delivered once, not again


def test_rate_limited_without_retry_after_waits_ten_seconds(mock_feishu, herald_factory):
    h = start(herald_factory, {"fs": signed_receiver(mock_feishu)},
              extra={"delivery": harness.FAST_RETRIES, "shutdown_timeout": "1s"})
    mock_feishu.fail_next(SIGNED, 1, code=11232)
    fire(h)
    harness.wait_until(lambda: harness.retries(h), timeout=10, message="a retry is logged")
    [(attempt, reason, delay)] = harness.retries(h)
    assert attempt == 1 and "11232" in reason and delay == 10000, (attempt, reason, delay)
    assert h.stop(timeout=10) == 0 and not h.killed
    assert mock_feishu.accepted() == [] and len(mock_feishu.rejected()) == 1


@pytest.mark.parametrize("case", ["wrong_secret", "ip_not_allowed", "unknown_token"])
def test_permanent_failures_are_dead_letters_without_retries(case, mock_feishu, herald_factory):
    wrong = "feishu-wrong-secret-0123456789"
    receiver, env, token, code, words = {
        "wrong_secret": (signed_receiver(mock_feishu, secret_env="WRONG"), {"WRONG": wrong},
                         SIGNED, 19021, "sign match fail"),
        "ip_not_allowed": ({"channel": "feishu", "url": mock_feishu.url(FAR)}, {}, FAR, 19022,
                           "Ip Not Allowed"),
        "unknown_token": ({"channel": "feishu", "url": mock_feishu.url("fsNoSuchBot")}, {},
                          "fsNoSuchBot", 19001, "access token invalid"),
    }[case]
    h = start(herald_factory, {"fs": receiver}, env=env, extra={"delivery": harness.FAST_RETRIES})
    fire(h)
    harness.wait_until(lambda: harness.dead_letters(h), timeout=10, message="dead letter logged")
    [dead] = harness.dead_letters(h)
    assert ("code %d" % code) in dead and words in dead, dead
    harness.wait_outbox_empty(h)  # given up: nothing left to retry
    assert [r["code"] for r in mock_feishu.rejected(token)] == [code]
    assert mock_feishu.accepted() == [] and harness.retries(h) == []
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1 and m["herald_delivery_retries_total"] == 0, m
    assert wrong.encode() not in h.log_path.read_bytes()


@pytest.mark.concurrency
def test_a_burst_keeps_to_five_a_second(mock_feishu, herald_factory):
    """Feishu allows 100 a minute but only 5 a second (the mock answers
    11232 to a sixth): a burst is paced, not throttled and retried."""
    h = start(herald_factory, {"fs": {"channel": "feishu", "url": mock_feishu.url(OPEN)}})
    burst = 12
    for i in range(burst):
        fire(h, name="Burst%02d" % i)
    recs = wait_accepted(mock_feishu, OPEN, burst)
    times = sorted(r["time"] for r in recs)
    assert all(b - a >= 1.0 for a, b in zip(times, times[5:])), times
    assert mock_feishu.rejected() == []
    assert harness.retries(h) == []
    out = h.command("plugins", "-c", h.config_path)
    assert "rate 100/min, 5/s" in out.stdout.decode(), out.stdout.decode()
