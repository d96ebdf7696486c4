"""Reloads (README.md, "Edit and preview a template"): POST /-/reload and
SIGHUP install a new generation; a broken edit is refused with a 500 naming
the file and line or key while the old generation keeps serving; no request
fails while reloads happen under load."""

import json
import re
import signal
import threading
import time

import harness

WORD_OLD = "summary:"
WORD_NEW = "zusammenfassung:"


def start(herald_factory, tmp_path, extra=None):
    templates = harness.copy_templates(tmp_path / "templates")
    console = tmp_path / "console.jsonl"
    receivers = {"console": {"channel": "console", "path": str(console),
                             "template": "console"}}
    top = {"templates": templates}
    top.update(extra or {})
    h = herald_factory(receivers, default_receiver="console", extra=top)
    h.console = console
    h.templates = templates
    h.receivers = receivers
    h.top = top
    return h


def post_alert(h, name, summary="disk almost full"):
    payload = harness.am_payload([{"labels": {"alertname": name, "instance": "host:9100"},
                                   "annotations": {"summary": summary}}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload, timeout=10)
    assert status == 200, (status, data)
    return json.loads(data)


def wait_line_for(h, name, timeout=10.0):
    def find():
        return [ln for ln in harness.read_json_lines(h.console) if name in ln["title"]]
    found = harness.wait_until(find, timeout=timeout,
                               message="console line for %s" % name)
    assert len(found) == 1, found
    return found[0]


def edit_console_template(h, old, new):
    path = h.templates / "console.lua"
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new), encoding="utf-8")


def reload(h, timeout=10.0):
    status, data = harness.http("POST", h.base_url + "/-/reload", timeout=timeout)
    return status, (json.loads(data) if data else None)


