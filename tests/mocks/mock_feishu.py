#!/usr/bin/env python3
"""A mock Feishu / Lark custom bot (飞书自定义机器人) for herald's tests.

It checks what the real service checks and answers what it answers, as
written down in /work/shared/CHANNELS.md ("Feishu / Lark custom bot"):

  POST /open-apis/bot/v2/hook/TOKEN     JSON body, signature fields inside it

Every answer to a hook is HTTP 200 with a JSON body
{"code": N, "msg": "...", "data": {}}; the verdict is in code.  (Reports
say Feishu answers some refusals, 9499 for one, with HTTP 400 instead:
unverified, and the plugin reads the code either way.)  The checks run in
this order (the first one that fails decides the answer):

  1. token unknown                   19001 "param invalid: incoming webhook access token invalid"
  2. injected failure (fail_next)    the injected code / HTTP status
  3. body over max_body (20000) bytes
                                     19036 "The message exceeds the size limit"      (*)
  4. client address not in the bot's IP allowlist (when it has one)
                                     19022 "Ip Not Allowed"
  5. body not JSON / not an object   9499  "Bad Request"
  6. msg_type missing                19002 "params error, msg_type need"             (*)
     msg_type not text, post, image, share_chat or interactive
                                     19002 "params error, unknown msg_type"          (*)
     text without content.text, post without content.post, interactive
     without a card object           19002 "params error, unknown card value" (cards),
                                     9499 "Bad Request" (the others)                 (*)
  7. signing bot: timestamp missing, not whole seconds (a string or a
     number), or more than skew (3600) s away from now, or sign missing or
     != base64(HMAC-SHA256(key = ts + "\\n" + secret, message = ""))
                                     19021 "sign match fail or timestamp is not
                                            within one hour from current time"
  8. keyword bot: none of the keywords in the message's text
                                     19024 "Key Words Not Found"
  9. rate limit: this message would be the 6th within 1 s or the 101st
     within 60 s for this token      11232 "frequency limited psm[…]appID[…]"
 10. otherwise                       0 "success", the message is recorded.

(*) not in CHANNELS.md: 19002 with these words is what users report the
real service answering (e.g. "params error, msg_type need"); 19036 comes
from a bug report about oversized cards; the 1 h timestamp window is what
Feishu's message says, the exact bound is unverified.  Our tests only rely
on "non-zero, permanent" for these.

The text searched for keywords is every string inside "content" (text and
post) or "card" (interactive), except tag names and colour templates.  The
body size is measured in raw bytes as received.  Only messages that pass
every check count toward the rate limits; unlike DingTalk, Feishu does not
block a bot that went too fast, it refuses each message over the limit.

Success answers {"code":0,"data":{},"msg":"success"}; a bot made with
legacy_success=True answers the older {"Extra":null,"StatusCode":0,
"StatusMessage":"success"} instead (both shapes are seen in the wild).

Everything accepted and everything rejected is recorded (thread-safe) and
visible in-process (``mock.accepted()``, ``mock.rejected()``,
``mock.wait_for(...)``) and over HTTP:

  GET  /_received[?token=T]        {"accepted": [...], "rejected": [...]}
  POST /_reset                      forget records and rate-limit state
  POST /_fail_next                  {"token": T, "count": N, "code": X,
                                     "msg": "...", "http_status": 200,
                                     "retry_after": S}

CLI, for manual use:

  python3 mock_feishu.py --port 8080 --bot T1:sign:SECRET \\
      --bot T2:keyword:报警,告警 --bot T3:open

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import base64
import hashlib
import hmac
import json
import urllib.parse

from mock_base import (MockHandler, MockServer, Target, cli_parser, parse_security_spec,
                       run_cli, window_count)

HOOK_PREFIX = "/open-apis/bot/v2/hook/"

OK = 0
ERR_TOKEN = 19001
ERR_PARAMS = 19002
ERR_SIGN = 19021
ERR_IP = 19022
ERR_KEYWORDS = 19024
ERR_TOO_LARGE = 19036
ERR_BAD_REQUEST = 9499
ERR_RATE = 11232

MSG_TOKEN = "param invalid: incoming webhook access token invalid"
MSG_SIGN = "sign match fail or timestamp is not within one hour from current time"
MSG_IP = "Ip Not Allowed"
MSG_KEYWORDS = "Key Words Not Found"
MSG_TOO_LARGE = "The message exceeds the size limit"
MSG_BAD_REQUEST = "Bad Request"
MSG_RATE = "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"
MSG_NO_MSGTYPE = "params error, msg_type need"
MSG_UNKNOWN_MSGTYPE = "params error, unknown msg_type"
MSG_BAD_CARD = "params error, unknown card value"

MSG_TYPES = ("text", "post", "image", "share_chat", "interactive")
# Keys whose values are markup, not text a keyword could be found in.
NOT_TEXT_KEYS = ("tag", "template")


def feishu_sign(secret, timestamp):
    """base64(HMAC-SHA256(key = ts + "\\n" + secret, message = empty))."""
    key = ("%s\n%s" % (timestamp, secret)).encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def message_text(msg):
    """The text Feishu searches for keywords: every string inside content
    (text, post) or card (interactive), tag names and templates left out."""
    out = []

    def walk(value, key=None):
        if isinstance(value, str):
            if key not in NOT_TEXT_KEYS:
                out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(msg.get("card") if msg.get("msg_type") == "interactive" else msg.get("content"))
    return "\n".join(out)


def body_problem(msg):
    """(code, msg) when the body's shape is wrong for its msg_type, else None."""
    msg_type = msg.get("msg_type")
    if not isinstance(msg_type, str) or not msg_type:
        return ERR_PARAMS, MSG_NO_MSGTYPE
    if msg_type not in MSG_TYPES:
        return ERR_PARAMS, MSG_UNKNOWN_MSGTYPE
    content = msg.get("content")
    if msg_type == "text":
        text = content.get("text") if isinstance(content, dict) else None
        if not isinstance(text, str) or not text:
            return ERR_BAD_REQUEST, MSG_BAD_REQUEST
    elif msg_type == "post":
        if not isinstance(content, dict) or not isinstance(content.get("post"), dict):
            return ERR_BAD_REQUEST, MSG_BAD_REQUEST
    elif msg_type == "interactive":
        card = msg.get("card")
        if not isinstance(card, dict) or not isinstance(card.get("elements", []), list):
            return ERR_PARAMS, MSG_BAD_CARD
    return None


