"""A hard deadline for every call into Lua (issue 10, item 1): a route
script or template running a pattern that backtracks for ever inside one
C call (string.find) still ends at lua.timeout, and its alert goes out
through the fallback (the default receiver, the built-in message); many
such requests at once leave /-/healthy answering; SIGTERM stops herald
while they run, even when lua.timeout is longer than the wait."""

import json
import signal
import threading

import harness

# The attack: exponential backtracking in string.find.
ROUTE = """
return function(alert, default_receiver, receivers)
  local l = alert.labels
  if l.attack == "route" or l.attack == "both" then
    print("route attack started")
    string.find(string.rep("a", 30000), ".-.-.-.-.-.-.-.-b")
  end
  return { l.to or default_receiver }
end
"""

# The same through the string metatable, and caught by pcall, which must
# not keep the template running past its deadline.
HANG = """
return function(data)
  local l = data.alerts[1].labels
  if l.attack == "template" or l.attack == "both" then
    pcall(function() return ("a"):rep(30000):find(".-.-.-.-.-.-.-.-b") end)
    return { format = "text", title = "survived", text = "pcall swallowed the timeout" }
  end
  return { format = "text", title = "hang", text = "rendered" }
end
"""

PLAIN = """
return function(data)
  return { format = "text", title = "plain", text = data.alerts[1].labels.alertname }
end
"""


def start(herald_factory, tmp_path, default_receiver, lua_timeout, extra=None):
    route, templates = harness.write_scripts(tmp_path, ROUTE, {"hang": HANG, "plain": PLAIN})
    settings = {"route": str(route), "templates": str(templates), "http_threads": 4,
                "lua": {"timeout": lua_timeout}}
    settings.update(extra or {})
    h = herald_factory(
        {"plain": {"channel": "console", "path": str(tmp_path / "plain.jsonl"), "template": "plain"},
         "hang": {"channel": "console", "path": str(tmp_path / "hang.jsonl"), "template": "hang"}},
        default_receiver=default_receiver, extra=settings)
    return h


def post(h, labels, timeout=60.0):
    body = harness.am_payload([{"labels": dict(labels)}])
    return harness.http("POST", h.base_url + "/webhook", json.dumps(body).encode(), timeout=timeout)


def test_attack_in_route_and_template_ends_and_falls_back(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path, "plain", "300ms")
    status, data = post(h, {"alertname": "RouteAttack", "attack": "route", "to": "hang"})
    assert status == 200, data
    status, data = post(h, {"alertname": "TemplateAttack", "attack": "template", "to": "hang"})
    assert status == 200, data
    harness.wait_outbox_empty(h)

    # the failing route sent its alert to the default receiver
    plain = harness.read_json_lines(tmp_path / "plain.jsonl")
    assert [(m["title"], m["text"]) for m in plain] == [("plain", "RouteAttack")], plain
    # the failing template's alert went out with the built-in message
    hang = harness.read_json_lines(tmp_path / "hang.jsonl")
    assert [m["title"] for m in hang] == ["[FIRING:1] TemplateAttack"], hang
    assert "TemplateAttack" in hang[0]["text"], hang

    m = harness.metrics(h.base_url)
    assert m["herald_route_errors_total"] == 1, m
    assert m["herald_template_errors_total"] == 1, m
    log = h.log()
    assert "route.lua:6: timeout after 300 ms" in log, h.log_tail()
    assert "hang.lua:5: timeout after 300 ms" in log, h.log_tail()


def post_all(h, count, results, timeout):
    def one(i):
        try:
            results[i] = post(h, {"alertname": "Storm%d" % i, "attack": "both"}, timeout)[0]
        except Exception as e:  # the SIGTERM test expects refused or cut connections
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    return threads


def test_concurrent_attacks_leave_healthy_answering(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path, "hang", "300ms")
    count = 13  # more than the four HTTP threads, three times over
    results = [None] * count
    threads = post_all(h, count, results, timeout=120.0)
    healthy = []
    while any(t.is_alive() for t in threads) or not healthy:
        healthy.append(harness.http("GET", h.base_url + "/-/healthy", timeout=30.0)[0])
    for t in threads:
        t.join(timeout=120.0)
    assert results == [200] * count, results
    assert set(healthy) == {200}, healthy

    harness.wait_outbox_empty(h)
    hang = harness.read_json_lines(tmp_path / "hang.jsonl")
    assert sorted(m["title"] for m in hang) == sorted(
        "[FIRING:1] Storm%d" % i for i in range(count)), hang
    m = harness.metrics(h.base_url)
    assert m["herald_route_errors_total"] == count, m
    assert m["herald_template_errors_total"] == count, m


def test_sigterm_stops_herald_while_scripts_hang(herald_factory, tmp_path):
    # A call may run for 60 s, far longer than the wait below: only
    # stopping the calls themselves lets herald exit in time.
    h = start(herald_factory, tmp_path, "hang", "60s", extra={"shutdown_timeout": "2s"})
    count = 13
    results = [None] * count
    threads = post_all(h, count, results, timeout=120.0)
    # every HTTP thread is inside the pattern
    harness.wait_until(lambda: h.log().count("route attack started") >= 4, timeout=30.0,
                       message="four requests in the route script")

    h.proc.send_signal(signal.SIGTERM)
    code = h.proc.wait(timeout=30.0)
    assert code == 0, h.log_tail()
    log = h.log()
    # the running calls were ended, not waited for
    assert "route.lua:6: stopped: herald is shutting down" in log, h.log_tail()
    assert log.rstrip().endswith("herald: stopped"), h.log_tail()
    for t in threads:
        t.join(timeout=30.0)


def test_probes_answer_while_every_ingest_worker_runs_a_script(herald_factory, tmp_path):
    """Route scripts and templates run on the ingest workers, not on the
    threads that serve connections: with both workers inside a 60 s
    pattern, the probes still answer (issue 10, item 2)."""
    h = start(herald_factory, tmp_path, "hang", "60s",
              extra={"http_threads": 2, "shutdown_timeout": "2s"})
    count = 4
    results = [None] * count
    threads = post_all(h, count, results, timeout=120.0)
    harness.wait_until(lambda: h.log().count("route attack started") >= 2, timeout=30.0,
                       message="both ingest workers in the route script")
    for path in ("/-/healthy", "/-/ready", "/metrics"):
        status, _ = harness.http("GET", h.base_url + path, timeout=30.0)
        assert status == 200, path
    assert results == [None] * count, results  # still running: the probes did not wait
    h.proc.send_signal(signal.SIGTERM)  # ends the running calls
    assert h.proc.wait(timeout=30.0) == 0, h.log_tail()
    for t in threads:
        t.join(timeout=30.0)
