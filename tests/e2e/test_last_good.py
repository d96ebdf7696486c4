"""A bad edit never takes alerting down (README, "Edit and preview a
template"): herald keeps the configuration that last served in
data_dir/last-good, and when the files on disk do not load at start it
serves that copy, says so in the log and /-/ready, and a reload of good
files ends it."""

import harness

WORD_OLD = "summary:"
WORD_NEW = "zusammenfassung:"


def start(herald_factory, tmp_path):
    templates = harness.copy_templates(tmp_path / "templates")
    console = tmp_path / "console.jsonl"
    receivers = {"console": {"channel": "console", "path": str(console), "template": "console"}}
    top = {"templates": templates, "data_dir": str(tmp_path / "data")}
    h = herald_factory(receivers, default_receiver="console", extra=top)
    h.console, h.templates = console, templates
    return h


def post_alert(h, name):
    payload = harness.am_payload([{"labels": {"alertname": name, "instance": "host:9100"},
                                   "annotations": {"summary": "disk almost full"}}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload, timeout=10)
    assert status == 200, (status, data)


def line_for(h, name):
    found = harness.wait_until(
        lambda: [ln for ln in harness.read_json_lines(h.console) if name in ln["title"]],
        timeout=10, message="console line for %s" % name)
    return found[0]


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_start_whose_files_do_not_load_serves_the_last_good_copy(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    post_alert(h, "BeforeTheEdit")
    assert WORD_OLD in line_for(h, "BeforeTheEdit")["text"]
    saved = tmp_path / "data" / "last-good"
    assert (saved / "herald.lua").is_file() and (saved / "templates" / "console.lua").is_file()
    h.stop()

    # A bad edit of a template a receiver uses, then a restart.
    console = h.templates / "console.lua"
    edit(console, WORD_OLD, WORD_NEW)
    lines = console.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(len(lines) - 2, "  local = = 1\n")
    console.write_text("".join(lines), encoding="utf-8")
    r = h.command("check", "-c", h.config_path)
    assert r.returncode == 1, r  # the files are refused as they are
    h.start()
    log = h.log()
    assert "serving the last good configuration" in log and "console.lua" in log, h.log_tail()
    status, body = harness.http("GET", h.base_url + "/-/ready")
    assert status == 200, body
    assert b"Warning: serving the last good configuration" in body, body
    post_alert(h, "WhileBroken")
    assert WORD_OLD in line_for(h, "WhileBroken")["text"]  # the saved template renders

    # Fixed and reloaded: the files serve, the warning is gone.
    console.write_text("".join(ln for ln in lines if ln != "  local = = 1\n"), encoding="utf-8")
    status, data = harness.http("POST", h.base_url + "/-/reload", timeout=10)
    assert status == 200, data
    status, body = harness.http("GET", h.base_url + "/-/ready")
    assert status == 200 and body == b"Ready.\n", body
    post_alert(h, "AfterTheFix")
    assert WORD_NEW in line_for(h, "AfterTheFix")["text"]


def test_without_a_saved_copy_a_bad_start_fails_and_says_why(herald_factory, tmp_path):
    templates = harness.copy_templates(tmp_path / "templates")
    (templates / "console.lua").write_text("return function(data)\n  local = = 1\nend\n",
                                           encoding="utf-8")
    h = herald_factory({"console": {"channel": "console", "template": "console"}},
                       default_receiver="console",
                       extra={"templates": templates, "data_dir": str(tmp_path / "data")},
                       start=False)
    r = h.command("serve", "-c", h.config_path, timeout=30)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "console.lua:2" in err, err
    assert "no last good configuration to serve: none saved as" in err, err
