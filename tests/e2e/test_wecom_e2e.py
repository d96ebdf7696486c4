"""End to end for the wecom channel: the real Alertmanager (or a webhook
posted directly) through `herald serve` to the mock WeCom robot, which
checks key, content limits and rate like the real service (mock_wecom.py).
Covers the default Chinese markdown template, msgtype = "text" with
mentions, truncation at WeCom's content limit, retries (HTTP 500, 45009)
and permanent failures (93000, 40058) as dead letters, and that the robot
key never reaches herald's log."""

import re
import time

import pytest

import harness
from harness import WECOM_KEY

# Test values only; never a real robot's.
UNKNOWN_KEY = "00000000-1111-4222-8333-444444444444"
DELIVERY_TIMEOUT = 30.0

LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100",
          "severity": "warning", "env": "prod"}
ANNOTATIONS = {"summary": "主机 10.0.0.11 无法访问",
               "description": "node_exporter on 10.0.0.11:9100 has been down for 1 minute"}


def start(herald_factory, mock, key=WECOM_KEY, extra=None, **receiver):
    """herald with one wecom receiver "ops"; the URL (it carries the key)
    comes from the environment, as in production."""
    spec = {"channel": "wecom", "url": harness.lua_env("WECOM_URL")}
    spec.update(receiver)
    return herald_factory({"ops": spec}, default_receiver="ops",
                          env={"WECOM_URL": mock.url(key)}, extra=extra)


def content(msg):
    return msg[msg["msgtype"]]["content"]


