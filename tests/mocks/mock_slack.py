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

import json
import math
import re
import urllib.parse

from mock_base import MockHandler, MockServer, Target, cli_parser, run_cli, window_count

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


class Hook(Target):
    def __init__(self, path, state="active"):
        super().__init__()
        self.path = path
        self.state = state


class _Handler(MockHandler):
    text_type = "text/html"  # what Slack labels its plain-word answers
    filter_param = "hook"
    too_large_message = "request_too_large"
    not_found_message = "not_found"

    def fail_next_from(self, spec):
        self.mock.fail_next(spec["hook"], spec.get("count", 1), spec.get("status", 500),
                            spec.get("body", "internal_error"), spec.get("retry_after"))

    def route(self, method, path, query, headers, body):
        if method != "POST":
            return None
        if not path.startswith("/services/"):
            return 404, "no_service", {}
        hook = urllib.parse.unquote(path[len("/services/"):])
        return self.mock._handle_send(hook, headers, body)


class MockSlack(MockServer):
    """The mock server.  Use as a context manager or call start()/stop().
    rate_limit messages per rate_window seconds per hook; clock returns
    "now" in seconds (tests may pin it).

    Records (accepted(path), rejected(path)): accepted ones hold hook, time,
    json, headers (lower-case keys), body_bytes, plain, mrkdwn_problems;
    rejected ones hook, time, status, error, injected, headers, body (text,
    may be cut)."""

    name = "slack"
    record_key = "hook"
    handler_class = _Handler

    def __init__(self, host="127.0.0.1", port=0, rate_limit=1, rate_window=1.0,
                 max_body=40000, text_limit=4000, clock=None, verbose=False):
        super().__init__(host, port, clock, verbose)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.max_body = max_body
        self.text_limit = text_limit

    # ----- hooks and controls --------------------------------------------
    def add_hook(self, path, state="active"):
        """Register a hook by its path after /services/ ("T1/B1/secret")."""
        if state not in HOOK_STATES:
            raise ValueError("state must be one of %s" % ", ".join(HOOK_STATES))
        return self._add_target(path, Hook(path, state))

    def set_state(self, path, state):
        if state not in HOOK_STATES:
            raise ValueError("state must be one of %s" % ", ".join(HOOK_STATES))
        with self._cond:
            self._targets[path].state = state

    def fail_next(self, path, count=1, status=500, body="internal_error", retry_after=None):
        """The next `count` sends to `path` (after the hook checks) are
        answered with `status` and `body` (plus Retry-After when given)."""
        self._queue_failures(path, count, {"status": int(status), "body": body,
                                           "retry_after": retry_after})

    def _snapshot_extra(self):
        return {"hooks": {p: h.state for p, h in self._targets.items()}}

    def url(self, path):
        return "%s/services/%s" % (self.base_url, path)

    # ----- the verdict ---------------------------------------------------
    def _handle_send(self, path, headers, body):
        """(status, text, extra headers) for one POST /services/<path>."""
        hook = self._delayed_target(path)
        with self._cond:
            now = self.clock()
            record = {"hook": path, "time": now, "headers": headers}

            def reject(status, error, injected=False, extra=None):
                self._add_rejected(record, body, status=status, error=error, injected=injected)
                return status, error, extra or {}

            if hook is None:
                return reject(404, "no_service")
            if HOOK_STATES[hook.state]:
                return reject(*HOOK_STATES[hook.state])
            if hook.fail_queue:
                f = hook.fail_queue.popleft()
                extra = {} if f["retry_after"] is None else {"Retry-After": str(f["retry_after"])}
                return reject(f["status"], f["body"], True, extra)
            if window_count(hook.sends, now, self.rate_window) >= self.rate_limit:
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
            self._add_accepted(dict(record, json=msg, body_bytes=len(body),
                                    plain="\n".join(plain), mrkdwn_problems=problems))
            return 200, "ok", {}


def main(argv=None):
    ap = cli_parser("Mock Slack incoming webhook (127.0.0.1 only)", rate_limit=1,
                    rate_window=1.0)
    ap.add_argument("--hook", action="append", default=[],
                    help="hook path after /services/, e.g. T1/B1/secret (repeatable)")
    args = ap.parse_args(argv)
    mock = MockSlack(port=args.port, rate_limit=args.rate_limit, rate_window=args.rate_window,
                     verbose=not args.quiet)
    for path in args.hook:
        mock.add_hook(path)
    return run_cli(mock, "mock Slack listening on {url}",
                   lambda m: ["hook %s" % m.url(path) for path in args.hook])


if __name__ == "__main__":
    raise SystemExit(main())
