"""Operating replicas (README.md, "Replicas: operations"): /-/ready follows
the store's database, GET /api/v1/replicas lists the heralds serving from
the store with the digest of the configuration each serves, /metrics
counts them, and herald warns when live replicas serve different
configurations.

Until replicas share the outbox a second herald on one database is
refused, so a second replica here is a row written into the replicas
table, as its heartbeat would write it."""

import json
import re

import pytest

import harness
import test_reliability as reliability


def console(tmp_path):
    return {"channel": "console", "path": str(tmp_path / "console.jsonl")}


def logged_digest(h):
    """The configuration digest herald's start line reports (written just
    after it starts answering)."""
    found = harness.wait_until(lambda: re.search(r"config digest ([0-9a-f]{32})", h.log()),
                               timeout=10, message="the start line with the config digest")
    return found.group(1)


def replicas(h):
    status, body = harness.api_get(h, "replicas")
    assert status == 200, (status, body)
    return body


def ready(h):
    status, body = harness.http("GET", h.base_url + "/-/ready")
    return status, body.decode()


# ----- one herald on SQLite ----------------------------------------------------
def test_a_sqlite_herald_lists_itself_alone(herald_factory, tmp_path):
    h = herald_factory({"console": console(tmp_path)}, "console")
    body = replicas(h)
    [me] = body["replicas"]
    assert me["self"] is True and me["live"] is True, me
    assert me["config_digest"] == logged_digest(h), (me, h.log_tail())
    assert re.fullmatch(r"[^:]+:%d:[0-9a-f]{8}" % h.proc.pid, me["id"]), me
    assert me["version"] and me["started_at"] and me["heartbeat_at"], me
    assert body["configs_differ"] is False, body
    m = harness.metrics(h.base_url)
    assert m["herald_replicas"] == 1 and m["herald_replica_config_mismatch"] == 0, m
    assert ready(h) == (200, "Ready.\n")
    assert harness.http("POST", h.base_url + "/api/v1/replicas")[0] == 405
    # the command line is not the serving herald: SQLite keeps no heartbeats
    rc, out, err = harness.herald_cli(h, "replicas")
    assert rc == 0 and "no replica heartbeats in this store" in out, (rc, out, err)


# ----- on PostgreSQL ------------------------------------------------------------
def test_the_heartbeat_advances_and_a_replica_serving_another_configuration_is_flagged(
        pg_herald_factory, postgres, tmp_path):
    h = pg_herald_factory({"console": console(tmp_path)}, "console")
    digest = logged_digest(h)
    [me] = replicas(h)["replicas"]
    assert me["self"] and me["live"] and me["config_digest"] == digest, me
    first_beat = harness.api_time_ms(me["heartbeat_at"])

    def beat_later():
        [now] = replicas(h)["replicas"]
        return harness.api_time_ms(now["heartbeat_at"]) > first_beat and now
    later = harness.wait_until(beat_later, timeout=15, message="the heartbeat written again")
    assert later["started_at"] == me["started_at"], (me, later)
    assert postgres.psql("SELECT id, config_digest FROM replicas", h.database) == \
        "%s|%s" % (me["id"], digest)

    # another replica, serving another configuration, its heartbeat
    # written (ahead of the clock, so it stays live however long this
    # test takes)
    other_digest = "0123456789abcdef0123456789abcdef"
    now_ms = "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    postgres.psql("INSERT INTO replicas VALUES ('other-host:4242', '9.9.9', '%s', %s, %s + 600000)"
                  % (other_digest, now_ms, now_ms), h.database)

    def flagged():
        body = replicas(h)
        return len(body["replicas"]) == 2 and body["configs_differ"] and body
    body = harness.wait_until(flagged, timeout=10, message="configs_differ in the API")
    other = [r for r in body["replicas"] if not r["self"]][0]
    assert other == dict(other, id="other-host:4242", version="9.9.9",
                         config_digest=other_digest, live=True), other
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_replica_config_mismatch"]
                       == 1, timeout=10, message="the mismatch gauge at 1")
    assert harness.metrics(h.base_url)["herald_replicas"] == 2
    harness.wait_until(lambda: "live replicas serve different configurations" in h.log(),
                       timeout=10, message="the warning logged")
    assert "other-host:4242 serves %s" % other_digest in h.log(), h.log_tail()
    assert h.log().count("live replicas serve different configurations") == 1, h.log_tail()

    rc, out, err = harness.herald_cli(h, "replicas")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "VERSION", "CONFIG", "DIGEST", "STARTED", "LAST",
                                "HEARTBEAT", "STATE"], out
    assert [(line.split()[0], line.split()[2], line.split()[-1]) for line in lines[1:3]] == \
        sorted([(me["id"], digest, "live"), ("other-host:4242", other_digest, "live")]), out
    assert lines[3] == "warning: the live replicas serve different configurations", out
    rc, out, err = harness.herald_cli(h, "replicas", "-o", "json")
    assert rc == 0, err
    assert [r["id"] for r in json.loads(out)["replicas"]] == \
        [r["id"] for r in replicas(h)["replicas"]], out

    # that replica falls silent: shown as gone, no longer counted
    postgres.psql("UPDATE replicas SET heartbeat_ms = %s - 60000 WHERE id = 'other-host:4242'"
                  % now_ms, h.database)

    def gone():
        body = replicas(h)
        return not body["configs_differ"] and body
    body = harness.wait_until(gone, timeout=10, message="the silent replica shown as gone")
    assert [(r["id"], r["live"]) for r in body["replicas"]] == \
        [(me["id"], True), ("other-host:4242", False)], body
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_replicas"] == 1, timeout=10,
                       message="the live count back to 1")
    assert harness.metrics(h.base_url)["herald_replica_config_mismatch"] == 0
    harness.wait_until(lambda: "live replicas serve the same configuration" in h.log(),
                       timeout=10, message="the mismatch's end logged")
    h.stop()
    # a clean stop takes its row away: it is not a replica gone missing
    assert postgres.psql("SELECT id FROM replicas", h.database) == "other-host:4242"


