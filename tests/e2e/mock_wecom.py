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

  python3 mock_wecom.py --port 8080 --key 693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import argparse
import copy
import json
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

# Hard cap on what we read at all.
READ_CAP = 4 * 1024 * 1024


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


class Robot:
    """One robot: its key, rate-limit window and test controls."""

    def __init__(self, key):
        self.key = key
        self.sends = deque()       # times of accepted messages in the window
        self.fail_queue = deque()  # injected failures: dicts
        self.delay = 0.0           # seconds to wait before answering

    def describe(self):
        return {"key": self.key, "sends_in_window": len(self.sends)}


class MockWeCom:
    """The mock server.  Use as a context manager or call start()/stop().

    rate_limit messages per rate_window seconds may be shortened for tests;
    clock returns "now" in seconds (pin it to test the window exactly).
    """

    def __init__(self, host="127.0.0.1", port=0, rate_limit=20, rate_window=60.0, clock=None,
                 verbose=False):
        if host != "127.0.0.1":
            raise ValueError("the mock binds 127.0.0.1 only")
        self.host = host
        self.requested_port = port
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.clock = clock or time.time
        self.verbose = verbose
        self._robots = {}
        self._accepted = []
        self._rejected = []
        # re-entrant: wait_for() calls a predicate that calls accepted()
        self._cond = threading.Condition(threading.RLock())
        self._server = None
        self._thread = None

    # ----- robots and controls -------------------------------------------
    def add_robot(self, key):
        """Register a robot by its webhook key."""
        with self._cond:
            self._robots[key] = Robot(key)
        return self

    def fail_next(self, key, count=1, errcode=ERR_FREQ, errmsg=None, http_status=200):
        """The next `count` sends to `key` (after the key check) are answered
        with `errcode` (or, if http_status != 200, with that HTTP status and a
        plain body) without further checks."""
        if errmsg is None:
            errmsg = {ERR_FREQ: MSG_FREQ, ERR_INVALID_URL: MSG_INVALID_URL,
                      ERR_PARAM: MSG_PARAM, ERR_MSGTYPE: MSG_MSGTYPE}.get(
                          errcode, "injected failure")
        with self._cond:
            robot = self._robots[key]
            for _ in range(int(count)):
                robot.fail_queue.append({"errcode": errcode, "errmsg": errmsg,
                                         "http_status": int(http_status)})

    def set_delay(self, key, seconds):
        """Wait `seconds` before answering each send to `key` (timeouts)."""
        with self._cond:
            self._robots[key].delay = float(seconds)

    def reset(self):
        """Forget records, rate-limit state and injected failures."""
        with self._cond:
            self._accepted.clear()
            self._rejected.clear()
            for r in self._robots.values():
                r.sends.clear()
                r.fail_queue.clear()
            self._cond.notify_all()

    # ----- records -------------------------------------------------------
    def accepted(self, key=None):
        """Deep copies of accepted records, oldest first.  Each record: key,
        time, msgtype, json (the parsed body), headers (lower-case keys),
        query (decoded, single values), body_bytes."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._accepted if key is None or r["key"] == key]

    def rejected(self, key=None):
        """Deep copies of rejected records: key, time, errcode, errmsg,
        http_status, injected, headers, query, body (text, may be cut)."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._rejected if key is None or r["key"] == key]

    def messages(self, key=None):
        """Just the parsed JSON bodies of accepted messages."""
        return [r["json"] for r in self.accepted(key)]

    def wait_for(self, predicate, timeout=10.0):
        """Wait until predicate(mock) is true (re-checked on every request and
        at least every 0.2 s); return its last value.  Never waits longer
        than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self._cond.wait(min(left, 0.2))

    def snapshot(self, key=None):
        with self._cond:
            robots = [r.describe() for r in self._robots.values()]
        return {"accepted": self.accepted(key), "rejected": self.rejected(key), "robots": robots}

    # ----- server --------------------------------------------------------
    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, key):
        """The webhook URL herald is configured with."""
        return "%s%s?key=%s" % (self.base_url, SEND_PATH, urllib.parse.quote(key, safe=""))

    def start(self):
        mock = self

        class Handler(_Handler):
            pass
        Handler.mock = mock
        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="mock-wecom", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ----- the verdict ---------------------------------------------------
    def _handle_send(self, query, headers, body):
        """Decide the answer for one send; record it.  Returns
        (http_status, response dict or bytes)."""
        key = query.get("key", "")
        delay = 0.0
        with self._cond:
            robot = self._robots.get(key)
            if robot is not None:
                delay = robot.delay
        if delay:
            time.sleep(delay)
        with self._cond:
            now = self.clock()
            record = {"key": key, "time": now, "headers": headers, "query": query}

            def reject(errcode, errmsg, http_status=200, injected=False):
                rec = dict(record, errcode=errcode, errmsg=errmsg, http_status=http_status,
                           injected=injected, body=body[:4096].decode("utf-8", "replace"))
                self._rejected.append(rec)
                self._cond.notify_all()
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
            while robot.sends and robot.sends[0] <= now - self.rate_window:
                robot.sends.popleft()
            if len(robot.sends) >= self.rate_limit:
                return reject(ERR_FREQ, MSG_FREQ)
            robot.sends.append(now)
            self._accepted.append(dict(record, msgtype=msg["msgtype"], json=msg,
                                       body_bytes=len(body)))
            self._cond.notify_all()
            return 200, {"errcode": OK, "errmsg": "ok"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-wecom/1"
    timeout = 30  # idle keep-alive connections do not hold a thread forever
    mock = None   # set per server

    def log_message(self, fmt, *args):
        if self.mock.verbose:
            super().log_message(fmt, *args)

    def _reply(self, status, payload):
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            ctype = "application/json; charset=UTF-8"
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
            self._reply(200, self.mock.snapshot(query.get("key")))
        else:
            self._reply(404, {"errcode": 404, "errmsg": "not found"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._reply(413, {"errcode": 413, "errmsg": "request unreadable or too large"})
            return
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path == SEND_PATH:
            status, payload = self.mock._handle_send(query, headers, body)
            self._reply(status, payload)
        elif url.path == "/_reset":
            self.mock.reset()
            self._reply(200, {"errcode": 0, "errmsg": "ok"})
        elif url.path == "/_fail_next":
            try:
                spec = json.loads(body.decode("utf-8"))
                self.mock.fail_next(spec["key"], spec.get("count", 1),
                                    spec.get("errcode", ERR_FREQ), spec.get("errmsg"),
                                    spec.get("http_status", 200))
            except (ValueError, KeyError, TypeError) as e:
                self._reply(400, {"errcode": 400, "errmsg": "bad control: %s" % e})
                return
            self._reply(200, {"errcode": 0, "errmsg": "ok"})
        else:
            self._reply(404, {"errcode": 404, "errmsg": "not found"})


def main(argv=None):
    ap = argparse.ArgumentParser(description="Mock WeCom group robot (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port (0 = ephemeral)")
    ap.add_argument("--key", action="append", default=[], help="a robot key (repeatable)")
    ap.add_argument("--rate-limit", type=int, default=20)
    ap.add_argument("--rate-window", type=float, default=60.0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    mock = MockWeCom(port=args.port, rate_limit=args.rate_limit, rate_window=args.rate_window,
                     verbose=not args.quiet)
    for key in args.key:
        mock.add_robot(key)
    mock.start()
    print("mock WeCom listening on %s" % mock.base_url, flush=True)
    for key in args.key:
        print("  robot %s" % mock.url(key), flush=True)
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
