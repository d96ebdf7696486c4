"""What herald's mock channel servers (mock_dingtalk.py, mock_wecom.py,
mock_feishu.py, mock_slack.py, mock_telegram.py, mock_webhook.py) share.

A mock is a MockServer subclass with a MockHandler subclass; the base
classes hold the machinery, the subclasses only the service's checks and
answers:

  MockServer   start()/stop() on a thread, stop_listening()/restart()
               (outages), the context manager, port/base_url, the
               thread-safe accepted()/rejected() records under a Condition,
               messages(), wait_for(predicate, timeout), snapshot(), reset(),
               and the per-target (robot, bot, hook) fail_next queue and
               set_delay.
  Target       one robot / bot / hook: its rate-limit window (sends), its
               injected failures (fail_queue) and its delay.
  MockHandler  reading the body (Content-Length or chunked, capped), the
               JSON / text answer, log suppression, connection tracking for
               outages, and the controls GET /_received, POST /_reset and
               POST /_fail_next; service paths go to the subclass's route().
  cli_parser(), run_cli()
               the CLI main() skeleton.

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

# Hard cap on what we read at all (a service's real limit is checked separately).
READ_CAP = 4 * 1024 * 1024


def window_count(sends, now, window):
    """Drop send times older than `window` seconds from the deque `sends`;
    return how many are left."""
    while sends and sends[0] <= now - window:
        sends.popleft()
    return len(sends)


class Target:
    """One thing a mock answers for (a robot, a bot, a hook): the times of
    its accepted messages in the rate window and its test controls."""

    def __init__(self):
        self.sends = deque()       # times of accepted messages in the window
        self.fail_queue = deque()  # injected failures: dicts
        self.delay = 0.0           # seconds to wait before answering

    def reset(self):
        self.sends.clear()
        self.fail_queue.clear()


class MockHandler(BaseHTTPRequestHandler):
    """The HTTP plumbing.  Subclasses set the answer shapes and route()."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections do not hold a thread forever
    mock = None   # set per server
    read_cap = READ_CAP
    json_type = "application/json; charset=utf-8"  # Content-Type of dict answers
    text_type = "text/plain"                       # ... of str / bytes answers
    filter_param = "token"  # GET /_received?<filter_param>=KEY
    fail_next_errors = (ValueError, KeyError, TypeError, AttributeError)
    ok_answer = "ok"        # answer to a control that worked
    too_large_message = "request unreadable or too large"
    not_found_message = "not found"

    def error_answer(self, status, message):
        """The answer for a control error, an unreadable body or 404."""
        return message

    def fail_next_from(self, spec):
        """Call mock.fail_next(...) with the parsed POST /_fail_next body."""
        raise NotImplementedError

    def route(self, method, path, query, headers, body):
        """(status, payload, extra headers) for a service request, or None
        for 404."""
        return None

    # ----- plumbing ------------------------------------------------------
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

    def _reply(self, status, payload, extra=None):
        """Answer dicts/lists as JSON, str and bytes as text; `extra`
        headers may override the Content-Type."""
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            ctype = self.json_type
        else:
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            ctype = self.text_type
        headers = {"Content-Type": ctype}
        headers.update(extra or {})
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self):
        """The request body, or None if it is unreadable / over read_cap
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
                if len(out) + size > self.read_cap:
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(8)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0 or length > self.read_cap:
            return None
        return self.rfile.read(length)

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._reply(413, self.error_answer(413, self.too_large_message))
            return
        # parse_qsl URL-decodes (and turns "+" into a space, as servers do)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        control = (self.command, url.path)
        if control == ("GET", "/_received"):
            key = query.get(self.filter_param) if self.filter_param else None
            self._reply(200, self.mock.snapshot(key))
        elif control == ("POST", "/_reset"):
            self.mock.reset()
            self._reply(200, self.ok_answer)
        elif control == ("POST", "/_fail_next"):
            try:
                self.fail_next_from(json.loads(body.decode("utf-8")))
            except self.fail_next_errors as e:
                self._reply(400, self.error_answer(400, "bad control: %s" % e))
                return
            self._reply(200, self.ok_answer)
        else:
            answer = self.route(self.command, url.path, query, headers, body)
            if answer is None:
                answer = (404, self.error_answer(404, self.not_found_message))
            self._reply(*answer)

    do_GET = do_POST = _dispatch


class FakeClock:
    """A clock for a mock's `clock`: it stands at `t` until a test moves it
    (rate windows and timestamp checks without waiting)."""

    def __init__(self, t):
        self.t = float(t)

    def __call__(self):
        return self.t


class MockServer:
    """The server side of a mock.  Use as a context manager or call
    start()/stop().  Subclasses set name, record_key and handler_class."""

    name = "mock"                # thread "mock-<name>", Server: mock-<name>/1
    record_key = "token"         # the record field accepted(key) filters on
    handler_class = MockHandler

    def __init__(self, host="127.0.0.1", port=0, clock=None, verbose=False):
        if host != "127.0.0.1":
            raise ValueError("the mock binds 127.0.0.1 only")
        self.host = host
        self.requested_port = port
        self.clock = clock or time.time
        self.verbose = verbose
        self._targets = {}         # key -> Target
        self._accepted = []
        self._rejected = []
        # re-entrant: wait_for() calls a predicate that calls accepted()
        self._cond = threading.Condition(threading.RLock())
        self._server = None
        self._thread = None

    # ----- controls ------------------------------------------------------
    def _add_target(self, key, target):
        with self._cond:
            self._targets[key] = target
        return self

    def _queue_failures(self, key, count, failure):
        """Append `count` copies of the `failure` dict to key's fail_queue."""
        with self._cond:
            target = self._targets[key]
            for _ in range(int(count)):
                target.fail_queue.append(dict(failure))

    def set_delay(self, key, seconds):
        """Wait `seconds` before answering each send to `key` (timeouts)."""
        with self._cond:
            self._targets[key].delay = float(seconds)

    def _reset_state(self):
        """Hook for state a subclass keeps outside its targets."""

    def reset(self):
        """Forget records, rate-limit state and injected failures."""
        with self._cond:
            self._accepted.clear()
            self._rejected.clear()
            for target in self._targets.values():
                target.reset()
            self._reset_state()
            self._cond.notify_all()

    # ----- records -------------------------------------------------------
    def accepted(self, key=None):
        """Deep copies of accepted records, oldest first (only key's, if given)."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._accepted
                    if key is None or r[self.record_key] == key]

    def rejected(self, key=None):
        """Deep copies of rejected records, oldest first (only key's, if given)."""
        with self._cond:
            return [copy.deepcopy(r) for r in self._rejected
                    if key is None or r[self.record_key] == key]

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
                # predicate may call accepted()/rejected(): the lock is an RLock
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self._cond.wait(min(left, 0.2))

    def _snapshot_extra(self):
        """More keys for snapshot() (called under the lock)."""
        return {}

    def snapshot(self, key=None):
        """What GET /_received answers."""
        with self._cond:
            out = {"accepted": self.accepted(key), "rejected": self.rejected(key)}
            out.update(self._snapshot_extra())
        return out

    # ----- used by the verdicts -------------------------------------------
    def _delayed_target(self, key):
        """key's Target (None if unknown), after sleeping its delay
        (outside the lock)."""
        with self._cond:
            target = self._targets.get(key)
            delay = target.delay if target is not None else 0.0
        if delay:
            time.sleep(delay)
        return target

    def _add_accepted(self, record):
        """Record an accepted request (call under the lock)."""
        self._accepted.append(record)
        self._cond.notify_all()

    def _add_rejected(self, record, body=None, **fields):
        """Record a refused request (call under the lock); `body` (bytes) is
        kept as text, cut at 4096 bytes."""
        rec = dict(record, **fields)
        if body is not None:
            rec["body"] = body[:4096].decode("utf-8", "replace")
        self._rejected.append(rec)
        self._cond.notify_all()

    # ----- server --------------------------------------------------------
    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        handler = type("Handler", (self.handler_class,),
                       {"mock": self, "server_version": "mock-%s/1" % self.name})
        self._server = ThreadingHTTPServer((self.host, self.requested_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="mock-%s" % self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def stop_listening(self):
        """An outage: close the listening socket and cut every open
        connection, so herald's connects are refused until restart().
        Records, targets and rate-limit state are kept."""
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


# ----- CLI ---------------------------------------------------------------
def cli_parser(description, rate_limit=None, rate_window=None):
    """An ArgumentParser with --port and --quiet (and --rate-limit /
    --rate-window when their defaults are given)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0, help="port (0 = ephemeral)")
    if rate_limit is not None:
        ap.add_argument("--rate-limit", type=int, default=rate_limit)
    if rate_window is not None:
        ap.add_argument("--rate-window", type=float, default=rate_window)
    ap.add_argument("--quiet", action="store_true")
    return ap


def run_cli(mock, banner, lines=None):
    """Start `mock`, print banner.format(url=base_url) and the strings
    lines(mock) returns (after start, so URLs are known); serve until ^C."""
    mock.start()
    print(banner.format(url=mock.base_url), flush=True)
    for line in lines(mock) if lines else ():
        print("  " + line, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        mock.stop()
    return 0


def parse_security_spec(spec, noun):
    """NAME:sign:SECRET | NAME:keyword:k1,k2 | NAME:open  ->  (name, add_* kwargs)"""
    token, _, rest = spec.partition(":")
    mode, _, arg = rest.partition(":")
    if not token or mode not in ("sign", "keyword", "open"):
        raise argparse.ArgumentTypeError(
            "%s must be TOKEN:sign:SECRET, TOKEN:keyword:K1,K2 or TOKEN:open" % noun)
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
