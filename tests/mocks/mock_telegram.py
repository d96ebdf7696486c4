#!/usr/bin/env python3
"""A mock Telegram Bot API server (sendMessage) for herald's tests.

It checks what the real service checks and answers what it answers, as
written down in /work/shared/CHANNELS.md ("Telegram bot"):

  POST /bot<TOKEN>/sendMessage   JSON {chat_id, text, parse_mode, …}

Every answer is JSON: {"ok": true, "result": {...}} or {"ok": false,
"error_code": N, "description": "…"[, "parameters": {...}]} with HTTP
status N.  The checks run in this order (the first failing one decides):

  1. token not shaped like <digits>:<secret>, or a method other than
     sendMessage                           404 "Not Found"
  2. token unknown                         401 "Unauthorized"
  3. injected failure (fail_next)          the injected answer
  4. body not JSON / not an object         400 "Bad Request: can't parse JSON"  (unverified)
  5. chat_id missing                       400 "Bad Request: chat_id is empty"
     chat unknown to this bot              400 "Bad Request: chat not found"
     chat state set by a test: kicked      403 "Forbidden: bot was kicked from the group chat"
                               migrated    400 "Bad Request: group chat was upgraded to a
                                           supergroup chat", parameters.migrate_to_chat_id
  6. parse_mode other than HTML, MarkdownV2, Markdown or none
                                           400 "Bad Request: unsupported parse_mode"
  7. HTML that Telegram cannot parse: a tag outside b strong i em u ins s
     strike del span tg-spoiler a code pre blockquote tg-emoji, an end tag
     that does not close the innermost open tag, a tag left open, an
     attribute not allowed on its tag, an unknown named entity, a bare & or <
                                           400 "Bad Request: can't parse entities: …"
  8. text empty after parsing              400 "Bad Request: message text is empty"
     text over 4096 characters after parsing (UTF-16 code units, the unit
     of every Telegram text offset)        400 "Bad Request: message is too long"
  9. rate limit: more than rate_limit (20) messages within rate_window
     (60 s) into one chat                  429 "Too Many Requests: retry after N",
                                           parameters.retry_after N, Retry-After: N
 10. otherwise                             200 ok, the message is recorded.

Each accepted record carries ``plain`` (the text as the reader sees it),
``links`` (the hrefs of <a> tags) and ``tags`` (the tag names used).

Everything accepted and rejected is recorded (thread-safe) and visible
in-process (``mock.accepted()``, ``mock.rejected()``, ``mock.wait_for()``)
and over HTTP:

  GET  /_received[?token=T]        {"accepted": [...], "rejected": [...]}
  POST /_reset                      forget records and rate-limit state
  POST /_fail_next                  {"token": T, "count": N, "error_code": 500,
                                     "description": "…", "retry_after": S,
                                     "raw_status": 502}

CLI, for manual use:  python3 mock_telegram.py --port 8081 --bot 123:ABC=-1001,@chan

Python 3 standard library only.  Binds 127.0.0.1 only.
"""

import argparse
import json
import math
import re
import urllib.parse
from collections import deque
from html.parser import HTMLParser

from mock_base import MockHandler, MockServer, Target, cli_parser, run_cli, window_count

MAX_TEXT = 4096
TOKEN_RE = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
# tag -> attributes Telegram accepts on it
ALLOWED_TAGS = {
    "b": set(), "strong": set(), "i": set(), "em": set(), "u": set(), "ins": set(),
    "s": set(), "strike": set(), "del": set(), "span": {"class"}, "tg-spoiler": set(),
    "a": {"href"}, "code": {"class"}, "pre": set(), "blockquote": {"expandable"},
    "tg-emoji": {"emoji-id"},
}
ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
CHAT_STATES = ("ok", "kicked", "migrated")


def utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


class EntityError(Exception):
    pass


