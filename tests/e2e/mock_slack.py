#!/usr/bin/env python3
"""A mock Slack incoming webhook for herald's tests.

It checks what the real service checks and answers what it answers, as
written down in /work/shared/CHANNELS.md ("Slack incoming webhook"):

  POST /services/<T…>/<B…>/<secret>    JSON {"text": …, "blocks": […]}

Answers are plain text: HTTP 200 "ok" on success, else a 4xx status with
an error word, or 429 with Retry-After.  The checks run in this order (the
first one that fails decides the answer):

  1. hook unknown                          404 no_service          (unverified word)
  2. hook state set by a test              403 invalid_token, 404 channel_not_found,
                                           410 channel_is_archived, 404 no_active_hooks
  3. injected failure (fail_next)          the injected status, body, Retry-After
  4. rate limit: more than rate_limit (1) messages within rate_window (1 s)
                                           429 rate_limited, Retry-After: seconds
  5. body over max_body (40000) bytes      400 invalid_payload     (*)
  6. Content-Type not application/json     400 invalid_payload
     body not JSON / not an object         400 invalid_payload
  7. neither "text" nor "blocks"           400 no_text
  8. "blocks" malformed: not a list, more than 50, unknown type, a header
     whose plain_text is empty or over 150 characters, a section whose text
     object is not mrkdwn/plain_text or is empty or over 3000 characters
                                           400 invalid_blocks
  9. "text" over text_limit (4000) characters
                                           400 invalid_payload     (*)
 10. otherwise                             200 ok, the message is recorded.

(*) stricter than Slack, which documents no body limit and cuts long text
itself: these are the limits herald promises to keep, so the mock holds
herald to them.  Characters are counted in UTF-16 code units, as Slack's
JavaScript does.

Each accepted record carries ``plain``: the header and section texts as a
reader would see them (mrkdwn links shown by their label, <@U1> as @U1,
<!channel> as @channel, entities decoded), and ``mrkdwn_problems``: any
bare <, > or & in mrkdwn text (Slack would mangle them; herald must escape).

Everything accepted and rejected is recorded (thread-safe) and visible
in-process (``mock.accepted()``, ``mock.rejected()``, ``mock.wait_for()``)
and over HTTP:

  GET  /_received[?hook=H]         {"accepted": [...], "rejected": [...]}
  POST /_reset                      forget records and rate-limit state
  POST /_fail_next                  {"hook": H, "count": N, "status": 500,
                                     "body": "…", "retry_after": S}

CLI, for manual use:  python3 mock_slack.py --port 8080 --hook T1/B1/secret

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import argparse
import copy
import json
import math
import re
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOOK_STATES = {
    "active": None,
    "revoked": (403, "invalid_token"),
    "channel_deleted": (404, "channel_not_found"),
    "archived": (410, "channel_is_archived"),
    "disabled": (404, "no_active_hooks"),
}
BLOCK_TYPES = {"header", "section", "divider", "context", "image", "actions", "rich_text",
               "input", "file", "video"}
MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_MAX = 3000
READ_CAP = 4 * 1024 * 1024

# <url|label>, <url>, <@U1>, <!channel>, <!subteam^S1>, <#C1>
_CONTROL = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_ENTITY = re.compile(r"&(amp|lt|gt);")


def utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


def mrkdwn_problems(text):
    """Bare <, > or & that are not part of a control sequence or entity.
    A '>' opening a line is a quote and fine."""
    problems = []
    rest = _CONTROL.sub("", text)
    rest = _ENTITY.sub("", rest)
    for line in rest.split("\n"):
        body = line.lstrip()
        if body.startswith(">"):
            body = body[1:]
        for ch in "<>&":
            if ch in body:
                problems.append("bare %r in %r" % (ch, line[:80]))
    return problems


def mrkdwn_plain(text):
    """What a reader sees of mrkdwn text (formatting marks kept)."""
    def control(m):
        target, label = m.group(1), m.group(2)
        if label is not None:
            return label
        if target.startswith("@"):
            return target
        if target.startswith("!subteam^"):
            return "@" + target[len("!subteam^"):]
        if target.startswith("!"):
            return "@" + target[1:]
        return target
    out = _CONTROL.sub(control, text)
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def block_problem(block):
    """Why Slack would refuse this block (None when it is fine)."""
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return "unknown block type"
    kind = block["type"]
    text = block.get("text")
    if kind == "header":
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            return "header needs a plain_text text"
        value = text.get("text")
        if not isinstance(value, str) or not value or utf16_len(value) > HEADER_MAX:
            return "header text must be 1..%d characters" % HEADER_MAX
    if kind == "section":
        if text is None and not block.get("fields"):
            return "section needs text or fields"
        if text is not None:
            if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
                return "section text must be mrkdwn or plain_text"
            value = text.get("text")
            if not isinstance(value, str) or not value.strip() or \
                    utf16_len(value) > SECTION_MAX:
                return "section text must be 1..%d characters" % SECTION_MAX
    return None


class Hook:
    def __init__(self, path, state="active"):
        self.path = path
        self.state = state
        self.sends = deque()
        self.fail_queue = deque()
        self.delay = 0.0


class MockSlack:
    """The mock server.  Use as a context manager or call start()/stop().
    rate_limit messages per rate_window seconds per hook; clock returns
    "now" in seconds (tests may pin it)."""

    def __init__(self, host="127.0.0.1", port=0, rate_limit=1, rate_window=1.0,
                 max_body=40000, text_limit=4000, clock=None, verbose=False):
        if host != "127.0.0.1":
            raise ValueError("the mock binds 127.0.0.1 only")
        self.host = host
        self.requested_port = port
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.max_body = max_body
        self.text_limit = text_limit
        self.clock = clock or time.time
        self.verbose = verbose
        self._hooks = {}
        self._accepted = []
        self._rejected = []
        self._cond = threading.Condition(threading.RLock())
        self._server = None
        self._thread = None

    # ----- hooks and controls --------------------------------------------
    def add_hook(self, path, state="active"):
        """Register a hook by its path after /services/ ("T1/B1/secret")."""
        if state not in HOOK_STATES:
            raise ValueError("state must be one of %s" % ", ".join(HOOK_STATES))
        with self._cond:
            self._hooks[path] = Hook(path, state)
        return self

    def set_state(self, path, state):
        if state not in HOOK_STATES:
            raise ValueError("state must be one of %s" % ", ".join(HOOK_STATES))
        with self._cond:
            self._hooks[path].state = state

    def fail_next(self, path, count=1, status=500, body="internal_error", retry_after=None):
        """The next `count` sends to `path` (after the hook checks) are
        answered with `status` and `body` (plus Retry-After when given)."""
        with self._cond:
            for _ in range(int(count)):
                self._hooks[path].fail_queue.append(
                    {"status": int(status), "body": body, "retry_after": retry_after})

    def set_delay(self, path, seconds):
        """Wait `seconds` before answering each send to `path`."""
        with self._cond:
            self._hooks[path].delay = float(seconds)

    def reset(self):
        with self._cond:
            self._accepted.clear()
            self._rejected.clear()
            for h in self._hooks.values():
                h.sends.clear()
                h.fail_queue.clear()
            self._cond.notify_all()

    # ----- records -------------------------------------------------------
    def accepted(self, path=None):
        """Deep copies of accepted records, oldest first: hook, time, json,
        headers (lower-case keys), body_bytes, plain, mrkdwn_problems."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._accepted if path in (None, r["hook"])]

    def rejected(self, path=None):
        """Deep copies of rejected records: hook, time, status, error,
        injected, headers, body (text, may be cut)."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._rejected if path in (None, r["hook"])]

    def messages(self, path=None):
        return [r["json"] for r in self.accepted(path)]

    def wait_for(self, predicate, timeout=10.0):
        """Wait until predicate(mock) is true (re-checked on every request and
        at least every 0.2 s); return its last value.  Bounded by timeout."""
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

    def snapshot(self, path=None):
        return {"accepted": self.accepted(path), "rejected": self.rejected(path),
                "hooks": {p: h.state for p, h in self._hooks.items()}}

    # ----- server --------------------------------------------------------
    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, path):
        return "%s/services/%s" % (self.base_url, path)

    def start(self):
        class Handler(_Handler):
            pass
        Handler.mock = self
        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="mock-slack", daemon=True)
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
    def _handle_send(self, path, headers, body):
        """(status, text, extra headers) for one POST /services/<path>."""
        with self._cond:
            hook = self._hooks.get(path)
            delay = hook.delay if hook else 0.0
        if delay:
            time.sleep(delay)
        with self._cond:
            now = self.clock()
            record = {"hook": path, "time": now, "headers": headers}

            def reject(status, error, injected=False, extra=None):
                self._rejected.append(dict(record, status=status, error=error,
                                           injected=injected,
                                           body=body[:4096].decode("utf-8", "replace")))
                self._cond.notify_all()
                return status, error, extra or {}

            if hook is None:
                return reject(404, "no_service")
            if HOOK_STATES[hook.state]:
                return reject(*HOOK_STATES[hook.state])
            if hook.fail_queue:
                f = hook.fail_queue.popleft()
                extra = {} if f["retry_after"] is None else {"Retry-After": str(f["retry_after"])}
                return reject(f["status"], f["body"], True, extra)
            while hook.sends and hook.sends[0] <= now - self.rate_window:
                hook.sends.popleft()
            if len(hook.sends) >= self.rate_limit:
                wait = max(1, math.ceil(hook.sends[0] + self.rate_window - now))
                return reject(429, "rate_limited", extra={"Retry-After": str(wait)})
            if len(body) > self.max_body:
                return reject(400, "invalid_payload")
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return reject(400, "invalid_payload")
            try:
                msg = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                msg = None
            if not isinstance(msg, dict):
                return reject(400, "invalid_payload")
            text, blocks = msg.get("text"), msg.get("blocks")
            if not (isinstance(text, str) and text.strip()) and not blocks:
                return reject(400, "no_text")
            if blocks is not None:
                if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS or \
                        any(block_problem(b) for b in blocks):
                    return reject(400, "invalid_blocks")
            if isinstance(text, str) and utf16_len(text) > self.text_limit:
                return reject(400, "invalid_payload")
            plain, problems = [], []
            if isinstance(text, str) and msg.get("mrkdwn", True):
                problems += mrkdwn_problems(text)
            for b in blocks or []:
                t = b.get("text")
                if not isinstance(t, dict):
                    continue
                if t.get("type") == "mrkdwn":
                    problems += mrkdwn_problems(t["text"])
                    plain.append(mrkdwn_plain(t["text"]))
                else:
                    plain.append(t["text"])
            if not blocks:
                plain.append(mrkdwn_plain(text))
            hook.sends.append(now)
            self._accepted.append(dict(record, json=msg, body_bytes=len(body),
                                       plain="\n".join(plain), mrkdwn_problems=problems))
            self._cond.notify_all()
            return 200, "ok", {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-slack/1"
    timeout = 30
    mock = None

    def log_message(self, fmt, *args):
        if self.mock.verbose:
            super().log_message(fmt, *args)

    def _reply(self, status, payload, extra=None):
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            ctype = "application/json; charset=utf-8"
        else:
            data = payload.encode("utf-8")
            ctype = "text/html"  # what Slack labels its plain-word answers
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0 or length > READ_CAP:
            return None
        return self.rfile.read(length)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/_received":
            self._reply(200, self.mock.snapshot(query.get("hook")))
        else:
            self._reply(404, "not_found")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._reply(413, "request_too_large")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path.startswith("/services/"):
            path = urllib.parse.unquote(url.path[len("/services/"):])
            status, text, extra = self.mock._handle_send(path, headers, body)
            self._reply(status, text, extra)
        elif url.path == "/_reset":
            self.mock.reset()
            self._reply(200, "ok")
        elif url.path == "/_fail_next":
            try:
                spec = json.loads(body.decode("utf-8"))
                self.mock.fail_next(spec["hook"], spec.get("count", 1), spec.get("status", 500),
                                    spec.get("body", "internal_error"), spec.get("retry_after"))
            except (ValueError, KeyError, TypeError) as e:
                self._reply(400, "bad control: %s" % e)
                return
            self._reply(200, "ok")
        else:
            self._reply(404, "no_service")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Mock Slack incoming webhook (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port (0 = ephemeral)")
    ap.add_argument("--hook", action="append", default=[],
                    help="hook path after /services/, e.g. T1/B1/secret (repeatable)")
    ap.add_argument("--rate-limit", type=int, default=1)
    ap.add_argument("--rate-window", type=float, default=1.0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    mock = MockSlack(port=args.port, rate_limit=args.rate_limit, rate_window=args.rate_window,
                     verbose=not args.quiet)
    for path in args.hook:
        mock.add_hook(path)
    mock.start()
    print("mock Slack listening on %s" % mock.base_url, flush=True)
    for path in args.hook:
        print("  hook %s" % mock.url(path), flush=True)
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
