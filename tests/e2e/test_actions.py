"""Action links: a firing message carries signed links to herald's page;
following one and confirming silences the alerts (in the real
Alertmanager when the configuration names one, else in herald) and posts
a confirmation to the robot; tampered, expired and used links are
refused with 403, and nothing changes."""

import base64
import hashlib
import hmac
import http.client
import json
import re
import sqlite3
import time
import urllib.parse

import pytest

import harness
from harness import DT_SECRET, T1

LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100", "severity": "critical"}
TIMEOUT = 30.0
LINK = re.compile(r"\[(1小时|4小时|24小时|认领)\]\((http[^)]+)\)")


def receivers(mock):
    return {"ops": {"channel": "dingtalk", "url": mock.url(T1),
                    "secret": harness.lua_env("DT_SECRET"), "template": "dingtalk"}}


def start_herald(herald_factory, mock, extra=None):
    """herald whose external_url is its own address (known once it has a port)."""
    h = herald_factory(receivers(mock), default_receiver="ops", env={"DT_SECRET": DT_SECRET},
                       start=False)
    h.write_config(receivers(mock), "ops",
                   dict(extra or {}, external_url="http://127.0.0.1:%d/" % h.port))
    h.start()
    return h


def texts(mock):
    return [harness.message_text(r["json"]) for r in mock.accepted(T1)]


def wait_text(mock, needle, skip=0):
    """The first accepted text, after `skip`, holding needle."""
    def find():
        return [t for t in texts(mock)[skip:] if needle in t]
    harness.wait_until(lambda: find(), timeout=TIMEOUT,
                       message="no message holding %r; got %r" % (needle, texts(mock)))
    return find()[0]


def links(text):
    return dict(LINK.findall(text))


