"""End to end for the telegram channel: the real Alertmanager posts to
herald, herald renders templates/telegram.lua and delivers through
telegram.so to the mock Bot API, which parses the HTML and checks tokens,
chats, length and rate like Telegram."""

import json

import pytest

import harness
from mock_telegram import MockTelegram

TOKEN = "987654321:E2EtestTokenNeverReal_abcdefghij"
GROUP = -1001234567890
LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100",
          "severity": "critical", "env": "prod"}
ANNOTATIONS = {"summary": "主机 10.0.0.11 无法访问 <node_exporter> & co",
               "description": "node_exporter on 10.0.0.11:9100 has been down for 1 minute"}
TIMEOUT = 30.0


@pytest.fixture
def mock_telegram():
    mock = MockTelegram()
    mock.add_bot(TOKEN, GROUP)
    mock.start()
    yield mock
    for r in mock.rejected():
        print("mock Telegram rejected: %s %s" % (r["status"], r["description"]))
    mock.stop()


def start(herald_factory, mock, extra=None):
    receivers = {"team": {"channel": "telegram", "token": harness.lua_env("TG_TOKEN"),
                          "chat_id": str(GROUP), "api_url": mock.base_url,
                          "mentions": {"user_ids": ["4242", "oncall_lead"]}}}
    return herald_factory(receivers, default_receiver="team", env={"TG_TOKEN": TOKEN},
                          extra=extra)


def wait_accepted(mock, n, timeout=TIMEOUT):
    mock.wait_for(lambda m: len(m.accepted(TOKEN)) >= n, timeout=timeout)
    recs = mock.accepted(TOKEN)
    if len(recs) < n:
        pytest.fail("mock Telegram accepted %d message(s) within %.0f s, wanted %d; rejected: %r"
                    % (len(recs), timeout, n,
                       [(r["status"], r["description"]) for r in mock.rejected()]),
                    pytrace=False)
    return recs


def test_alertmanager_to_telegram(mock_telegram, herald_factory, alertmanager_factory):
    herald = start(herald_factory, mock_telegram)
    am = alertmanager_factory(herald.base_url + "/webhook")

    starts = am.fire(LABELS, ANNOTATIONS,
                     generator_url="http://prom.example:9090/graph?g0.expr=up&g0.tab=1")
    [firing] = wait_accepted(mock_telegram, 1)
    msg = firing["json"]
    assert msg["chat_id"] == GROUP and msg["parse_mode"] == "HTML"
    assert msg["disable_web_page_preview"] is True
    plain = firing["plain"]
    assert plain.startswith("🚨 [故障] HostDown\n\n")
    assert msg["text"].startswith("<b>🚨 [故障] HostDown</b>")
    for needle in ("告警名称：HostDown", "10.0.0.11:9100", "critical", ANNOTATIONS["summary"],
                   harness.shanghai(starts), "查看详情"):
        assert needle in plain, "firing text lacks %r:\n%s" % (needle, plain)
    assert plain.endswith("@4242 @oncall_lead")
    assert firing["links"] == ["http://prom.example:9090/graph?g0.expr=up&g0.tab=1",
                               "tg://user?id=4242"]

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    resolved = wait_accepted(mock_telegram, 2)[1]
    assert resolved["plain"].startswith("✅ [恢复] HostDown")
    assert "恢复时间" in resolved["plain"]
    assert mock_telegram.rejected() == []
    assert TOKEN.encode() not in herald.log_path.read_bytes()


def fire(h, name="DiskFull"):
    payload = harness.am_payload([{"labels": {"alertname": name, "instance": "db:9100"},
                                   "annotations": {"summary": "disk on db is full"}}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200, (status, data)


def test_too_many_requests_waits_retry_after_then_delivers(mock_telegram, herald_factory):
    h = start(herald_factory, mock_telegram, extra={"delivery": harness.FAST_RETRIES})
    mock_telegram.fail_next(TOKEN, 1, 429, "Too Many Requests: retry after 1", retry_after=1)
    mock_telegram.fail_next(TOKEN, 1, raw_status=502)
    fire(h)
    [rec] = wait_accepted(mock_telegram, 1)
    assert "DiskFull" in rec["plain"]
    rejected = mock_telegram.rejected(TOKEN)
    assert [r["status"] for r in rejected] == [429, 502]
    retries = harness.retries(h)
    assert [int(a) for a, _, _ in retries] == [1, 2], h.log_tail()
    assert "error_code 429: Too Many Requests: retry after 1" in retries[0][1]
    assert int(retries[0][2]) >= 1000
    assert "HTTP 502" in retries[1][1]
    assert rejected[1]["time"] - rejected[0]["time"] >= 0.95
    assert TOKEN.encode() not in h.log_path.read_bytes()


def test_kicked_bot_is_a_dead_letter_without_retries(mock_telegram, herald_factory):
    mock_telegram.set_chat(TOKEN, GROUP, "kicked")
    h = start(herald_factory, mock_telegram, extra={"delivery": harness.FAST_RETRIES})
    fire(h)
    harness.wait_until(lambda: "dead letter" in h.log(), timeout=10,
                       message="dead letter logged")
    [dead] = harness.dead_letters(h)
    assert "error_code 403: Forbidden: bot was kicked from the group chat" in dead, dead
    harness.wait_outbox_empty(h)  # given up: nothing left to retry
    assert len(mock_telegram.rejected(TOKEN)) == 1
    assert harness.retries(h) == []
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1 and m["herald_delivery_retries_total"] == 0, m
    assert TOKEN.encode() not in h.log_path.read_bytes()


def test_long_group_goes_in_parts_and_a_long_alert_is_cut_to_4096_characters(mock_telegram,
                                                                             herald_factory):
    h = start(herald_factory, mock_telegram)
    # 40 alerts too long for one message: numbered parts, none cut.
    payload = harness.am_payload([{"labels": {"alertname": "LogFlood", "instance": "app:%d" % i},
                                   "annotations": {"summary": "日志暴涨 <%d> & 磁盘🔥" % i,
                                                   "description": "错误日志" * 40}}
                                  for i in range(40)])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200
    parts = json.loads(data)["notifications"]
    assert parts > 1, data
    recs = wait_accepted(mock_telegram, parts)
    for rec in recs:
        assert len(rec["plain"].encode("utf-16-le")) // 2 <= 4096
        assert "…（内容过长，已截断）" not in rec["plain"]
        assert rec["plain"].endswith("@4242 @oncall_lead")
    text = "".join(rec["plain"] for rec in recs)
    assert all("app:%d\n" % i in text for i in range(40))
    # One alert longer than a message by itself is cut, mentions kept.
    payload = harness.am_payload([{"labels": {"alertname": "OneHuge", "instance": "app:1"},
                                   "annotations": {"description": "错误日志" * 1500}}])
    status, _ = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200
    rec = wait_accepted(mock_telegram, parts + 1)[-1]
    assert len(rec["plain"].encode("utf-16-le")) // 2 <= 4096
    assert "…（内容过长，已截断）" in rec["plain"]
    assert rec["plain"].endswith("@4242 @oncall_lead")