def test_a_reload_changes_the_digest_a_replica_reports(pg_herald_factory, tmp_path):
    h = pg_herald_factory({"console": console(tmp_path)}, "console")
    before = logged_digest(h)
    h.write_config({"console": console(tmp_path), "second": console(tmp_path)}, "console")
    assert harness.http("POST", h.base_url + "/-/reload", timeout=30)[0] == 200
    found = harness.wait_until(
        lambda: re.search(r"generation 2 of .* is serving \(config digest ([0-9a-f]{32})\)",
                          h.log()), timeout=10, message="the reload's line with its digest")
    assert found.group(1) != before, h.log_tail()

    def reported():
        [me] = replicas(h)["replicas"]
        return me["config_digest"] == found.group(1)
    harness.wait_until(reported, timeout=10, message="the heartbeat carrying the new digest")


@pytest.mark.concurrency
def test_readiness_follows_the_database(herald_factory, tmp_path):
    """Stopped: /-/ready and ingest answer 503 (a load balancer and
    Alertmanager go to another replica); back: both answer 200 again,
    without a restart."""
    server = harness.Postgres().start()
    try:
        database = server.create_database("herald_ready")
        h = herald_factory({"console": console(tmp_path)}, "console",
                           env={"HERALD_PG_DSN": server.dsn(database)},
                           extra={"store": {"backend": "postgresql",
                                            "dsn": harness.lua_env("HERALD_PG_DSN")}})
        assert ready(h) == (200, "Ready.\n")

        server.stop_server()
        status, body = harness.wait_until(lambda: ready(h)[0] == 503 and ready(h), timeout=15,
                                          message="/-/ready answers 503")
        assert "database is unreachable" in body, body
        assert server.PASSWORD not in body and "127.0.0.1" not in body, body
        assert reliability.post(h, [reliability.alert("DuringOutage")])[0] == 503
        assert harness.http("GET", h.base_url + "/-/healthy")[0] == 200

        server.start_server()
        harness.wait_until(lambda: ready(h) == (200, "Ready.\n"), timeout=30, interval=0.5,
                           message="/-/ready answers 200 again")
        harness.wait_until(lambda: reliability.post(h, [reliability.alert("AfterOutage")])[0]
                           == 200, timeout=30, interval=0.5, message="ingest answers 200 again")
        harness.wait_until(lambda: any("AfterOutage" in line["title"] for line in
                                       harness.read_json_lines(tmp_path / "console.jsonl")),
                           timeout=10, message="the alert posted after the outage delivered")
        assert server.PASSWORD not in h.log()
        harness.wait_outbox_empty(h)
        h.stop()
    finally:
        server.stop()
