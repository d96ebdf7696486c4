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
  4. body over max_body (20000) bytes       460101 "message too long, exceed 20000 bytes"
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

  python3 mock_dingtalk.py --port 8080 --robot T1:sign:SECxxx \\
      --robot T2:keyword:报警,告警 --robot T3:open

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import argparse
import base64
import copy
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

# Hard cap on what we read at all (the real limit is checked separately).
READ_CAP = 4 * 1024 * 1024


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


class Robot:
    """One robot: a token and its security settings."""

    def __init__(self, token, secret=None, keywords=None):
        self.token = token
        self.secret = secret
        self.keywords = list(keywords or [])
        self.sends = deque()       # times of accepted messages in the window
        self.blocked_until = None
        self.fail_queue = deque()  # injected failures: dicts
        self.delay = 0.0           # seconds to wait before answering

    def describe(self):
        modes = []
        if self.secret is not None:
            modes.append("sign")
        if self.keywords:
            modes.append("keyword")
        return {"token": self.token, "modes": modes or ["open"],
                "keywords": list(self.keywords),
                "blocked_until": self.blocked_until}


class MockDingTalk:
    """The mock server.  Use as a context manager or call start()/stop().

    Parameters shorten the real limits for tests: rate_limit messages per
    rate_window seconds, then a block of block_seconds; skew is the allowed
    timestamp distance in seconds; clock returns "now" in seconds (pin it to
    test the CHANNELS.md signing vector).
    """

    def __init__(self, host="127.0.0.1", port=0, rate_limit=20, rate_window=60.0,
                 block_seconds=600.0, max_body=20000, skew=3600.0, clock=None,
                 check_content_type=True, verbose=False):
        if host != "127.0.0.1":
            raise ValueError("the mock binds 127.0.0.1 only")
        self.host = host
        self.requested_port = port
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.block_seconds = block_seconds
        self.max_body = max_body
        self.skew = skew
        self.clock = clock or time.time
        self.check_content_type = check_content_type
        self.verbose = verbose
        self._robots = {}
        self._accepted = []
        self._rejected = []
        # re-entrant: wait_for() calls a predicate that calls accepted()
        self._cond = threading.Condition(threading.RLock())
        self._server = None
        self._thread = None

    # ----- robots and controls -------------------------------------------
    def add_robot(self, token, secret=None, keywords=None):
        """Register a robot: secret= for signing, keywords= for keyword mode
        (both may be given; neither = open robot)."""
        if isinstance(keywords, str):
            keywords = [keywords]
        with self._cond:
            self._robots[token] = Robot(token, secret, keywords)
        return self

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
        with self._cond:
            robot = self._robots[token]
            for _ in range(int(count)):
                robot.fail_queue.append({"errcode": errcode, "errmsg": errmsg,
                                         "http_status": int(http_status)})

    def set_delay(self, token, seconds):
        """Wait `seconds` before answering each send to `token` (timeouts)."""
        with self._cond:
            self._robots[token].delay = float(seconds)

    def reset(self):
        """Forget records, rate-limit state and injected failures."""
        with self._cond:
            self._accepted.clear()
            self._rejected.clear()
            for r in self._robots.values():
                r.sends.clear()
                r.blocked_until = None
                r.fail_queue.clear()
            self._cond.notify_all()

    # ----- records -------------------------------------------------------
    def accepted(self, token=None):
        """Deep copies of accepted records, oldest first.  Each record:
        token, time, msgtype, json (the parsed body), headers (lower-case
        keys), query (decoded, single values), body_bytes."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._accepted
                    if token is None or r["token"] == token]

    def rejected(self, token=None):
        """Deep copies of rejected records: token, time, errcode, errmsg,
        http_status, injected, headers, query, body (text, may be cut)."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._rejected
                    if token is None or r["token"] == token]

    def messages(self, token=None):
        """Just the parsed JSON bodies of accepted messages."""
        return [r["json"] for r in self.accepted(token)]

    def wait_for(self, predicate, timeout=10.0):
        """Wait until predicate(mock) is true (re-checked on every request and
        at least every 0.2 s); return its last value.  Never waits longer
        than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                # predicate may call accepted()/rejected(): the lock is an RLock
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self._cond.wait(min(left, 0.2))

    def snapshot(self, token=None):
        return {"accepted": self.accepted(token), "rejected": self.rejected(token),
                "robots": [r.describe() for r in self._robots.values()]}

    # ----- server --------------------------------------------------------
    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, token):
        """The robot URL herald is configured with (no timestamp/sign)."""
        return "%s/robot/send?access_token=%s" % (
            self.base_url, urllib.parse.quote(token, safe=""))

    def start(self):
        mock = self

        class Handler(_Handler):
            pass
        Handler.mock = mock
        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="mock-dingtalk", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    # ----- outages (added for tests/e2e/test_reliability.py) -------------
    def stop_listening(self):
        """An outage: close the listening socket and cut every open
        connection, so herald's connects are refused until restart().
        Records, robots and rate-limit state are kept."""
        if self._server is not None:
            self._last_port = self.port
        self.stop()
        for conn in list(getattr(self, "_connections", ())):
            try:
                conn.shutdown(2)  # socket.SHUT_RDWR
            except OSError:
                pass

    def restart(self):
        """Listen again on the port used before stop_listening() / stop()."""
        if self._server is not None:
            return self
        port = getattr(self, "_last_port", None)
        saved = self.requested_port
        if port:
            self.requested_port = port
        try:
            return self.start()
        finally:
            self.requested_port = saved

    def _track_connection(self, conn, alive):
        with self._cond:
            conns = self.__dict__.setdefault("_connections", set())
            if alive:
                conns.add(conn)
            else:
                conns.discard(conn)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ----- the verdict ---------------------------------------------------
    def _handle_send(self, query, headers, body):
        """Decide the answer for one /robot/send; record it.  Returns
        (http_status, response dict or bytes)."""
        token = query.get("access_token", "")
        delay = 0.0
        with self._cond:
            robot = self._robots.get(token)
            if robot is not None:
                delay = robot.delay
        if delay:
            time.sleep(delay)
        with self._cond:
            now = self.clock()
            record = {"token": token, "time": now, "headers": headers,
                      "query": query}

            def reject(errcode, errmsg, http_status=200, injected=False):
                rec = dict(record, errcode=errcode, errmsg=errmsg,
                           http_status=http_status, injected=injected,
                           body=body[:4096].decode("utf-8", "replace"))
                self._rejected.append(rec)
                self._cond.notify_all()
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
            if len(body) > self.max_body:
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
            while robot.sends and robot.sends[0] <= now - self.rate_window:
                robot.sends.popleft()
            if len(robot.sends) >= self.rate_limit:
                robot.blocked_until = now + self.block_seconds
                return reject(ERR_TOO_FAST, MSG_TOO_FAST)
            robot.sends.append(now)
            self._accepted.append(dict(record, msgtype=msgtype, json=msg,
                                       body_bytes=len(body)))
            self._cond.notify_all()
            return 200, {"errcode": OK, "errmsg": "ok"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-dingtalk/1"
    timeout = 30  # idle keep-alive connections do not hold a thread forever
    mock = None   # set per server

    def log_message(self, fmt, *args):
        if self.mock.verbose:
            super().log_message(fmt, *args)

    def setup(self):
        super().setup()
        self.mock._track_connection(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.mock._track_connection(self.connection, False)

    def _reply(self, status, payload):
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            ctype = "application/json;charset=utf-8"
        else:
            data = payload
            ctype = "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self):
        """The request body, or None if it is unreadable / over READ_CAP
        (the connection is then closed)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            for _ in range(100000):
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    for _ in range(100):  # trailers until an empty line
                        if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                            break
                    return bytes(out)
                if len(out) + size > READ_CAP:
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(8)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0 or length > READ_CAP:
            return None
        return self.rfile.read(length)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/_received":
            self._reply(200, self.mock.snapshot(query.get("token")))
        else:
            self._reply(404, {"errcode": 404, "errmsg": "not found"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._reply(413, {"errcode": 413, "errmsg": "request unreadable or too large"})
            return
        # parse_qsl URL-decodes (and turns "+" into a space, as servers do)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path == "/robot/send":
            status, payload = self.mock._handle_send(query, headers, body)
            self._reply(status, payload)
        elif url.path == "/_reset":
            self.mock.reset()
            self._reply(200, {"errcode": 0, "errmsg": "ok"})
        elif url.path == "/_fail_next":
            try:
                spec = json.loads(body.decode("utf-8"))
                self.mock.fail_next(spec["token"], spec.get("count", 1),
                                    spec.get("errcode", ERR_TOO_FAST),
                                    spec.get("errmsg"), spec.get("http_status", 200))
            except (ValueError, KeyError, TypeError) as e:
                self._reply(400, {"errcode": 400, "errmsg": "bad control: %s" % e})
                return
            self._reply(200, {"errcode": 0, "errmsg": "ok"})
        else:
            self._reply(404, {"errcode": 404, "errmsg": "not found"})


def parse_robot_spec(spec):
    """TOKEN:sign:SECRET | TOKEN:keyword:k1,k2 | TOKEN:open"""
    token, _, rest = spec.partition(":")
    mode, _, arg = rest.partition(":")
    if not token or mode not in ("sign", "keyword", "open"):
        raise argparse.ArgumentTypeError(
            "robot must be TOKEN:sign:SECRET, TOKEN:keyword:K1,K2 or TOKEN:open")
    if mode == "sign":
        if not arg:
            raise argparse.ArgumentTypeError("sign mode needs a secret")
        return token, {"secret": arg}
    if mode == "keyword":
        kws = [k for k in arg.split(",") if k]
        if not kws:
            raise argparse.ArgumentTypeError("keyword mode needs keywords")
        return token, {"keywords": kws}
    return token, {}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Mock DingTalk custom robot (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port (0 = ephemeral)")
    ap.add_argument("--robot", action="append", default=[], type=parse_robot_spec,
                    help="TOKEN:sign:SECRET, TOKEN:keyword:K1,K2 or TOKEN:open (repeatable)")
    ap.add_argument("--rate-limit", type=int, default=20)
    ap.add_argument("--rate-window", type=float, default=60.0)
    ap.add_argument("--block-seconds", type=float, default=600.0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    mock = MockDingTalk(port=args.port, rate_limit=args.rate_limit,
                        rate_window=args.rate_window, block_seconds=args.block_seconds,
                        verbose=not args.quiet)
    for token, kw in args.robot:
        mock.add_robot(token, **kw)
    mock.start()
    print("mock DingTalk listening on %s" % mock.base_url, flush=True)
    for token in [t for t, _ in args.robot]:
        print("  robot %s" % mock.url(token), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        mock.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
