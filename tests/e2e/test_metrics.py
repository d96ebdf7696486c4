"""/metrics an operator can alert on (README.md, "HTTP endpoints"): build
info, the standard process metrics, the delivery latency histogram per
receiver, the last reload's result and time, the dead letters now, the
targets their service paused, and the age of the oldest waiting
notification."""

import time

import harness
from harness import DT_SECRET, T1

LATENCY = "herald_delivery_latency_seconds"
BOUNDS = ["0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300", "+Inf"]


def ops(mock):
    return {"channel": "dingtalk", "url": mock.url(T1), "secret": harness.lua_env("DT_SECRET"),
            "template": "dingtalk"}


def console(tmp_path, name):
    return {"channel": "console", "path": str(tmp_path / (name + ".jsonl"))}


def start(herald_factory, receivers, extra=None):
    return herald_factory(receivers, default_receiver="ops", env={"DT_SECRET": DT_SECRET},
                          extra=dict({"delivery": harness.FAST_RETRIES}, **(extra or {})))


def fire(h, name, receiver="ops"):
    payload = harness.am_payload([{"labels": {"alertname": name, "instance": "db:9100"},
                                   "annotations": {"summary": "%s is broken" % name}}])
    status, data = harness.http("POST", h.base_url + "/webhook/" + receiver, payload)
    assert status == 200, (status, data)


def gauge(h, name):
    return harness.metrics(h.base_url)[name]


def histogram(m, receiver):
    """{le: cumulative count}, sum and count of the receiver's latency."""
    label = 'receiver="%s"' % receiver
    buckets = {le: m['%s_bucket{%s,le="%s"}' % (LATENCY, label, le)] for le in BOUNDS}
    return buckets, m["%s_sum{%s}" % (LATENCY, label)], m["%s_count{%s}" % (LATENCY, label)]


def test_the_latency_histogram_counts_each_receivers_deliveries(mock_dingtalk, herald_factory,
                                                                tmp_path):
    t0 = time.time()
    h = start(herald_factory, {"ops": ops(mock_dingtalk), "quick": console(tmp_path, "quick")})
    assert gauge(h, "herald_oldest_waiting_notification_age_seconds") == 0
    # ops's first attempt fails: its one delivery waits out a backoff
    # (50..100 ms) before it goes, so its latency is at least that
    mock_dingtalk.fail_next(T1, 1, http_status=500)
    fire(h, "Slow0")
    for i in range(3):
        fire(h, "Quick%d" % i, receiver="quick")
    harness.wait_until(lambda: gauge(h, "herald_deliveries_total") == 4, timeout=15,
                       message="four deliveries")
    harness.wait_outbox_empty(h)
    elapsed = time.time() - t0
    m = harness.metrics(h.base_url)

    buckets, total, count = histogram(m, "quick")
    assert count == 3 and buckets["+Inf"] == 3, (buckets, count)
    assert 0 <= total <= 3 * elapsed, total
    buckets, total, count = histogram(m, "ops")
    assert count == 1 and buckets["+Inf"] == 1, (buckets, count)
    assert 0.05 <= total <= elapsed, total
    # the one delivery is in the first bucket that holds its latency
    first = next(le for le in BOUNDS if buckets[le] == 1)
    assert first == "+Inf" or float(first) >= total, (first, total)
    for b in (histogram(m, r)[0] for r in ("ops", "quick")):
        assert [b[le] for le in BOUNDS] == sorted(b[le] for le in BOUNDS), b
    # nothing waits any more
    assert m["herald_oldest_waiting_notification_age_seconds"] == 0, m


def test_a_refused_reload_sets_last_reload_successful_to_0_and_a_good_one_to_1(
        mock_dingtalk, herald_factory):
    before = time.time()
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    m = harness.metrics(h.base_url)
    assert m["herald_config_last_reload_successful"] == 1, m
    started = m["herald_config_last_reload_success_timestamp_seconds"]
    assert before - 1 <= started <= time.time() + 1, (before, started)

    good = h.config_path.read_text(encoding="utf-8")
    h.config_path.write_text(good + "\nthis is not lua\n", encoding="utf-8")
    status, _ = harness.http("POST", h.base_url + "/-/reload", timeout=10)
    assert status == 500
    m = harness.metrics(h.base_url)
    assert m["herald_config_last_reload_successful"] == 0, m
    assert m["herald_config_last_reload_success_timestamp_seconds"] == started, m

    h.config_path.write_text(good, encoding="utf-8")
    status, _ = harness.http("POST", h.base_url + "/-/reload", timeout=10)
    assert status == 200
    m = harness.metrics(h.base_url)
    assert m["herald_config_last_reload_successful"] == 1, m
    assert started < m["herald_config_last_reload_success_timestamp_seconds"] <= time.time() + 1, m


