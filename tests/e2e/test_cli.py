"""herald's command line (README.md, "Command line"): help and usage errors,
check, render, route, plugins, and serve's --listen and bind failure.
Exit codes: 0 ok, 1 invalid input or configuration, 2 usage."""

import json
import re
import signal
import socket
import subprocess
import time

import pytest

import harness
from harness import DT_SECRET

REPO = harness.REPO
BUNDLED = REPO / "conf" / "herald.lua"
FIRING5 = REPO / "tests" / "fixtures" / "am-firing-5.json"
# test-only values; they must never show up in herald's output
ACCESS_TOKEN = "tok3nAccessE2Ezzzz0123456789"
MOBILE = "13800000000"


def run(*args, env=None, cwd=None, timeout=30):
    return subprocess.run([str(harness.herald_binary())] + [str(a) for a in args],
                          capture_output=True, timeout=timeout, cwd=str(cwd or REPO),
                          env=harness.clean_env(env), stdin=subprocess.DEVNULL)


def out(r):
    return r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def write_config(path, receivers, default_receiver="console", extra=None, port=None):
    path.write_text(harness.herald_config(port or harness.free_port(), receivers,
                                          default_receiver, extra), encoding="utf-8")
    return path


def no_sanitizer_report(text):
    for m in harness.SANITIZER_MARKERS:
        assert m not in text, "sanitizer report in herald output:\n" + text[-4000:]


# ----- help and usage -----------------------------------------------------------
@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["check", "--help"],
                                  ["render", "--help"], ["route", "--help"],
                                  ["plugins", "--help"], ["send-test", "--help"]],
                         ids=lambda a: " ".join(a))
def test_help(argv):
    r = run(*argv)
    stdout, stderr = out(r)
    assert r.returncode == 0, (r.returncode, stdout, stderr)
    assert "usage: herald" in stdout, stdout + stderr
    if len(argv) == 2:
        assert "usage: herald %s" % argv[0] in stdout, stdout
        assert "-c, --config" in stdout


@pytest.mark.parametrize("argv,needle", [
    ([], "command"),
    (["frobnicate"], "frobnicate"),
    (["check", "--no-such-option"], "--no-such-option"),
    (["render", "-c", str(BUNDLED), "--receiver", "console"], "--payload"),
    (["route", "-c", str(BUNDLED)], "--payload"),
    (["history", "top", "--by", "no-pe", "-c", str(BUNDLED)],
     '--by: expected a label name (letters, digits and _, not starting with a digit) or '
     'receiver, got "no-pe"'),
    (["history", "-o", "yaml", "-c", str(BUNDLED)],
     '--output: expected table or json, got "yaml"'),
    (["queue", "list", "--output", "xml", "-c", str(BUNDLED)],
     '--output: expected table or json, got "xml"'),
    (["queue", "retry", "1", "-o", "json", "-c", str(BUNDLED)],
     "--output is only for queue list, queue show, history, alerts, replicas, silence add and "
     "silence list"),
    (["alerts", "--since", "1h", "-c", str(BUNDLED)],
     "alerts takes --filter, --receiver, --status, --limit and -o"),
    (["history", "--filter", "a=b", "-c", str(BUNDLED)], "--filter is only for alerts"),
    (["alerts", "--status", "gone", "-c", str(BUNDLED)], "--status: expected firing or resolved"),
], ids=["no-command", "unknown-command", "unknown-option", "render-no-payload",
        "route-no-payload", "history-top-bad-by", "history-bad-output", "queue-bad-output",
        "retry-has-no-output", "alerts-no-since", "filter-only-alerts", "alerts-bad-status"])
def test_usage_errors_exit_2(argv, needle):
    r = run(*argv)
    stdout, stderr = out(r)
    assert r.returncode == 2, (r.returncode, stdout, stderr)
    assert needle in stderr, stderr
    assert "usage:" in stderr, stderr


