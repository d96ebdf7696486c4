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

import base64
import binascii
import json

from mock_base import MockHandler, MockServer, Target, cli_parser, run_cli, window_count

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


class _Handler(MockHandler):
    json_type = "application/json"
    text_type = "text/plain; charset=utf-8"
    filter_param = None
    read_cap = 8 * 1024 * 1024

    def fail_next_from(self, spec):
        self.mock.fail_next(spec.get("count", 1), spec.get("status", 503),
                            spec.get("body", "service unavailable"), spec.get("headers"))

    def route(self, method, path, query, headers, body):
        return self.mock._handle_hook(method, path, query, headers, body)

    do_PUT = do_PATCH = do_DELETE = MockHandler._dispatch


class MockWebhook(MockServer):
    """The mock server.  Use as a context manager or call start()/stop()."""

    name = "webhook"
    record_key = "path"
    handler_class = _Handler

    def __init__(self, host="127.0.0.1", port=0, users=None, required_headers=None,
                 max_body=1024 * 1024, content_types=None, rate_limit=None,
                 rate_window=60.0, verbose=False):
        super().__init__(host, port, verbose=verbose)
        self.users = dict(users or {})
        self.required_headers = {k.lower(): v for k, v in (required_headers or {}).items()}
        self.max_body = max_body
        self.content_types = [t.lower() for t in content_types] if content_types else None
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._add_target(None, Target())  # the one receiver every path reaches

    # ----- controls ------------------------------------------------------
    def fail_next(self, count=1, status=503, body="service unavailable", headers=None):
        """The next `count` hook requests that pass method, auth and header
        checks are answered with `status`, `body` and `headers`."""
        self._queue_failures(None, count, {"status": int(status), "body": body,
                                           "headers": dict(headers or {})})

    def set_delay(self, seconds):
        """Wait `seconds` before answering each hook request (timeouts)."""
        super().set_delay(None, seconds)

    def snapshot(self, key=None):
        def printable(records):
            out = []
            for r in records:
                r = dict(r)
                r["body"] = r["body"][:4096].decode("utf-8", "replace")
                out.append(r)
            return out
        return {"accepted": printable(self.accepted(key)),
                "rejected": printable(self.rejected(key))}

    def url(self, path="/hook"):
        return self.base_url + path

    # ----- the verdict ---------------------------------------------------
    def _handle_hook(self, method, path, query, headers, body):
        """Decide the answer for one hook request; record it.  Returns
        (status, body bytes, extra headers dict)."""
        receiver = self._delayed_target(None)
        with self._cond:
            now = self.clock()
            auth = basic_auth(headers.get("authorization"))
            record = {"method": method, "path": path, "query": query, "headers": headers,
                      "body": body, "auth": auth, "time": now}

            def reject(status, reason, reply_headers=None, reply_body=None, injected=False):
                self._add_rejected(record, status=status, reason=reason, injected=injected)
                data = reply_body if reply_body is not None else reason
                return status, data.encode("utf-8"), reply_headers or {}

            if method not in METHODS:
                return reject(405, "method not allowed", {"Allow": ", ".join(METHODS)})
            if self.users and (auth is None or self.users.get(auth[0]) != auth[1]):
                return reject(401, "unauthorized", {"WWW-Authenticate": 'Basic realm="hook"'})
            for name, value in self.required_headers.items():
                if headers.get(name) != value:
                    return reject(403, "forbidden: header %s" % name)
            if receiver.fail_queue:
                f = receiver.fail_queue.popleft()
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
                sends = receiver.sends
                if window_count(sends, now, self.rate_window) >= self.rate_limit:
                    wait = int(sends[0] + self.rate_window - now) + 1
                    return reject(429, "too many requests", {"Retry-After": str(wait)})
                sends.append(now)
            self._add_accepted(dict(record, json=parsed))
            return 200, b'{"status":"ok"}', {"Content-Type": "application/json"}


def main(argv=None):
    ap = cli_parser("Mock webhook receiver (127.0.0.1 only)")
    ap.add_argument("--user", action="append", default=[],
                    help="USER:PASSWORD for basic auth (repeatable; makes auth required)")
    args = ap.parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user)
    mock = MockWebhook(port=args.port, users=users, verbose=not args.quiet)
    return run_cli(mock, "mock webhook listening on {url}")


if __name__ == "__main__":
    raise SystemExit(main())
