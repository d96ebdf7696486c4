"""Tests of the mock Slack incoming webhook itself: it must enforce what
the real service enforces (CHANNELS.md, "Slack incoming webhook"), or the
e2e tests prove nothing."""

import json
import threading
import time

import pytest

import harness
from mock_base import FakeClock
from mock_slack import MockSlack, mrkdwn_plain, mrkdwn_problems

HOOK = "T000/B000/secret0"


def post(mock, path, msg=None, raw=None, content_type="application/json"):
    """(status, text, headers) of one POST to a hook."""
    body = raw if raw is not None else json.dumps(msg, ensure_ascii=False).encode("utf-8")
    status, headers, data = harness.http_full("POST", mock.url(path), body,
                                              {"Content-Type": content_type})
    return status, data.decode("utf-8"), headers


def section(text, kind="mrkdwn"):
    return {"type": "section", "text": {"type": kind, "text": text}}


def header(text):
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


@pytest.fixture
def mock():
    m = MockSlack(rate_limit=1000)
    m.add_hook(HOOK)
    with m:
        yield m


def test_ok_answer_and_record(mock):
    msg = {"text": "HighCPU &amp; <@U1>",
           "blocks": [header("[故障] HighCPU"), section("*x* <https://g.io/d?a=1&amp;b=2|详情>")]}
    status, text, headers = post(mock, HOOK, msg)
    assert (status, text) == (200, "ok")
    [rec] = mock.accepted(HOOK)
    assert rec["json"] == msg and rec["mrkdwn_problems"] == []
    assert rec["plain"] == "[故障] HighCPU\n*x* 详情"
    assert mock.messages() == [msg]


def test_unknown_hook_and_hook_states(mock):
    assert post(mock, "T000/B000/other", {"text": "x"})[:2] == (404, "no_service")
    for state, answer in (("revoked", (403, "invalid_token")),
                          ("channel_deleted", (404, "channel_not_found")),
                          ("archived", (410, "channel_is_archived")),
                          ("disabled", (404, "no_active_hooks"))):
        mock.set_state(HOOK, state)
        assert post(mock, HOOK, {"text": "x"})[:2] == answer, state
    mock.set_state(HOOK, "active")
    assert post(mock, HOOK, {"text": "x"})[:2] == (200, "ok")
    assert len(mock.rejected()) == 5 and len(mock.accepted()) == 1


def test_payload_checks(mock):
    assert post(mock, HOOK, raw=b"{nope")[:2] == (400, "invalid_payload")
    assert post(mock, HOOK, raw=b"[1]")[:2] == (400, "invalid_payload")
    assert post(mock, HOOK, {"text": "x"}, content_type="text/plain")[:2] == \
        (400, "invalid_payload")
    assert post(mock, HOOK, {})[:2] == (400, "no_text")
    assert post(mock, HOOK, {"text": "  "})[:2] == (400, "no_text")
    assert mock.accepted() == []


@pytest.mark.parametrize("blocks", [
    "not a list",
    [{"type": "nonsense"}],
    [header("")],
    [header("x" * 151)],
    [section("")],
    [section("x" * 3001)],
    [section("🔥" * 1501)],            # 3002 UTF-16 units
    [{"type": "section", "text": {"type": "html", "text": "x"}}],
    [section("x")] * 51,
])
def test_invalid_blocks(mock, blocks):
    assert post(mock, HOOK, {"text": "x", "blocks": blocks})[:2] == (400, "invalid_blocks")


def test_limits_at_the_edge(mock):
    ok = {"text": "t" * 4000, "blocks": [header("h" * 150), section("s" * 3000)] +
          [{"type": "divider"}] * 48}
    assert post(mock, HOOK, ok)[:2] == (200, "ok")
    assert post(mock, HOOK, dict(ok, text="t" * 4001))[:2] == (400, "invalid_payload")
    big = {"text": "x", "blocks": [section("磁" * 2900)] * 5}  # over 40000 bytes
    assert len(json.dumps(big, ensure_ascii=False).encode()) > 40000
    assert post(mock, HOOK, big)[:2] == (400, "invalid_payload")


