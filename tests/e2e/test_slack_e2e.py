"""End to end for the slack channel: the real Alertmanager posts to herald,
herald renders templates/slack.lua and delivers through slack.so to the
mock Slack webhook, which checks blocks, limits and escaping like Slack."""

import pytest

import harness
from mock_slack import MockSlack

HOOK = "T0E2E/B0E2E/e2eSecretHookToken"
LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100",
          "severity": "critical", "env": "prod"}
ANNOTATIONS = {"summary": "主机 10.0.0.11 无法访问 <node_exporter> & co",
               "description": "node_exporter on 10.0.0.11:9100 has been down for 1 minute"}
TIMEOUT = 30.0


@pytest.fixture
def mock_slack(request):
    mock = MockSlack()
    mock.add_hook(HOOK)
    mock.start()
    yield mock
    for r in mock.rejected():
        print("mock Slack rejected: %s %s %.300s" % (r["status"], r["error"], r["body"]))
    mock.stop()


def start(herald_factory, mock, extra=None):
    receivers = {"team": {"channel": "slack", "url": harness.lua_env("SLACK_URL"),
                          "mentions": {"user_ids": ["U0ONCALL"]}}}
    return herald_factory(receivers, default_receiver="team",
                          env={"SLACK_URL": mock.url(HOOK)}, extra=extra)


def wait_accepted(mock, n, timeout=TIMEOUT):
    mock.wait_for(lambda m: len(m.accepted(HOOK)) >= n, timeout=timeout)
    recs = mock.accepted(HOOK)
    if len(recs) < n:
        pytest.fail("mock Slack accepted %d message(s) within %.0f s, wanted %d; rejected: %r"
                    % (len(recs), timeout, n,
                       [(r["status"], r["error"]) for r in mock.rejected()]), pytrace=False)
    return recs


def header_of(msg):
    return [b["text"]["text"] for b in msg["blocks"] if b["type"] == "header"][0]


def test_alertmanager_to_slack(mock_slack, herald_factory, alertmanager_factory):
    herald = start(herald_factory, mock_slack)
    am = alertmanager_factory(herald.base_url + "/webhook")

    starts = am.fire(LABELS, ANNOTATIONS, generator_url="http://prom.example:9090/graph?g0.expr=up&g0.tab=1")
    [firing] = wait_accepted(mock_slack, 1)
    msg = firing["json"]
    assert firing["mrkdwn_problems"] == [], firing["mrkdwn_problems"]
    assert header_of(msg) == "🚨 [故障] HostDown"
    assert msg["text"] == "🚨 [故障] HostDown\n<@U0ONCALL>"
    sections = [b["text"]["text"] for b in msg["blocks"] if b["type"] == "section"]
    assert sections[-1] == "<@U0ONCALL>"
    body = sections[0]
    assert "*告警名称：* HostDown" in body
    # the summary's <, > and & arrive escaped, and read as written
    assert "主机 10.0.0.11 无法访问 &lt;node_exporter&gt; &amp; co" in body
    assert ANNOTATIONS["summary"] in firing["plain"]
    assert "10.0.0.11:9100" in body and "critical" in body
    assert harness.shanghai(starts) in body
    assert "<http://prom.example:9090/graph?g0.expr=up&amp;g0.tab=1|查看详情>" in body

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    resolved = wait_accepted(mock_slack, 2)[1]
    assert header_of(resolved["json"]) == "✅ [恢复] HostDown"
    assert "*恢复时间：*" in resolved["plain"] and resolved["mrkdwn_problems"] == []
    assert mock_slack.rejected() == []
    assert HOOK.encode() not in herald.log_path.read_bytes()


def fire(h, name="DiskFull"):
    payload = harness.am_payload([{"labels": {"alertname": name, "instance": "db:9100"},
                                   "annotations": {"summary": "disk on db is full"}}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200, (status, data)


def test_rate_limited_429_waits_retry_after_then_delivers(mock_slack, herald_factory):
    h = start(herald_factory, mock_slack, extra={"delivery": harness.FAST_RETRIES})
    mock_slack.fail_next(HOOK, 1, 429, "rate_limited", retry_after=1)
    mock_slack.fail_next(HOOK, 1, 503, "service_unavailable")
    fire(h)
    [rec] = wait_accepted(mock_slack, 1)
    assert "DiskFull" in header_of(rec["json"])
    rejected = mock_slack.rejected(HOOK)
    assert [r["status"] for r in rejected] == [429, 503]
    retries = harness.retries(h)
    assert [int(a) for a, _, _ in retries] == [1, 2], h.log_tail()
    assert "HTTP 429: rate_limited" in retries[0][1] and int(retries[0][2]) >= 1000
    assert "HTTP 503: service_unavailable" in retries[1][1]
    # Slack said one second: the second attempt did not come sooner
    assert rejected[1]["time"] - rejected[0]["time"] >= 0.95
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_deliveries_total"] == 1,
                       timeout=30)


def test_revoked_hook_is_a_dead_letter_without_retries(mock_slack, herald_factory):
    mock_slack.set_state(HOOK, "revoked")
    h = start(herald_factory, mock_slack, extra={"delivery": harness.FAST_RETRIES})
    fire(h)
    harness.wait_until(lambda: "dead letter" in h.log(), timeout=10,
                       message="dead letter logged")
    [dead] = harness.dead_letters(h)
    assert "HTTP 403: invalid_token" in dead, dead
    harness.wait_outbox_empty(h)  # given up: nothing left to retry
    assert [r["error"] for r in mock_slack.rejected(HOOK)] == ["invalid_token"]
    assert harness.retries(h) == []
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1 and m["herald_delivery_retries_total"] == 0, m
    assert HOOK.encode() not in h.log_path.read_bytes()