def dead_rows(h, n):
    status, rows = harness.api_get(h, "deadletters")
    assert status == 200, rows
    return rows if len(rows) == n else None


def test_the_dead_letters_gauge_follows_dead_letters_retries_drops_and_restarts(
        mock_dingtalk, herald_factory):
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    assert gauge(h, "herald_dead_letters") == 0
    mock_dingtalk.fail_next(T1, 2, 310000)  # sign not match: given up at once
    fire(h, "Dead0")
    harness.wait_until(lambda: gauge(h, "herald_dead_letters") == 1, timeout=15,
                       message="herald_dead_letters 1")
    fire(h, "Dead1")
    harness.wait_until(lambda: gauge(h, "herald_dead_letters") == 2, timeout=15,
                       message="herald_dead_letters 2")
    rows = harness.wait_until(lambda: dead_rows(h, 2), timeout=15, message="two dead letters")
    [first] = [r for r in rows if "Dead0" in r["title"]]
    [second] = [r for r in rows if "Dead1" in r["title"]]

    status, data = harness.http("POST", h.base_url + "/api/v1/deadletters/%d/retry" % first["id"])
    assert status == 200, (status, data)
    harness.wait_until(lambda: gauge(h, "herald_dead_letters") == 1, timeout=15,
                       message="herald_dead_letters 1 after the retry")
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=15)

    # counted from the store at start: right at the first scrape
    h.stop()
    h.start()
    assert gauge(h, "herald_dead_letters") == 1

    # a drop from the command line is another process's write
    rc, out, err = harness.herald_cli(h, "queue", "drop", str(second["id"]))
    assert rc == 0, (rc, out, err)
    harness.wait_until(lambda: gauge(h, "herald_dead_letters") == 0, timeout=15,
                       message="herald_dead_letters 0 after the drop")


def test_the_oldest_waiting_age_grows_while_a_receivers_robot_fails(mock_dingtalk,
                                                                    herald_factory):
    # the backoff outlasts the test: the notification waits throughout
    h = start(herald_factory, {"ops": ops(mock_dingtalk)},
              extra={"delivery": {"retry_initial": "1h", "retry_max_delay": "1h"},
                     "shutdown_timeout": "1s"})
    age = "herald_oldest_waiting_notification_age_seconds"
    assert gauge(h, age) == 0
    mock_dingtalk.fail_next(T1, 1, http_status=500)
    fire(h, "Waiting0")
    harness.wait_until(lambda: harness.retries(h), timeout=15, message="a retry is logged")
    first = harness.wait_until(lambda: gauge(h, age), timeout=15, message="an age above 0")
    assert first > 0
    harness.wait_until(lambda: gauge(h, age) > first, timeout=15, message="the age grows")
    assert mock_dingtalk.accepted() == []


def test_a_robot_dingtalk_answered_130101_is_a_paused_target_across_a_restart(
        mock_dingtalk, herald_factory):
    h = start(herald_factory, {"ops": ops(mock_dingtalk)}, extra={"shutdown_timeout": "1s"})
    assert gauge(h, "herald_paused_targets") == 0
    mock_dingtalk.fail_next(T1, 1, 130101)
    fire(h, "Throttled0")
    harness.wait_until(lambda: gauge(h, "herald_paused_targets") == 1, timeout=15,
                       message="herald_paused_targets 1")
    assert [d for _, _, d in harness.retries(h)] == [600000], h.log_tail()
    h.stop()
    h.start()
    assert gauge(h, "herald_paused_targets") == 1


def test_build_info_and_process_metrics_are_present_and_plausible(mock_dingtalk, herald_factory):
    before = time.time()
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    status, data = harness.http("GET", h.base_url + "/metrics")
    assert status == 200
    text = data.decode("utf-8")
    assert "# TYPE herald_build_info gauge\n" in text, text
    m = harness.metrics(h.base_url)
    [version] = [k for k in m if k.startswith('herald_build_info{version="')]
    assert m[version] == 1 and version != 'herald_build_info{version=""}', version
    assert m["process_resident_memory_bytes"] > 1024 * 1024, m
    assert 3 < m["process_open_fds"] <= m["process_max_fds"], m
    assert m["process_cpu_seconds_total"] >= 0, m
    # /proc gives the start in clock ticks after a boot time in whole seconds
    assert before - 2 <= m["process_start_time_seconds"] <= time.time() + 1, (before, m)
    for family in ("process_cpu_seconds_total counter", "process_resident_memory_bytes gauge",
                   "process_open_fds gauge", "process_max_fds gauge",
                   "process_start_time_seconds gauge", LATENCY + " histogram",
                   "herald_dead_letters gauge", "herald_paused_targets gauge",
                   "herald_oldest_waiting_notification_age_seconds gauge",
                   "herald_config_last_reload_successful gauge",
                   "herald_config_last_reload_success_timestamp_seconds gauge"):
        assert "# TYPE %s\n" % family in text, family
