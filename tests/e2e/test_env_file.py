"""env_file (conf/README.md, "Secrets that rotate"): herald reads it at
every load, so a reload adds a receiver whose URL only the file holds; a
file everyone can read is refused with the old configuration serving, and
no value is ever printed."""

import os

import harness
from harness import DT_SECRET, KEYWORD, T1, T2


def write_env(path, values, mode=0o600):
    path.write_text("".join("%s='%s'\n" % kv for kv in values.items()), encoding="utf-8")
    os.chmod(path, mode)


def reload(h):
    status, data = harness.http("POST", h.base_url + "/-/reload", timeout=10)
    return status, data.decode("utf-8", "replace")


def post(h, path, name):
    payload = harness.am_payload([{"labels": {"alertname": name, "instance": "host:9100"}}])
    status, data = harness.http("POST", h.base_url + path, payload, timeout=10)
    assert status == 200, (status, data)


def test_a_reload_reads_the_env_file_again(mock_dingtalk, herald_factory, tmp_path):
    secrets = tmp_path / "herald.env"
    values = {"OPS_URL": mock_dingtalk.url(T1), "OPS_SECRET": DT_SECRET}
    write_env(secrets, values)
    receivers = {
        "console": {"channel": "console", "path": str(tmp_path / "console.jsonl")},
        "ops": {"channel": "dingtalk", "url": harness.lua_env("OPS_URL"),
                "secret": harness.lua_env("OPS_SECRET"), "template": "dingtalk"},
    }
    top = {"env_file": str(secrets)}
    # The process environment has neither variable: only the file does.
    h = herald_factory(receivers, default_receiver="console", extra=top,
                       env={"OPS_SECRET": "SECnotthisone0000000000000000000"})
    post(h, "/webhook/ops", "FromTheFile")
    mock_dingtalk.wait_for(lambda m: m.accepted(T1) or m.rejected(), timeout=10)
    assert mock_dingtalk.rejected() == [] and len(mock_dingtalk.accepted(T1)) == 1

    # A new robot whose URL only the file knows: a reload, no restart.
    values["WMS_URL"] = mock_dingtalk.url(T2)
    write_env(secrets, values)
    receivers["wms"] = {"channel": "dingtalk_keyword", "url": harness.lua_env("WMS_URL"),
                        "keyword": KEYWORD}
    h.write_config(receivers, "console", top)
    status, body = reload(h)
    assert status == 200, body
    post(h, "/webhook/wms", "AfterRotation")
    mock_dingtalk.wait_for(lambda m: m.accepted(T2) or m.rejected(), timeout=10)
    assert mock_dingtalk.rejected() == [] and len(mock_dingtalk.accepted(T2)) == 1

    # Readable by everyone: refused, named, and the old configuration serves.
    os.chmod(secrets, 0o644)
    status, body = reload(h)
    assert status == 500, body
    assert "env_file" in body and "readable by every user" in body, body
    post(h, "/webhook/ops", "StillServing")
    mock_dingtalk.wait_for(lambda m: len(m.accepted(T1)) == 2 or m.rejected(), timeout=10)
    assert mock_dingtalk.rejected() == []
    harness.wait_outbox_empty(h)
    # the tokens as a URL carries them: "T1" alone is in every timestamp
    # from 10:00 to 19:59
    for text in (h.log(), body):
        for secret in (DT_SECRET, "access_token=" + T1, "access_token=" + T2):
            assert secret not in text, "a value of the env_file was printed"
