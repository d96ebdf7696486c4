"""Tests of the mock DingTalk robot itself: it must enforce what the real
service enforces (CHANNELS.md, "DingTalk custom robot"), or the e2e tests
prove nothing.  Signatures here are computed independently of the mock."""

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse

import pytest

import harness
from mock_base import FakeClock
from mock_dingtalk import MockDingTalk

# CHANNELS.md test vector
VEC_SECRET = "SECtestsecret0123456789"
VEC_TS = "1700000000000"
VEC_SIGN_B64 = "zrLWzK97t62y5CpqN8Ok9UIdPvX+jL1PNoW8nKT5a9k="
VEC_SIGN_URL = "zrLWzK97t62y5CpqN8Ok9UIdPvX%2BjL1PNoW8nKT5a9k%3D"


def sign(secret, ts):
    mac = hmac.new(secret.encode(), ("%s\n%s" % (ts, secret)).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def now_ms():
    return str(int(time.time() * 1000))


def text_msg(content):
    return {"msgtype": "text", "text": {"content": content}}


def md_msg(title, text):
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}


def send(mock, token, msg, extra_query="", raw=None, content_type="application/json"):
    """POST to the mock; returns the parsed answer (asserting HTTP 200)."""
    url = mock.url(token) + extra_query
    body = raw if raw is not None else json.dumps(msg, ensure_ascii=False).encode("utf-8")
    status, data = harness.http("POST", url, body, headers={"Content-Type": content_type})
    assert status == 200, (status, data)
    return json.loads(data)


def signed(secret, ts=None):
    ts = ts or now_ms()
    return "&timestamp=%s&sign=%s" % (ts, urllib.parse.quote(sign(secret, ts), safe=""))


@pytest.fixture
def mock():
    m = MockDingTalk()
    m.add_robot("SIGNED", secret=VEC_SECRET)
    m.add_robot("KW", keywords=["报警", "alert"])
    m.add_robot("OPEN")
    with m:
        yield m


# ----- signing --------------------------------------------------------
def test_independent_signature_matches_channels_vector():
    assert sign(VEC_SECRET, VEC_TS) == VEC_SIGN_B64
    assert urllib.parse.quote(VEC_SIGN_B64, safe="") == VEC_SIGN_URL


def test_channels_vector_accepted_with_pinned_clock():
    with MockDingTalk(clock=FakeClock(1700000000.5)) as m:
        m.add_signed("SIGNED", VEC_SECRET)
        ans = send(m, "SIGNED", text_msg("hello"),
                   "&timestamp=%s&sign=%s" % (VEC_TS, VEC_SIGN_URL))
        assert ans == {"errcode": 0, "errmsg": "ok"}
        [rec] = m.accepted("SIGNED")
        assert rec["query"]["sign"] == VEC_SIGN_B64
        assert rec["json"] == text_msg("hello")


def test_signed_now_accepted(mock):
    assert send(mock, "SIGNED", md_msg("t", "x"), signed(VEC_SECRET))["errcode"] == 0
    assert mock.rejected() == []


def test_wrong_sign_rejected(mock):
    ts = now_ms()
    bad = urllib.parse.quote(sign("SECsomethingelse", ts), safe="")
    ans = send(mock, "SIGNED", text_msg("x"), "&timestamp=%s&sign=%s" % (ts, bad))
    assert ans["errcode"] == 310000 and "sign not match" in ans["errmsg"]
    # sign computed for another timestamp
    ans = send(mock, "SIGNED", text_msg("x"),
               "&timestamp=%s&sign=%s" % (ts, urllib.parse.quote(sign(VEC_SECRET, int(ts) - 1), safe="")))
    assert ans["errcode"] == 310000
    assert mock.accepted() == []
    assert [r["errcode"] for r in mock.rejected("SIGNED")] == [310000, 310000]


def test_sign_not_url_encoded_rejected():
    # "+" left raw in the query decodes to a space: the real service refuses it
    with MockDingTalk(clock=FakeClock(1700000000)) as m:
        m.add_signed("SIGNED", VEC_SECRET)
        ans = send(m, "SIGNED", text_msg("x"), "&timestamp=%s&sign=%s" % (VEC_TS, VEC_SIGN_B64))
        assert ans["errcode"] == 310000