def page(method, url, form=None, source="127.0.0.1"):
    """(status, body text) of the action page, from a given client address."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15,
                                      source_address=(source, 0))
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, parts.path, body=body, headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.read().decode("utf-8")
    conn.close()
    return out


def change_one_byte(url):
    head, token = url.rsplit("/", 1)
    i = len(token) // 3
    return "%s/%s%s%s" % (head, token[:i], "A" if token[i] != "A" else "B", token[i + 1:])


def herald_silences(h):
    rc, out, err = harness.herald_cli(h, "silence", "list", "-o", "json")
    assert rc == 0, err
    return json.loads(out)


@pytest.mark.concurrency
def test_silence_link_creates_a_silence_in_alertmanager(mock_dingtalk, herald_factory,
                                                        alertmanager_factory):
    am_port = harness.free_port()
    h = start_herald(herald_factory, mock_dingtalk,
                     {"alertmanager": {"url": "http://127.0.0.1:%d" % am_port}})
    am = alertmanager_factory(h.base_url + "/webhook", port=am_port, repeat_interval="3s")
    am.fire(LABELS, {"summary": "host down"})
    firing = wait_text(mock_dingtalk, "静默")
    assert set(links(firing)) == {"1小时", "4小时", "24小时", "认领"}, firing
    link = links(firing)["4小时"]
    assert link.startswith(h.base_url + "/action/")

    status, body = page("GET", link)
    assert status == 200 and "HostDown" in body and "<form" in body and "4 小时" in body, body
    assert "<script" not in body

    status, body = page("POST", link, {"name": "张三", "comment": "rack 3"})
    assert status == 200, body
    [silence] = [s for s in harness.http_json("GET", am.base_url + "/api/v2/silences")[1]
                 if s["status"]["state"] == "active"]
    # a group link silences by the group's labels (group_by: alertname)
    assert silence["matchers"] == [{"name": "alertname", "value": "HostDown", "isRegex": False,
                                    "isEqual": True}]
    assert silence["createdBy"] == "张三" and silence["comment"] == "via herald: rack 3"
    ends = harness.api_time_ms(silence["endsAt"]) - harness.api_time_ms(silence["startsAt"])
    assert abs(ends - 4 * 3600 * 1000) < 5000
    assert "#/silences/" + silence["id"] in body

    confirmation = wait_text(mock_dingtalk, "已静默 4 小时")
    assert "HostDown" in confirmation and "by 张三" in confirmation

    # Alertmanager holds the alert back now: a new alert of the group is
    # suppressed, and no HostDown message comes while another group's
    # alert is notified and repeated
    am.fire(dict(LABELS, instance="10.0.0.12:9100"))
    harness.wait_until(lambda: any(a["labels"].get("instance") == "10.0.0.12:9100"
                                   and a["status"]["state"] == "suppressed"
                                   and silence["id"] in a["status"]["silencedBy"]
                                   for a in am.alerts()), timeout=TIMEOUT)
    before = len(texts(mock_dingtalk))
    am.fire({"alertname": "Marker", "severity": "info"})
    harness.wait_until(lambda: sum("Marker" in t for t in texts(mock_dingtalk)[before:]) >= 2,
                       timeout=TIMEOUT)
    later = texts(mock_dingtalk)[before:]
    assert not [t for t in later if "HostDown" in t and "已静默" not in t], later

    # the link was used: the same link again is refused, and makes no silence
    status, body = page("POST", link, {"name": "李四"})
    assert status == 403 and "张三" in body, body
    assert len(harness.http_json("GET", am.base_url + "/api/v2/silences")[1]) == 1
    assert "already used" in h.log()


def test_silence_in_herald_without_alertmanager_and_api_auth(mock_dingtalk, herald_factory):
    h = start_herald(herald_factory, mock_dingtalk,
                     {"auth": {"bearer_token": "tok-e2e-actions-0123456789"}})
    token = {"Authorization": "Bearer tok-e2e-actions-0123456789"}
    alert = {"labels": LABELS, "annotations": {"summary": "host down"}}
    status, _, _ = harness.http_full("POST", h.base_url + "/api/v2/alerts", [alert],
                                     headers=token)
    assert status == 200
    link = links(wait_text(mock_dingtalk, "静默"))["1小时"]

    # the page needs no API credentials: the signature authorizes it
    status, body = page("POST", link, {"name": "alice"})
    assert status == 200 and "herald silence" in body, body
    [silence] = herald_silences(h)
    # one alert posted directly: silenced by all its labels
    assert silence["matchers"] == ('alertname="HostDown", instance="10.0.0.11:9100", '
                                   'severity="critical"')
    assert silence["createdBy"] == "alice" and silence["comment"] == "via herald"
    wait_text(mock_dingtalk, "已静默 1 小时")

    # the next post of the alert is held back by it
    before = len(texts(mock_dingtalk))
    alert2 = dict(alert, labels=dict(LABELS))
    status, _, _ = harness.http_full("POST", h.base_url + "/api/v2/alerts",
                                     [dict(alert2, startsAt=harness.rfc3339(
                                         harness.now_seconds()))], headers=token)
    assert status == 200
    def silenced():
        body = harness.http_full("GET", h.base_url + "/api/v1/alerts", headers=token)[2]
        return [a for a in json.loads(body) if a["silenced_by"] == silence["id"]]
    harness.wait_until(silenced, timeout=TIMEOUT)
    assert len(texts(mock_dingtalk)) == before


def store_key(h):
    db = sqlite3.connect(str(h.workdir / "data" / "herald.db"))
    [(key_id, secret)] = db.execute(
        "SELECT id, secret FROM action_keys ORDER BY id DESC LIMIT 1").fetchall()
    db.close()
    return key_id, bytes.fromhex(secret)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_link(h, payload):
    key_id, secret = store_key(h)
    payload = b64url(json.dumps(dict(payload, k=key_id)).encode())
    mac = hmac.new(secret, ("herald-action-v1." + payload).encode(), hashlib.sha256).digest()
    return "%s/action/%s.%s" % (h.base_url, payload, b64url(mac))


def test_refusals_change_nothing(mock_dingtalk, herald_factory):
    h = start_herald(herald_factory, mock_dingtalk)
    status, _, _ = harness.http_full("POST", h.base_url + "/api/v2/alerts",
                                     [{"labels": LABELS}])
    assert status == 200
    link = links(wait_text(mock_dingtalk, "静默"))["1小时"]

    tampered = change_one_byte(link)
    for method, form in (("GET", None), ("POST", {"name": "mallory"})):
        status, body = page(method, tampered, form)
        assert status == 403 and "改动" in body and "altered" in body, body
    assert "tampered" in h.log()
    token = link.rsplit("/", 1)[1]
    assert token.split(".")[1] not in h.log()

    # a link signed with herald's key whose time has passed
    expired = signed_link(h, {"a": "silence", "d": 3600, "f": [], "m": LABELS, "r": "ops",
                              "e": int(time.time()) - 60, "n": "0" * 32})
    status, body = page("POST", expired, {"name": "mallory"})
    assert status == 403 and "过期" in body and "expired" in body, body
    assert herald_silences(h) == []

    # a form over 4 KiB is refused, and uses nothing
    status, body = page("POST", link, {"name": "bob", "comment": "x" * 5000})
    assert status == 413, body
    # a form without a name is asked again, and uses nothing
    status, body = page("POST", link, {"name": "  "})
    assert status == 400 and "<form" in body
    status, body = page("POST", link, {"name": "bob"})
    assert status == 200
    assert len(herald_silences(h)) == 1
    status, body = page("POST", link, {"name": "bob"})
    assert status == 403 and "已被 bob" in body
    assert len(herald_silences(h)) == 1


def test_pages_are_rate_limited_per_client(mock_dingtalk, herald_factory):
    h = start_herald(herald_factory, mock_dingtalk)
    bogus = h.base_url + "/action/bogus.token"
    answers = [page("GET", bogus, source="127.0.0.2")[0] for _ in range(30)]
    assert answers[0] == 403 and 429 in answers, answers
    # another client is still answered
    assert page("GET", bogus, source="127.0.0.1")[0] == 403


def acknowledgement(h, fingerprint=None):
    alerts = harness.http_json("GET", h.base_url + "/api/v1/alerts")[1]
    return [a["acknowledged"] for a in alerts if fingerprint in (None, a["fingerprint"])]


def test_ack_link_acknowledges_once(mock_dingtalk, herald_factory):
    h = start_herald(herald_factory, mock_dingtalk)
    status, _, _ = harness.http_full("POST", h.base_url + "/api/v2/alerts",
                                     [{"labels": LABELS}])
    assert status == 200
    first = links(wait_text(mock_dingtalk, "认领"))
    status, body = page("GET", first["认领"])
    assert status == 200 and "认领" in body and "HostDown" in body
    status, body = page("POST", first["认领"], {"name": "张三", "comment": "looking"})
    assert status == 200 and "已认领" in body, body
    [ack] = acknowledgement(h)
    assert ack["by"] == "张三" and ack["comment"] == "looking"
    wait_text(mock_dingtalk, "已认领，by 张三")
    # the page of another link of the message shows who acknowledged
    status, body = page("GET", first["1小时"])
    assert status == 200 and "acknowledged by 张三" in body, body
    # the used link's page says it was used

    status, body = page("GET", first["认领"])
    assert status == 403 and "已被 张三" in body, body
    # the same link again: refused, and the acknowledgement stays
    status, body = page("POST", first["认领"], {"name": "李四"})
    assert status == 403 and "已被 张三" in body, body
    assert acknowledgement(h) == [ack]
    assert "already used" in h.log()


def test_key_rotation_keeps_old_links(mock_dingtalk, herald_factory):
    h = start_herald(herald_factory, mock_dingtalk)
    harness.http_full("POST", h.base_url + "/api/v2/alerts", [{"labels": LABELS}])
    old = links(wait_text(mock_dingtalk, "静默"))
    rc, out, err = harness.herald_cli(h, "action-key", "rotate")
    assert rc == 0 and "key 2" in out, err
    status, _, _ = harness.http_full("POST", h.base_url + "/-/reload")
    assert status == 200
    before = len(texts(mock_dingtalk))
    other = dict(LABELS, instance="10.0.0.12:9100")
    harness.http_full("POST", h.base_url + "/api/v2/alerts", [{"labels": other}])
    new = links(wait_text(mock_dingtalk, "静默", skip=before))
    # signed with the new key, and the old key's link still works
    new_token = new["1小时"].rsplit("/", 1)[1].split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(new_token + "=" * (-len(new_token) % 4)))
    assert payload["k"] == 2
    assert page("POST", old["1小时"], {"name": "carol"})[0] == 200
    assert page("POST", new["1小时"], {"name": "carol"})[0] == 200
    assert len(herald_silences(h)) == 2


def test_links_on_postgresql_are_shared_by_replicas(mock_dingtalk, pg_herald_factory):
    """Two replicas on one database: a link one signed works on the other,
    once."""
    made = []
    for _ in range(2):
        h = pg_herald_factory(receivers(mock_dingtalk), "ops", env={"DT_SECRET": DT_SECRET},
                              start=False)
        made.append(h)
    for h in made:
        h.write_config(receivers(mock_dingtalk), "ops",
                       {"external_url": "http://127.0.0.1:%d" % h.port})
    made[1].dsn = made[0].dsn
    made[1].env["HERALD_PG_DSN"] = made[0].dsn
    for h in made:
        h.start()
    first, second = made
    harness.http_full("POST", first.base_url + "/api/v2/alerts", [{"labels": LABELS}])
    link = links(wait_text(mock_dingtalk, "认领"))
    on_second = link["1小时"].replace(first.base_url, second.base_url)
    status, body = page("POST", on_second, {"name": "dave"})
    assert status == 200, body
    assert len(herald_silences(first)) == 1
    status, body = page("POST", link["1小时"], {"name": "erin"})
    assert status == 403 and "已被 dave" in body, body
    status, body = page("GET", link["1小时"])
    assert status == 403 and "已被 dave" in body, body
    status, body = page("POST", link["认领"], {"name": "erin"})
    assert status == 200, body
    assert acknowledgement(first)[0]["by"] == "erin"


def test_store_copy_keeps_links_working(mock_dingtalk, herald_factory, pg_herald_factory):
    sqlite = start_herald(herald_factory, mock_dingtalk)
    harness.http_full("POST", sqlite.base_url + "/api/v2/alerts", [{"labels": LABELS}])
    link = links(wait_text(mock_dingtalk, "认领"))
    assert page("POST", link["认领"], {"name": "frank"})[0] == 200
    sqlite.stop()
    pg = pg_herald_factory(receivers(mock_dingtalk), "ops", env={"DT_SECRET": DT_SECRET},
                           start=False)
    pg.write_config(receivers(mock_dingtalk), "ops",
                    {"external_url": "http://127.0.0.1:%d" % pg.port})
    rc, out, err = harness.herald_cli(pg, "store", "copy", "--from", sqlite.workdir / "data",
                                      "--to-env", "HERALD_PG_DSN")
    assert rc == 0 and "1 action link keys, 1 action links used" in out, (out, err)
    pg.start()
    moved = {k: v.replace(sqlite.base_url, pg.base_url) for k, v in link.items()}
    status, body = page("POST", moved["1小时"], {"name": "frank"})
    assert status == 200, body
    status, body = page("POST", moved["认领"], {"name": "grace"})
    assert status == 403 and "已被 frank" in body, body


def test_a_failed_alertmanager_call_leaves_the_link_usable(mock_dingtalk, herald_factory):
    nobody = harness.free_port()
    h = start_herald(herald_factory, mock_dingtalk,
                     {"alertmanager": {"url": "http://127.0.0.1:%d" % nobody}})
    harness.http_full("POST", h.base_url + "/api/v2/alerts", [{"labels": LABELS}])
    link = links(wait_text(mock_dingtalk, "静默"))["1小时"]
    for _ in range(2):
        status, body = page("POST", link, {"name": "henry"})
        assert status == 502 and "cannot reach Alertmanager" in body, body
    assert not [t for t in texts(mock_dingtalk) if "已静默" in t]