def test_rate_limit_answers_429_with_retry_after():
    clock = FakeClock(1000)
    with MockSlack(rate_limit=1, rate_window=1.0, clock=clock) as m:
        m.add_hook(HOOK)
        assert post(m, HOOK, {"text": "a"})[:2] == (200, "ok")
        status, text, headers = post(m, HOOK, {"text": "b"})
        assert (status, text, headers.get("retry-after")) == (429, "rate_limited", "1")
        clock.t += 1.01
        assert post(m, HOOK, {"text": "c"})[:2] == (200, "ok")
        # rejected messages do not count against the limit
        clock.t += 1.01
        assert post(m, HOOK, {})[:2] == (400, "no_text")
        assert post(m, HOOK, {"text": "d"})[:2] == (200, "ok")


def test_mrkdwn_helpers():
    assert mrkdwn_problems("a &amp; b &lt; <https://x|y> <@U1> <!channel>\n> quote") == []
    assert len(mrkdwn_problems("a & b")) == 1
    assert len(mrkdwn_problems("x > y")) == 1
    assert len(mrkdwn_problems("<unclosed")) == 1
    assert mrkdwn_plain("<https://x|详情> <@U1> <!channel> <!subteam^S1> &lt;a&gt; &amp;") == \
        "详情 @U1 @channel @S1 <a> &"


def test_fail_next_and_delay(mock):
    mock.fail_next(HOOK, 2, 500, "internal_error")
    mock.fail_next(HOOK, 1, 429, "rate_limited", retry_after=7)
    assert post(mock, HOOK, {"text": "x"})[:2] == (500, "internal_error")
    assert post(mock, HOOK, {"text": "x"})[:2] == (500, "internal_error")
    status, _, headers = post(mock, HOOK, {"text": "x"})
    assert status == 429 and headers["retry-after"] == "7"
    assert post(mock, HOOK, {"text": "x"})[:2] == (200, "ok")
    assert [r["injected"] for r in mock.rejected()] == [True] * 3
    mock.set_delay(HOOK, 0.3)
    t0 = time.monotonic()
    post(mock, HOOK, {"text": "slow"})
    assert time.monotonic() - t0 >= 0.3


def test_http_controls(mock):
    status, data = harness.http("POST", mock.base_url + "/_fail_next",
                                {"hook": HOOK, "status": 404, "body": "channel_not_found"})
    assert status == 200
    assert post(mock, HOOK, {"text": "x"})[:2] == (404, "channel_not_found")
    post(mock, HOOK, {"text": "y"})
    status, snap = harness.http_json("GET", mock.base_url + "/_received?hook=" + HOOK)
    assert [r["json"]["text"] for r in snap["accepted"]] == ["y"]
    assert [r["error"] for r in snap["rejected"]] == ["channel_not_found"]
    harness.http("POST", mock.base_url + "/_reset", b"")
    assert mock.accepted() == [] and mock.rejected() == []


def test_wait_for_is_bounded(mock):
    t0 = time.monotonic()
    assert not mock.wait_for(lambda m: m.accepted(), timeout=0.5)
    assert time.monotonic() - t0 < 2
    threading.Timer(0.3, lambda: post(mock, HOOK, {"text": "late"})).start()
    got = mock.wait_for(lambda m: m.accepted(HOOK), timeout=5)
    assert got and got[0]["json"]["text"] == "late"


def test_cli(mock_cli):
    base = mock_cli("mock_slack.py", "--hook", "T9/B9/cli")
    assert harness.http("POST", base + "/services/T9/B9/cli", {"text": "x"}) == (200, b"ok")
    assert harness.http("POST", base + "/services/T9/B9/nope", {"text": "x"}) == \
        (404, b"no_service")


def test_binds_loopback_only(mock):
    assert mock._server.server_address[0] == "127.0.0.1"
    with pytest.raises(ValueError):
        MockSlack(host="0.0.0.0")
