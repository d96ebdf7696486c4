"""The plugin SDK used the way someone outside herald's tree uses it
(plugins/README.md, "Build and test it"; plugins/example/).

Once per module: `meson install --destdir` the build under test into a
temporary root, copy plugins/example/ (example.c, its unit test and its
Makefile, nothing else) out of the tree and `make` it against the
*installed* SDK: pkg-config finds herald-plugin.pc through PKG_CONFIG_PATH
and --define-variable moves its prefix into the temporary root. Then `make
install` puts example.so into the installed plugin directory, beside the
plugins herald installed, and the tests run the real herald on that
directory against a small text receiver (stdlib http.server) on 127.0.0.1.
`make check` builds and runs the example's unit test against the installed
test kit (herald/plugin_test.h, libherald-plugin-test.a), which checks the
exact bytes its prepare() produces.

Last, the same example built against an SDK whose ABI major is 2 must be
refused by `herald check`.
"""

import os
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import harness

REPO = harness.REPO
EXAMPLE_SRC = REPO / "plugins" / "example"
EXAMPLE_FILES = ("example.c", "test_example.c", "Makefile")
FIXTURE = REPO / "tests" / "fixtures" / "am-firing-1.json"
# One pytest-xdist worker runs this file and test_install.py / test_sdk.py
# one after the other (tests/README.md): the module fixtures install once,
# and two `meson install`s of one build tree never run at once.
pytestmark = pytest.mark.xdist_group("meson_install")
FAST = {"retry_initial": "100ms", "retry_max_delay": "200ms"}
# Test-only values. The token stands for the secret part of a real URL.
TOKEN = "tok3nSDKe2e0123456789abcdef"
MOBILE = "13800000000"
MAX_BODY = 4096
MARKER = "\n\n[... truncated]"


def run(argv, env=None, cwd=None, timeout=60):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(cwd) if cwd else None,
                          stdin=subprocess.DEVNULL)


def explain(r):
    return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (r.returncode, r.stdout[-4000:],
                                                        r.stderr[-4000:])