def test_missing_sign_or_timestamp_rejected(mock):
    ts = now_ms()
    assert send(mock, "SIGNED", text_msg("x"))["errcode"] == 310000
    assert send(mock, "SIGNED", text_msg("x"), "&timestamp=" + ts)["errcode"] == 310000
    s = urllib.parse.quote(sign(VEC_SECRET, ts), safe="")
    ans = send(mock, "SIGNED", text_msg("x"), "&sign=" + s)
    assert ans["errcode"] == 310000 and "timestamp" in ans["errmsg"]
    ans = send(mock, "SIGNED", text_msg("x"), "&timestamp=abc&sign=" + s)
    assert ans["errcode"] == 310000 and "timestamp" in ans["errmsg"]


def test_stale_and_future_timestamps_rejected(mock):
    # The mock's clock is pinned: with a running clock, the seconds a slow
    # (sanitized) run spends between sends would move the boundary.
    now = int(time.time() * 1000)
    mock.clock = lambda: now / 1000.0
    for ts in (now - 3601 * 1000, now + 3601 * 1000):
        ans = send(mock, "SIGNED", text_msg("x"), signed(VEC_SECRET, str(ts)))
        assert ans["errcode"] == 310000, ts
        assert "invalid timestamp" in ans["errmsg"]
    # inside the 1 h window, up to its edge: fine
    for ts in (now - 3600 * 1000, now + 3600 * 1000):
        assert send(mock, "SIGNED", text_msg("x"), signed(VEC_SECRET, str(ts)))["errcode"] == 0


def test_vector_timestamp_is_stale_today(mock):
    ans = send(mock, "SIGNED", text_msg("x"), "&timestamp=%s&sign=%s" % (VEC_TS, VEC_SIGN_URL))
    assert ans["errcode"] == 310000 and "invalid timestamp" in ans["errmsg"]


# ----- keywords -------------------------------------------------------
def test_keyword_missing_rejected(mock):
    ans = send(mock, "KW", text_msg("磁盘快满了"))
    assert ans["errcode"] == 310000 and "keywords not in content" in ans["errmsg"]
    # keyword only outside the searched content (e.g. in "at") does not count
    msg = md_msg("磁盘", "快满了")
    msg["at"] = {"atMobiles": ["报警"]}
    assert send(mock, "KW", msg)["errcode"] == 310000
    assert mock.accepted() == []


def test_keyword_present_accepted(mock):
    assert send(mock, "KW", text_msg("【报警】磁盘快满了"))["errcode"] == 0
    assert send(mock, "KW", md_msg("报警 HostDown", "no keyword in text"))["errcode"] == 0
    assert send(mock, "KW", md_msg("title", "text mentions alert"))["errcode"] == 0
    assert len(mock.accepted("KW")) == 3
    assert mock.rejected() == []


def test_keyword_robot_ignores_sign_params(mock):
    assert send(mock, "KW", text_msg("报警"), signed("whatever"))["errcode"] == 0


def test_signed_and_keyword_robot_needs_both():
    with MockDingTalk() as m:
        m.add_robot("BOTH", secret=VEC_SECRET, keywords=["报警"])
        assert send(m, "BOTH", text_msg("报警"))["errcode"] == 310000
        assert send(m, "BOTH", text_msg("nothing"), signed(VEC_SECRET))["errcode"] == 310000
        assert send(m, "BOTH", text_msg("报警"), signed(VEC_SECRET))["errcode"] == 0


