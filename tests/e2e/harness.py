"""Helpers for herald's end-to-end tests: build paths, loopback ports,
bounded waits, HTTP without proxies, a Lua config writer, and process
wrappers for herald and the real Alertmanager.

Everything binds and connects to 127.0.0.1 only; every wait has a timeout.
"""

import datetime
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALERTMANAGER_BIN = os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer")
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8), "Asia/Shanghai")

# The robots of the mock_dingtalk fixture (conftest.py): T1 signed with
# DT_SECRET, T2 with the keyword KEYWORD. Test values only; never a real
# robot's.
DT_SECRET = "SECe2etestsecret0123456789abcdef"
T1 = "T1"
T2 = "T2"
KEYWORD = "报警"
# The robot of the mock_wecom fixture.
WECOM_KEY = "5f0e3b1a-9c2d-4e7f-8a6b-1d2c3e4f5a6b"

# Proxy variables must not reach herald (libcurl) or Alertmanager: all our
# traffic is loopback.
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy",
               "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY")


class HarnessError(Exception):
    pass


def sanitizer_markers(output):
    """The SANITIZER_MARKERS in a process's output (str or bytes)."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    return [m for m in SANITIZER_MARKERS if m in output]


# ----- paths -----------------------------------------------------------
def build_dir():
    return Path(os.environ.get("HERALD_BUILD_DIR", str(REPO / "build"))).resolve()


def herald_binary():
    return build_dir() / "herald"


def plugins_dir():
    return build_dir() / "plugins"


# ----- ports and waits -------------------------------------------------
def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_handed_out = set()


def _worker_share(first, end):
    """This process's part of the ports [first, end): all of them, or under
    pytest-xdist (PYTEST_XDIST_WORKER "gw<i>" of PYTEST_XDIST_WORKER_COUNT)
    worker i's slice, disjoint from the other workers'. Each worker only
    remembers the ports it handed out, so without the slices two workers
    could pick the same free port for servers that bind later."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    try:
        index = int(worker[2:]) if worker.startswith("gw") else 0
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    except ValueError:
        index, count = 0, 1
    if count <= 1 or not 0 <= index < count:
        return first, end
    size = (end - first) // count
    return first + index * size, first + (index + 1) * size


def free_port():
    """A currently free TCP port on 127.0.0.1 for a server to bind later.

    Taken below the kernel's ephemeral range: a port from bind(0) lies
    inside it, and an outgoing connection (curl, a test's client) may take
    it before the server binds. Never the same port twice in a run, and
    under pytest-xdist never one another worker may hand out."""
    low = _ephemeral_low()
    if low > 11000:
        first, end = _worker_share(low - 10000, low)
        for _ in range(200):
            port = random.randrange(first, end)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.1, message=None):
    """Call predicate() until it returns a true value; return that value.
    Raises HarnessError (with `message`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # predicate may poll something not up yet
            last_exc = e
        if time.monotonic() >= deadline:
            text = message or "condition not met"
            if last_exc is not None:
                text += " (last error: %r)" % (last_exc,)
            raise HarnessError("%s within %.1f s" % (text, timeout))
        time.sleep(interval)


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


# ----- HTTP (never through a proxy, always with a timeout) -------------
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_trusted_cas = []


def trust_ca(path):
    """Let the helpers here verify an HTTPS herald whose certificate (or its
    CA) a test made at `path`."""
    _trusted_cas.append(str(path))


def tls_context():
    """The system's CAs plus those given to trust_ca() that still exist."""
    ctx = ssl.create_default_context()
    for ca in _trusted_cas:
        if os.path.exists(ca):
            ctx.load_verify_locations(ca)
    return ctx


def _open(req, timeout):
    if req.full_url.startswith("https:"):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=tls_context()))
        return opener.open(req, timeout=timeout)
    return _opener.open(req, timeout=timeout)


