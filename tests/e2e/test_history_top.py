"""`herald history top` and GET /api/v1/history/top (README.md, "Command
line"): by any label or by receiver, counting firings: an alert once each
time it started firing, however many receivers it went to and however often
it was sent again. A name that is not a label name is refused, naming it."""

import datetime
import hashlib
import json
import re
import urllib.parse

import pytest

import harness

CONSOLE = {"channel": "console"}


def fire(h, labels, starts_at, status="firing"):
    """One alert posted to /webhook (the bundled route picks the receivers);
    it is on disk, history included, once herald answers 200. Its
    fingerprint identifies its label set, as Alertmanager's does."""
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    alert = {"labels": labels, "status": status, "startsAt": harness.rfc3339(starts_at),
             "fingerprint": fingerprint}
    status_code, body = harness.http("POST", h.base_url + "/webhook", harness.am_payload([alert]))
    assert status_code == 200, (status_code, body)


@pytest.fixture
def story(herald_factory):
    """The bundled route sends project="wms" to wms, "erp" to erp, the
    rest to console, and critical alerts to oncall as well. (dedup_window is
    0s here, so a repeat is a notification of its own.)"""
    h = herald_factory({"console": CONSOLE, "wms": CONSOLE, "erp": CONSOLE, "oncall": CONSOLE},
                       default_receiver="console")
    first = harness.now_seconds() - datetime.timedelta(minutes=30)
    again = first + datetime.timedelta(minutes=20)
    # to wms and oncall: two notifications, one firing
    fire(h, {"alertname": "TwoReceivers", "project": "wms", "severity": "critical"}, first)
    # the same firing sent twice: one firing
    repeated = {"alertname": "Repeated", "project": "erp", "severity": "warning"}
    fire(h, repeated, first)
    fire(h, repeated, first)
    # fires, resolves and fires again (a new startsAt): two firings
    flapping = {"alertname": "Flapping", "project": "erp", "severity": "warning"}
    fire(h, flapping, first)
    fire(h, flapping, first, status="resolved")
    fire(h, flapping, again)
    # no project label: not counted by project
    fire(h, {"alertname": "NoProject", "severity": "warning"}, first)

    rows = harness.api_get(h, "history?status=firing")[1]
    by_name = {}
    for r in rows:
        by_name.setdefault(r["alertname"], []).append(r["receiver"])
    # what a count of rows would have counted
    assert sorted(by_name["TwoReceivers"]) == ["oncall", "wms"], rows
    assert by_name["Repeated"] == ["erp", "erp"], rows
    assert by_name["Flapping"] == ["erp", "erp"], rows
    return h


def api_top(h, query):
    status, answer = harness.api_get(h, "history/top?" + query)
    assert status == 200, (query, status, answer)
    return answer


def test_top_counts_firings_by_any_label(story):
    assert api_top(story, "by=project&since=7d") == [
        {"project": "erp", "count": 3}, {"project": "wms", "count": 1}]
    assert api_top(story, "by=alertname&since=7d") == [
        {"alertname": "Flapping", "count": 2}, {"alertname": "NoProject", "count": 1},
        {"alertname": "Repeated", "count": 1}, {"alertname": "TwoReceivers", "count": 1}]
    assert api_top(story, "by=severity&limit=1") == [{"severity": "warning", "count": 4}]


def test_top_by_receiver_counts_each_receivers_firings(story):
    assert api_top(story, "by=receiver") == [
        {"receiver": "erp", "count": 3}, {"receiver": "console", "count": 1},
        {"receiver": "oncall", "count": 1}, {"receiver": "wms", "count": 1}]


def test_cli_top_by_label_prints_the_count_per_value(story):
    rc, stdout, stderr = harness.herald_cli(story, "history", "top", "--by", "project",
                                            "--since", "7d")
    assert rc == 0, (rc, stdout, stderr)
    lines = stdout.rstrip("\n").split("\n")
    assert [re.split(r"\s+", ln.strip()) for ln in lines] == [
        ["PROJECT", "COUNT"], ["erp", "3"], ["wms", "1"]], stdout
    rc, stdout, stderr = harness.herald_cli(story, "history", "top", "--by", "project",
                                            "-o", "json")
    assert rc == 0, (rc, stdout, stderr)
    assert json.loads(stdout) == api_top(story, "by=project&limit=100"), stdout


@pytest.mark.parametrize("by", ["project-name", "2xx", "a.b", ""])
def test_a_name_that_is_not_a_label_name_is_refused(story, by):
    rc, stdout, stderr = harness.herald_cli(story, "history", "top", "--by", by)
    assert rc == 2, (rc, stdout, stderr)
    assert ('--by: expected a label name (letters, digits and _, not starting with a digit) '
            'or receiver, got "%s"' % by) in stderr, stderr

    status, answer = harness.api_get(story, "history/top?by=" + urllib.parse.quote(by))
    assert status == 400, (status, answer)
    assert answer == {"status": "error", "error":
                      'by: expected a label name (letters, digits and "_", not starting with a '
                      'digit) or "receiver", got "%s"' % by}, answer


def test_a_label_named_count_is_refused(story):
    rc, stdout, stderr = harness.herald_cli(story, "history", "top", "--by", "count")
    assert rc == 2, (rc, stdout, stderr)
    assert "--by: a label named count cannot be counted" in stderr, stderr
    status, answer = harness.api_get(story, "history/top?by=count")
    assert status == 400, (status, answer)
    assert 'a label named "count" cannot be counted' in answer["error"], answer