# ----- size -----------------------------------------------------------
def body_of_size(n, fill="x"):
    """A text message whose serialized UTF-8 body is exactly n bytes."""
    base = json.dumps(text_msg(""), ensure_ascii=False).encode()
    unit = len(fill.encode())
    pad = n - len(base)
    assert pad >= 0 and pad % unit == 0
    body = json.dumps(text_msg(fill * (pad // unit)), ensure_ascii=False).encode()
    assert len(body) == n
    return body


def test_body_of_20000_bytes_rejected(mock):
    """CHANNELS.md: the body must stay under 20000 bytes."""
    ans = send(mock, "OPEN", None, raw=body_of_size(20000))
    assert ans["errcode"] == 460101
    assert "exceed 20000 bytes" in ans["errmsg"]
    assert send(mock, "OPEN", None, raw=body_of_size(19999))["errcode"] == 0


def test_size_counts_utf8_bytes_not_characters(mock):
    body = body_of_size(len(json.dumps(text_msg("")).encode()) + 3 * 6700, fill="报")
    assert len(body.decode()) < 20000 < len(body)
    assert send(mock, "OPEN", None, raw=body)["errcode"] == 460101


# ----- rate limit -----------------------------------------------------
def test_21st_message_in_a_minute_blocks_robot():
    clock = FakeClock(1_000_000)
    with MockDingTalk(clock=clock) as m:
        m.add_robot("OPEN")
        for i in range(20):
            clock.t += 1  # 20 messages within 20 s
            assert send(m, "OPEN", text_msg("m%d" % i))["errcode"] == 0, i
        clock.t += 1
        ans = send(m, "OPEN", text_msg("m20"))
        assert ans == {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        # blocked for 10 minutes, even after the minute window has passed
        for dt in (30, 120, 590):
            clock.t = 1_000_021 + dt
            assert send(m, "OPEN", text_msg("blocked"))["errcode"] == 130101, dt
        clock.t = 1_000_021 + 601
        assert send(m, "OPEN", text_msg("free again"))["errcode"] == 0
        assert len(m.accepted()) == 21
        assert [r["errcode"] for r in m.rejected()] == [130101] * 4


def test_rate_window_slides():
    clock = FakeClock(2_000_000)
    with MockDingTalk(clock=clock) as m:
        m.add_robot("OPEN")
        for i in range(20):
            clock.t += 2.9  # 20 messages within 58 s
            assert send(m, "OPEN", text_msg("a%d" % i))["errcode"] == 0
        clock.t = 2_000_000 + 2.9 + 59.9  # the first is 59.9 s old: still counts
        assert send(m, "OPEN", text_msg("too fast"))["errcode"] == 130101
    with MockDingTalk(clock=clock) as m:
        m.add_robot("OPEN")
        clock.t = 2_000_000
        for i in range(20):
            clock.t += 2.9
            assert send(m, "OPEN", text_msg("a%d" % i))["errcode"] == 0
        clock.t = 2_000_000 + 2.9 + 60.1  # the first message has left the window
        assert send(m, "OPEN", text_msg("ok"))["errcode"] == 0
        assert send(m, "OPEN", text_msg("too fast"))["errcode"] == 130101


def test_rate_limit_is_per_token():
    clock = FakeClock(3_000_000)
    with MockDingTalk(clock=clock) as m:
        m.add_robot("A")
        m.add_robot("B")
        for i in range(20):
            assert send(m, "A", text_msg("a"))["errcode"] == 0
        assert send(m, "A", text_msg("a"))["errcode"] == 130101
        assert send(m, "B", text_msg("b"))["errcode"] == 0


def test_shortened_windows_in_real_time():
    with MockDingTalk(rate_limit=3, rate_window=60, block_seconds=3) as m:
        m.add_robot("OPEN")
        assert [send(m, "OPEN", text_msg("x"))["errcode"] for _ in range(5)] == \
            [0, 0, 0, 130101, 130101]
        time.sleep(3.5)
        assert send(m, "OPEN", text_msg("x"))["errcode"] == 0


# ----- tokens, bad requests ------------------------------------------
def test_unknown_token(mock):
    ans = send(mock, "NOPE", text_msg("x"))
    assert ans == {"errcode": 300001, "errmsg": "token is not exist"}
    assert mock.rejected()[0]["token"] == "NOPE"


def test_missing_token(mock):
    status, data = harness.http("POST", mock.base_url + "/robot/send",
                                json.dumps(text_msg("x")), {"Content-Type": "application/json"})
    assert status == 200 and json.loads(data)["errcode"] == 300001


def test_invalid_json_and_missing_fields(mock):
    assert send(mock, "OPEN", None, raw=b"{not json")["errcode"] == 40035
    assert send(mock, "OPEN", None, raw=b"[1,2]")["errcode"] == 40035
    assert send(mock, "OPEN", {"text": {"content": "x"}})["errcode"] == 40035
    assert send(mock, "OPEN", {"msgtype": "text"})["errcode"] == 40035
    assert send(mock, "OPEN", {"msgtype": "markdown", "markdown": {"title": "t"}})["errcode"] == 40035
    assert send(mock, "OPEN", {"msgtype": "video", "video": {}})["errcode"] == 400105
    assert send(mock, "OPEN", text_msg("x"), content_type="text/plain")["errcode"] == 43004
    assert send(mock, "OPEN", text_msg("x"),
                content_type="application/json; charset=utf-8")["errcode"] == 0
    assert len(mock.accepted()) == 1


# ----- controls, records ---------------------------------------------
def test_fail_next(mock):
    mock.fail_next("OPEN", 2, errcode=130101)
    mock.fail_next("OPEN", 1, http_status=503, errcode=None)
    codes = [send(mock, "OPEN", text_msg("x"))["errcode"] for _ in range(2)]
    assert codes == [130101, 130101]
    status, _ = harness.http("POST", mock.url("OPEN"), json.dumps(text_msg("x")),
                             {"Content-Type": "application/json"})
    assert status == 503
    assert send(mock, "OPEN", text_msg("x"))["errcode"] == 0
    rej = mock.rejected()
    assert [r["injected"] for r in rej] == [True, True, True]
    assert rej[2]["http_status"] == 503


def test_fail_next_over_http(mock):
    status, ans = harness.http_json("POST", mock.base_url + "/_fail_next",
                                    {"token": "OPEN", "count": 1, "errcode": 310000})
    assert status == 200 and ans["errcode"] == 0
    assert send(mock, "OPEN", text_msg("x"))["errcode"] == 310000
    assert send(mock, "OPEN", text_msg("x"))["errcode"] == 0


def test_records_and_received_endpoint(mock):
    msg = md_msg("报警 HostDown", "### 故障\n@13800000000")
    msg["at"] = {"atMobiles": ["13800000000"], "isAtAll": False}
    assert send(mock, "KW", msg)["errcode"] == 0
    send(mock, "KW", text_msg("nothing"))
    [rec] = mock.accepted("KW")
    assert rec["json"] == msg and rec["msgtype"] == "markdown"
    assert rec["headers"]["content-type"] == "application/json"
    assert rec["token"] == "KW" and rec["body_bytes"] > 0
    assert mock.messages() == [msg]
    status, snap = harness.http_json("GET", mock.base_url + "/_received")
    assert status == 200
    assert [a["json"] for a in snap["accepted"]] == [msg]
    assert [r["errcode"] for r in snap["rejected"]] == [310000]
    status, snap = harness.http_json("GET", mock.base_url + "/_received?token=OPEN")
    assert snap["accepted"] == [] and snap["rejected"] == []
    mock.reset()
    assert mock.accepted() == [] and mock.rejected() == []


def test_wait_for_is_bounded(mock):
    t0 = time.monotonic()
    assert not mock.wait_for(lambda m: m.accepted(), timeout=0.5)
    assert time.monotonic() - t0 < 2
    threading.Timer(0.3, lambda: send(mock, "OPEN", text_msg("late"))).start()
    got = mock.wait_for(lambda m: m.accepted("OPEN"), timeout=5)
    assert got and got[0]["json"]["text"]["content"] == "late"


def test_concurrent_senders_all_recorded():
    with MockDingTalk(rate_limit=1000) as m:
        m.add_robot("OPEN")
        errors = []

        def worker(n):
            try:
                for i in range(10):
                    assert send(m, "OPEN", text_msg("%d-%d" % (n, i)))["errcode"] == 0
            except Exception as e:  # surfaced below
                errors.append(e)
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors
        assert len(m.accepted()) == 80


def test_cli(mock_cli):
    base = mock_cli("mock_dingtalk.py", "--robot", "C1:sign:" + VEC_SECRET,
                    "--robot", "C2:keyword:报警,告警")
    url = base + "/robot/send?access_token=C1" + signed(VEC_SECRET)
    status, data = harness.http("POST", url, text_msg("x"))
    assert json.loads(data)["errcode"] == 0
    url = base + "/robot/send?access_token=C2"
    assert json.loads(harness.http("POST", url, text_msg("告警"))[1])["errcode"] == 0
    assert json.loads(harness.http("POST", url, text_msg("x"))[1])["errcode"] == 310000


def test_binds_loopback_only(mock):
    assert mock._server.server_address[0] == "127.0.0.1"
    with pytest.raises(ValueError):
        MockDingTalk(host="0.0.0.0")