def test_queue_before_the_first_serve_says_so(tmp_path):
    cfg = write_config(tmp_path / "fresh.lua", {"console": {"channel": "console"}})
    r = run("queue", "list", "-c", cfg)
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert "no store yet: herald serve has not run with this data_dir" in stderr, stderr


# ----- queue and history: tables, -o json, the API's times -------------------------
def served_with_history(herald_factory, mock_dingtalk):
    """A herald (timezone Asia/Shanghai) whose store holds one delivered
    notification (HistA to ops), one dead letter (DeadA: wrong secret) and
    one pending retry (WaitA: its webhook refuses connections, next try in
    an hour), all settled: (herald, {alertname: history row})."""
    closed = harness.free_port()  # nothing listens there
    receivers = {
        "ops": {"channel": "dingtalk", "url": mock_dingtalk.url(harness.T1),
                "secret": harness.lua_env("DT_SECRET")},
        "bad": {"channel": "dingtalk", "url": mock_dingtalk.url(harness.T1),
                "secret": "SECwrongwrongwrongwrongwrong0000"},
        "down": {"channel": "webhook", "url": "http://127.0.0.1:%d/hook" % closed},
    }
    h = herald_factory(receivers, default_receiver="ops", env={"DT_SECRET": DT_SECRET},
                       extra={"timezone": "Asia/Shanghai",
                              "delivery": {"retry_initial": "1h", "retry_max_delay": "2h"}})
    for name, receiver in (("HistA", "ops"), ("DeadA", "bad"), ("WaitA", "down")):
        alert = {"labels": {"alertname": name, "instance": name.lower() + "-host",
                            "severity": "warning"},
                 "annotations": {"summary": name + " is broken"}}
        status, data = harness.http("POST", h.base_url + "/webhook/" + receiver,
                                    harness.am_payload([alert]))
        assert status == 200, (status, data)

    def settled():
        rows = {r["alertname"]: r for r in harness.api_get(h, "history")[1]}
        queue = harness.api_get(h, "queue")[1]
        return (len(rows) == 3 and rows["HistA"]["result"] == "delivered"
                and rows["DeadA"]["result"] == "dead"
                and len(queue) == 1 and queue[0]["attempts"] == 1 and rows)
    return h, harness.wait_until(settled, timeout=20,
                                 message="delivered, dead-lettered and retrying, on disk")


