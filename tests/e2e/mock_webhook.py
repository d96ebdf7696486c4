#!/usr/bin/env python3
"""A mock generic webhook receiver for herald's webhook channel tests.

There is no one real service behind a generic webhook, so the mock checks
what HTTP receivers commonly check and answers with their usual statuses
(the first failing check decides):

  1. method not POST, PUT or PATCH                  405 Method Not Allowed
  2. basic auth required (users=...) and missing or wrong
                                                    401, WWW-Authenticate: Basic
  3. a required header (required_headers=...) missing or different
                                                    403 Forbidden
  4. injected failure (fail_next)                   that status, body and headers
                                                    (e.g. 503 + Retry-After)
  5. body over max_body (1 MiB) bytes               413 Payload Too Large
  6. Content-Type not accepted (content_types=..., default: any)
                                                    415 Unsupported Media Type
  7. content_types given and a JSON type, but the body is not JSON
                                                    400 Bad Request
  8. rate limit: more than rate_limit requests within rate_window s
                                                    429 Too Many Requests, Retry-After
  9. otherwise                                      200 {"status":"ok"}, recorded

Every path is a hook (the path is recorded), except the controls:

  GET  /_received      {"accepted": [...], "rejected": [...]}
  POST /_reset         forget records, injected failures and rate state
  POST /_fail_next     {"count": N, "status": 503, "body": "...",
                        "headers": {"Retry-After": "1"}}

In-process: accepted(), rejected(), wait_for(predicate, timeout),
fail_next(...), set_delay(seconds), reset(). Records hold method, path,
query (decoded, single values), headers (lower-case keys), body (bytes),
json (parsed, or None), auth ((user, password) from basic auth, or None),
time; rejections also status and reason.

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import argparse
import base64
import binascii
import copy
import json
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

READ_CAP = 8 * 1024 * 1024
METHODS = ("POST", "PUT", "PATCH")


def basic_auth(header):
    """(user, password) from an Authorization: Basic header, or None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


