"""Tests of the mock Telegram Bot API itself: it must enforce what the real
service enforces (CHANNELS.md, "Telegram bot"), or the e2e tests prove
nothing."""

import json
import threading

import pytest

import harness
from mock_base import FakeClock
from mock_telegram import MockTelegram, parse_html, EntityError

TOKEN = "123456:TESTtoken_abc-def"
GROUP = -1001234567890
USER = 42


def send(mock, msg, token=TOKEN, method="sendMessage", raw=None):
    """(status, answer, headers) of one POST to the Bot API."""
    body = raw if raw is not None else json.dumps(msg, ensure_ascii=False).encode("utf-8")
    status, headers, data = harness.http_full(
        "POST", "%s/bot%s/%s" % (mock.base_url, token, method), body,
        {"Content-Type": "application/json"})
    return status, json.loads(data), headers


def html(text, chat=GROUP):
    return {"chat_id": chat, "text": text, "parse_mode": "HTML",
            "disable_web_page_preview": True}


def error(status, answer):
    return status, answer.get("error_code"), answer.get("description")


@pytest.fixture
def mock():
    m = MockTelegram(rate_limit=1000)
    m.add_bot(TOKEN, GROUP, USER, "@herald_alerts")
    with m:
        yield m


def test_ok_answer_and_record(mock):
    status, answer, _ = send(mock, html('<b>告警</b>\n<a href="https://g.io/?a=1&amp;b=2">详情</a>'
                                        ' <a href="tg://user?id=42">@42</a> &lt;x&gt;'))
    assert status == 200 and answer["ok"] is True
    assert answer["result"]["chat"]["id"] == GROUP
    [rec] = mock.accepted(TOKEN)
    assert rec["plain"] == "告警\n详情 @42 <x>"
    assert rec["links"] == ["https://g.io/?a=1&b=2", "tg://user?id=42"]
    assert rec["tags"] == ["b", "a", "a"] and rec["chat_id"] == str(GROUP)
    # string chat ids and channel names work too
    assert send(mock, html("x", chat=str(USER)))[0] == 200
    assert send(mock, html("x", chat="@herald_alerts"))[0] == 200


def test_tokens_and_methods(mock):
    assert error(*send(mock, html("x"), token="123456:unknown")[:2]) == (401, 401, "Unauthorized")
    assert error(*send(mock, html("x"), token="no-colon")[:2]) == (404, 404, "Not Found")
    assert error(*send(mock, html("x"), method="sendPhoto")[:2]) == (404, 404, "Not Found")
    assert mock.accepted() == [] and len(mock.rejected()) == 3


def test_chats(mock):
    assert error(*send(mock, {"text": "x"})[:2]) == (400, 400, "Bad Request: chat_id is empty")
    assert error(*send(mock, html("x", chat=-100999))[:2]) == \
        (400, 400, "Bad Request: chat not found")
    mock.set_chat(TOKEN, GROUP, "kicked")
    assert error(*send(mock, html("x"))[:2]) == \
        (403, 403, "Forbidden: bot was kicked from the group chat")
    mock.set_chat(TOKEN, GROUP, "migrated", migrate_to=-1005555)
    status, answer, _ = send(mock, html("x"))
    assert status == 400 and answer["parameters"] == {"migrate_to_chat_id": -1005555}
    assert "upgraded to a supergroup" in answer["description"]


@pytest.mark.parametrize("text,why", [
    ("<b>open", "Can't find end tag"),
    ("<b><i>x</b></i>", "Unmatched end tag"),
    ("<font color=red>x</font>", "Unsupported start tag"),
    ('<a href="u" onclick="x">l</a>', "Unsupported attribute"),
    ("a & b", "Character entity expected"),
    ("a < b", ""),
    ("&nbsp;", "Unsupported HTML entity"),
    ("<br/>", "Unsupported start tag"),
])
def test_html_parse_errors(mock, text, why):
    status, answer, _ = send(mock, html(text))
    assert status == 400
    assert answer["description"].startswith("Bad Request: can't parse entities: " + why)