def shanghai_time(api_time):
    """An API time as the tables show it in Asia/Shanghai."""
    ms = harness.api_time_ms(api_time)
    return harness.shanghai(harness.datetime.datetime.fromtimestamp(
        ms // 1000, harness.datetime.timezone.utc)) + " +08:00"


def cli_ok(h, *argv):
    rc, stdout, stderr = harness.herald_cli(h, *argv)
    assert rc == 0, (argv, rc, stdout, stderr)
    no_sanitizer_report(stderr)
    return stdout


def header_and_rows(stdout):
    """The table's header cells and its rows (lines)."""
    lines = stdout.rstrip("\n").split("\n")
    return re.split(r"\s{2,}", lines[0].strip()), lines[1:]


def test_queue_and_history_print_tables_in_the_configured_zone(herald_factory, mock_dingtalk):
    h, rows = served_with_history(herald_factory, mock_dingtalk)

    header, lines = header_and_rows(cli_ok(h, "history"))
    assert header == ["TIME", "STATUS", "ALERTNAME", "INSTANCE", "SEVERITY", "RECEIVER",
                      "LASTED", "RESULT"], header
    [hist_a] = [ln for ln in lines if " HistA " in ln]
    assert hist_a.startswith(shanghai_time(rows["HistA"]["created_at"])), (hist_a, rows)
    assert re.search(r"\+08:00  firing  HistA +hista-host +warning +ops +\d+s  delivered$",
                     hist_a), hist_a
    [dead_a] = [ln for ln in lines if " DeadA " in ln]
    assert dead_a.endswith("  dead"), dead_a

    header, lines = header_and_rows(cli_ok(h, "history", "top", "--by", "alertname",
                                           "--since", "7d"))
    assert header == ["ALERTNAME", "COUNT"], header
    assert sorted(re.split(r"\s+", ln.strip()) for ln in lines) == \
        [["DeadA", "1"], ["HistA", "1"], ["WaitA", "1"]], lines

    [pending] = harness.api_get(h, "queue")[1]
    header, lines = header_and_rows(cli_ok(h, "queue", "list"))
    assert header == ["ID", "CREATED", "RECEIVER", "STATUS", "ALERTS", "ATTEMPTS",
                      "NEXT ATTEMPT", "TITLE", "LAST ERROR"], header
    [line] = lines
    # the backoff is jittered to between half and all of retry_initial
    assert re.match(r"\s*%d  %s  down  +firing  +1  +1  in (1h|[345]\dm(\d+s)?)  " % (
        pending["id"], re.escape(shanghai_time(pending["created_at"]))), line), line

    [dead] = harness.api_get(h, "deadletters")[1]
    header, lines = header_and_rows(cli_ok(h, "queue", "list", "--dead"))
    assert header[6:] == ["GAVE UP", "TITLE", "REASON"], header
    [line] = lines
    assert shanghai_time(dead["finished_at"]) in line and "sign not match" in line, line

    shown = cli_ok(h, "queue", "show", str(dead["id"]))
    fields = dict(re.match(r"([a-z ]+):\s+(.*)$", ln).groups()
                  for ln in shown.split("\ntext:\n")[0].splitlines())
    assert fields["id"] == str(dead["id"]) and fields["receiver"] == "bad", shown
    assert fields["state"] == "dead" and fields["attempts"] == "1", shown
    assert fields["created"].startswith(shanghai_time(dead["created_at"]) + " ("), shown
    assert fields["finished"] == shanghai_time(dead["finished_at"]), shown
    assert "sign not match" in fields["last error"], shown
    header, lines = header_and_rows(shown[shown.index("FINGERPRINT"):])
    assert header == ["FINGERPRINT", "ALERTNAME", "STATUS", "LABELS"], shown
    [line] = lines
    assert "DeadA" in line and 'instance="deada-host"' in line, line


def test_json_output_is_the_api_answer(herald_factory, mock_dingtalk):
    h, _ = served_with_history(herald_factory, mock_dingtalk)
    [dead] = harness.api_get(h, "deadletters")[1]
    for argv, path in (
            (["history", "-o", "json"], "history"),
            (["history", "--alertname", "HistA", "--output", "json"], "history?alertname=HistA"),
            (["history", "top", "--by", "alertname", "--since", "7d", "--limit", "10",
              "-o", "json"], "history/top?by=alertname&since=7d&limit=10"),
            (["queue", "list", "-o", "json"], "queue"),
            (["queue", "list", "--dead", "-o", "json"], "deadletters"),
            (["queue", "show", str(dead["id"]), "-o", "json"], "queue/%d" % dead["id"])):
        status, answer = harness.api_get(h, path)
        assert status == 200, (path, answer)
        assert json.loads(cli_ok(h, *argv)) == answer, (argv, path)
    # -o table is the default, asked for
    assert cli_ok(h, "history", "-o", "table") == cli_ok(h, "history")


def test_every_api_time_is_rfc3339_utc(herald_factory, mock_dingtalk):
    """One format for every time of every /api/v1 answer: RFC 3339 in UTC
    with milliseconds. No epoch number is left anywhere."""
    h, _ = served_with_history(herald_factory, mock_dingtalk)
    [dead] = harness.api_get(h, "deadletters")[1]
    seen = []

    def walk(value, where):
        if isinstance(value, dict):
            for key, v in value.items():
                timelike = re.search(r"(_at|At|_ms|time)$", key, re.IGNORECASE)
                if timelike:
                    seen.append(key)
                    assert not key.endswith("_ms"), where + key
                    assert v is None or harness.API_TIME.fullmatch(v), (where + key, v)
                walk(v, where + key + ".")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, "%s[%d]." % (where, i))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert value < 1e9, ("an epoch number", where, value)

    for path in ("queue", "deadletters", "queue/%d" % dead["id"], "history",
                 "history/top?by=alertname&since=7d"):
        status, answer = harness.api_get(h, path)
        assert status == 200 and answer, (path, status, answer)
        walk(answer, path + ":")
    # "at": each entry of a notification's attempt_history
    assert set(seen) == {"created_at", "next_attempt_at", "finished_at", "startsAt",
                         "endsAt", "at"}, seen
    # since and until still take a duration, RFC 3339 and epoch milliseconds
    for query in ("since=24h", "since=2020-01-01T00:00:00Z", "since=1577836800000",
                  "until=2999-01-01T00:00:00%2B08:00"):
        status, answer = harness.api_get(h, "history?" + query)
        assert status == 200 and len(answer) == 3, (query, status, answer)


# ----- check ------------------------------------------------------------------------
def test_check_bundled_config():
    r = run("check", "-c", BUNDLED)
    stdout, stderr = out(r)
    assert r.returncode == 0, (stdout, stderr)
    assert "ok" in stdout.splitlines()[0], stdout
    no_sanitizer_report(stderr)


def test_check_bad_key_names_file_key_and_variable(tmp_path):
    cfg = write_config(tmp_path / "bad.lua", {
        "console": {"channel": "console"},
        "ops": {"channel": "dingtalk", "url": "http://127.0.0.1:9/robot/send?access_token=x",
                "secret": harness.lua_env("HERALD_E2E_UNSET_SECRET")},
    })
    env = harness.clean_env()
    env.pop("HERALD_E2E_UNSET_SECRET", None)
    r = subprocess.run([str(harness.herald_binary()), "check", "-c", str(cfg)],
                       capture_output=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert str(cfg) in stderr, stderr
    assert "receivers.ops.secret" in stderr, stderr
    assert "missing" in stderr and "HERALD_E2E_UNSET_SECRET" in stderr, stderr


def test_check_unknown_top_level_key(tmp_path):
    cfg = write_config(tmp_path / "typo.lua", {"console": {"channel": "console"}},
                       extra={"max_bodyy": "1MiB"})
    r = run("check", "-c", cfg)
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert str(cfg) in stderr and "max_bodyy" in stderr, stderr


def test_check_missing_file(tmp_path):
    missing = tmp_path / "nope.lua"
    r = run("check", "-c", missing)
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert str(missing) in stderr, stderr


# ----- render --------------------------------------------------------------------
def render_config(tmp_path):
    url = "http://127.0.0.1:9/robot/send?access_token=" + ACCESS_TOKEN
    return write_config(tmp_path / "render.lua", {
        "console": {"channel": "console"},
        "ops": {"channel": "dingtalk", "url": url, "secret": harness.lua_env("DT_SECRET"),
                "template": "dingtalk", "mentions": {"mobiles": [MOBILE]}},
    })


def request_body(stdout):
    """The JSON body printed in render's request section."""
    assert "--- request" in stdout, stdout
    section = stdout.split("--- request", 1)[1]
    for line in section.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON body in the request section:\n" + section)


def test_render_dingtalk(tmp_path):
    cfg = render_config(tmp_path)
    r = run("render", "-c", cfg, "--receiver", "ops", "--payload", FIRING5,
            env={"DT_SECRET": DT_SECRET})
    stdout, stderr = out(r)
    # never show the secrets, whatever happens
    for secret in (ACCESS_TOKEN, DT_SECRET):
        assert secret not in stdout and secret not in stderr, "secret leaked in render output"
    assert r.returncode == 0, stderr
    assert "故障" in stdout
    for i in range(11, 16):
        assert "10.0.0.%d:9100" % i in stdout, stdout
    body = request_body(stdout)
    assert body["msgtype"] == "markdown"
    assert "故障" in body["markdown"]["title"]
    assert body["at"]["atMobiles"] == [MOBILE]
    assert "@" + MOBILE in body["markdown"]["text"]
    # the URL is shown, redacted
    post_lines = [ln for ln in stdout.splitlines() if ln.startswith("POST ")]
    assert len(post_lines) == 1, stdout
    assert "127.0.0.1:9/robot/send" in post_lines[0] and "access_token=" in post_lines[0]
    no_sanitizer_report(stderr)


def test_render_shows_the_mentions_the_route_adds(tmp_path):
    """The bundled route mentions the wms on-call phone for project="wms":
    the preview's request carries it, as the delivered one does."""
    url = "http://127.0.0.1:9/robot/send?access_token=" + ACCESS_TOKEN
    cfg = write_config(tmp_path / "render.lua", {
        "console": {"channel": "console"},
        "wms": {"channel": "dingtalk", "url": url, "secret": harness.lua_env("DT_SECRET"),
                "template": "dingtalk", "mentions": {"mobiles": [MOBILE]}},
    })
    r = run("render", "-c", cfg, "--receiver", "wms", "--payload",
            REPO / "tests" / "fixtures" / "wms-firing.json", env={"DT_SECRET": DT_SECRET})
    stdout, stderr = out(r)
    assert r.returncode == 0, stderr
    assert "mentions: @%s @13800000001\n" % MOBILE in stdout, stdout
    body = request_body(stdout)
    assert body["at"]["atMobiles"] == [MOBILE, "13800000001"], body
    assert "@13800000001" in body["markdown"]["text"], body


def test_render_shows_the_parts_a_long_group_goes_as(tmp_path):
    """The preview is what serving sends: a group too long for one DingTalk
    message shows as its numbered parts, each request under the limit."""
    cfg = render_config(tmp_path)
    payload = tmp_path / "flood.json"
    payload.write_text(json.dumps(harness.am_payload([
        {"labels": {"alertname": "Flood", "instance": "host-%03d:9100" % i},
         "annotations": {"summary": "disk on host-%03d is almost full" % i}}
        for i in range(250)])))
    r = run("render", "-c", cfg, "--receiver", "ops", "--payload", payload,
            env={"DT_SECRET": DT_SECRET})
    stdout, stderr = out(r)
    assert r.returncode == 0, stderr
    titles = re.findall(r"^title: (.*)$", stdout, re.M)
    assert len(titles) > 1, stdout[:2000]
    assert all(t.endswith("(%d/%d)" % (i + 1, len(titles))) for i, t in enumerate(titles)), titles
    sizes = [int(n) for n in re.findall(r"^--- request \((\d+) bytes", stdout, re.M)]
    assert len(sizes) == len(titles) and max(sizes) < 20000, sizes
    for i in range(250):
        assert "host-%03d:9100" % i in stdout, i


def test_render_unknown_receiver(tmp_path):
    cfg = render_config(tmp_path)
    r = run("render", "-c", cfg, "--receiver", "nobody", "--payload", FIRING5,
            env={"DT_SECRET": DT_SECRET})
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert "nobody" in stderr, stderr
    assert ACCESS_TOKEN not in stdout + stderr and DT_SECRET not in stdout + stderr


def test_render_bad_payload(tmp_path):
    cfg = render_config(tmp_path)
    payload = tmp_path / "bad.json"
    payload.write_text(json.dumps({"alerts": [{"labels": {"a": 1}}]}))
    r = run("render", "-c", cfg, "--receiver", "ops", "--payload", payload,
            env={"DT_SECRET": DT_SECRET})
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert "alerts[0].labels.a" in stderr, stderr

    payload.write_text("{not json")
    r = run("render", "-c", cfg, "--receiver", "ops", "--payload", payload,
            env={"DT_SECRET": DT_SECRET})
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert str(payload) in stderr, stderr

    r = run("render", "-c", cfg, "--receiver", "ops", "--payload", tmp_path / "missing.json",
            env={"DT_SECRET": DT_SECRET})
    assert r.returncode == 1, out(r)
    assert "missing.json" in out(r)[1]


# ----- route -------------------------------------------------------------------
def test_route(tmp_path):
    cfg = write_config(tmp_path / "route.lua", {
        "console": {"channel": "console"},
        "oncall": {"channel": "console", "path": str(tmp_path / "oncall.jsonl")},
        "wms": {"channel": "dingtalk_keyword",
                "url": "http://127.0.0.1:9/robot/send?access_token=T2", "keyword": "报警"},
    })
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(harness.am_payload([
        {"labels": {"alertname": "WmsDown", "project": "wms", "severity": "critical"},
         "fingerprint": "1111111111111111"},
        {"labels": {"alertname": "PlainAlert"}, "fingerprint": "2222222222222222"},
    ])))
    r = run("route", "-c", cfg, "--payload", payload)
    stdout, stderr = out(r)
    assert r.returncode == 0, (stdout, stderr)
    blocks = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("  ->") and current:
            blocks[current].append(line)
        elif line.strip():
            current = "WmsDown" if "WmsDown" in line else "PlainAlert" if "PlainAlert" in line \
                else line
            blocks[current] = []
    assert set(blocks) >= {"WmsDown", "PlainAlert"}, stdout
    wms = [ln for ln in blocks["WmsDown"] if "-> wms" in ln]
    assert len(wms) == 1 and "13800000001" in wms[0], stdout
    assert any("-> oncall" in ln for ln in blocks["WmsDown"]), stdout
    assert not any("-> console" in ln for ln in blocks["WmsDown"]), stdout
    assert len(blocks["PlainAlert"]) == 1 and "-> console" in blocks["PlainAlert"][0], stdout


def test_route_on_the_bundled_files_does_what_the_readme_shows():
    """README "Route alerts": the bundled config has the receivers the
    bundled route names, so the command there prints what the README shows."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = "build/herald route -c conf/herald.lua --payload tests/fixtures/wms-firing.json"
    assert command in readme
    # the block after the command's: its fences are the 2nd and 3rd "```" after it
    shown = readme.split(command, 1)[1].split("```\n")[2]
    r = run(*command.split()[1:])
    stdout, stderr = out(r)
    assert r.returncode == 0, (stdout, stderr)
    assert stdout == shown, (stdout, shown)
    assert "-> wms (channel console) mentions @13800000001" in stdout


# ----- plugins ----------------------------------------------------------------
def test_plugins_lists_channels():
    r = run("plugins", "-c", BUNDLED)
    stdout, stderr = out(r)
    assert r.returncode == 0, (stdout, stderr)
    for channel, options in (("dingtalk", ("url", "secret")),
                             ("dingtalk_keyword", ("url", "keyword")),
                             ("console", ("path",))):
        lines = stdout.splitlines()
        idx = [i for i, ln in enumerate(lines) if ln.strip().startswith("channel %s:" % channel)]
        assert len(idx) == 1, (channel, stdout)
        section = []
        for ln in lines[idx[0] + 1:]:
            if ln.strip().startswith("channel ") or (ln and not ln.startswith(" ")):
                break
            section.append(ln)
        for opt in options:
            assert any(ln.strip().startswith("option %s " % opt) for ln in section), \
                (channel, opt, stdout)
    versions = re.findall(r"^(\w+) (\d+\.\d+\.\d+) ", stdout, re.M)
    assert {"dingtalk", "console"} <= {name for name, _ in versions}, stdout


# ----- serve ----------------------------------------------------------------------
class Served:
    """`herald serve` started by this test; always stopped by pid."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.logf = open(log_path, "wb")
        self.proc = subprocess.Popen([str(harness.herald_binary())] + [str(a) for a in argv],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=harness.clean_env(),
                                     cwd=str(log_path.parent))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("herald did not stop within 10 s of SIGTERM")
        self.logf.close()
        return self.proc.returncode

    def log(self):
        return self.log_path.read_bytes().decode("utf-8", "replace")


def test_serve_listen_overrides_config(tmp_path):
    config_port = harness.free_port()
    cli_port = harness.free_port()
    while cli_port == config_port:
        cli_port = harness.free_port()
    cfg = write_config(tmp_path / "serve.lua", {"console": {"channel": "console",
                                                           "path": str(tmp_path / "c.jsonl")}},
                       port=config_port)
    s = Served(["serve", "-c", cfg, "--listen", "127.0.0.1:%d" % cli_port],
               tmp_path / "serve.log")
    try:
        harness.wait_until(lambda: s.proc.poll() is not None or
                           harness.is_ready("http://127.0.0.1:%d/-/ready" % cli_port),
                           timeout=10, message="herald ready on the --listen port")
        assert s.proc.poll() is None, s.log()
        assert harness.is_ready("http://127.0.0.1:%d/-/ready" % cli_port)
        assert not harness.is_ready("http://127.0.0.1:%d/-/ready" % config_port)
        # a reload finds the file's listen unchanged: --listen is no change
        status, _ = harness.http("POST", "http://127.0.0.1:%d/-/reload" % cli_port)
        assert status == 200
    finally:
        rc = s.stop()
    assert rc == 0, s.log()
    assert "generation 2" in s.log() and "listen changed" not in s.log(), s.log()
    no_sanitizer_report(s.log())


@pytest.mark.parametrize("listen,needle", [
    ("8060", 'listen: "8060" is not ADDRESS:PORT'),
    ("localhost:8060", 'listen: "localhost" is not a numeric IP address'),
    ("127.0.0.1:99999", 'listen: "127.0.0.1:99999" has no valid port'),
])
def test_check_refuses_a_listen_serve_could_not_bind(tmp_path, listen, needle):
    cfg = write_config(tmp_path / "listen.lua", {"console": {"channel": "console"}})
    cfg.write_text(cfg.read_text().replace('listen = "127.0.0.1:', 'listen = "%s" --' % listen, 1))
    r = run("check", "-c", cfg)
    stdout, stderr = out(r)
    assert r.returncode == 1 and needle in stderr, (stdout, stderr)


def test_check_refuses_a_data_dir_serve_could_not_create(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for data_dir, needle in ((blocker, "not a directory"),
                             (tmp_path / "missing" / "store", "cannot be created")):
        cfg = write_config(tmp_path / "data.lua", {"console": {"channel": "console"}},
                           extra={"data_dir": str(data_dir)})
        r = run("check", "-c", cfg)
        stdout, stderr = out(r)
        assert r.returncode == 1, (stdout, stderr)
        assert "data_dir: %s: %s" % (data_dir, needle) in stderr, stderr


def test_serve_bad_listen_on_the_command_line_is_named(tmp_path):
    cfg = write_config(tmp_path / "cli.lua", {"console": {"channel": "console"}})
    r = run("serve", "-c", cfg, "--listen", "8060", timeout=15)
    stdout, stderr = out(r)
    assert r.returncode == 1, (stdout, stderr)
    assert 'herald: --listen 8060: "8060" is not ADDRESS:PORT' in stderr, stderr


def test_console_to_stdout_when_stdout_is_a_socket(tmp_path):
    """Under systemd, stdout is a socket to the journal, which open() of
    /dev/stdout refuses: the console channel (path "-") still prints each
    message there."""
    port = harness.free_port()
    cfg = write_config(tmp_path / "journal.lua", {"console": {"channel": "console"}}, port=port)
    journal, stdout_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    logf = open(tmp_path / "stderr.log", "wb")
    proc = subprocess.Popen([str(harness.herald_binary()), "serve", "-c", str(cfg)],
                            stdout=stdout_end.fileno(), stderr=logf, stdin=subprocess.DEVNULL,
                            env=harness.clean_env(), cwd=str(tmp_path))
    stdout_end.close()
    try:
        base = "http://127.0.0.1:%d" % port
        harness.wait_until(lambda: proc.poll() is not None or harness.is_ready(base + "/-/ready"),
                           timeout=10, message="herald ready")
        payload = harness.am_payload([{"labels": {"alertname": "JournalLine", "instance": "j1"}}])
        status, _ = harness.http("POST", base + "/webhook", payload)
        assert status == 200
        journal.settimeout(10)
        got = b""
        while b"JournalLine" not in got:
            chunk = journal.recv(65536)
            assert chunk, "stdout closed before the message"
            got += chunk
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        logf.close()
        journal.close()
    log = (tmp_path / "stderr.log").read_bytes().decode("utf-8", "replace")
    assert proc.returncode == 0, log
    assert "cannot open" not in log, log
    no_sanitizer_report(log)


def test_serve_unbindable_address_exits_1(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cfg = write_config(tmp_path / "busy.lua", {"console": {"channel": "console"}}, port=port)
        start = time.monotonic()
        r = run("serve", "-c", cfg, timeout=15)
        stdout, stderr = out(r)
    assert r.returncode == 1, (r.returncode, stdout, stderr)
    assert time.monotonic() - start < 10
    assert "127.0.0.1:%d" % port in stderr, stderr
    assert "in use" in stderr.lower() or "cannot" in stderr.lower(), stderr
    no_sanitizer_report(stdout + stderr)


def test_second_herald_on_the_same_port_exits_1(tmp_path):
    """A second herald (started twice, or before the old one stopped) must
    not share the port and split the alerts between two configurations."""
    port = harness.free_port()
    first_cfg = write_config(tmp_path / "first.lua", {"console": {"channel": "console"}}, port=port)
    first = Served(["serve", "-c", first_cfg], tmp_path / "first.log")
    try:
        harness.wait_until(lambda: first.proc.poll() is not None or
                           harness.is_ready("http://127.0.0.1:%d/-/ready" % port),
                           timeout=10, message="first herald ready")
        assert first.proc.poll() is None, first.log()
        second_cfg = write_config(tmp_path / "second.lua", {"console": {"channel": "console"}},
                                  port=port, extra={"data_dir": str(tmp_path / "second-data")})
        r = run("serve", "-c", second_cfg, timeout=15)
        stdout, stderr = out(r)
    finally:
        rc = first.stop()
    assert r.returncode == 1, (r.returncode, stdout, stderr)
    assert "127.0.0.1:%d" % port in stderr, stderr
    assert rc == 0, first.log()
    no_sanitizer_report(stdout + stderr + first.log())


def test_render_hides_header_values(tmp_path):
    """A webhook receiver's headers (declared secret) never reach the output."""
    cfg = write_config(tmp_path / "hook.lua", {
        "hook": {"channel": "webhook", "url": "https://example.com/alerts?token=URLSECRET",
                 "headers": ["Authorization: Bearer HEADERSECRET"]},
        "console": {"channel": "console"},
    })
    r = run("render", "-c", cfg, "--receiver", "hook", "--payload",
            REPO / "tests" / "fixtures" / "am-firing-1.json")
    stdout, stderr = out(r)
    assert r.returncode == 0, stderr
    assert "Authorization: …" in stdout, stdout
    assert "Content-Type: application/json" in stdout, stdout
    assert "HEADERSECRET" not in stdout + stderr and "URLSECRET" not in stdout + stderr
