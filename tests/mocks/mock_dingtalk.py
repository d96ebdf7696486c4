#!/usr/bin/env python3
"""A mock DingTalk custom robot (钉钉自定义机器人) for herald's tests.

It checks what the real service checks and answers what it answers, as
written down in /work/shared/CHANNELS.md ("DingTalk custom robot"):

  POST /robot/send?access_token=TOKEN[&timestamp=MS&sign=URLENCODED_B64]

Every answer to /robot/send is HTTP 200 with a JSON body
{"errcode": N, "errmsg": "..."}; the verdict is in errcode.  The checks run
in this order (the first one that fails decides the answer):

  1. token unknown                          300001 "token is not exist"
  2. robot blocked by the rate limiter      130101 "send too fast, exceed 20 times per minute"
  3. injected failure (fail_next)           the injected errcode / HTTP status
  4. body of max_body (20000) bytes or more 460101 "message too long, exceed 20000 bytes"
  5. Content-Type not application/json      43004  "无效的HTTP HEADER Content-Type"   (*)
  6. body not JSON / not an object          40035  "缺少参数 json"                     (*)
  7. msgtype missing                        40035  "缺少参数 msgtype"                  (*)
     msgtype not one of text, markdown, link, actionCard, feedCard
                                            400105 "不支持的消息类型"  (unverified code)
     a required field of the msgtype missing (text.content, markdown.title,
     markdown.text, ...)                    40035  "缺少参数 <field>"                  (*)
  8. signed robot: timestamp missing, not a number, or more than
     skew (3600) s away from now            310000 "invalid timestamp"
     sign missing or != base64(HMAC-SHA256(secret, ts + "\\n" + secret))
                                            310000 "sign not match"
  9. keyword robot: none of the keywords in the content
                                            310000 "keywords not in content"
 10. rate limit: this message would be the (rate_limit+1)-th within
     rate_window (60) s for this token      130101, and the robot is blocked
     for block_seconds (600): every send during the block gets 130101.
 11. otherwise                              0 "ok", the message is recorded.

(*) not listed in CHANNELS.md; the codes are what the real service is
reported to answer, and our tests only rely on "non-zero, permanent".

"Content" for keyword checks: text.content; markdown title + text; link
title + text; actionCard title + text (+ button titles); feedCard link
titles.  The sign is read from the query string after URL-decoding (so an
un-encoded "+" in the sign becomes a space and does not match, exactly like
the real service).  The body size is measured in raw bytes as received.

Only messages that pass every check count toward the rate limit.

Everything accepted and everything rejected is recorded (thread-safe) and
visible in-process (``mock.accepted()``, ``mock.rejected()``,
``mock.wait_for(...)``) and over HTTP:

  GET  /_received[?token=T]        {"accepted": [...], "rejected": [...]}
  POST /_reset                      forget records and rate-limit state
  POST /_fail_next                  {"token": T, "count": N, "errcode": X,
                                     "errmsg": "...", "http_status": 200}

CLI, for manual use:

  python3 mock_dingtalk.py --port 8080 --robot T1:sign:SEC0123456789abcdef \\
      --robot T2:keyword:报警,告警 --robot T3:open

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import base64
import hashlib
import hmac
import json
import urllib.parse

from mock_base import (MockHandler, MockServer, Target, cli_parser, parse_security_spec,
                       run_cli, window_count)


OK = 0
ERR_TOKEN = 300001
ERR_SECURITY = 310000
ERR_TOO_FAST = 130101
ERR_TOO_LONG = 460101
ERR_PARAM = 40035
ERR_CONTENT_TYPE = 43004
ERR_MSGTYPE = 400105

MSG_TOKEN = "token is not exist"
MSG_TOO_FAST = "send too fast, exceed 20 times per minute"
MSG_TOO_LONG = "message too long, exceed 20000 bytes"
MSG_SIGN = "sign not match"
MSG_TIMESTAMP = "invalid timestamp"
MSG_KEYWORDS = "keywords not in content"
MSG_CONTENT_TYPE = "无效的HTTP HEADER Content-Type"
MSG_MSGTYPE = "不支持的消息类型"

# Required string fields per msgtype, as (path...) tuples.
REQUIRED = {
    "text": [("text", "content")],
    "markdown": [("markdown", "title"), ("markdown", "text")],
    "link": [("link", "title"), ("link", "text"), ("link", "messageUrl")],
    "actionCard": [("actionCard", "title"), ("actionCard", "text")],
    "feedCard": [("feedCard", "links")],
}


def dingtalk_sign(secret, timestamp_ms):
    """base64(HMAC-SHA256(key=secret, msg=ts + "\\n" + secret)), not URL-encoded."""
    to_sign = "%s\n%s" % (timestamp_ms, secret)
    digest = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_query(secret, timestamp_ms):
    """The '&timestamp=..&sign=..' suffix a correct client appends."""
    return "&timestamp=%s&sign=%s" % (
        timestamp_ms, urllib.parse.quote(dingtalk_sign(secret, timestamp_ms), safe=""))


def message_content(msg):
    """The text DingTalk searches for keywords, per msgtype."""
    t = msg.get("msgtype")
    body = msg.get(t) if isinstance(t, str) else None
    if not isinstance(body, dict):
        return ""
    parts = []
    if t == "text":
        parts.append(body.get("content"))
    elif t in ("markdown", "link", "actionCard"):
        parts += [body.get("title"), body.get("text")]
        if t == "actionCard":
            parts.append(body.get("singleTitle"))
            for b in body.get("btns") or []:
                if isinstance(b, dict):
                    parts.append(b.get("title"))
    elif t == "feedCard":
        for link in body.get("links") or []:
            if isinstance(link, dict):
                parts.append(link.get("title"))
    return "\n".join(p for p in parts if isinstance(p, str))


class Robot(Target):
    """One robot: a token and its security settings."""

    def __init__(self, token, secret=None, keywords=None):
        super().__init__()
        self.token = token
        self.secret = secret
        self.keywords = list(keywords or [])
        self.blocked_until = None

    def reset(self):
        super().reset()
        self.blocked_until = None

    def describe(self):
        modes = []
        if self.secret is not None:
            modes.append("sign")
        if self.keywords:
            modes.append("keyword")
        return {"token": self.token, "modes": modes or ["open"],
                "keywords": list(self.keywords),
                "blocked_until": self.blocked_until}


class _Handler(MockHandler):
    json_type = "application/json;charset=utf-8"
    ok_answer = {"errcode": 0, "errmsg": "ok"}

    def error_answer(self, status, message):
        return {"errcode": status, "errmsg": message}

    def fail_next_from(self, spec):
        self.mock.fail_next(spec["token"], spec.get("count", 1),
                            spec.get("errcode", ERR_TOO_FAST),
                            spec.get("errmsg"), spec.get("http_status", 200))

    def route(self, method, path, query, headers, body):
        if method == "POST" and path == "/robot/send":
            return self.mock._handle_send(query, headers, body)
        return None


class MockDingTalk(MockServer):
    """The mock server.  Use as a context manager or call start()/stop().

    Parameters shorten the real limits for tests: rate_limit messages per
    rate_window seconds, then a block of block_seconds; skew is the allowed
    timestamp distance in seconds; clock returns "now" in seconds (pin it to
    test the CHANNELS.md signing vector).

    Records (accepted(token), rejected(token)): accepted ones hold token,
    time, msgtype, json (the parsed body), headers (lower-case keys), query
    (decoded, single values), body_bytes; rejected ones token, time,
    errcode, errmsg, http_status, injected, headers, query, body (text, may
    be cut).
    """

    name = "dingtalk"
    record_key = "token"
    handler_class = _Handler

    def __init__(self, host="127.0.0.1", port=0, rate_limit=20, rate_window=60.0,
                 block_seconds=600.0, max_body=20000, skew=3600.0, clock=None,
                 check_content_type=True, verbose=False):
        super().__init__(host, port, clock, verbose)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.block_seconds = block_seconds
        self.max_body = max_body
        self.skew = skew
        self.check_content_type = check_content_type

    # ----- robots and controls -------------------------------------------
    def add_robot(self, token, secret=None, keywords=None):
        """Register a robot: secret= for signing, keywords= for keyword mode
        (both may be given; neither = open robot)."""
        if isinstance(keywords, str):
            keywords = [keywords]
        return self._add_target(token, Robot(token, secret, keywords))

    def add_signed(self, token, secret):
        return self.add_robot(token, secret=secret)

    def add_keyword(self, token, *keywords):
        return self.add_robot(token, keywords=list(keywords))

    def fail_next(self, token, count=1, errcode=ERR_TOO_FAST, errmsg=None,
                  http_status=200):
        """The next `count` sends to `token` (after the token check) are
        answered with `errcode` (or, if http_status != 200, with that HTTP
        status and a plain body) without further checks."""
        if errmsg is None:
            errmsg = {ERR_TOO_FAST: MSG_TOO_FAST, ERR_SECURITY: MSG_SIGN,
                      ERR_TOO_LONG: MSG_TOO_LONG, ERR_TOKEN: MSG_TOKEN}.get(
                          errcode, "injected failure")
        self._queue_failures(token, count, {"errcode": errcode, "errmsg": errmsg,
                                            "http_status": int(http_status)})

    def _snapshot_extra(self):
        return {"robots": [r.describe() for r in self._targets.values()]}

    def url(self, token):
        """The robot URL herald is configured with (no timestamp/sign)."""
        return "%s/robot/send?access_token=%s" % (
            self.base_url, urllib.parse.quote(token, safe=""))

    # ----- the verdict ---------------------------------------------------
    def _handle_send(self, query, headers, body):
        """Decide the answer for one /robot/send; record it.  Returns
        (http_status, response dict or bytes)."""
        token = query.get("access_token", "")
        robot = self._delayed_target(token)
        with self._cond:
            now = self.clock()
            record = {"token": token, "time": now, "headers": headers,
                      "query": query}

            def reject(errcode, errmsg, http_status=200, injected=False):
                self._add_rejected(record, body, errcode=errcode, errmsg=errmsg,
                                   http_status=http_status, injected=injected)
                if http_status != 200:
                    return http_status, b"injected failure\n"
                return 200, {"errcode": errcode, "errmsg": errmsg}

            if robot is None:
                return reject(ERR_TOKEN, MSG_TOKEN)
            if robot.blocked_until is not None:
                if now < robot.blocked_until:
                    return reject(ERR_TOO_FAST, MSG_TOO_FAST)
                robot.blocked_until = None
                robot.sends.clear()
            if robot.fail_queue:
                f = robot.fail_queue.popleft()
                return reject(f["errcode"], f["errmsg"], f["http_status"], True)
            if len(body) >= self.max_body:  # "must stay under 20000 bytes"
                return reject(ERR_TOO_LONG, MSG_TOO_LONG)
            ctype = headers.get("content-type", "")
            if self.check_content_type and \
                    ctype.split(";")[0].strip().lower() != "application/json":
                return reject(ERR_CONTENT_TYPE, MSG_CONTENT_TYPE)
            try:
                msg = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                msg = None
            if not isinstance(msg, dict):
                return reject(ERR_PARAM, "缺少参数 json")
            msgtype = msg.get("msgtype")
            if not isinstance(msgtype, str) or not msgtype:
                return reject(ERR_PARAM, "缺少参数 msgtype")
            if msgtype not in REQUIRED:
                return reject(ERR_MSGTYPE, MSG_MSGTYPE)
            for path in REQUIRED[msgtype]:
                v = msg
                for p in path:
                    v = v.get(p) if isinstance(v, dict) else None
                if v is None or (isinstance(v, str) and not v):
                    return reject(ERR_PARAM, "缺少参数 " + ".".join(path))
            if robot.secret is not None:
                ts = query.get("timestamp")
                try:
                    ts_ms = int(ts)
                except (TypeError, ValueError):
                    return reject(ERR_SECURITY, MSG_TIMESTAMP)
                if abs(ts_ms / 1000.0 - now) > self.skew:
                    return reject(ERR_SECURITY, MSG_TIMESTAMP)
                expected = dingtalk_sign(robot.secret, ts)
                got = query.get("sign")
                if got is None or not hmac.compare_digest(
                        got.encode("utf-8"), expected.encode("utf-8")):
                    return reject(ERR_SECURITY, MSG_SIGN)
            if robot.keywords:
                content = message_content(msg)
                if not any(k in content for k in robot.keywords):
                    return reject(ERR_SECURITY, MSG_KEYWORDS)
            if window_count(robot.sends, now, self.rate_window) >= self.rate_limit:
                robot.blocked_until = now + self.block_seconds
                return reject(ERR_TOO_FAST, MSG_TOO_FAST)
            robot.sends.append(now)
            self._add_accepted(dict(record, msgtype=msgtype, json=msg,
                                    body_bytes=len(body)))
            return 200, {"errcode": OK, "errmsg": "ok"}


def parse_robot_spec(spec):
    """TOKEN:sign:SECRET | TOKEN:keyword:k1,k2 | TOKEN:open"""
    return parse_security_spec(spec, "robot")


def main(argv=None):
    ap = cli_parser("Mock DingTalk custom robot (127.0.0.1 only)", rate_limit=20,
                    rate_window=60.0)
    ap.add_argument("--robot", action="append", default=[], type=parse_robot_spec,
                    help="TOKEN:sign:SECRET, TOKEN:keyword:K1,K2 or TOKEN:open (repeatable)")
    ap.add_argument("--block-seconds", type=float, default=600.0)
    args = ap.parse_args(argv)
    mock = MockDingTalk(port=args.port, rate_limit=args.rate_limit,
                        rate_window=args.rate_window, block_seconds=args.block_seconds,
                        verbose=not args.quiet)
    for token, kw in args.robot:
        mock.add_robot(token, **kw)
    return run_cli(mock, "mock DingTalk listening on {url}",
                   lambda m: ["robot %s" % m.url(token) for token, _ in args.robot])


if __name__ == "__main__":
    raise SystemExit(main())
