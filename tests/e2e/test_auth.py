"""Inbound authentication (conf/README.md, "Inbound authentication"): with
`auth` set, every request but the probes needs the credentials; the real
Alertmanager sends them from its http_config; a reload rotates them; they
never reach the log."""

import base64
import re

import pytest

import harness

TOKEN = "tok-9f3b2a7c51e0"
NEW_TOKEN = "tok-new-0c4d8e26"
PASSWORD = "pw-5e1d07aa"
LABELS = {"alertname": "DiskFull", "instance": "10.0.0.12:9100", "severity": "warning"}


def start(herald_factory, tmp_path, auth):
    console = tmp_path / "console.jsonl"
    h = herald_factory({"console": {"channel": "console", "path": str(console)}},
                       default_receiver="console",
                       env={"HERALD_TOKEN": TOKEN, "HERALD_PASSWORD": PASSWORD},
                       extra={"auth": auth})
    h.console = console
    return h


def bearer(token):
    return {"Authorization": "Bearer " + token}


def basic(user, password):
    raw = ("%s:%s" % (user, password)).encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def payload():
    return harness.am_payload([{"status": "firing", "labels": LABELS,
                                "annotations": {"summary": "disk full"}}])


def lines(h):
    return harness.read_json_lines(h.console) if h.console.exists() else []


def raw_log(h):
    return h.log_path.read_text(encoding="utf-8", errors="replace")


def test_every_endpoint_but_the_probes_needs_the_token(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path, {"bearer_token": harness.lua_env("HERALD_TOKEN")})
    for path in ("/-/healthy", "/-/ready"):
        assert harness.http("GET", h.base_url + path)[0] == 200, path
    protected = [("POST", "/webhook", payload()), ("POST", "/webhook/console", payload()),
                 ("POST", "/dingtalk/console/send", payload()), ("POST", "/api/v2/alerts", []),
                 ("GET", "/metrics", None), ("GET", "/api/v1/history", None),
                 ("GET", "/api/v1/queue", None), ("POST", "/-/reload", None)]
    for method, path, body in protected:
        for headers, why in (({}, "no credentials for"), (bearer("wrong"), "wrong credentials for"),
                             (basic("x", TOKEN), "wrong credentials for")):
            status, hdrs, data = harness.http_full(method, h.base_url + path, body, headers)
            assert status == 401, (method, path, headers, status, data)
            assert hdrs.get("www-authenticate") == 'Bearer realm="herald"', hdrs
            assert why in data.decode() and "bearer token credentials required" in data.decode()
    assert lines(h) == []  # nothing refused was delivered
    status, _, data = harness.http_full("GET", h.base_url + "/metrics", headers=bearer(TOKEN))
    assert status == 200
    assert "herald_requests_unauthorized_total %d" % (len(protected) * 3) in data.decode()
    # a User-Agent too long to name whole is cut where a character starts:
    # 告 begins two bytes before the 64 the log quotes (sent as its UTF-8
    # bytes; http.client writes a header's str as Latin-1)
    agent_start = ("ops relay " * 7)[:62]
    agent = (agent_start + "告警").encode("utf-8").decode("latin-1")
    status, _, _ = harness.http_full("POST", h.base_url + "/webhook", payload(),
                                     {"User-Agent": agent})
    assert status == 401
    for method, path, body in protected[:3]:
        status, _, data = harness.http_full(method, h.base_url + path, body, bearer(TOKEN))
        assert status == 200, (path, data)
    harness.wait_until(lambda: len(lines(h)) == 3, message="3 messages on the console")
    h.stop(timeout=30.0)
    log = raw_log(h)
    # the sender to fix is named: address and User-Agent
    assert re.search(r"rejected with 401 \(from 127\.0\.0\.1, Python-urllib/[\d.]+\): "
                     r"no credentials for /webhook", log), log
    assert "rejected with 401 (from 127.0.0.1, Python-urllib/" in log and \
        "): wrong credentials for /metrics" in log
    assert "rejected with 401 (from 127.0.0.1, %s): no credentials for /webhook" % agent_start \
        in log, log
    assert TOKEN not in log


def test_alertmanager_sends_its_credentials(herald_factory, alertmanager_factory, tmp_path):
    h = start(herald_factory, tmp_path, {"bearer_token": harness.lua_env("HERALD_TOKEN")})
    token_file = tmp_path / "herald-token"
    token_file.write_text(TOKEN + "\n")
    am = alertmanager_factory(h.base_url + "/webhook",
                              http_config={"authorization": {"credentials_file": str(token_file)}})
    am.fire(LABELS, {"summary": "disk full"})
    harness.wait_until(lambda: any("DiskFull" in l.get("text", "") + l.get("title", "")
                                   for l in lines(h)),
                       timeout=30.0, message="Alertmanager's alert on the console")


def test_basic_auth_from_alertmanager(herald_factory, alertmanager_factory, tmp_path):
    h = start(herald_factory, tmp_path,
              {"username": "alertmanager", "password": harness.lua_env("HERALD_PASSWORD")})
    password_file = tmp_path / "herald-password"
    password_file.write_text(PASSWORD)
    am = alertmanager_factory(h.base_url + "/webhook", http_config={
        "basic_auth": {"username": "alertmanager", "password_file": str(password_file)}})
    am.fire(LABELS, {"summary": "disk full"})
    harness.wait_until(lambda: len(lines(h)) >= 1, timeout=30.0,
                       message="Alertmanager's alert on the console")
    status, hdrs, _ = harness.http_full("POST", h.base_url + "/webhook", payload(),
                                        bearer(PASSWORD))
    assert status == 401 and hdrs["www-authenticate"].startswith("Basic realm=")


@pytest.mark.concurrency
def test_reload_rotates_the_token(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path, {"bearer_token": TOKEN})
    h.write_config({"console": {"channel": "console", "path": str(h.console)}},
                   default_receiver="console", extra={"auth": {"bearer_token": NEW_TOKEN}})
    status, _, data = harness.http_full("POST", h.base_url + "/-/reload", headers=bearer(TOKEN))
    assert status == 200, data
    assert harness.http_full("POST", h.base_url + "/webhook", payload(), bearer(TOKEN))[0] == 401
    assert harness.http_full("POST", h.base_url + "/webhook", payload(), bearer(NEW_TOKEN))[0] == 200


def test_check_names_the_scheme_and_refuses_an_empty_token(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path, {"bearer_token": harness.lua_env("HERALD_TOKEN"),
                                          "username": "am",
                                          "password": harness.lua_env("HERALD_PASSWORD")})
    out = h.command("check", "-c", h.config_path)
    assert out.returncode == 0, out.stderr
    assert "auth        bearer token or basic" in out.stdout.decode()
    assert TOKEN not in out.stdout.decode() + out.stderr.decode()
    h.write_config({"console": {"channel": "console"}}, default_receiver="console",
                   extra={"auth": {"bearer_token": ""}})
    out = h.command("check", "-c", h.config_path)
    assert out.returncode == 1
    assert "auth.bearer_token: must not be empty" in out.stderr.decode()