class Bot(Target):
    """One bot: a token and its security settings."""

    def __init__(self, token, secret=None, keywords=None, allowed_ips=None,
                 legacy_success=False):
        super().__init__()
        self.token = token
        self.secret = secret
        self.keywords = list(keywords or [])
        self.allowed_ips = list(allowed_ips) if allowed_ips is not None else None
        self.legacy_success = legacy_success

    def describe(self):
        modes = []
        if self.secret is not None:
            modes.append("sign")
        if self.keywords:
            modes.append("keyword")
        if self.allowed_ips is not None:
            modes.append("ip")
        return {"token": self.token, "modes": modes or ["open"],
                "keywords": list(self.keywords), "allowed_ips": self.allowed_ips}


class _Handler(MockHandler):
    ok_answer = {"code": 0, "msg": "success"}

    def error_answer(self, status, message):
        return {"code": status, "msg": message}

    def fail_next_from(self, spec):
        self.mock.fail_next(spec["token"], spec.get("count", 1),
                            spec.get("code", ERR_RATE), spec.get("msg"),
                            spec.get("http_status", 200), spec.get("retry_after"))

    def route(self, method, path, query, headers, body):
        if method == "POST" and path.startswith(HOOK_PREFIX):
            token = urllib.parse.unquote(path[len(HOOK_PREFIX):])
            return self.mock._handle_send(token, self.client_address[0], headers, body)
        return None