def test_reload_endpoint_applies_template_change(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    post_alert(h, "BeforeReload")
    before = wait_line_for(h, "BeforeReload")
    assert WORD_OLD in before["text"] and WORD_NEW not in before["text"]

    edit_console_template(h, WORD_OLD, WORD_NEW)
    status, body = reload(h)
    assert status == 200, body
    assert body["status"] == "success" and body["generation"] == 2, body
    assert harness.metrics(h.base_url)["herald_reloads_total"] == 1

    post_alert(h, "AfterReload")
    after = wait_line_for(h, "AfterReload")
    assert WORD_NEW in after["text"] and WORD_OLD not in after["text"], after["text"]

    edit_console_template(h, WORD_NEW, "sommaire:")
    status, body = reload(h)
    assert status == 200 and body["generation"] == 3, body
    post_alert(h, "ThirdGen")
    assert "sommaire:" in wait_line_for(h, "ThirdGen")["text"]


def test_sighup_applies_template_change(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    post_alert(h, "BeforeHup")
    assert WORD_OLD in wait_line_for(h, "BeforeHup")["text"]

    edit_console_template(h, WORD_OLD, WORD_NEW)
    h.proc.send_signal(signal.SIGHUP)
    harness.wait_until(lambda: re.search(r"generation 2 of .* is serving", h.log()),
                       timeout=10, message="log says generation 2 is serving")
    post_alert(h, "AfterHup")
    after = wait_line_for(h, "AfterHup")
    assert WORD_NEW in after["text"] and WORD_OLD not in after["text"], after["text"]
    assert h.running()


def test_broken_template_is_refused(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    edit_console_template(h, WORD_OLD, WORD_NEW)       # a good change ...
    path = h.templates / "console.lua"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    broken_line = len(lines) - 1                        # ... and a syntax error
    lines.insert(broken_line - 1, "  local = = 1\n")
    path.write_text("".join(lines), encoding="utf-8")

    status, body = reload(h)
    assert status == 500, (status, body)
    assert body["status"] == "error", body
    err = body["error"]
    assert "console.lua:%d" % broken_line in err, err
    m = harness.metrics(h.base_url)
    assert m["herald_reload_failures_total"] == 1, m
    assert m["herald_reloads_total"] == 0, m

    post_alert(h, "StillOld")
    line = wait_line_for(h, "StillOld")
    assert WORD_OLD in line["text"] and WORD_NEW not in line["text"], line["text"]
    assert harness.metrics(h.base_url)["herald_template_errors_total"] == 0
    assert "refused" in h.log()

    # fixing it makes the next reload succeed with the next generation number
    edit_console_template(h, "  local = = 1\n", "")
    status, body = reload(h)
    assert status == 200 and body["generation"] == 2, body
    post_alert(h, "NowNew")
    assert WORD_NEW in wait_line_for(h, "NowNew")["text"]


def test_a_broken_template_no_receiver_uses_does_not_block_a_reload(herald_factory, tmp_path):
    """A half-written new template in the folder is left out with a warning;
    the change next to it applies."""
    h = start(herald_factory, tmp_path)
    edit_console_template(h, WORD_OLD, WORD_NEW)
    (h.templates / "draft.lua").write_text("return function(data)\n  local = = 1\nend\n",
                                          encoding="utf-8")
    status, body = reload(h)
    assert status == 200 and body["generation"] == 2, body
    harness.wait_until(lambda: "template draft is used by no receiver and does not load" in h.log(),
                       timeout=10, message="the warning about draft.lua")
    assert "draft.lua:2" in h.log()
    post_alert(h, "WithDraftAround")
    assert WORD_NEW in wait_line_for(h, "WithDraftAround")["text"]

    r = h.command("check", "-c", h.config_path)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert b"template draft is used by no receiver" in r.stderr, r.stderr

    # Once a receiver uses it, the same file is an error again.
    h.receivers["drafty"] = {"channel": "console", "path": str(tmp_path / "d.jsonl"),
                             "template": "draft"}
    h.write_config(h.receivers, "console", h.top)
    status, body = reload(h)
    assert status == 500 and "draft" in body["error"], body


def test_unknown_config_key_is_refused(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    edit_console_template(h, WORD_OLD, WORD_NEW)
    text = h.config_path.read_text(encoding="utf-8")
    h.config_path.write_text(text + 'shutdown_timeoutt = "3s"\n', encoding="utf-8")

    status, body = reload(h)
    assert status == 500, (status, body)
    assert "shutdown_timeoutt" in body["error"], body
    assert "herald.lua" in body["error"], body
    assert harness.metrics(h.base_url)["herald_reload_failures_total"] == 1

    # SIGHUP with the same broken config: refused too, and logged
    h.proc.send_signal(signal.SIGHUP)
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_reload_failures_total"] == 2,
                       timeout=10, message="SIGHUP reload refused")
    assert h.running()

    post_alert(h, "OldGeneration")
    line = wait_line_for(h, "OldGeneration")
    assert WORD_OLD in line["text"] and WORD_NEW not in line["text"], line["text"]


def test_no_request_fails_during_reloads(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    posts, reloads = 200, 20
    results, reload_results, errors = [], [], []

    def poster():
        try:
            for i in range(posts):
                payload = harness.am_payload([{"labels": {"alertname": "Load%03d" % i}}])
                results.append(harness.http("POST", h.base_url + "/webhook", payload,
                                            timeout=10)[0])
        except Exception as e:  # reported below
            errors.append(repr(e))

    def reloader():
        try:
            for i in range(reloads):
                word = "summary%d:" % i
                path = h.templates / "console.lua"
                text = path.read_text(encoding="utf-8")
                path.write_text(re.sub(r"summary\d*:", word, text, count=1), encoding="utf-8")
                reload_results.append(reload(h)[0])
                time.sleep(0.02)
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=poster), threading.Thread(target=reloader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "load threads did not finish in 60 s"
    assert errors == [], errors
    assert len(results) == posts and set(results) == {200}, \
        {s: results.count(s) for s in set(results)}
    assert len(reload_results) == reloads and set(reload_results) == {200}, reload_results

    harness.wait_until(lambda: len(harness.read_json_lines(h.console)) >= posts, timeout=20,
                       message="%d console lines" % posts)
    lines = harness.read_json_lines(h.console)
    assert len(lines) == posts
    assert sorted(ln["title"] for ln in lines) == \
        sorted("[FIRING:1] Load%03d" % i for i in range(posts))
    m = harness.metrics(h.base_url)
    assert m["herald_reloads_total"] == reloads, m
    assert m["herald_template_errors_total"] == 0 and m["herald_reload_failures_total"] == 0, m
    assert m["herald_deliveries_total"] == posts, m


def test_reload_says_which_start_only_settings_wait_for_a_restart(herald_factory, tmp_path):
    """queue_capacity, http_threads and the like are read once at start: a
    reload that changes them still succeeds (the rest applies) but says so,
    rather than answering success as if the new values were in force."""
    h = start(herald_factory, tmp_path, extra={"queue_capacity": 100, "http_threads": 2})
    text = h.config_path.read_text(encoding="utf-8")
    assert "queue_capacity = 100" in text and "http_threads = 2" in text, text
    h.config_path.write_text(text.replace("queue_capacity = 100", "queue_capacity = 5")
                             .replace("http_threads = 2", "http_threads = 3"), encoding="utf-8")
    status, body = reload(h)
    assert status == 200 and body["generation"] == 2, body
    log = h.log()
    assert "queue_capacity changed to 5; 100 stays in force until a restart" in log, h.log_tail()
    assert "http_threads changed to 3; 2 stays in force until a restart" in log, h.log_tail()
    assert "data_dir changed" not in log and "retention changed" not in log


SLOW_ROUTE = """\
-- test route: loading it takes about half a second of CPU, so a reload
-- is still running when a second one arrives
local until_clock = os.clock() + 0.5
while os.clock() < until_clock do end
return function(alert, default_receiver, receivers) return nil end
"""


def test_a_reload_during_a_reload_answers_409(herald_factory, tmp_path):
    """The refused one does not wait for the running one: had it waited for
    the lock, it would have reloaded and answered 200. Two requests can land
    on the same HTTP thread and then run one after the other, so several
    reloaders keep trying until two overlap."""
    route = tmp_path / "slow_route.lua"
    route.write_text(SLOW_ROUTE, encoding="utf-8")
    h = start(herald_factory, tmp_path, extra={"route": str(route), "lua": {"timeout": "20s"},
                                               "http_threads": 4})
    answers, errors = [], []
    deadline = time.monotonic() + 60

    def reloader():
        try:
            while time.monotonic() < deadline and 409 not in [a[0] for a in answers]:
                answers.append(reload(h, timeout=60))
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=reloader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert errors == [], errors
    statuses = [a[0] for a in answers]
    assert 409 in statuses and 200 in statuses and set(statuses) == {200, 409}, statuses
    refused = [body for status, body in answers if status == 409]
    assert refused[0]["error"] == ("a reload is already running: its result is in the log; "
                                   "retry for yours"), refused
    assert reload(h, timeout=30)[0] == 200  # and afterwards reloads work again
