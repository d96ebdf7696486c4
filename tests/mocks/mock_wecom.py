#!/usr/bin/env python3
"""A mock WeCom group robot (企业微信群机器人) for herald's tests.

It checks what the real service checks and answers what it answers, as
written down in /work/shared/CHANNELS.md ("WeCom group robot"):

  POST /cgi-bin/webhook/send?key=KEY

Every answer to /cgi-bin/webhook/send is HTTP 200 with a JSON body
{"errcode": N, "errmsg": "..."}; the verdict is in errcode.  The checks run
in this order (the first one that fails decides the answer):

  1. key missing or unknown                 93000 "invalid webhook url"
  2. injected failure (fail_next)           the injected errcode / HTTP status
  3. body not UTF-8 JSON / not an object    40058 "invalid Request Parameter"   (*)
  4. msgtype missing or not one of text, markdown, markdown_v2, news,
     template_card                          40008 "invalid message type"        (*)
  5. a field of the msgtype wrong: text.content, markdown.content,
     markdown_v2.content missing or not a non-empty string; mentioned_list
     or mentioned_mobile_list not a list of strings; news.articles not
     1..8 objects with title and url; template_card not an object
                                            40058 "invalid Request Parameter"   (*)
  6. content over its limit in UTF-8 bytes: text 2048, markdown 4096,
     markdown_v2 4096 (unverified, CHANNELS.md says assume 4096)
                                            40058 "<msgtype>.content exceed max length N"
  7. rate limit: this message would be the (rate_limit+1)-th within
     rate_window (60) s for this key        45009 "api freq out of limit"
  8. otherwise                              0 "ok", the message is recorded.

(*) the codes are WeCom's global error codes for these cases; CHANNELS.md
does not list them, and our tests only rely on "non-zero, permanent".

The real service appends hints to errmsg ("…, hint: [id], from ip: …, more
info at https://open.work.weixin.qq.com/devtool/query?e=93000"); the mock
answers the bare words, which is what herald's verdicts quote first.

Only messages that pass every check count toward the rate limit; unlike
DingTalk, WeCom does not block a robot beyond the sliding minute.

Everything accepted and everything rejected is recorded (thread-safe) and
visible in-process (``mock.accepted()``, ``mock.rejected()``,
``mock.wait_for(...)``) and over HTTP:

  GET  /_received[?key=K]          {"accepted": [...], "rejected": [...]}
  POST /_reset                      forget records and rate-limit state
  POST /_fail_next                  {"key": K, "count": N, "errcode": X,
                                     "errmsg": "...", "http_status": 200}

CLI, for manual use:

  python3 mock_wecom.py --port 8080 --key 693a91f6-7e2d-4bc4-97a0-0ec2b1fa5aaa

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import json
import urllib.parse

from mock_base import MockHandler, MockServer, Target, cli_parser, run_cli, window_count

OK = 0
ERR_INVALID_URL = 93000
ERR_PARAM = 40058
ERR_MSGTYPE = 40008
ERR_FREQ = 45009

MSG_INVALID_URL = "invalid webhook url"
MSG_PARAM = "invalid Request Parameter"
MSG_MSGTYPE = "invalid message type"
MSG_FREQ = "api freq out of limit"

SEND_PATH = "/cgi-bin/webhook/send"

# Content limits in UTF-8 bytes, per msgtype.
CONTENT_LIMITS = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
MSGTYPES = ("text", "markdown", "markdown_v2", "news", "template_card")
MAX_ARTICLES = 8


def content_error(msg):
    """(errcode, errmsg) of what is wrong with a parsed body, or None."""
    msgtype = msg.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in MSGTYPES:
        return ERR_MSGTYPE, MSG_MSGTYPE
    inner = msg.get(msgtype)
    if not isinstance(inner, dict):
        return ERR_PARAM, MSG_PARAM
    if msgtype in CONTENT_LIMITS:
        content = inner.get("content")
        if not isinstance(content, str) or not content:
            return ERR_PARAM, MSG_PARAM
        if msgtype == "text":
            for name in ("mentioned_list", "mentioned_mobile_list"):
                value = inner.get(name, [])
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    return ERR_PARAM, MSG_PARAM
        limit = CONTENT_LIMITS[msgtype]
        if len(content.encode("utf-8")) > limit:
            return ERR_PARAM, "%s.content exceed max length %d" % (msgtype, limit)
    elif msgtype == "news":
        articles = inner.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= MAX_ARTICLES:
            return ERR_PARAM, MSG_PARAM
        for a in articles:
            if not isinstance(a, dict) or not isinstance(a.get("title"), str) \
                    or not isinstance(a.get("url"), str):
                return ERR_PARAM, MSG_PARAM
    return None


class Robot(Target):
    """One robot: its key, rate-limit window and test controls."""

    def __init__(self, key):
        super().__init__()
        self.key = key

    def describe(self):
        return {"key": self.key, "sends_in_window": len(self.sends)}


class _Handler(MockHandler):
    json_type = "application/json; charset=UTF-8"
    filter_param = "key"
    ok_answer = {"errcode": 0, "errmsg": "ok"}

    def error_answer(self, status, message):
        return {"errcode": status, "errmsg": message}

    def fail_next_from(self, spec):
        self.mock.fail_next(spec["key"], spec.get("count", 1),
                            spec.get("errcode", ERR_FREQ), spec.get("errmsg"),
                            spec.get("http_status", 200))

    def route(self, method, path, query, headers, body):
        if method == "POST" and path == SEND_PATH:
            return self.mock._handle_send(query, headers, body)
        return None


class MockWeCom(MockServer):
    """The mock server.  Use as a context manager or call start()/stop().

    rate_limit messages per rate_window seconds may be shortened for tests;
    clock returns "now" in seconds (pin it to test the window exactly).

    Records (accepted(key), rejected(key)): accepted ones hold key, time,
    msgtype, json (the parsed body), headers (lower-case keys), query
    (decoded, single values), body_bytes; rejected ones key, time, errcode,
    errmsg, http_status, injected, headers, query, body (text, may be cut).
    """

    name = "wecom"
    record_key = "key"
    handler_class = _Handler

    def __init__(self, host="127.0.0.1", port=0, rate_limit=20, rate_window=60.0, clock=None,
                 verbose=False):
        super().__init__(host, port, clock, verbose)
        self.rate_limit = rate_limit
        self.rate_window = rate_window

    # ----- robots and controls -------------------------------------------
    def add_robot(self, key):
        """Register a robot by its webhook key."""
        return self._add_target(key, Robot(key))

    def fail_next(self, key, count=1, errcode=ERR_FREQ, errmsg=None, http_status=200):
        """The next `count` sends to `key` (after the key check) are answered
        with `errcode` (or, if http_status != 200, with that HTTP status and a
        plain body) without further checks."""
        if errmsg is None:
            errmsg = {ERR_FREQ: MSG_FREQ, ERR_INVALID_URL: MSG_INVALID_URL,
                      ERR_PARAM: MSG_PARAM, ERR_MSGTYPE: MSG_MSGTYPE}.get(
                          errcode, "injected failure")
        self._queue_failures(key, count, {"errcode": errcode, "errmsg": errmsg,
                                          "http_status": int(http_status)})

    def _snapshot_extra(self):
        return {"robots": [r.describe() for r in self._targets.values()]}

    def url(self, key):
        """The webhook URL herald is configured with."""
        return "%s%s?key=%s" % (self.base_url, SEND_PATH, urllib.parse.quote(key, safe=""))

    # ----- the verdict ---------------------------------------------------
    def _handle_send(self, query, headers, body):
        """Decide the answer for one send; record it.  Returns
        (http_status, response dict or bytes)."""
        key = query.get("key", "")
        robot = self._delayed_target(key)
        with self._cond:
            now = self.clock()
            record = {"key": key, "time": now, "headers": headers, "query": query}

            def reject(errcode, errmsg, http_status=200, injected=False):
                self._add_rejected(record, body, errcode=errcode, errmsg=errmsg,
                                   http_status=http_status, injected=injected)
                if http_status != 200:
                    return http_status, b"injected failure\n"
                return 200, {"errcode": errcode, "errmsg": errmsg}

            if robot is None:
                return reject(ERR_INVALID_URL, MSG_INVALID_URL)
            if robot.fail_queue:
                f = robot.fail_queue.popleft()
                return reject(f["errcode"], f["errmsg"], f["http_status"], True)
            try:
                msg = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                msg = None
            if not isinstance(msg, dict):
                return reject(ERR_PARAM, MSG_PARAM)
            problem = content_error(msg)
            if problem:
                return reject(*problem)
            if window_count(robot.sends, now, self.rate_window) >= self.rate_limit:
                return reject(ERR_FREQ, MSG_FREQ)
            robot.sends.append(now)
            self._add_accepted(dict(record, msgtype=msg["msgtype"], json=msg,
                                    body_bytes=len(body)))
            return 200, {"errcode": OK, "errmsg": "ok"}


def main(argv=None):
    ap = cli_parser("Mock WeCom group robot (127.0.0.1 only)", rate_limit=20, rate_window=60.0)
    ap.add_argument("--key", action="append", default=[], help="a robot key (repeatable)")
    args = ap.parse_args(argv)
    mock = MockWeCom(port=args.port, rate_limit=args.rate_limit, rate_window=args.rate_window,
                     verbose=not args.quiet)
    for key in args.key:
        mock.add_robot(key)
    return run_cli(mock, "mock WeCom listening on {url}",
                   lambda m: ["robot %s" % m.url(key) for key in args.key])


if __name__ == "__main__":
    raise SystemExit(main())
