"""End to end: the real Alertmanager posts webhooks to herald, herald
routes, renders and delivers to the mock DingTalk, which checks signature,
keywords, size and rate exactly like the real service."""

import pytest

import harness
from harness import DT_SECRET, KEYWORD, T1, T2

MOBILE = "13800000000"
LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100",
          "severity": "warning", "env": "prod"}
ANNOTATIONS = {"summary": "主机 10.0.0.11 无法访问",
               "description": "node_exporter on 10.0.0.11:9100 has been down for 1 minute"}
DELIVERY_TIMEOUT = 30.0


def receivers(mock):
    return {
        "ops": {"channel": "dingtalk", "url": mock.url(T1),
                "secret": harness.lua_env("DT_SECRET"), "template": "dingtalk",
                "mentions": {"mobiles": [MOBILE]}},
        "wms": {"channel": "dingtalk_keyword", "url": mock.url(T2), "keyword": KEYWORD},
    }


def content(msg):
    """(title, text) of a markdown message, ("", content) of a text one."""
    if msg.get("msgtype") == "markdown":
        return msg["markdown"].get("title", ""), msg["markdown"].get("text", "")
    if msg.get("msgtype") == "text":
        return "", msg["text"].get("content", "")
    return "", ""


def wait_messages(mock, token, n, timeout=DELIVERY_TIMEOUT):
    """Wait until `token` has at least n accepted messages; return them."""
    # a rejection is final for these tests: stop waiting at once
    mock.wait_for(lambda m: len(m.accepted(token)) >= n or m.rejected(), timeout=timeout)
    recs = mock.accepted(token)
    if len(recs) < n or mock.rejected():
        pytest.fail("mock DingTalk got %d accepted message(s) for %s within %.0f s, wanted %d; "
                    "rejected: %r" % (len(recs), token, timeout, n,
                                      [(r["errcode"], r["errmsg"]) for r in mock.rejected()]),
                    pytrace=False)
    return recs


def wait_message_containing(mock, token, needle, skip=0, timeout=DELIVERY_TIMEOUT):
    """The first accepted message for `token`, after the first `skip` ones,
    whose text contains `needle`."""
    def find(m):
        return [r for r in m.accepted(token)[skip:] if needle in content(r["json"])[1]]
    mock.wait_for(lambda m: find(m) or m.rejected(), timeout=timeout)
    found = find(mock)
    if not found or mock.rejected():
        pytest.fail("no accepted message for %s containing %r within %.0f s; accepted texts: %r; "
                    "rejected: %r" % (token, needle, timeout,
                                      [content(r["json"]) for r in mock.accepted(token)],
                                      [(r["errcode"], r["errmsg"]) for r in mock.rejected()]),
                    pytrace=False)
    return found[0]


def test_alertmanager_to_signed_dingtalk(mock_dingtalk, herald_factory, alertmanager_factory):
    herald = herald_factory(receivers(mock_dingtalk), default_receiver="ops",
                            env={"DT_SECRET": DT_SECRET})
    am = alertmanager_factory(herald.base_url + "/webhook")

    starts = am.fire(LABELS, ANNOTATIONS)
    [firing] = wait_messages(mock_dingtalk, T1, 1)[:1]

    # the mock accepted it, so timestamp and sign were right; check they were sent
    assert firing["query"].get("timestamp") and firing["query"].get("sign")
    msg = firing["json"]
    assert msg["msgtype"] == "markdown", msg
    title, text = content(msg)
    assert "HostDown" in title
    for needle in ("HostDown", "10.0.0.11:9100", ANNOTATIONS["summary"], "@" + MOBILE,
                   harness.shanghai(starts), "故障"):
        assert needle in text, "firing text lacks %r:\n%s" % (needle, text)
    assert msg.get("at", {}).get("atMobiles") == [MOBILE]

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    resolved = wait_message_containing(mock_dingtalk, T1, "恢复", skip=1)
    r_title, r_text = content(resolved["json"])
    assert resolved["json"]["msgtype"] == "markdown"
    assert "HostDown" in r_title and "HostDown" in r_text
    assert "10.0.0.11:9100" in r_text

    assert mock_dingtalk.rejected() == []


def test_alertmanager_to_keyword_dingtalk(mock_dingtalk, herald_factory, alertmanager_factory):
    herald = herald_factory(receivers(mock_dingtalk), default_receiver="ops",
                            env={"DT_SECRET": DT_SECRET})
    am = alertmanager_factory(herald.base_url + "/webhook/wms")

    starts = am.fire(LABELS, ANNOTATIONS)
    [firing] = wait_messages(mock_dingtalk, T2, 1)[:1]
    title, text = content(firing["json"])
    assert KEYWORD in title + text
    assert "HostDown" in title + text and "10.0.0.11:9100" in text
    assert "故障" in text

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    resolved = wait_message_containing(mock_dingtalk, T2, "恢复", skip=1)
    r_title, r_text = content(resolved["json"])
    assert KEYWORD in r_title + r_text and "HostDown" in r_title + r_text

    assert mock_dingtalk.rejected() == []
