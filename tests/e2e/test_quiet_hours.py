"""Quiet hours (README.md, "Quiet hours"; core/config/time_interval.c,
core/delivery/quiet.c). The intervals are written relative to the test's
clock; herald's clock is never faked:

  1. an interval covering the present (from the last minute to a minute
     or two ahead, in UTC) holds what comes for its receiver: nothing
     reaches the robot while the queue shows it waiting for quiet hours
     to end, until when; when the interval ends (the boundary herald
     computed), what was held goes as one digest;
  2. a receiver with muted = "drop" records the notification as dropped
     by quiet hours, naming the interval, and sends nothing;
  3. a receiver outside its active_time_intervals holds; a reload that
     makes the present active releases it.

2 and 3 run on the SQLite store and on PostgreSQL.

Every wait polls an observable event (the mock, the API) with a deadline."""

import datetime
import json

import pytest

import harness
from harness import DT_SECRET, T1


def robot(mock):
    return {"channel": "dingtalk", "url": mock.url(T1), "secret": harness.lua_env("DT_SECRET")}


def hhmm(minutes):
    return "%02d:%02d" % (minutes // 60, minutes % 60)


def covering_the_present(now):
    """Times from the start of the last minute to the end of the next one,
    in UTC, and the instant they end. Past midnight they are two ranges:
    to 24:00, and from 00:00 (of every day: the morning's has passed)."""
    minute = now.hour * 60 + now.minute
    start, end = max(minute - 1, 0), minute + 2
    if end <= 24 * 60:
        times = [{"start_time": hhmm(start), "end_time": hhmm(end)}]
    else:
        times = [{"start_time": hhmm(start), "end_time": "24:00"},
                 {"start_time": "00:00", "end_time": hhmm(end - 24 * 60)}]
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return times, midnight + datetime.timedelta(minutes=end)


def post(h, receiver, name):
    alert = {"labels": {"alertname": name, "instance": name.lower() + "-host"},
             "annotations": {"summary": name + " is broken"}}
    status, data = harness.http("POST", h.base_url + "/webhook/" + receiver,
                                harness.am_payload([alert]))
    assert status == 200, (status, data)


def queue_rows(h, name):
    status, rows = harness.api_get(h, "queue")
    assert status == 200, rows
    return [r for r in rows if name in r["title"]]


def held(h, name):
    """The queue's row of `name` once it is recorded as held by quiet hours."""
    rows = queue_rows(h, name)
    return rows[0] if rows and "quiet hours" in (rows[0]["last_error"] or "") else None


def texts(mock):
    return [harness.message_text(m) for m in mock.messages(T1)]


def quiet_metric(h, action):
    return harness.metrics(h.base_url).get(
        'herald_notifications_quiet_hours_total{action="%s"}' % action, 0)


def test_an_interval_covering_the_present_holds_until_it_ends(mock_dingtalk, herald_factory):
    now = datetime.datetime.now(datetime.timezone.utc)
    times, ends = covering_the_present(now)
    h = herald_factory({"ops": {**robot(mock_dingtalk), "mute_time_intervals": ["now"]}},
                       default_receiver="ops", env={"DT_SECRET": DT_SECRET},
                       extra={"time_intervals": {"now": [{"times": times}]}})
    post(h, "ops", "QuietOne")
    post(h, "ops", "QuietTwo")
    rows = [harness.wait_until(lambda n=n: held(h, n), timeout=15,
                               message="%s held by quiet hours" % n)
            for n in ("QuietOne", "QuietTwo")]
    for row in rows:
        assert "quiet hours (now): held until" in row["last_error"], row
        # the end herald computed is the interval's, to the second
        assert harness.api_time_ms(row["next_attempt_at"]) == int(ends.timestamp() * 1000), (
            row, ends)
    assert texts(mock_dingtalk) == []
    assert quiet_metric(h, "hold") == 2
    rc, out, err = harness.herald_cli(h, "queue", "list")
    assert rc == 0 and "held until" in out, (out, err)

    # still held after a restart: the store has them, and the hours are
    # looked at again
    h.stop()
    h.start()
    harness.wait_until(lambda: h.log().count("quiet hours (now): held until") == 2, timeout=15,
                       message="held again after the restart")
    for row in rows:
        again = held(h, row["title"])
        assert again and again["id"] == row["id"], again
    assert texts(mock_dingtalk) == []

    # released when the interval ends: one digest with both
    wait = (ends - datetime.datetime.now(datetime.timezone.utc)).total_seconds() + 60
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=max(wait, 10))
    assert datetime.datetime.now(datetime.timezone.utc) >= ends
    sent = texts(mock_dingtalk)
    assert len(sent) == 1 and "QuietOne" in sent[0] and "QuietTwo" in sent[0], sent
    # the outcome reaches the store after the outbox lets go of it
    for row in rows:
        harness.wait_until(lambda i=row["id"]: harness.api_get(h, "queue/%d" % i)[1]["state"]
                           == "delivered", timeout=15, message="%s delivered" % row["title"])