def test_text_checks(mock):
    assert error(*send(mock, {"chat_id": GROUP})[:2]) == \
        (400, 400, "Bad Request: message text is empty")
    assert error(*send(mock, html("<b> </b>"))[:2]) == \
        (400, 400, "Bad Request: message text is empty")
    assert error(*send(mock, dict(html("x"), parse_mode="BBCode"))[:2]) == \
        (400, 400, "Bad Request: unsupported parse_mode")
    assert error(*send(mock, None, raw=b"{nope")[:2])[:2] == (400, 400)
    # without parse_mode, tags are just text
    assert send(mock, {"chat_id": GROUP, "text": "<b>a & b"})[0] == 200


def test_length_counts_parsed_text_in_utf16(mock):
    # tags and entities do not count: 4096 visible characters pass
    assert send(mock, html("<b>" + "&amp;" * 4096 + "</b>"))[0] == 200
    assert send(mock, html("告" * 4096))[0] == 200
    assert error(*send(mock, html("告" * 4097))[:2]) == \
        (400, 400, "Bad Request: message is too long")
    # an emoji outside the BMP is two UTF-16 units
    assert send(mock, html("🔥" * 2048))[0] == 200
    assert send(mock, html("🔥" * 2048 + "x"))[0] == 400


def test_rate_limit_per_chat():
    clock = FakeClock(5000)
    with MockTelegram(rate_limit=20, rate_window=60, clock=clock) as m:
        m.add_bot(TOKEN, GROUP, USER)
        for i in range(20):
            clock.t += 1
            assert send(m, html("m%d" % i))[0] == 200
        status, answer, headers = send(m, html("too fast"))
        assert status == 429 and answer["error_code"] == 429
        assert answer["parameters"]["retry_after"] == 41 and headers["retry-after"] == "41"
        assert answer["description"] == "Too Many Requests: retry after 41"
        assert send(m, html("other chat", chat=USER))[0] == 200
        clock.t = 5001 + 60.5  # the first message (at 5001) left the window
        assert send(m, html("again"))[0] == 200


def test_fail_next(mock):
    mock.fail_next(TOKEN, 1, 429, "Too Many Requests: retry after 3", retry_after=3)
    mock.fail_next(TOKEN, 1, 500, "Internal Server Error")
    mock.fail_next(TOKEN, 1, raw_status=502)
    status, answer, headers = send(mock, html("x"))
    assert status == 429 and answer["parameters"] == {"retry_after": 3}
    assert headers["retry-after"] == "3"
    assert error(*send(mock, html("x"))[:2]) == (500, 500, "Internal Server Error")
    status, headers, data = harness.http_full(
        "POST", "%s/bot%s/sendMessage" % (mock.base_url, TOKEN), html("x"))
    assert status == 502 and data.startswith(b"<html>")
    assert send(mock, html("x"))[0] == 200
    assert [r["injected"] for r in mock.rejected()] == [True] * 3


def test_http_controls_and_wait(mock):
    status, _ = harness.http("POST", mock.base_url + "/_fail_next",
                             {"token": TOKEN, "error_code": 400,
                              "description": "Bad Request: chat not found"})
    assert status == 200
    assert send(mock, html("x"))[0] == 400
    threading.Timer(0.3, lambda: send(mock, html("late"))).start()
    got = mock.wait_for(lambda m: m.accepted(TOKEN), timeout=5)
    assert got and got[0]["plain"] == "late"
    status, snap = harness.http_json("GET", mock.base_url + "/_received?token=" + TOKEN)
    assert len(snap["accepted"]) == 1 and len(snap["rejected"]) == 1
    harness.http("POST", mock.base_url + "/_reset", b"")
    assert mock.accepted() == [] and mock.rejected() == []
    assert not mock.wait_for(lambda m: m.accepted(), timeout=0.3)


def test_parse_html_helper():
    assert parse_html("<pre>a\n&lt;b&gt;</pre><blockquote>q</blockquote>") == \
        ("a\n<b>q", [], ["pre", "blockquote"])
    with pytest.raises(EntityError):
        parse_html("<b>x</b")


def test_cli(mock_cli):
    base = mock_cli("mock_telegram.py", "--bot", "999:CLItoken=-100777")
    status, data = harness.http("POST", base + "/bot999:CLItoken/sendMessage",
                                html("x", chat=-100777))
    assert status == 200 and json.loads(data)["ok"] is True


def test_binds_loopback_only(mock):
    assert mock._server.server_address[0] == "127.0.0.1"
    with pytest.raises(ValueError):
        MockTelegram(host="0.0.0.0")
