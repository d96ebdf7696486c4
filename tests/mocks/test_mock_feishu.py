"""Tests of the mock Feishu custom bot itself: it must enforce what the real
service enforces (CHANNELS.md, "Feishu / Lark custom bot"), or the e2e
tests prove nothing.  Signatures here are computed independently of the
mock."""

import base64
import hashlib
import hmac
import json
import threading
import time

import pytest

import harness
from mock_base import FakeClock
from mock_feishu import MockFeishu

# CHANNELS.md test vector
VEC_SECRET = "feishutestsecret"
VEC_TS = "1700000000"
VEC_SIGN = "x/Zu40sfBTIz1QUNQHKO5U23lgSzndtkCSSxk0gTol4="

SIGN_FAIL = "sign match fail or timestamp is not within one hour from current time"


def sign(secret, ts):
    key = ("%s\n%s" % (ts, secret)).encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def now_s():
    return str(int(time.time()))


def text_msg(text):
    return {"msg_type": "text", "content": {"text": text}}


def card_msg(title, markdown):
    return {"msg_type": "interactive",
            "card": {"header": {"title": {"tag": "plain_text", "content": title},
                                "template": "red"},
                     "elements": [{"tag": "markdown", "content": markdown}]}}


def signed(msg, secret=VEC_SECRET, ts=None):
    ts = ts or now_s()
    return dict(msg, timestamp=ts, sign=sign(secret, ts))


def post(mock, token, msg=None, raw=None):
    """(HTTP status, parsed answer) of one hook request."""
    body = raw if raw is not None else json.dumps(msg, ensure_ascii=False).encode("utf-8")
    status, data = harness.http("POST", mock.url(token), body,
                                headers={"Content-Type": "application/json; charset=utf-8"})
    return status, json.loads(data) if data.startswith(b"{") else data


def send(mock, token, msg=None, raw=None):
    """The answer's code (asserting HTTP 200)."""
    status, ans = post(mock, token, msg, raw)
    assert status == 200, (status, ans)
    return ans["code"]


@pytest.fixture
def mock():
    m = MockFeishu()
    m.add_bot("SIGNED", secret=VEC_SECRET)
    m.add_bot("KW", keywords=["报警", "alert"])
    m.add_bot("OPEN")
    with m:
        yield m


# ----- signing --------------------------------------------------------
def test_independent_signature_matches_channels_vector():
    assert sign(VEC_SECRET, VEC_TS) == VEC_SIGN


def test_channels_vector_accepted_with_pinned_clock():
    with MockFeishu(clock=FakeClock(1700000000.5)) as m:
        m.add_bot("SIGNED", secret=VEC_SECRET)
        msg = dict(text_msg("hello"), timestamp=VEC_TS, sign=VEC_SIGN)
        status, ans = post(m, "SIGNED", msg)
        assert status == 200 and ans == {"code": 0, "data": {}, "msg": "success"}
        [rec] = m.accepted("SIGNED")
        assert rec["json"] == msg and rec["msg_type"] == "text"


def test_signed_now_accepted_as_string_or_number(mock):
    assert send(mock, "SIGNED", signed(card_msg("t", "x"))) == 0
    ts = int(now_s())
    assert send(mock, "SIGNED", dict(text_msg("x"), timestamp=ts, sign=sign(VEC_SECRET, ts))) == 0
    assert mock.rejected() == []


def test_wrong_or_missing_signature_rejected(mock):
    ts = now_s()
    cases = [
        text_msg("no signature at all"),
        dict(text_msg("x"), timestamp=ts),
        dict(text_msg("x"), sign=sign(VEC_SECRET, ts)),
        signed(text_msg("x"), secret="another secret"),
        dict(text_msg("x"), timestamp=ts, sign=sign(VEC_SECRET, int(ts) - 1)),
        dict(text_msg("x"), timestamp=ts + "000", sign=sign(VEC_SECRET, ts + "000")),  # ms
        dict(text_msg("x"), timestamp="abc", sign=sign(VEC_SECRET, "abc")),
    ]
    for msg in cases:
        status, ans = post(mock, "SIGNED", msg)
        assert status == 200 and ans["code"] == 19021 and ans["msg"] == SIGN_FAIL, msg
    assert mock.accepted() == []


def test_signature_in_the_url_does_not_count(mock):
    ts = now_s()
    url = mock.url("SIGNED") + "?timestamp=%s&sign=%s" % (ts, sign(VEC_SECRET, ts))
    status, data = harness.http("POST", url, json.dumps(text_msg("x")),
                                headers={"Content-Type": "application/json"})
    assert status == 200 and json.loads(data)["code"] == 19021


def test_timestamp_window_is_one_hour(mock):
    # The mock's clock is pinned: with a running clock, the seconds a slow
    # (sanitized) run spends between sends would move the boundary.
    now = int(time.time())
    mock.clock = lambda: float(now)
    for ts in (now - 3601, now + 3601):
        assert send(mock, "SIGNED", signed(text_msg("x"), ts=str(ts))) == 19021, ts
    for ts in (now - 3600, now + 3600):
        assert send(mock, "SIGNED", signed(text_msg("x"), ts=str(ts))) == 0, ts