STORES = pytest.mark.parametrize("factory", ["herald_factory", "pg_herald_factory"],
                                 ids=["sqlite", "postgresql"])


@STORES
def test_a_drop_receiver_records_and_sends_nothing(mock_dingtalk, factory, request):
    h = request.getfixturevalue(factory)({"ops": robot(mock_dingtalk),
                        "night": {**robot(mock_dingtalk), "mute_time_intervals": ["always"],
                                  "muted": "drop"}},
                       default_receiver="ops", env={"DT_SECRET": DT_SECRET},
                       extra={"time_intervals": {"always": [{}]}})
    post(h, "night", "QuietDrop")

    def dropped():
        status, rows = harness.api_get(h, "history?receiver=night")
        assert status == 200, rows
        return rows[0] if rows and rows[0]["result"] == "dropped" else None
    row = harness.wait_until(dropped, timeout=15, message="QuietDrop dropped")
    status, detail = harness.api_get(h, "queue/%d" % row["notification"])
    assert status == 200 and detail["state"] == "dropped", detail
    assert detail["last_error"] == 'quiet hours (always): dropped (muted = "drop")', detail
    history = detail["attempt_history"]
    assert [(a["outcome"], a["by"]) for a in history] == [("dropped", "quiet hours")], history
    assert "quiet hours (always)" in history[0]["detail"], history
    assert quiet_metric(h, "drop") == 1
    # the same robot through a receiver without quiet hours: it gets this
    # one and nothing of the dropped
    post(h, "ops", "Loud")
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=15)
    sent = texts(mock_dingtalk)
    assert len(sent) == 1 and "Loud" in sent[0], sent


@STORES
def test_outside_active_intervals_holds_until_a_reload_makes_it_active(mock_dingtalk, factory,
                                                                      request):
    next_year = str(datetime.datetime.now(datetime.timezone.utc).year + 1)
    receivers = {"day": {**robot(mock_dingtalk), "active_time_intervals": ["office"]}}
    h = request.getfixturevalue(factory)(receivers, default_receiver="day", env={"DT_SECRET": DT_SECRET},
                       extra={"time_intervals": {"office": [{"years": [next_year]}]}})
    post(h, "day", "AfterHours")
    row = harness.wait_until(lambda: held(h, "AfterHours"), timeout=15,
                             message="AfterHours held outside the active interval")
    assert "quiet hours (outside office): held until %s-01-01" % next_year in row["last_error"], row
    assert texts(mock_dingtalk) == []

    # the same interval, now covering every year: the reload releases it
    h.write_config(receivers, "day", {"time_intervals": {"office": [{"weekdays": [
        "sunday:saturday"]}]}})
    status, data = harness.http("POST", h.base_url + "/-/reload")
    assert status == 200, (status, data)
    assert json.loads(data)
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=15)
    sent = texts(mock_dingtalk)
    assert len(sent) == 1 and "AfterHours" in sent[0], sent