def fire(h, name="DiskFull", annotations=None, **labels):
    payload = harness.am_payload([{
        "labels": dict({"alertname": name, "instance": "db:9100"}, **labels),
        "annotations": annotations or {"summary": "disk on db is full"}}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200, (status, data)


def wait_accepted(mock, n, timeout=DELIVERY_TIMEOUT):
    mock.wait_for(lambda m: len(m.accepted(WECOM_KEY)) >= n, timeout=timeout)
    recs = mock.accepted(WECOM_KEY)
    if len(recs) < n:
        pytest.fail("mock WeCom accepted %d message(s) within %.0f s, wanted %d; rejected: %r"
                    % (len(recs), timeout, n,
                       [(r["errcode"], r["errmsg"]) for r in mock.rejected()]), pytrace=False)
    return recs


def key_not_logged(h):
    raw = h.log_path.read_bytes()
    assert WECOM_KEY.encode() not in raw and UNKNOWN_KEY.encode() not in raw


def test_alertmanager_to_wecom_markdown(mock_wecom, herald_factory, alertmanager_factory):
    h = start(herald_factory, mock_wecom, mentions={"user_ids": ["zhangsan"]})
    am = alertmanager_factory(h.base_url + "/webhook")

    starts = am.fire(LABELS, ANNOTATIONS, generator_url="http://prometheus.example:9090/graph")
    [firing] = wait_accepted(mock_wecom, 1)
    msg = firing["json"]
    assert msg["msgtype"] == "markdown" and set(msg) == {"msgtype", "markdown"}, msg
    text = content(msg)
    for needle in ('<font color="warning">', "[故障] HostDown", "**告警名称**：HostDown",
                   "**告警级别**：", "warning", "**告警主机**：10.0.0.11:9100",
                   ANNOTATIONS["summary"], "node\\_exporter on 10.0.0.11:9100",
                   harness.shanghai(starts), "[查看详情](http://prometheus.example:9090/graph)"):
        assert needle in text, "firing content lacks %r:\n%s" % (needle, text)
    assert text.endswith("\n\n<@zhangsan>"), text
    assert firing["headers"]["content-type"].startswith("application/json")

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    mock_wecom.wait_for(lambda m: any("恢复" in content(r["json"])
                                      for r in m.accepted(WECOM_KEY)[1:]),
                        timeout=DELIVERY_TIMEOUT)
    resolved = [r for r in mock_wecom.accepted(WECOM_KEY)[1:] if "恢复" in content(r["json"])]
    assert resolved, [content(r["json"]) for r in mock_wecom.accepted(WECOM_KEY)]
    r_text = content(resolved[0]["json"])
    for needle in ('<font color="info">', "[恢复] HostDown", "**恢复时间**：",
                   "10.0.0.11:9100"):
        assert needle in r_text, "resolved content lacks %r:\n%s" % (needle, r_text)
    assert mock_wecom.rejected() == []
    key_not_logged(h)


def test_text_msgtype_mentions_mobiles_and_users(mock_wecom, herald_factory):
    h = start(herald_factory, mock_wecom, msgtype="text",
              mentions={"mobiles": ["13800000000"], "user_ids": ["lisi"]})
    fire(h, name="OpsAlert")
    [rec] = wait_accepted(mock_wecom, 1)
    msg = rec["json"]
    assert msg["msgtype"] == "text", msg
    assert msg["text"]["mentioned_mobile_list"] == ["13800000000"]
    assert msg["text"]["mentioned_list"] == ["lisi"]
    text = msg["text"]["content"]
    # the markdown template flattened to plain text
    assert "[故障] OpsAlert" in text and "告警名称：OpsAlert" in text, text
    assert "<font" not in text and "**" not in text, text


def test_long_description_is_cut_to_the_content_limit(mock_wecom, herald_factory):
    h = start(herald_factory, mock_wecom)
    long_description = "磁盘使用率过高，请尽快清理日志目录。" * 400  # about 22 KB
    fire(h, annotations={"summary": "磁盘满", "description": long_description})
    [rec] = wait_accepted(mock_wecom, 1)
    text = content(rec["json"])
    assert len(text.encode("utf-8")) <= 4096
    assert len(text.encode("utf-8")) > 4000
    assert text.endswith("…（内容过长，已截断）"), text[-100:]
    assert mock_wecom.rejected() == []


def test_http_500_is_retried_then_delivered(mock_wecom, herald_factory):
    h = start(herald_factory, mock_wecom, extra={"delivery": harness.FAST_RETRIES})
    mock_wecom.fail_next(WECOM_KEY, 2, http_status=500)
    fire(h)
    [rec] = wait_accepted(mock_wecom, 1)
    assert "DiskFull" in content(rec["json"])
    assert [r["http_status"] for r in mock_wecom.rejected(WECOM_KEY)] == [500, 500]
    retries = harness.retries(h)
    assert [a for a, _, _ in retries] == [1, 2], h.log_tail()
    assert all(reason.startswith("HTTP 500") for _, reason, _ in retries), retries
    assert all(delay <= 200 for _, _, delay in retries), retries
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_deliveries_total"] == 1,
                       timeout=30)
    harness.wait_outbox_empty(h)
    assert len(mock_wecom.accepted(WECOM_KEY)) == 1  # delivered once, not again
    key_not_logged(h)


def test_45009_waits_a_minute_before_retrying(mock_wecom, herald_factory):
    """45009 "api freq out of limit": herald must wait out the robot's
    minute, not hammer it. The retry itself is a minute away, so the test
    reads the verdict from the log and then stops herald within its
    shutdown timeout, without that retry going out early."""
    shutdown_timeout = 2.0
    h = start(herald_factory, mock_wecom,
              extra={"delivery": harness.FAST_RETRIES,
                     "shutdown_timeout": "%gs" % shutdown_timeout})
    mock_wecom.fail_next(WECOM_KEY, 1)  # 45009
    fire(h)
    harness.wait_until(lambda: harness.retries(h), timeout=10, message="a retry is logged")
    [(attempt, reason, delay)] = harness.retries(h)
    assert attempt == 1 and reason == "errcode 45009: api freq out of limit", reason
    assert 59000 <= delay <= 61000, delay
    # herald has put the retry a minute after the refusal (its store says
    # when), so nothing is due before then
    [refused] = mock_wecom.rejected()

    def retry_on_disk():
        status, rows = harness.api_get(h, "queue")
        return status == 200 and len(rows) == 1 and rows[0]["attempts"] == 1 and rows[0]
    row = harness.wait_until(retry_on_disk, timeout=10, message="the retry is on disk")
    assert harness.api_time_ms(row["next_attempt_at"]) >= int(refused["time"] * 1000) + 59000, \
        (row, refused["time"])
    assert mock_wecom.accepted() == [] and len(mock_wecom.rejected()) == 1

    # the pending retry must not be sent early by the shutdown either
    t0 = time.monotonic()
    rc = h.stop(timeout=10)
    assert not h.killed and rc == 0, (rc, h.log_tail())
    # shutdown_timeout plus a margin: far below the minute the retry waits
    assert time.monotonic() - t0 < shutdown_timeout + 5
    assert len(mock_wecom.rejected()) == 1 and mock_wecom.accepted() == []


def test_unknown_key_is_a_dead_letter_without_retries(mock_wecom, herald_factory):
    h = start(herald_factory, mock_wecom, key=UNKNOWN_KEY, extra={"delivery": harness.FAST_RETRIES})
    fire(h)
    harness.wait_until(lambda: "dead letter" in h.log(), timeout=10,
                       message="dead letter logged")
    [dead] = harness.dead_letters(h)
    assert "errcode 93000: invalid webhook url" in dead, dead
    harness.wait_outbox_empty(h)  # given up: nothing left to retry
    assert [r["errcode"] for r in mock_wecom.rejected()] == [93000]
    assert harness.retries(h) == []
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1 and m["herald_delivery_retries_total"] == 0, m
    key_not_logged(h)


def test_40058_is_a_dead_letter(mock_wecom, herald_factory):
    h = start(herald_factory, mock_wecom, extra={"delivery": harness.FAST_RETRIES})
    mock_wecom.fail_next(WECOM_KEY, 1, errcode=40058,
                         errmsg="markdown.content exceed max length 4096")
    fire(h)
    harness.wait_until(lambda: "dead letter" in h.log(), timeout=10,
                       message="dead letter logged")
    [dead] = harness.dead_letters(h)
    assert "errcode 40058: markdown.content exceed max length 4096" in dead, dead
    harness.wait_outbox_empty(h)  # given up: nothing left to retry
    assert len(mock_wecom.rejected()) == 1 and mock_wecom.accepted() == []
    assert harness.retries(h) == []


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_storm_digests_fit_the_content_limit(mock_wecom, herald_factory, msgtype):
    """60 alert groups at once to one robot (20 a minute): the digests are
    built within the msgtype's content limit, so no alert is cut off the
    end of one, and every alert shows in some message."""
    count = 60
    h = start(herald_factory, mock_wecom, msgtype=msgtype)
    names = ["Flood%02d" % i for i in range(count)]
    for i, n in enumerate(names):
        fire(h, name=n, instance="db%02d:9100" % i)

    def shown():
        return {n for m in mock_wecom.messages(WECOM_KEY)
                for n in re.findall(r"Flood\d\d", content(m))}
    mock_wecom.wait_for(lambda m: shown() >= set(names) or m.rejected(), timeout=40)
    assert mock_wecom.rejected() == []
    missing = sorted(set(names) - shown())
    assert not missing, "%d alerts in no message: %s" % (len(missing), missing[:10])
    assert len(mock_wecom.messages(WECOM_KEY)) <= 20