class MockFeishu(MockServer):
    """The mock server.  Use as a context manager or call start()/stop().

    Parameters shorten the real limits for tests: per_second messages per
    second and per_minute per rate_window seconds; skew is the allowed
    timestamp distance in seconds; clock returns "now" in seconds (pin it to
    test the CHANNELS.md signing vector).

    Records (accepted(token), rejected(token)): accepted ones hold token,
    time, client, msg_type, json (the parsed body), headers (lower-case
    keys), body_bytes; rejected ones token, time, client, code, msg,
    http_status, injected, headers, body (text, may be cut).
    """

    name = "feishu"
    record_key = "token"
    handler_class = _Handler

    def __init__(self, host="127.0.0.1", port=0, per_second=5, per_minute=100,
                 rate_window=60.0, max_body=20000, skew=3600.0, clock=None, verbose=False):
        super().__init__(host, port, clock, verbose)
        self.per_second = per_second
        self.per_minute = per_minute
        self.rate_window = rate_window
        self.max_body = max_body
        self.skew = skew

    # ----- bots and controls ---------------------------------------------
    def add_bot(self, token, secret=None, keywords=None, allowed_ips=None,
                legacy_success=False):
        """Register a bot: secret= for signing, keywords= for keywords,
        allowed_ips= for an IP allowlist (any may be combined; none = open)."""
        if isinstance(keywords, str):
            keywords = [keywords]
        return self._add_target(token, Bot(token, secret, keywords, allowed_ips,
                                           legacy_success))

    def fail_next(self, token, count=1, code=ERR_RATE, msg=None, http_status=200,
                  retry_after=None):
        """The next `count` sends to `token` (after the token check) are
        answered with `code` (or, if http_status != 200, with that HTTP
        status and a plain body), with a Retry-After header when retry_after
        is given, without further checks."""
        if msg is None:
            msg = {ERR_RATE: MSG_RATE, ERR_SIGN: MSG_SIGN, ERR_IP: MSG_IP,
                   ERR_KEYWORDS: MSG_KEYWORDS, ERR_BAD_REQUEST: MSG_BAD_REQUEST,
                   ERR_TOKEN: MSG_TOKEN}.get(code, "injected failure")
        self._queue_failures(token, count, {"code": code, "msg": msg,
                                            "http_status": int(http_status),
                                            "retry_after": retry_after})

    def _snapshot_extra(self):
        return {"bots": [b.describe() for b in self._targets.values()]}

    def url(self, token):
        """The webhook URL herald is configured with."""
        return self.base_url + HOOK_PREFIX + urllib.parse.quote(token, safe="")

    # ----- the verdict ---------------------------------------------------
    def _signature_ok(self, bot, msg, now):
        ts = msg.get("timestamp")
        if isinstance(ts, bool) or not isinstance(ts, (str, int)):
            return False
        ts = str(ts)
        if not ts.isdigit() or abs(int(ts) - now) > self.skew:
            return False
        got = msg.get("sign")
        return isinstance(got, str) and hmac.compare_digest(
            got.encode("utf-8"), feishu_sign(bot.secret, ts).encode("utf-8"))

    def _rate_limited(self, bot, now):
        in_window = window_count(bot.sends, now, self.rate_window)
        last_second = sum(1 for t in bot.sends if t > now - 1.0)
        return last_second >= self.per_second or in_window >= self.per_minute

    def _handle_send(self, token, client, headers, body):
        """Decide the answer for one hook request; record it.  Returns
        (http_status, response dict or bytes, extra headers)."""
        bot = self._delayed_target(token)
        with self._cond:
            now = self.clock()
            record = {"token": token, "time": now, "client": client, "headers": headers}

            def reject(code, msg, http_status=200, injected=False, retry_after=None):
                self._add_rejected(record, body, code=code, msg=msg, http_status=http_status,
                                   injected=injected)
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                if http_status != 200:
                    return http_status, b"injected failure\n", extra
                return 200, {"code": code, "data": {}, "msg": msg}, extra

            if bot is None:
                return reject(ERR_TOKEN, MSG_TOKEN)
            if bot.fail_queue:
                f = bot.fail_queue.popleft()
                return reject(f["code"], f["msg"], f["http_status"], True, f["retry_after"])
            if len(body) > self.max_body:
                return reject(ERR_TOO_LARGE, MSG_TOO_LARGE)
            if bot.allowed_ips is not None and client not in bot.allowed_ips:
                return reject(ERR_IP, MSG_IP)
            try:
                msg = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                msg = None
            if not isinstance(msg, dict):
                return reject(ERR_BAD_REQUEST, MSG_BAD_REQUEST)
            problem = body_problem(msg)
            if problem:
                return reject(*problem)
            if bot.secret is not None and not self._signature_ok(bot, msg, now):
                return reject(ERR_SIGN, MSG_SIGN)
            if bot.keywords:
                text = message_text(msg)
                if not any(k in text for k in bot.keywords):
                    return reject(ERR_KEYWORDS, MSG_KEYWORDS)
            if self._rate_limited(bot, now):
                return reject(ERR_RATE, MSG_RATE)
            bot.sends.append(now)
            self._add_accepted(dict(record, msg_type=msg["msg_type"], json=msg,
                                    body_bytes=len(body)))
            if bot.legacy_success:
                return 200, {"Extra": None, "StatusCode": 0, "StatusMessage": "success"}, {}
            return 200, {"code": OK, "data": {}, "msg": "success"}, {}


def parse_bot_spec(spec):
    """TOKEN:sign:SECRET | TOKEN:keyword:k1,k2 | TOKEN:open"""
    return parse_security_spec(spec, "bot")


def main(argv=None):
    ap = cli_parser("Mock Feishu custom bot (127.0.0.1 only)")
    ap.add_argument("--bot", action="append", default=[], type=parse_bot_spec,
                    help="TOKEN:sign:SECRET, TOKEN:keyword:K1,K2 or TOKEN:open (repeatable)")
    ap.add_argument("--per-second", type=int, default=5)
    ap.add_argument("--per-minute", type=int, default=100)
    args = ap.parse_args(argv)
    mock = MockFeishu(port=args.port, per_second=args.per_second, per_minute=args.per_minute,
                      verbose=not args.quiet)
    for token, kw in args.bot:
        mock.add_bot(token, **kw)
    return run_cli(mock, "mock Feishu listening on {url}",
                   lambda m: ["bot %s" % m.url(token) for token, _ in args.bot])


if __name__ == "__main__":
    raise SystemExit(main())