def test_vector_timestamp_is_stale_today(mock):
    assert send(mock, "SIGNED", dict(text_msg("x"), timestamp=VEC_TS, sign=VEC_SIGN)) == 19021


def test_open_bot_ignores_signature_fields(mock):
    assert send(mock, "OPEN", signed(text_msg("x"), secret="whatever")) == 0


# ----- keywords and IP allowlist -------------------------------------
def test_keyword_missing_rejected(mock):
    status, ans = post(mock, "KW", text_msg("磁盘快满了"))
    assert ans == {"code": 19024, "data": {}, "msg": "Key Words Not Found"}
    # tag names and colour templates are not text
    msg = card_msg("磁盘", "快满了")
    msg["card"]["elements"][0]["tag"] = "alert"
    msg["card"]["header"]["template"] = "alert"
    assert send(mock, "KW", msg) == 19024
    assert mock.accepted() == []


def test_keyword_present_accepted(mock):
    assert send(mock, "KW", text_msg("【报警】磁盘快满了")) == 0
    assert send(mock, "KW", card_msg("报警 HostDown", "no keyword in text")) == 0
    assert send(mock, "KW", card_msg("title", "text mentions alert")) == 0
    assert len(mock.accepted("KW")) == 3 and mock.rejected() == []


def test_ip_allowlist():
    with MockFeishu() as m:
        m.add_bot("FAR", allowed_ips=["10.1.2.3"])
        m.add_bot("NEAR", allowed_ips=["127.0.0.1"])
        status, ans = post(m, "FAR", text_msg("x"))
        assert ans == {"code": 19022, "data": {}, "msg": "Ip Not Allowed"}
        assert send(m, "NEAR", text_msg("x")) == 0
        assert m.accepted()[0]["client"] == "127.0.0.1"


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


def test_body_over_20000_bytes_rejected(mock):
    status, ans = post(mock, "OPEN", raw=body_of_size(20001))
    assert ans["code"] == 19036 and "size limit" in ans["msg"]
    assert send(mock, "OPEN", raw=body_of_size(20000)) == 0


def test_size_counts_utf8_bytes_not_characters(mock):
    body = body_of_size(len(json.dumps(text_msg("")).encode()) + 3 * 6700, fill="报")
    assert len(body.decode()) < 20000 < len(body)
    assert send(mock, "OPEN", raw=body) == 19036


# ----- rate limits ----------------------------------------------------
def test_sixth_message_within_a_second_is_refused():
    clock = FakeClock(1_000_000)
    with MockFeishu(clock=clock) as m:
        m.add_bot("OPEN")
        for i in range(5):
            clock.t += 0.1
            assert send(m, "OPEN", text_msg("m%d" % i)) == 0, i
        status, ans = post(m, "OPEN", text_msg("m5"))
        assert ans["code"] == 11232 and "frequency limited" in ans["msg"]
        clock.t = 1_000_000 + 1.15  # the first one has left the second
        assert send(m, "OPEN", text_msg("again")) == 0
        assert send(m, "OPEN", text_msg("too fast")) == 11232


def test_101st_message_within_a_minute_is_refused_without_a_block():
    clock = FakeClock(2_000_000)
    with MockFeishu(clock=clock) as m:
        m.add_bot("OPEN")
        for i in range(100):
            clock.t += 0.5  # 2 a second: never over 5 a second
            assert send(m, "OPEN", text_msg("m%d" % i)) == 0, i
        clock.t += 0.5
        assert send(m, "OPEN", text_msg("m100")) == 11232
        # no block: as soon as the oldest leaves the minute there is room again
        clock.t = 2_000_000 + 0.5 + 60.01
        assert send(m, "OPEN", text_msg("room")) == 0
        assert send(m, "OPEN", text_msg("full")) == 11232


def test_rate_limit_is_per_token():
    clock = FakeClock(3_000_000)
    with MockFeishu(clock=clock) as m:
        m.add_bot("A")
        m.add_bot("B")
        for _ in range(5):
            assert send(m, "A", text_msg("a")) == 0
        assert send(m, "A", text_msg("a")) == 11232
        assert send(m, "B", text_msg("b")) == 0


# ----- tokens, bad requests ------------------------------------------
def test_unknown_token(mock):
    status, ans = post(mock, "NOPE", text_msg("x"))
    assert status == 200
    assert ans == {"code": 19001, "data": {},
                   "msg": "param invalid: incoming webhook access token invalid"}
    assert mock.rejected()[0]["token"] == "NOPE"


