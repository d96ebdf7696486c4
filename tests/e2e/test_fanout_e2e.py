"""Fan-out: one Alertmanager notification goes to DingTalk, WeCom and email,
each delivered, retried and failed on its own. While the WeCom robot keeps
answering errors (and answers slowly), DingTalk and email still arrive on
time; WeCom gets the message once it recovers."""

import time

import pytest

import harness
from harness import DT_SECRET, T1, WECOM_KEY

LABELS = {"alertname": "FanOut", "instance": "10.0.0.21:9100", "severity": "critical"}
ANNOTATIONS = {"summary": "扇出测试 10.0.0.21", "description": "one alert, three channels"}
ON_TIME = 12.0  # seconds from Alertmanager's post to delivery: group_wait plus slack

ROUTE = """
return function(alert, default_receiver, receivers)
  return { "ops", "wecom", "mail" }
end
"""


@pytest.mark.concurrency
def test_one_notification_fans_out_and_a_failing_channel_delays_nothing(
        mock_dingtalk, mock_wecom, smtp, herald_factory, alertmanager_factory, tmp_path):
    # WeCom is down hard: 500s after 5 s, three times; a dispatcher that
    # waited on it would make the others late by 15 s or more
    mock_wecom.fail_next(WECOM_KEY, count=3, http_status=500)
    mock_wecom.set_delay(WECOM_KEY, 5)
    route = tmp_path / "fanout.lua"
    route.write_text(ROUTE, encoding="utf-8")
    herald = herald_factory(
        {
            "ops": {"channel": "dingtalk", "url": mock_dingtalk.url(T1),
                    "secret": harness.lua_env("DT_SECRET")},
            "wecom": {"channel": "wecom", "url": mock_wecom.url(WECOM_KEY)},
            "mail": {"channel": "email", "url": smtp.url, "from": "herald <alerts@example.com>",
                     "to": ["ops@example.com"], "tls": "none"},
        },
        default_receiver="ops", env={"DT_SECRET": DT_SECRET},
        extra={"route": str(route),
               "delivery": {"retry_initial": "200ms", "retry_max_delay": "400ms"}})
    am = alertmanager_factory(herald.base_url + "/webhook")

    posted = time.monotonic()
    am.fire(LABELS, ANNOTATIONS)

    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=ON_TIME + 5)
    dingtalk_at = time.monotonic() - posted
    smtp.wait_for(lambda s: s.accepted(), timeout=ON_TIME + 5)
    mail_at = time.monotonic() - posted
    assert mock_dingtalk.accepted(T1), "DingTalk got nothing"
    assert smtp.accepted(), "the mail did not arrive"
    # on time although WeCom was failing slowly at the very same moment
    assert dingtalk_at < ON_TIME and mail_at < ON_TIME, (dingtalk_at, mail_at)
    assert mock_wecom.accepted(WECOM_KEY) == [], "WeCom should still be failing"

    [ding] = mock_dingtalk.accepted(T1)
    assert "FanOut" in ding["json"]["markdown"]["text"]
    [mail] = smtp.accepted()
    assert "ops@example.com" in mail["rcpt_tos"]

    # WeCom is retried on its own and gets the message once it recovers
    mock_wecom.wait_for(lambda m: m.accepted(WECOM_KEY), timeout=60)
    [wecom_msg] = mock_wecom.accepted(WECOM_KEY)
    assert "FanOut" in wecom_msg["json"]["markdown"]["content"]
    assert len(mock_dingtalk.accepted(T1)) == 1 and len(smtp.accepted()) == 1  # once each
    assert "attempt 1 failed (HTTP 500" in herald.log()
