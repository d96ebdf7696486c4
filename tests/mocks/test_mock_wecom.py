"""Tests of the mock WeCom group robot itself: it must enforce what the real
service enforces (CHANNELS.md, "WeCom group robot"), or the e2e tests
prove nothing."""

import json
import threading
import time

import pytest

import harness
from mock_base import FakeClock
from mock_wecom import MockWeCom

KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
OTHER = "0b4c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"


def text_msg(content, **mentions):
    return {"msgtype": "text", "text": dict({"content": content}, **mentions)}


def md_msg(content, msgtype="markdown"):
    return {"msgtype": msgtype, msgtype: {"content": content}}


def send(mock, key, msg, raw=None):
    """POST to the mock; returns the parsed answer (asserting HTTP 200)."""
    body = raw if raw is not None else json.dumps(msg, ensure_ascii=False).encode("utf-8")
    status, data = harness.http("POST", mock.url(key), body,
                                headers={"Content-Type": "application/json"})
    assert status == 200, (status, data)
    return json.loads(data)


@pytest.fixture
def mock():
    m = MockWeCom()
    m.add_robot(KEY)
    with m:
        yield m


# ----- keys ------------------------------------------------------------
def test_known_key_accepted(mock):
    assert send(mock, KEY, md_msg("## 告警"))["errcode"] == 0
    [rec] = mock.accepted(KEY)
    assert rec["msgtype"] == "markdown" and rec["json"] == md_msg("## 告警")
    assert mock.rejected() == []


def test_unknown_or_missing_key_is_93000(mock):
    assert send(mock, OTHER, text_msg("x")) == {"errcode": 93000,
                                                 "errmsg": "invalid webhook url"}
    status, data = harness.http("POST", mock.base_url + "/cgi-bin/webhook/send",
                                json.dumps(text_msg("x")))
    assert status == 200 and json.loads(data)["errcode"] == 93000
    assert [r["key"] for r in mock.rejected()] == [OTHER, ""]
    assert mock.accepted() == []


# ----- message types and fields ----------------------------------------
def test_every_msgtype_with_its_fields(mock):
    msgs = [text_msg("告警", mentioned_list=["lisi", "@all"],
                     mentioned_mobile_list=["13800000000"]),
            md_msg("<font color=\"warning\">故障</font> <@lisi>"),
            md_msg("| a | b |", "markdown_v2"),
            {"msgtype": "news", "news": {"articles": [
                {"title": "告警", "url": "https://example.com", "description": "d"}]}},
            {"msgtype": "template_card", "template_card": {"card_type": "text_notice"}}]
    for m in msgs:
        assert send(mock, KEY, m)["errcode"] == 0, m
    assert mock.messages(KEY) == msgs


def test_bad_bodies_are_40058_or_40008(mock):
    cases = [
        (b"{not json", 40058),
        (b"[1,2]", 40058),
        (b"\xff\xfe", 40058),
        (json.dumps({"text": {"content": "x"}}).encode(), 40008),
        (json.dumps({"msgtype": "video", "video": {}}).encode(), 40008),
        (json.dumps({"msgtype": "text"}).encode(), 40058),
        (json.dumps({"msgtype": "text", "text": {"content": ""}}).encode(), 40058),
        (json.dumps({"msgtype": "markdown", "markdown": {"text": "x"}}).encode(), 40058),
        (json.dumps(text_msg("x", mentioned_list="lisi")).encode(), 40058),
        (json.dumps(text_msg("x", mentioned_mobile_list=[138])).encode(), 40058),
        (json.dumps({"msgtype": "news", "news": {"articles": []}}).encode(), 40058),
        (json.dumps({"msgtype": "news", "news": {"articles": [
            {"title": "t", "url": "u"}] * 9}}).encode(), 40058),
        (json.dumps({"msgtype": "news", "news": {"articles": [{"title": "t"}]}}).encode(),
         40058),
    ]
    for raw, code in cases:
        assert send(mock, KEY, None, raw=raw)["errcode"] == code, raw
    assert mock.accepted() == []
    assert len(mock.rejected(KEY)) == len(cases)


# ----- content limits ---------------------------------------------------
@pytest.mark.parametrize("msgtype,limit", [("text", 2048), ("markdown", 4096),
                                           ("markdown_v2", 4096)])