def sdk_env(pc_dir):
    """The environment of a plugin author's shell: only our .pc on the
    pkg-config path, and no build flags inherited from whoever runs us."""
    env = harness.clean_env({"PKG_CONFIG_PATH": str(pc_dir)})
    for name in ("PKG_CONFIG_SYSROOT_DIR", "CFLAGS", "CPPFLAGS", "LDFLAGS", "O", "DESTDIR",
                 "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


def make(src, pkg_config, env, *args):
    return run(["make", "-C", src, "PKG_CONFIG=" + pkg_config] + list(args), env=env)


def abi_minor(sdk):
    header = (sdk.prefix / "include" / "herald" / "plugin.h").read_text(encoding="utf-8")
    return int(re.search(r"^#define HERALD_ABI_MINOR (\d+)", header, re.M).group(1))


def no_sanitizer_report(text):
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in text, "sanitizer report in herald output:\n" + text[-4000:]


class Sdk:
    """What the module fixture installed and built."""

    def __init__(self, root, prefix, pc_dir, pkg_config, plugindir, src, build_log):
        self.root = root              # temporary root of everything below
        self.prefix = prefix          # <root>/dest/usr/local, the installed prefix
        self.pc_dir = pc_dir          # where herald-plugin.pc was installed
        self.pkg_config = pkg_config  # "pkg-config --define-variable=prefix=<prefix>"
        self.plugindir = plugindir    # installed plugin dir (with example.so)
        self.src = src                # the out-of-tree copy of plugins/example
        self.build_log = build_log    # make's stdout: the command lines
        self.so = src / "example.so"


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdk")
    dest = root / "dest"
    r = run(["meson", "install", "-C", harness.build_dir(), "--destdir", dest, "--quiet",
             "--no-rebuild"], env=harness.clean_env(), timeout=120)
    assert r.returncode == 0, "meson install failed: " + explain(r)

    pcs = sorted(dest.glob("**/pkgconfig/herald-plugin.pc"))
    assert len(pcs) == 1, "herald-plugin.pc not installed exactly once: %s" % pcs
    pc = pcs[0]
    declared = re.search(r"^prefix=(.*)$", pc.read_text(encoding="utf-8"), re.M)
    assert declared, "no prefix= line in %s" % pc
    prefix = dest / declared.group(1).strip().lstrip("/")
    # --define-variable rather than --define-prefix: the latter derives the
    # prefix from the .pc's location and gets multiarch libdirs
    # (lib/x86_64-linux-gnu/pkgconfig) wrong.
    pkg_config = "pkg-config --define-variable=prefix=%s" % prefix
    env = sdk_env(pc.parent)

    r = run(pkg_config.split() + ["--variable=plugindir", "herald-plugin"], env=env)
    assert r.returncode == 0, explain(r)
    plugindir = Path(r.stdout.strip())
    assert plugindir.is_relative_to(prefix), plugindir

    # What a plugin author starts from: the example's files, away from our tree.
    src = root / "example"
    src.mkdir()
    for name in EXAMPLE_FILES:
        shutil.copy2(EXAMPLE_SRC / name, src / name)
    r = make(src, pkg_config, env)
    assert r.returncode == 0, "make failed: " + explain(r)
    r_install = make(src, pkg_config, env, "install")
    assert r_install.returncode == 0, "make install failed: " + explain(r_install)
    return Sdk(root, prefix, pc.parent, pkg_config, plugindir, src, r.stdout)


# ----- the SDK build -------------------------------------------------------------
def test_example_builds_against_installed_sdk(sdk):
    compile_lines = [l for l in sdk.build_log.splitlines() if "example.c" in l]
    assert len(compile_lines) == 1, sdk.build_log
    line = compile_lines[0]
    assert "-I%s" % (sdk.prefix / "include") in line.split(), line
    assert str(REPO) not in line, "the build reached into the source tree: " + line
    for flag in ("-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fPIC",
                 "-fvisibility=hidden", "-shared"):
        assert flag in line.split(), (flag, line)
    installed = sdk.prefix / "include" / "herald" / "plugin.h"
    assert installed.read_bytes() == (REPO / "core" / "include" / "herald" /
                                      "plugin.h").read_bytes()
    assert sdk.so.is_file()
    assert (sdk.plugindir / "example.so").read_bytes() == sdk.so.read_bytes()


def test_example_exports_only_the_entry(sdk):
    r = run(["nm", "-D", "--defined-only", sdk.so])
    assert r.returncode == 0, explain(r)
    assert [l.split()[-1] for l in r.stdout.splitlines() if l.strip()] == \
        ["herald_plugin_entry"], r.stdout


def test_make_install_respects_destdir_and_clean(sdk, tmp_path):
    env = sdk_env(sdk.pc_dir)
    stage = tmp_path / "stage"
    r = make(sdk.src, sdk.pkg_config, env, "install", "DESTDIR=%s" % stage)
    assert r.returncode == 0, explain(r)
    staged = stage / str(sdk.plugindir / "example.so").lstrip("/")
    assert staged.read_bytes() == sdk.so.read_bytes()

    out = tmp_path / "out"
    out.mkdir()
    r = make(sdk.src, sdk.pkg_config, env, "O=%s" % out)
    assert r.returncode == 0 and (out / "example.so").is_file(), explain(r)
    r = make(sdk.src, sdk.pkg_config, env, "clean", "O=%s" % out)
    assert r.returncode == 0 and not (out / "example.so").exists(), explain(r)

    # Without the SDK the Makefile says so instead of failing in the compiler.
    r = run(["make", "-C", sdk.src, "O=%s" % out], env=sdk_env(tmp_path / "nowhere"))
    assert r.returncode != 0 and "herald-plugin not found" in r.stderr, explain(r)


def test_make_builds_any_single_file_plugin_by_name(sdk, tmp_path):
    """`make NAME=gotify`: the same Makefile builds, tests and installs an
    author's own gotify.c (here the example renamed), and herald loads it."""
    src = tmp_path / "gotify"
    src.mkdir()
    shutil.copy2(EXAMPLE_SRC / "Makefile", src / "Makefile")
    code = (EXAMPLE_SRC / "example.c").read_text(encoding="utf-8")
    code = code.replace('.name = "example_text"', '.name = "gotify"')
    code = code.replace('.name = "example"', '.name = "gotify_plugin"')
    (src / "gotify.c").write_text(code, encoding="utf-8")
    shutil.copy2(EXAMPLE_SRC / "test_example.c", src / "test_gotify.c")
    env = sdk_env(sdk.pc_dir)
    stage = tmp_path / "stage"
    r = make(src, sdk.pkg_config, env, "NAME=gotify", "install", "DESTDIR=%s" % stage)
    assert r.returncode == 0, explain(r)
    assert (src / "gotify.so").is_file() and not (src / "example.so").exists(), explain(r)
    staged = stage / str(sdk.plugindir / "gotify.so").lstrip("/")
    assert staged.read_bytes() == (src / "gotify.so").read_bytes()
    r = make(src, sdk.pkg_config, env, "NAME=gotify", "check")
    assert r.returncode == 0 and "test_gotify.c" in r.stdout, explain(r)

    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    shutil.copy2(src / "gotify.so", plugin_dir / "gotify.so")
    config = tmp_path / "herald.lua"
    config.write_text(harness.herald_config(harness.free_port(), {
        "push": {"channel": "gotify", "url": "http://127.0.0.1:9/message"}},
        "push", {"plugin_dir": str(plugin_dir)}), encoding="utf-8")
    r = run([harness.herald_binary(), "plugins", "-c", config], env=harness.clean_env(),
            cwd=tmp_path, timeout=30)
    assert r.returncode == 0, explain(r)
    assert "channel gotify: plain text POSTed to a URL" in r.stdout, r.stdout

    # A name with no source says which file is missing.
    r = make(src, sdk.pkg_config, env, "NAME=nosuch")
    assert r.returncode != 0 and "nosuch.c not found" in r.stderr, explain(r)


def test_example_unit_test_against_installed_kit(sdk, tmp_path):
    """`make check`: the example's own unit test, linked with the installed
    test kit only, checks the exact request bytes and the verdicts."""
    out = tmp_path / "out"
    out.mkdir()
    r = make(sdk.src, sdk.pkg_config, sdk_env(sdk.pc_dir), "check", "O=%s" % out)
    assert r.returncode == 0, "make check failed: " + explain(r)
    commands = r.stdout.replace("\\\n", " ")  # the recipe's continued lines, joined
    [line] = [l for l in commands.splitlines() if "test_example.c" in l]
    assert "-I%s" % (sdk.prefix / "include") in line.split(), line
    assert "-lherald-plugin-test" in line.split(), line
    assert str(REPO) not in line, "the test build reached into the source tree: " + line
    results = [l for l in r.stdout.splitlines() if l.startswith(("ok ", "FAIL "))]
    assert results == ["ok exact_request", "ok long_text_is_cut_to_the_limit", "ok verdicts"], \
        r.stdout


def test_test_kit_exports_only_its_own_names(sdk):
    """herald's internal names (sb_*, log_*, x*alloc...) stay inside the kit,
    so they cannot clash with a plugin author's."""
    [kit] = sorted(sdk.prefix.glob("lib/**/libherald-plugin-test.a"))
    r = run(["nm", "--defined-only", "--extern-only", kit])
    assert r.returncode == 0, explain(r)
    names = sorted(l.split()[-1] for l in r.stdout.splitlines() if len(l.split()) == 3)
    assert names and all(n.startswith("herald_test_") for n in names), names
    assert (sdk.prefix / "include" / "herald" / "plugin_test.h").read_bytes() == (
        REPO / "core" / "include" / "herald" / "plugin_test.h").read_bytes()


# ----- a text receiver ----------------------------------------------------------
class TextReceiver:
    """Records every POST; answers 200 "ok" unless answers were queued."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # dicts: path, headers (lower-case keys), body bytes, time
        self.answers = []   # (status, body bytes, headers) for the next requests
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append({
                        "path": self.path, "body": body, "time": time.monotonic(),
                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                    status, data, headers = (receiver.answers.pop(0) if receiver.answers
                                             else (200, b"ok", {}))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return "http://127.0.0.1:%d/notify/%s" % (self.server.server_address[1], TOKEN)

    def answer_next(self, status, body=b"", headers=None):
        with self.lock:
            self.answers.append((status, body, dict(headers or {})))

    def received(self):
        with self.lock:
            return list(self.requests)

    def wait_for(self, count, timeout=10.0):
        return harness.wait_until(lambda: len(self.received()) >= count and self.received(),
                                  timeout=timeout,
                                  message="%d request(s) at the text receiver" % count)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def text_receiver():
    r = TextReceiver()
    yield r
    r.stop()


def receiver_spec(text_receiver):
    return {"channel": "example_text", "url": text_receiver.url(), "prefix": "[herald] ",
            "mentions": {"mobiles": [MOBILE]}}


def start(herald_factory, sdk, text_receiver, **kw):
    return herald_factory({"text": receiver_spec(text_receiver)}, default_receiver="text",
                          extra={"plugin_dir": str(sdk.plugindir), "delivery": FAST}, **kw)


def post(h, payload):
    status, data = harness.http("POST", h.base_url + "/webhook/text", payload,
                                headers={"Content-Type": "application/json"})
    assert status == 200, (status, data)


def delivered(h, count=1):
    harness.wait_until(lambda: harness.metrics(h.base_url).get(
        "herald_deliveries_total") == count, timeout=30, message="%d deliveries" % count)


# ----- herald with the out-of-tree plugin ----------------------------------------
def test_herald_lists_and_checks_example(sdk, text_receiver, herald_factory):
    h = start(herald_factory, sdk, text_receiver, start=False)
    r = h.command("plugins", "-c", h.config_path)
    stdout, stderr = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, (stdout, stderr)
    assert re.search(r"^example 0\.1\.0 \(ABI 1\.%d\) %s$" % (abi_minor(sdk), re.escape(
        str(sdk.plugindir / "example.so"))), stdout, re.M), stdout
    assert "channel example_text: plain text POSTed to a URL" in stdout, stdout
    assert "formats: text markdown; max body 4096 bytes" in stdout, stdout
    assert re.search(r"option url\s+string\s+required, secret$", stdout, re.M), stdout
    assert re.search(r"option prefix\s+string\s+optional$", stdout, re.M), stdout
    for channel in ("console", "dingtalk"):  # the installed plugins load beside it
        assert "channel %s:" % channel in stdout, stdout

    r = h.command("check", "-c", h.config_path)  # renders samples through prepare()
    assert r.returncode == 0, (r.stdout.decode(), r.stderr.decode())
    for text in (stdout, r.stdout.decode(), r.stderr.decode()):
        assert TOKEN not in text
        no_sanitizer_report(text)


def test_delivers_plain_text(sdk, text_receiver, herald_factory):
    h = start(herald_factory, sdk, text_receiver)
    post(h, FIXTURE.read_bytes())
    [req] = text_receiver.wait_for(1)
    assert req["path"] == "/notify/" + TOKEN
    assert req["headers"]["content-type"] == "text/plain; charset=utf-8"
    body = req["body"].decode("utf-8")
    assert body.startswith("[herald] [FIRING:1] InstanceDown\n\n"), body
    assert "FIRING InstanceDown" in body and "10.0.0.11:9100" in body, body
    assert body.endswith("\n\n@" + MOBILE), body
    delivered(h)
    assert harness.metrics(h.base_url)["herald_delivery_retries_total"] == 0
    assert len(text_receiver.received()) == 1
    assert TOKEN not in h.log(), "the secret URL reached herald's log"


def test_503_is_retried_after_retry_after(sdk, text_receiver, herald_factory):
    h = start(herald_factory, sdk, text_receiver)
    text_receiver.answer_next(503, b"busy, come back later", {"Retry-After": "1"})
    post(h, FIXTURE.read_bytes())
    first, second = text_receiver.wait_for(2, timeout=10)
    assert first["body"] == second["body"]
    delivered(h)
    log = h.log()
    m = re.search(r"attempt 1 failed \((.*)\); retrying in (\d+) ms", log)
    assert m, log
    assert m.group(1) == "HTTP 503: busy, come back later", m.group(0)
    assert int(m.group(2)) == 1000, m.group(0)  # Retry-After wins over the 100 ms backoff
    assert second["time"] - first["time"] >= 0.9
    metrics = harness.metrics(h.base_url)
    assert metrics["herald_delivery_retries_total"] == 1, metrics
    assert metrics["herald_dead_letters_total"] == 0, metrics
    assert TOKEN not in log


def test_400_is_a_dead_letter(sdk, text_receiver, herald_factory):
    h = start(herald_factory, sdk, text_receiver)
    text_receiver.answer_next(400, b"unknown topic\nsee the docs")
    post(h, FIXTURE.read_bytes())
    text_receiver.wait_for(1)
    harness.wait_until(lambda: harness.metrics(h.base_url).get(
        "herald_dead_letters_total") == 1, timeout=30, message="a dead letter")
    assert "HTTP 400: unknown topic see the docs" in h.log(), h.log_tail()
    assert harness.metrics(h.base_url)["herald_delivery_retries_total"] == 0  # not retried
    assert len(text_receiver.received()) == 1


def test_long_text_is_cut_to_the_limit(sdk, text_receiver, herald_factory):
    h = start(herald_factory, sdk, text_receiver)
    payload = harness.am_payload([{
        "labels": {"alertname": "LogFlood", "instance": "app:9100"},
        "annotations": {"summary": "告警" * 3000}}])  # 18000 bytes of 3-byte characters
    post(h, payload)
    [req] = text_receiver.wait_for(1)
    assert len(req["body"]) <= MAX_BODY
    body = req["body"].decode("utf-8")  # strict: no character was split
    assert body.startswith("[herald] [FIRING:1] LogFlood\n\n"), body[:200]
    assert body.endswith(MARKER + "\n\n@" + MOBILE), body[-200:]
    assert len(req["body"]) > MAX_BODY - 40, len(req["body"])  # cut, but not more than needed
    delivered(h)


# ----- ABI --------------------------------------------------------------------
def test_plugin_of_another_abi_major_is_refused(sdk, tmp_path):
    """The example built against a (pretend) SDK 2.0: the same installed
    header with HERALD_ABI_MAJOR 2, under another prefix."""
    prefix2 = tmp_path / "sdk2"
    header = (sdk.prefix / "include" / "herald" / "plugin.h").read_text(encoding="utf-8")
    header2, n = re.subn(r"^#define HERALD_ABI_MAJOR 1$", "#define HERALD_ABI_MAJOR 2", header,
                         flags=re.M)
    assert n == 1, "no '#define HERALD_ABI_MAJOR 1' line in the installed header"
    (prefix2 / "include" / "herald").mkdir(parents=True)
    (prefix2 / "include" / "herald" / "plugin.h").write_text(header2, encoding="utf-8")
    src = tmp_path / "example"
    src.mkdir()
    for name in EXAMPLE_FILES:
        shutil.copy2(EXAMPLE_SRC / name, src / name)
    r = make(src, "pkg-config --define-variable=prefix=%s" % prefix2, sdk_env(sdk.pc_dir))
    assert r.returncode == 0, explain(r)
    assert "-I%s" % (prefix2 / "include") in r.stdout.split(), r.stdout

    plugin_dir = tmp_path / "plugins"
    shutil.copytree(sdk.plugindir, plugin_dir)
    wrong = plugin_dir / "example.so"
    shutil.copy2(src / "example.so", wrong)
    config = tmp_path / "herald.lua"
    config.write_text(harness.herald_config(harness.free_port(), {
        "console": {"channel": "console", "path": str(tmp_path / "console.jsonl")}},
        "console", {"plugin_dir": str(plugin_dir)}), encoding="utf-8")
    r = run([harness.herald_binary(), "check", "-c", config], env=harness.clean_env(),
            cwd=tmp_path, timeout=30)
    assert r.returncode == 1, explain(r)
    assert str(wrong) in r.stderr, r.stderr
    minor = abi_minor(sdk)
    assert re.search(r"built for plugin ABI 2\.%d, this herald speaks 1\.%d" % (minor, minor),
                     r.stderr), r.stderr
    no_sanitizer_report(r.stdout + r.stderr)

    os.remove(wrong)  # and without it the same configuration is fine
    r = run([harness.herald_binary(), "check", "-c", config], env=harness.clean_env(),
            cwd=tmp_path, timeout=30)
    assert r.returncode == 0, explain(r)