class _TelegramHTML(HTMLParser):
    """Parses Telegram's HTML subset strictly; raises EntityError."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack = []
        self.plain = []
        self.links = []
        self.tags = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            raise EntityError('Unsupported start tag "%s"' % tag)
        for name, _ in attrs:
            if name not in ALLOWED_TAGS[tag]:
                raise EntityError('Unsupported attribute "%s" in tag "%s"' % (name, tag))
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        self.stack.append(tag)
        self.tags.append(tag)

    def handle_startendtag(self, tag, attrs):
        raise EntityError('Unsupported start tag "%s/"' % tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            raise EntityError('Unmatched end tag "%s"' % tag)
        self.stack.pop()

    def handle_data(self, data):
        if "&" in data:
            raise EntityError("Character entity expected")
        if "<" in data:
            raise EntityError("Unexpected end of name token")
        self.plain.append(data)

    def handle_entityref(self, name):
        if name not in ENTITIES:
            raise EntityError('Unsupported HTML entity "&%s;"' % name)
        self.plain.append(ENTITIES[name])

    def handle_charref(self, name):
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            self.plain.append(chr(code))
        except (ValueError, OverflowError):
            raise EntityError("Invalid numeric entity") from None

    def handle_comment(self, data):
        raise EntityError("Unsupported comment")

    def handle_decl(self, decl):
        raise EntityError("Unsupported declaration")

    def unknown_decl(self, data):
        raise EntityError("Unsupported declaration")


def parse_html(text):
    """(plain text, links, tags) of Telegram HTML; raises EntityError."""
    p = _TelegramHTML()
    p.feed(text)
    p.close()
    if p.rawdata:  # an unfinished tag or entity at the end
        raise EntityError("Unclosed start tag at the end")
    if p.stack:
        raise EntityError('Can\'t find end tag corresponding to start tag "%s"' % p.stack[-1])
    return "".join(p.plain), p.links, p.tags


class Bot(Target):
    def __init__(self, token):
        super().__init__()
        self.token = token
        self.chats = {}           # str(chat id) -> state
        self.migrate_to = {}      # str(chat id) -> new id


class _Handler(MockHandler):
    json_type = "application/json"
    text_type = "text/html"
    ok_answer = {"ok": True}
    too_large_message = "Request Entity Too Large"
    not_found_message = "Not Found"

    def error_answer(self, status, message):
        return {"ok": False, "error_code": status, "description": message}

    def log_request(self, code="-", size="-"):
        # the request line holds the token: log the method and status only
        if self.mock.verbose:
            self.log_message("%s %s", self.command, code)

    def fail_next_from(self, spec):
        self.mock.fail_next(spec["token"], spec.get("count", 1),
                            spec.get("error_code", 500),
                            spec.get("description", "Internal Server Error"),
                            spec.get("retry_after"), spec.get("raw_status"))

    def route(self, method, path, query, headers, body):
        parts = path.split("/")
        if method == "POST" and len(parts) == 3 and parts[1].startswith("bot"):
            token = urllib.parse.unquote(parts[1][3:])
            return self.mock._handle(token, parts[2], headers, body)
        return None


class MockTelegram(MockServer):
    """The mock server.  Use as a context manager or call start()/stop().
    rate_limit messages per rate_window seconds per chat; clock returns
    "now" in seconds (tests may pin it).

    Records (accepted(token), rejected(token)): accepted ones hold token,
    chat_id, time, json, headers, plain, links, tags, message_id; rejected
    ones token, time, status, error_code, description, injected, headers,
    body."""

    name = "telegram"
    record_key = "token"
    handler_class = _Handler

    def __init__(self, host="127.0.0.1", port=0, rate_limit=20, rate_window=60.0,
                 clock=None, verbose=False):
        super().__init__(host, port, clock, verbose)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._sends = {}          # (token, chat) -> deque of times
        self._next_id = 1

    # ----- bots, chats and controls --------------------------------------
    def add_bot(self, token, *chats):
        """Register a bot token and the chats (ids or @names) it may post to."""
        if not TOKEN_RE.match(token):
            raise ValueError("a token is <digits>:<secret>")
        with self._cond:
            bot = self._targets.setdefault(token, Bot(token))
            for chat in chats:
                bot.chats[str(chat)] = "ok"
        return self

    def set_chat(self, token, chat, state, migrate_to=None):
        """Make a chat answer like a kicked bot or a migrated group."""
        if state not in CHAT_STATES:
            raise ValueError("state must be one of %s" % ", ".join(CHAT_STATES))
        with self._cond:
            bot = self._targets[token]
            bot.chats[str(chat)] = state
            if migrate_to is not None:
                bot.migrate_to[str(chat)] = migrate_to

    def fail_next(self, token, count=1, error_code=500, description="Internal Server Error",
                  retry_after=None, raw_status=None):
        """The next `count` sends with `token` are answered with that error
        (JSON), or with a non-JSON body and HTTP raw_status when given (a
        proxy in the way)."""
        self._queue_failures(token, count, {"error_code": int(error_code),
                                            "description": description,
                                            "retry_after": retry_after,
                                            "raw_status": raw_status})

    def _reset_state(self):
        self._sends.clear()

    # ----- the verdict ---------------------------------------------------
    def _handle(self, token, method, headers, body):
        """(http status, answer dict or bytes, extra headers)."""
        bot = self._delayed_target(token)
        with self._cond:
            now = self.clock()
            record = {"token": token, "time": now, "headers": headers}

            def reject(code, description, parameters=None, injected=False, extra=None):
                self._add_rejected(record, body, status=code, error_code=code,
                                   description=description, injected=injected)
                answer = {"ok": False, "error_code": code, "description": description}
                if parameters:
                    answer["parameters"] = parameters
                return code, answer, extra or {}

            if not TOKEN_RE.match(token) or method != "sendMessage":
                return reject(404, "Not Found")
            if bot is None:
                return reject(401, "Unauthorized")
            if bot.fail_queue:
                f = bot.fail_queue.popleft()
                extra = {}
                params = None
                if f["retry_after"] is not None:
                    extra["Retry-After"] = str(f["retry_after"])
                    params = {"retry_after": f["retry_after"]}
                if f["raw_status"]:
                    self._add_rejected(record, b"", status=f["raw_status"], error_code=None,
                                       description="raw", injected=True)
                    return f["raw_status"], b"<html>bad gateway</html>", extra
                return reject(f["error_code"], f["description"], params, True, extra)
            try:
                msg = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                msg = None
            if not isinstance(msg, dict):
                return reject(400, "Bad Request: can't parse JSON")
            chat = msg.get("chat_id")
            if chat is None or chat == "":
                return reject(400, "Bad Request: chat_id is empty")
            chat = str(chat)
            state = bot.chats.get(chat)
            if state is None:
                return reject(400, "Bad Request: chat not found")
            if state == "kicked":
                return reject(403, "Forbidden: bot was kicked from the group chat")
            if state == "migrated":
                return reject(400, "Bad Request: group chat was upgraded to a supergroup chat",
                              {"migrate_to_chat_id": bot.migrate_to.get(chat, -1009999999999)})
            mode = msg.get("parse_mode")
            if mode not in (None, "", "HTML", "MarkdownV2", "Markdown"):
                return reject(400, "Bad Request: unsupported parse_mode")
            text = msg.get("text")
            if not isinstance(text, str):
                return reject(400, "Bad Request: message text is empty")
            plain, links, tags = text, [], []
            if mode == "HTML":
                try:
                    plain, links, tags = parse_html(text)
                except EntityError as e:
                    return reject(400, "Bad Request: can't parse entities: %s" % e)
            if not plain.strip():
                return reject(400, "Bad Request: message text is empty")
            if utf16_len(plain) > MAX_TEXT:
                return reject(400, "Bad Request: message is too long")
            sends = self._sends.setdefault((token, chat), deque())
            if window_count(sends, now, self.rate_window) >= self.rate_limit:
                wait = max(1, math.ceil(sends[0] + self.rate_window - now))
                return reject(429, "Too Many Requests: retry after %d" % wait,
                              {"retry_after": wait}, extra={"Retry-After": str(wait)})
            sends.append(now)
            message_id = self._next_id
            self._next_id += 1
            self._add_accepted(dict(record, chat_id=chat, json=msg, plain=plain,
                                    links=links, tags=tags, message_id=message_id))
            return 200, {"ok": True, "result": {
                "message_id": message_id, "date": int(now),
                "chat": {"id": msg["chat_id"]}, "text": plain}}, {}


def parse_bot_spec(spec):
    """TOKEN=CHAT1,CHAT2"""
    token, _, chats = spec.partition("=")
    if not TOKEN_RE.match(token):
        raise argparse.ArgumentTypeError("bot must be <digits>:<secret>=CHAT,CHAT")
    return token, [c for c in chats.split(",") if c]


def main(argv=None):
    ap = cli_parser("Mock Telegram Bot API (127.0.0.1 only)", rate_limit=20, rate_window=60.0)
    ap.add_argument("--bot", action="append", default=[], type=parse_bot_spec,
                    help="TOKEN=CHAT,CHAT (repeatable)")
    args = ap.parse_args(argv)
    mock = MockTelegram(port=args.port, rate_limit=args.rate_limit,
                        rate_window=args.rate_window, verbose=not args.quiet)
    for token, chats in args.bot:
        mock.add_bot(token, *chats)
    return run_cli(mock, "mock Telegram Bot API listening on {url} (api_url)")


if __name__ == "__main__":
    raise SystemExit(main())