def test_invalid_bodies(mock):
    assert send(mock, "OPEN", raw=b"{not json") == 9499
    assert send(mock, "OPEN", raw=b"[1,2]") == 9499
    status, ans = post(mock, "OPEN", {"content": {"text": "x"}})
    assert ans["code"] == 19002 and ans["msg"] == "params error, msg_type need"
    assert send(mock, "OPEN", {"msgType": "text", "content": {"text": "x"}}) == 19002
    assert send(mock, "OPEN", {"msg_type": "video", "content": {}}) == 19002
    assert send(mock, "OPEN", {"msg_type": "text", "content": {}}) == 9499
    assert send(mock, "OPEN", {"msg_type": "post", "content": {"text": "x"}}) == 9499
    status, ans = post(mock, "OPEN", {"msg_type": "interactive", "content": {"text": "x"}})
    assert ans["code"] == 19002 and ans["msg"] == "params error, unknown card value"
    assert mock.accepted() == []


def test_legacy_success_shape():
    with MockFeishu() as m:
        m.add_bot("OLD", legacy_success=True)
        status, ans = post(m, "OLD", text_msg("x"))
        assert ans == {"Extra": None, "StatusCode": 0, "StatusMessage": "success"}


# ----- controls, records ---------------------------------------------
def test_fail_next(mock):
    mock.fail_next("OPEN", 2, code=11232, retry_after=3)
    mock.fail_next("OPEN", 1, http_status=503)
    for _ in range(2):
        status, headers, data = harness.http_full(
            "POST", mock.url("OPEN"), json.dumps(text_msg("x")),
            {"Content-Type": "application/json"})
        assert status == 200 and json.loads(data)["code"] == 11232
        assert headers["retry-after"] == "3"
    status, _ = post(mock, "OPEN", text_msg("x"))
    assert status == 503
    assert send(mock, "OPEN", text_msg("x")) == 0
    rej = mock.rejected()
    assert [r["injected"] for r in rej] == [True, True, True]
    assert rej[2]["http_status"] == 503


def test_fail_next_over_http(mock):
    status, ans = harness.http_json("POST", mock.base_url + "/_fail_next",
                                    {"token": "OPEN", "count": 1, "code": 19021})
    assert status == 200 and ans["code"] == 0
    assert send(mock, "OPEN", text_msg("x")) == 19021
    assert send(mock, "OPEN", text_msg("x")) == 0


def test_records_and_received_endpoint(mock):
    msg = card_msg("报警 HostDown", "**故障**\n<at id=all></at>")
    assert send(mock, "KW", msg) == 0
    send(mock, "KW", text_msg("nothing"))
    [rec] = mock.accepted("KW")
    assert rec["json"] == msg and rec["msg_type"] == "interactive"
    assert rec["headers"]["content-type"].startswith("application/json")
    assert rec["token"] == "KW" and rec["body_bytes"] > 0
    assert mock.messages() == [msg]
    status, snap = harness.http_json("GET", mock.base_url + "/_received")
    assert status == 200
    assert [a["json"] for a in snap["accepted"]] == [msg]
    assert [r["code"] for r in snap["rejected"]] == [19024]
    status, snap = harness.http_json("GET", mock.base_url + "/_received?token=OPEN")
    assert snap["accepted"] == [] and snap["rejected"] == []
    mock.reset()
    assert mock.accepted() == [] and mock.rejected() == []


def test_set_delay(mock):
    mock.set_delay("OPEN", 0.5)
    t0 = time.monotonic()
    assert send(mock, "OPEN", text_msg("slow")) == 0
    assert time.monotonic() - t0 >= 0.5


def test_wait_for_is_bounded(mock):
    t0 = time.monotonic()
    assert not mock.wait_for(lambda m: m.accepted(), timeout=0.5)
    assert time.monotonic() - t0 < 2
    timer = threading.Timer(0.3, lambda: send(mock, "OPEN", text_msg("late")))
    timer.start()
    got = mock.wait_for(lambda m: m.accepted("OPEN"), timeout=5)
    timer.join(timeout=5)
    assert got and got[0]["json"]["content"]["text"] == "late"


def test_concurrent_senders_all_recorded():
    with MockFeishu(per_second=1000, per_minute=1000) as m:
        m.add_bot("OPEN")
        errors = []

        def worker(n):
            try:
                for i in range(10):
                    assert send(m, "OPEN", text_msg("%d-%d" % (n, i))) == 0
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
    base = mock_cli("mock_feishu.py", "--bot", "C1:sign:" + VEC_SECRET,
                    "--bot", "C2:keyword:报警,告警")
    hook = base + "/open-apis/bot/v2/hook/"
    assert json.loads(harness.http("POST", hook + "C1", signed(text_msg("x")))[1])["code"] == 0
    assert json.loads(harness.http("POST", hook + "C2", text_msg("告警"))[1])["code"] == 0
    assert json.loads(harness.http("POST", hook + "C2", text_msg("x"))[1])["code"] == 19024


def test_binds_loopback_only(mock):
    assert mock._server.server_address[0] == "127.0.0.1"
    with pytest.raises(ValueError):
        MockFeishu(host="0.0.0.0")