def http(method, url, body=None, headers=None, timeout=5.0):
    """(status, body bytes).  body may be bytes, str or a JSON-able value."""
    status, _, data = http_full(method, url, body, headers, timeout)
    return status, data


def http_json(method, url, body=None, timeout=5.0):
    status, data = http(method, url, body, timeout=timeout)
    return status, (json.loads(data) if data else None)


def is_ready(url):
    try:
        return http("GET", url, timeout=1.0)[0] == 200
    except OSError:
        return False


# ----- time ------------------------------------------------------------
def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Every time in an /api/v1 answer: RFC 3339 in UTC with milliseconds.
API_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def api_time_ms(text):
    """Epoch milliseconds of a time the API answered ("...T05:22:46.390Z")."""
    assert API_TIME.fullmatch(text), text
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return round(dt.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def shanghai(dt):
    """'YYYY-MM-DD HH:MM:SS' of dt in Asia/Shanghai (UTC+8, no DST)."""
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def now_seconds():
    """Now in UTC, truncated to whole seconds (so formatted times are exact)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


# ----- Lua config ------------------------------------------------------
class Lua:
    """A raw Lua expression, e.g. Lua('env("DT_SECRET")')."""

    def __init__(self, expr):
        self.expr = expr


def lua_env(name):
    return Lua('env(%s)' % lua_value(name))


def lua_value(v, indent=0):
    pad = "  " * (indent + 1)
    if isinstance(v, Lua):
        return v.expr
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, Path):
        v = str(v)
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ch == "\n":
                out.append("\\n")
            elif ord(ch) < 32 or ord(ch) == 127:
                out.append("\\%03d" % ord(ch))
            else:
                out.append(ch)  # UTF-8 passes through
        out.append('"')
        return "".join(out)
    if isinstance(v, (list, tuple)):
        if not v:
            return "{}"
        return "{ " + ", ".join(lua_value(x, indent + 1) for x in v) + " }"
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = []
        for k, x in v.items():
            key = k if _is_lua_name(k) else "[%s]" % lua_value(str(k))
            items.append("%s%s = %s," % (pad, key, lua_value(x, indent + 1)))
        return "{\n" + "\n".join(items) + "\n" + "  " * indent + "}"
    raise TypeError("no Lua form for %r" % (v,))


_LUA_KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for",
                 "function", "goto", "if", "in", "local", "nil", "not", "or",
                 "repeat", "return", "then", "true", "until", "while"}


def _is_lua_name(k):
    return (isinstance(k, str) and k and (k[0].isalpha() or k[0] == "_") and k.isascii()
            and all(c.isalnum() or c == "_" for c in k) and k not in _LUA_KEYWORDS)


def herald_config(listen_port, receivers, default_receiver=None, extra=None):
    """The text of a herald config (Lua) with absolute paths to the repo's
    route script and templates and the build's plugin dir."""
    top = {
        "listen": "127.0.0.1:%d" % listen_port,
        "timezone": "Asia/Shanghai",
        "route": str(REPO / "scripts" / "route.lua"),
        "templates": str(REPO / "templates"),
        "plugin_dir": str(plugins_dir()),
        # Many tests post the same payload twice on purpose; deduplication
        # (on by default) has its own tests, which set a window.
        "dedup_window": "0s",
        # The Lua per-call deadline is wall-clock (herald's default 100 ms):
        # on a loaded CI machine (or under ASan) a route script or template
        # can miss it, and a miss silently changes routing or rendering.
        # Tests of the deadline itself pass their own `lua` table, which
        # replaces this one as a whole (top.update below).
        "lua": {"timeout": "2s"},
        # herald's default (10 s) would race the fixtures' bounded stop();
        # tests of shutdown timing set their own value.
        "shutdown_timeout": "3s",
    }
    if default_receiver:
        top["default_receiver"] = default_receiver
    top.update(extra or {})
    # The same reason as dedup_window: a receiver's repeat_interval (4h by
    # default) would hold back every second post of an alert. Tests of
    # repeats set their own.
    top["receivers"] = {name: ({"repeat_interval": "0s", **spec}
                               if isinstance(spec, dict) else spec)
                        for name, spec in receivers.items()}
    lines = ["-- written by tests/e2e/harness.py"]
    for k, v in top.items():
        lines.append("%s = %s" % (k, lua_value(v)))
    return "\n".join(lines) + "\n"


# ----- processes -------------------------------------------------------
def _tail(path, limit=8000):
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ""
    text = data[-limit:].decode("utf-8", "replace")
    return ("...\n" if len(data) > limit else "") + text


class _Process:
    """A child process with stdout+stderr in a log file; stop() is bounded."""

    name = "process"

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / ("%s.log" % self.name)
        self.proc = None
        self.returncode = None
        self.killed = False
        self.secrets = []  # values redacted from anything we show

    def _spawn(self, argv, env):
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=subprocess.STDOUT, env=env, cwd=str(self.workdir))

    def log(self):
        """The process output so far, with known secrets redacted."""
        text = _tail(self.log_path, limit=10 ** 7)
        for s in self.secrets:
            if s:
                text = text.replace(s, "<redacted>")
        return text

    def log_tail(self, limit=6000):
        text = self.log()
        return text if len(text) <= limit else "...\n" + text[-limit:]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, url, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("%s exited with %s before it was ready:\n%s"
                                   % (self.name, self.proc.returncode, self.log_tail()))
            if is_ready(url):
                return
            time.sleep(0.1)
        raise HarnessError("%s not ready at %s within %.0f s:\n%s"
                           % (self.name, url, timeout, self.log_tail()))

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to `timeout`, then SIGKILL.  Returns the exit code
        (negative = killed by that signal; None if never started)."""
        if self.proc is None:
            return None
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        self.killed = killed
        try:
            self._logf.close()
        except Exception:
            pass
        return self.returncode


class Herald(_Process):
    """`herald serve -c CONFIG` on 127.0.0.1:port."""

    name = "herald"

    def __init__(self, workdir, port=None, env=None, secrets=None):
        super().__init__(workdir)
        self.port = port or free_port()
        self.env = dict(env or {})
        self.secrets = list(secrets or []) + [v for v in self.env.values() if len(v) >= 8]
        self.config_path = self.workdir / "herald.lua"
        self.start_failed = False
        self.scheme = "http"  # "https" when its config sets tls
        self.command_reports = []  # sanitizer reports of command() runs, for problems()

    @property
    def base_url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def write_config(self, receivers, default_receiver=None, extra=None):
        self.config_path.write_text(
            herald_config(self.port, receivers, default_receiver, extra), encoding="utf-8")
        return self.config_path

    def command(self, *args, timeout=30.0, input_bytes=None):
        """Run `herald ARGS...` (not serve) to completion; CompletedProcess.
        A sanitizer report it prints is one of problems(), as serve's is."""
        res = subprocess.run([str(herald_binary())] + [str(a) for a in args],
                             input=input_bytes, capture_output=True, timeout=timeout,
                             env=clean_env(self.env), cwd=str(self.workdir))
        self.command_reports += ["herald %s: output contains %r" % (args[0] if args else "", m)
                                 for m in sanitizer_markers(res.stderr)]
        return res

    def start(self, ready_timeout=10.0):
        binary = herald_binary()
        if not os.access(binary, os.X_OK):
            raise HarnessError("herald binary not found at %s (set HERALD_BUILD_DIR)" % binary)
        self._spawn([str(binary), "serve", "-c", str(self.config_path)], clean_env(self.env))
        try:
            self.wait_ready(self.base_url + "/-/ready", ready_timeout)
        except HarnessError:
            self.start_failed = True  # already reported; problems() skips the exit code
            raise
        return self

    def problems(self):
        """Why this run is not clean (after stop()): a list of strings."""
        out = []
        if self.start_failed:
            pass
        elif self.killed:
            out.append("herald did not exit within the timeout after SIGTERM (killed)")
        elif self.returncode not in (0, None):
            out.append("herald exited with status %s" % self.returncode)
        out += ["herald output contains %r" % m for m in sanitizer_markers(self.log())]
        out += self.command_reports
        return out