def test_content_limit_in_utf8_bytes(mock, msgtype, limit):
    def msg(content):
        return text_msg(content) if msgtype == "text" else md_msg(content, msgtype)
    at_limit = "告" * (limit // 3) + "x" * (limit % 3)
    assert len(at_limit.encode()) == limit
    assert send(mock, KEY, msg(at_limit))["errcode"] == 0
    over = at_limit + "x"
    ans = send(mock, KEY, msg(over))
    assert ans == {"errcode": 40058,
                   "errmsg": "%s.content exceed max length %d" % (msgtype, limit)}
    # characters are far under the limit, bytes are over it
    chinese = "告" * (limit // 3 + 1)
    assert len(chinese) < limit < len(chinese.encode())
    assert send(mock, KEY, msg(chinese))["errcode"] == 40058


def test_escapes_do_not_count_toward_the_limit(mock):
    # 2048 newlines are 4096 bytes of JSON but 2048 bytes of content
    assert send(mock, KEY, text_msg("\n" * 2048))["errcode"] == 0
    raw = json.dumps(text_msg("告" * 682 + "xx")).encode()  # \uXXXX escapes
    assert send(mock, KEY, None, raw=raw)["errcode"] == 0


# ----- rate limit -------------------------------------------------------
def test_21st_message_in_a_minute_is_45009():
    clock = FakeClock(1_000_000)
    with MockWeCom(clock=clock) as m:
        m.add_robot(KEY)
        for i in range(20):
            clock.t += 1
            assert send(m, KEY, text_msg("m%d" % i))["errcode"] == 0, i
        clock.t += 1
        assert send(m, KEY, text_msg("m20")) == {"errcode": 45009,
                                                  "errmsg": "api freq out of limit"}
        # no block beyond the window: once the first send is 60 s old, room again
        clock.t = 1_000_001 + 60
        assert send(m, KEY, text_msg("again"))["errcode"] == 0
        assert send(m, KEY, text_msg("too fast"))["errcode"] == 45009
        assert len(m.accepted()) == 21
        assert [r["errcode"] for r in m.rejected()] == [45009, 45009]


def test_rejected_messages_do_not_count():
    clock = FakeClock(2_000_000)
    with MockWeCom(clock=clock, rate_limit=2) as m:
        m.add_robot(KEY)
        for _ in range(5):
            assert send(m, KEY, None, raw=b"{")["errcode"] == 40058
        assert [send(m, KEY, text_msg("x"))["errcode"] for _ in range(3)] == [0, 0, 45009]


def test_rate_limit_is_per_key():
    clock = FakeClock(3_000_000)
    with MockWeCom(clock=clock) as m:
        m.add_robot(KEY)
        m.add_robot(OTHER)
        for _ in range(20):
            assert send(m, KEY, text_msg("a"))["errcode"] == 0
        assert send(m, KEY, text_msg("a"))["errcode"] == 45009
        assert send(m, OTHER, text_msg("b"))["errcode"] == 0


# ----- controls, records -----------------------------------------------
def test_fail_next(mock):
    mock.fail_next(KEY, 2)  # 45009 by default
    mock.fail_next(KEY, 1, http_status=503, errcode=None)
    mock.fail_next(KEY, 1, errcode=93000)
    assert [send(mock, KEY, text_msg("x")) for _ in range(2)] == \
        [{"errcode": 45009, "errmsg": "api freq out of limit"}] * 2
    status, _ = harness.http("POST", mock.url(KEY), json.dumps(text_msg("x")))
    assert status == 503
    assert send(mock, KEY, text_msg("x")) == {"errcode": 93000, "errmsg": "invalid webhook url"}
    assert send(mock, KEY, text_msg("x"))["errcode"] == 0
    rej = mock.rejected()
    assert [r["injected"] for r in rej] == [True] * 4
    assert rej[2]["http_status"] == 503


def test_fail_next_over_http_and_reset(mock):
    status, ans = harness.http_json("POST", mock.base_url + "/_fail_next",
                                    {"key": KEY, "count": 1, "errcode": 40058})
    assert status == 200 and ans["errcode"] == 0
    assert send(mock, KEY, text_msg("x"))["errcode"] == 40058
    assert send(mock, KEY, text_msg("x"))["errcode"] == 0
    status, snap = harness.http_json("GET", mock.base_url + "/_received?key=" + KEY)
    assert status == 200
    assert [a["json"] for a in snap["accepted"]] == [text_msg("x")]
    assert [r["errcode"] for r in snap["rejected"]] == [40058]
    status, _ = harness.http_json("POST", mock.base_url + "/_reset", {})
    assert status == 200 and mock.accepted() == [] and mock.rejected() == []
    status, ans = harness.http_json("POST", mock.base_url + "/_fail_next", {"count": 1})
    assert status == 400


def test_set_delay(mock):
    mock.set_delay(KEY, 0.5)
    t0 = time.monotonic()
    assert send(mock, KEY, text_msg("slow"))["errcode"] == 0
    assert time.monotonic() - t0 >= 0.5


def test_wait_for_is_bounded(mock):
    t0 = time.monotonic()
    assert not mock.wait_for(lambda m: m.accepted(), timeout=0.5)
    assert time.monotonic() - t0 < 2
    threading.Timer(0.3, lambda: send(mock, KEY, text_msg("late"))).start()
    got = mock.wait_for(lambda m: m.accepted(KEY), timeout=5)
    assert got and got[0]["json"]["text"]["content"] == "late"


def test_cli(mock_cli):
    base = mock_cli("mock_wecom.py", "--key", KEY)
    url = base + "/cgi-bin/webhook/send?key="
    assert json.loads(harness.http("POST", url + KEY, text_msg("x"))[1])["errcode"] == 0
    assert json.loads(harness.http("POST", url + OTHER, text_msg("x"))[1])["errcode"] == 93000


def test_binds_loopback_only(mock):
    assert mock._server.server_address[0] == "127.0.0.1"
    with pytest.raises(ValueError):
        MockWeCom(host="0.0.0.0")