class MockWebhook:
    """The mock server.  Use as a context manager or call start()/stop()."""

    def __init__(self, host="127.0.0.1", port=0, users=None, required_headers=None,
                 max_body=1024 * 1024, content_types=None, rate_limit=None,
                 rate_window=60.0, verbose=False):
        if host != "127.0.0.1":
            raise ValueError("the mock binds 127.0.0.1 only")
        self.host = host
        self.requested_port = port
        self.users = dict(users or {})
        self.required_headers = {k.lower(): v for k, v in (required_headers or {}).items()}
        self.max_body = max_body
        self.content_types = [t.lower() for t in content_types] if content_types else None
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.verbose = verbose
        self._accepted = []
        self._rejected = []
        self._fail_queue = deque()
        self._sends = deque()
        self._delay = 0.0
        self._cond = threading.Condition(threading.RLock())
        self._server = None
        self._thread = None

    # ----- controls ------------------------------------------------------
    def fail_next(self, count=1, status=503, body="service unavailable", headers=None):
        """The next `count` hook requests that pass method, auth and header
        checks are answered with `status`, `body` and `headers`."""
        with self._cond:
            for _ in range(int(count)):
                self._fail_queue.append({"status": int(status), "body": body,
                                         "headers": dict(headers or {})})

    def set_delay(self, seconds):
        """Wait `seconds` before answering each hook request (timeouts)."""
        self._delay = float(seconds)

    def reset(self):
        with self._cond:
            self._accepted.clear()
            self._rejected.clear()
            self._fail_queue.clear()
            self._sends.clear()
            self._cond.notify_all()

    # ----- records -------------------------------------------------------
    def accepted(self):
        with self._cond:
            return [copy.deepcopy(r) for r in self._accepted]

    def rejected(self):
        with self._cond:
            return [copy.deepcopy(r) for r in self._rejected]

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

    def snapshot(self):
        def printable(records):
            out = []
            for r in records:
                r = dict(r)
                r["body"] = r["body"][:4096].decode("utf-8", "replace")
                out.append(r)
            return out
        return {"accepted": printable(self.accepted()), "rejected": printable(self.rejected())}

    # ----- server --------------------------------------------------------
    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, path="/hook"):
        return self.base_url + path

    def start(self):
        mock = self

        class Handler(_Handler):
            pass
        Handler.mock = mock
        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="mock-webhook", daemon=True)
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
    def _handle_hook(self, method, path, query, headers, body):
        """Decide the answer for one hook request; record it.  Returns
        (status, body bytes, extra headers dict)."""
        if self._delay:
            time.sleep(self._delay)
        with self._cond:
            now = time.time()
            auth = basic_auth(headers.get("authorization"))
            record = {"method": method, "path": path, "query": query, "headers": headers,
                      "body": body, "auth": auth, "time": now}

            def reject(status, reason, reply_headers=None, reply_body=None, injected=False):
                self._rejected.append(dict(record, status=status, reason=reason,
                                           injected=injected))
                self._cond.notify_all()
                data = reply_body if reply_body is not None else reason
                return status, data.encode("utf-8"), reply_headers or {}

            if method not in METHODS:
                return reject(405, "method not allowed", {"Allow": ", ".join(METHODS)})
            if self.users and (auth is None or self.users.get(auth[0]) != auth[1]):
                return reject(401, "unauthorized", {"WWW-Authenticate": 'Basic realm="hook"'})
            for name, value in self.required_headers.items():
                if headers.get(name) != value:
                    return reject(403, "forbidden: header %s" % name)
            if self._fail_queue:
                f = self._fail_queue.popleft()
                return reject(f["status"], "injected failure", f["headers"], f["body"], True)
            if len(body) > self.max_body:
                return reject(413, "payload too large")
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            parsed = None
            try:
                parsed = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                pass
            if self.content_types is not None:
                if ctype not in self.content_types:
                    return reject(415, "unsupported media type %s" % (ctype or "(none)"))
                if ctype.endswith("json") and parsed is None:
                    return reject(400, "body is not JSON")
            if self.rate_limit is not None:
                while self._sends and self._sends[0] <= now - self.rate_window:
                    self._sends.popleft()
                if len(self._sends) >= self.rate_limit:
                    wait = int(self._sends[0] + self.rate_window - now) + 1
                    return reject(429, "too many requests", {"Retry-After": str(wait)})
                self._sends.append(now)
            self._accepted.append(dict(record, json=parsed))
            self._cond.notify_all()
            return 200, b'{"status":"ok"}', {"Content-Type": "application/json"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-webhook/1"
    timeout = 30  # idle keep-alive connections do not hold a thread forever
    mock = None   # set per server

    def log_message(self, fmt, *args):
        if self.mock.verbose:
            super().log_message(fmt, *args)

    def _reply(self, status, data, headers=None):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self):
        """The request body, or None if it is unreadable or over READ_CAP."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            for _ in range(100000):
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    for _ in range(100):
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

    def _handle(self):
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._reply(413, b"request unreadable or too large")
            return
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.command == "GET" and url.path == "/_received":
            data = json.dumps(self.mock.snapshot(), ensure_ascii=False).encode("utf-8")
            self._reply(200, data, {"Content-Type": "application/json"})
        elif self.command == "POST" and url.path == "/_reset":
            self.mock.reset()
            self._reply(200, b"ok")
        elif self.command == "POST" and url.path == "/_fail_next":
            try:
                spec = json.loads(body.decode("utf-8"))
                self.mock.fail_next(spec.get("count", 1), spec.get("status", 503),
                                    spec.get("body", "service unavailable"),
                                    spec.get("headers"))
            except (ValueError, TypeError, AttributeError) as e:
                self._reply(400, ("bad control: %s" % e).encode("utf-8"))
                return
            self._reply(200, b"ok")
        else:
            status, data, extra = self.mock._handle_hook(self.command, url.path, query,
                                                         headers, body)
            self._reply(status, data, extra)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main(argv=None):
    ap = argparse.ArgumentParser(description="Mock webhook receiver (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port (0 = ephemeral)")
    ap.add_argument("--user", action="append", default=[],
                    help="USER:PASSWORD for basic auth (repeatable; makes auth required)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user)
    mock = MockWebhook(port=args.port, users=users, verbose=not args.quiet).start()
    print("mock webhook listening on %s" % mock.base_url, flush=True)
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