class Alertmanager(_Process):
    """The real Alertmanager (Debian package), loopback only, no clustering."""

    name = "alertmanager"

    def __init__(self, workdir, webhook_url, port=None, group_wait="1s",
                 group_interval="2s", repeat_interval="1h", http_config=None):
        super().__init__(workdir)
        self.http_config = http_config  # the webhook's, e.g. credentials for herald
        self.port = port or free_port()
        self.webhook_url = webhook_url
        self.config_path = self.workdir / "alertmanager.yml"
        self.storage = self.workdir / "data"
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def config_text(self):
        # JSON is YAML: no quoting surprises.
        cfg = {
            "route": {
                "receiver": "herald",
                "group_by": ["alertname"],
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [{
                "name": "herald",
                "webhook_configs": [dict({"url": self.webhook_url, "send_resolved": True},
                                         **({"http_config": self.http_config}
                                            if self.http_config else {}))],
            }],
        }
        return json.dumps(cfg, indent=2) + "\n"

    def start(self, ready_timeout=15.0):
        if not os.access(ALERTMANAGER_BIN, os.X_OK):
            raise HarnessError("Alertmanager not found at %s (install prometheus-alertmanager)"
                               % ALERTMANAGER_BIN)
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        self.storage.mkdir(exist_ok=True)
        argv = [ALERTMANAGER_BIN,
                "--config.file=%s" % self.config_path,
                "--storage.path=%s" % self.storage,
                "--web.listen-address=127.0.0.1:%d" % self.port,
                "--web.external-url=%s" % self.base_url,
                "--cluster.listen-address=",  # no clustering: nothing binds beyond loopback
                "--log.level=debug"]
        self._spawn(argv, clean_env())
        self.wait_ready(self.base_url + "/-/ready", ready_timeout)
        return self

    def post_alerts(self, alerts):
        status, data = http("POST", self.base_url + "/api/v2/alerts", alerts)
        if status != 200:
            raise HarnessError("Alertmanager refused alerts: %s %r" % (status, data[:500]))

    def fire(self, labels, annotations=None, starts_at=None, generator_url=None):
        """Post one firing alert (startsAt = starts_at or now, endsAt now+1h).
        Returns the startsAt datetime."""
        starts = starts_at or now_seconds()
        alert = {"labels": labels, "annotations": annotations or {},
                 "startsAt": rfc3339(starts),
                 "endsAt": rfc3339(now_seconds() + datetime.timedelta(hours=1))}
        if generator_url:
            alert["generatorURL"] = generator_url
        self.post_alerts([alert])
        return starts

    def resolve(self, labels, annotations=None, starts_at=None):
        """Post the same alert with endsAt = now: resolved at the next flush."""
        alert = {"labels": labels, "annotations": annotations or {},
                 "endsAt": rfc3339(datetime.datetime.now(datetime.timezone.utc))}
        if starts_at is not None:
            alert["startsAt"] = rfc3339(starts_at)
        self.post_alerts([alert])

    def alerts(self):
        return http_json("GET", self.base_url + "/api/v2/alerts")[1]


# ----- additions for the HTTP / CLI / reload / delivery suites ----------
def http_full(method, url, body=None, headers=None, timeout=5.0):
    """(status, headers dict with lower-case keys, body bytes); like http().
    A body goes as application/json unless headers name a Content-Type
    (urllib would otherwise send a form's, which herald refuses)."""
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    if body is not None and not any(k.lower() == "content-type" for k in (headers or {})):
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _open(req, timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def http_chunked(port, path, chunks, headers=None, timeout=5.0, host="127.0.0.1"):
    """POST `chunks` (an iterable of bytes) with Transfer-Encoding: chunked.
    Returns (status, headers dict with lower-case keys, body bytes).  The
    server may answer before reading everything: a send error after the
    headers went out is tolerated and the answer is read."""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        try:
            for chunk in chunks:
                if chunk:
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def metrics(base_url, timeout=5.0):
    """GET /metrics parsed into {series: float}; a labelled series is keyed
    as written, e.g. 'herald_receiver_deliveries_total{receiver="ops"}'."""
    status, data = http("GET", base_url + "/metrics", timeout=timeout)
    if status != 200:
        raise HarnessError("/metrics answered %s" % status)
    out = {}
    for line in data.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        try:
            out[series] = float(value)
        except ValueError:
            pass
    return out


def wait_outbox_empty(herald, timeout=10.0):
    """Wait until herald's outbox holds nothing queued and nothing in
    flight: every notification it has accepted was delivered or given up,
    so nothing more is on its way (a dead letter goes again only when
    asked). Call it after herald answered the posts it is to settle: they
    are in the outbox by then."""
    def empty():
        m = metrics(herald.base_url)
        return m["herald_outbox_queued"] == 0 and m["herald_outbox_in_flight"] == 0
    wait_until(empty, timeout=timeout, message="herald's outbox empty")


def prometheus_alert(name, instance, status="firing", started_min_ago=1):
    """An alert as Prometheus posts it to /api/v2/alerts: critical, started
    started_min_ago minutes ago; resolved a second ago when status says so."""
    now = now_seconds()
    alert = {"labels": {"alertname": name, "instance": instance, "severity": "critical"},
             "annotations": {"summary": "%s on %s" % (name, instance)},
             "startsAt": rfc3339(now - datetime.timedelta(minutes=started_min_ago))}
    if status == "resolved":
        alert["endsAt"] = rfc3339(now - datetime.timedelta(seconds=1))
    return alert


def post_prometheus_alerts(herald, alerts):
    """POSTs alerts to herald's /api/v2/alerts as Prometheus does; its
    answer, which must be a 200."""
    status, data = http("POST", herald.base_url + "/api/v2/alerts", json.dumps(alerts).encode())
    assert status == 200, data
    return json.loads(data)


def read_json_lines(path):
    """The JSON objects of a JSON-lines file ([] when it does not exist)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def copy_templates(dest):
    """Copy the repo's templates/*.lua into `dest` (created); returns dest."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for src in (REPO / "templates").glob("*.lua"):
        (dest / src.name).write_bytes(src.read_bytes())
    return dest


def write_scripts(folder, route, templates):
    """A route script (text) and a templates folder ({name: text}) of a
    test's own under `folder`; returns (route path, templates folder)."""
    folder = Path(folder)
    route_path = folder / "route.lua"
    route_path.write_text(route, encoding="utf-8")
    templates_dir = folder / "templates"
    templates_dir.mkdir()
    for name, text in templates.items():
        (templates_dir / ("%s.lua" % name)).write_text(text, encoding="utf-8")
    return route_path, templates_dir


def am_payload(alerts, receiver="herald", status=None):
    """An Alertmanager webhook v4 body for `alerts` (each a dict with labels,
    optional annotations, status, startsAt, endsAt)."""
    now = now_seconds()
    out = []
    for i, a in enumerate(alerts):
        st = a.get("status", "firing")
        out.append({
            "status": st,
            "labels": a["labels"],
            "annotations": a.get("annotations", {}),
            "startsAt": a.get("startsAt", rfc3339(now)),
            "endsAt": a.get("endsAt", "0001-01-01T00:00:00Z" if st == "firing" else rfc3339(now)),
            "generatorURL": a.get("generatorURL", ""),
            "fingerprint": a.get("fingerprint", "%016x" % (0xabc0 + i)),
        })
    common = dict(out[0]["labels"]) if out else {}
    for a in out[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    if status is None:
        status = "firing" if any(a["status"] == "firing" for a in out) else "resolved"
    return {"receiver": receiver, "status": status, "alerts": out,
            "groupLabels": {}, "commonLabels": common, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093", "version": "4",
            "groupKey": "{}:{}", "truncatedAlerts": 0}


# ----- email and webhook channels ----------------------------------------
class CaptureProxy:
    """Sits between a sender (Alertmanager) and herald: records every
    request body byte for byte, passes it on unchanged to the same path on
    `target` (Content-Type and User-Agent kept) and answers with herald's
    status and body. Lets a test compare what herald forwards with what
    the sender really sent. 127.0.0.1 only."""

    def __init__(self, target):
        import http.server
        import threading
        self.target = target.rstrip("/")
        self._bodies = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if 0 <= length <= 16 * 1024 * 1024 else b""
                with proxy._lock:
                    proxy._bodies.append(body)
                headers = {k: self.headers[k] for k in ("Content-Type", "User-Agent")
                           if self.headers.get(k)}
                try:
                    status, _, data = http_full("POST", proxy.target + self.path, body,
                                                headers=headers, timeout=10.0)
                except OSError as e:
                    status, data = 502, ("proxy: %s" % e).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def bodies(self):
        """The request bodies received so far, oldest first."""
        with self._lock:
            return list(self._bodies)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# Short backoff (delivery.retry_initial / retry_max_delay) for tests of retries.
FAST_RETRIES = {"retry_initial": "100ms", "retry_max_delay": "200ms"}
_RETRY_RE = re.compile(r"attempt (\d+) failed \((.*)\); retrying in (\d+) ms")


def post_concurrently(count, post_one, threads=8, timeout=120.0):
    """post_one(i) for i in range(count), from `threads` threads taking
    the next index in turn; returns the answers in completion order.
    Fails if posting is not over within `timeout`."""
    import threading
    lock = threading.Lock()
    next_index = [0]
    answers = []

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= count:
                    return
                next_index[0] += 1
            answer = post_one(i)
            with lock:
                answers.append(answer)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=timeout)
    if any(t.is_alive() for t in workers):
        raise HarnessError("posting %d requests did not finish within %.0f s" % (count, timeout))
    return answers


def retries(herald):
    """The retries herald has logged: [(attempt, reason, delay in ms)]."""
    return [(int(a), reason, int(ms)) for a, reason, ms in _RETRY_RE.findall(herald.log())]


def dead_letters(herald):
    """The herald log lines that report a dead letter."""
    return [ln for ln in herald.log().splitlines() if "dead letter" in ln]


# ----- reliability helpers (tests/e2e/test_reliability.py) ---------------
def kill9(herald, timeout=10.0):
    """SIGKILL herald (a crash: nothing is flushed) and reap it.  The Herald
    object can be start()ed again on the same config and data_dir."""
    if herald.proc is None:
        return None
    if herald.proc.poll() is None:
        herald.proc.send_signal(signal.SIGKILL)
    herald.proc.wait(timeout=timeout)
    rc = herald.proc.returncode
    try:
        herald._logf.close()
    except Exception:
        pass
    return rc


def herald_cli(herald, *args, timeout=30.0):
    """`herald ARGS... -c <herald's config>` (queue, history, ...):
    (returncode, stdout text, stderr text)."""
    res = herald.command(*(list(args) + ["-c", str(herald.config_path)]), timeout=timeout)
    return (res.returncode, res.stdout.decode("utf-8", "replace"),
            res.stderr.decode("utf-8", "replace"))


def api_get(herald, path, timeout=5.0):
    """GET /api/v1/<path> on herald: (status, parsed JSON body or None)."""
    return http_json("GET", herald.base_url + "/api/v1/" + path.lstrip("/"), timeout=timeout)


def message_text(msg):
    """The text a DingTalk message shows (title + text, or content)."""
    t = msg.get("msgtype")
    body = msg.get(t) if isinstance(t, str) else None
    if not isinstance(body, dict):
        return ""
    return "\n".join(v for v in (body.get("title"), body.get("text"), body.get("content"))
                     if isinstance(v, str))
# ----- end of reliability helpers ----------------------------------------


# ----- PostgreSQL (tests/e2e/test_postgresql.py) -------------------------
def _postgres_bin_dir():
    """The newest /usr/lib/postgresql/<major>/bin holding initdb and pg_ctl."""
    found = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            try:
                found.append((int(d.parent.name), d))
            except ValueError:
                continue
    if not found:
        raise HarnessError("PostgreSQL server binaries (initdb, pg_ctl) not found under "
                           "/usr/lib/postgresql/*/bin: install the Debian package postgresql "
                           "(bash conf/install-deps.sh --test)")
    return max(found)[1]


class Postgres:
    """A PostgreSQL server of the tests' own: initdb into a temporary
    folder, pg_ctl on 127.0.0.1 with a free port and its unix socket in that
    folder. The server refuses to run as root, so as root (here and in CI)
    it runs as `nobody`, which owns the folder. The superuser `herald` logs
    in over TCP with PASSWORD (scram-sha-256); local socket logins (the
    harness's psql) are trusted."""

    PASSWORD = "pg-e2e-Secr3t-pass"
    USER = "herald"

    def __init__(self):
        self.bin = _postgres_bin_dir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="herald-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.started = False
        self._as_user = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if not runuser:
                raise HarnessError("running as root and runuser (util-linux) is missing: "
                                   "PostgreSQL refuses to run as root")
            self._as_user = [runuser, "-u", "nobody", "--"]
            os.chown(self.dir, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
        os.chmod(self.dir, 0o700)

    def _run(self, argv, timeout=60.0, check=True):
        res = subprocess.run(self._as_user + [str(a) for a in argv], capture_output=True,
                             timeout=timeout, cwd=str(self.dir), env=clean_env({"LC_ALL": "C"}))
        if check and res.returncode != 0:
            raise HarnessError("%s failed (%s):\n%s%s\n%s" % (
                Path(str(argv[0])).name, res.returncode, res.stdout.decode(errors="replace"),
                res.stderr.decode(errors="replace"), _tail(self.log_path, 3000)))
        return res

    def start(self):
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.PASSWORD + "\n")
        if self._as_user:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        self._run([self.bin / "initdb", "-D", self.data, "-U", self.USER, "--pwfile", pwfile,
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                   "--locale=C.UTF-8"])
        pwfile.unlink()
        return self.start_server()

    def start_server(self):
        """(Again) on the same port and data."""
        options = ("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s "
                   "-c fsync=off -c max_connections=200" % (self.port, self.dir))
        # -w: returns once the server accepts connections
        self._run([self.bin / "pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", "60",
                   "-o", options, "start"])
        self.started = True
        return self

    def stop_server(self):
        """Stops the server (its clients' connections end), keeping the data."""
        if self.started:
            self._run([self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60",
                       "stop"], check=False)
            self.started = False

    def stop(self):
        self.stop_server()
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, dbname="postgres"):
        """Runs sql over the unix socket as the superuser; the rows as
        text, one a line, columns separated by |."""
        res = self._run([self.bin / "psql", "-h", self.dir, "-p", self.port, "-U", self.USER,
                         "-d", dbname, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        return res.stdout.decode("utf-8", "replace").strip()

    def create_database(self, name):
        self.psql('CREATE DATABASE "%s"' % name)
        return name

    def dsn(self, dbname, password=None):
        """A libpq keyword DSN to dbname over TCP on 127.0.0.1."""
        return "host=127.0.0.1 port=%d user=%s password=%s dbname=%s sslmode=disable" % (
            self.port, self.USER, password or self.PASSWORD, dbname)

    def uri(self, dbname, password=None):
        """The same as a postgresql:// URI."""
        return "postgresql://%s:%s@127.0.0.1:%d/%s?sslmode=disable" % (
            self.USER, password or self.PASSWORD, self.port, dbname)
