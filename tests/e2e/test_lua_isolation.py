"""Lua isolation through the binary (issue 10, item 3): with one HTTP
thread every request runs in the same Lua state, yet a route script that
replaces string.upper or ipairs, and a template that overwrites
herald.md_escape and sets a global, change nothing another request or
another receiver's template sees. Writes to the libraries are refused, so
those alerts go out as a failing script's always have: to the default
receiver, or with the built-in fallback message."""

import json

import harness

ROUTE = """
return function(alert, default_receiver, receivers)
  local l = alert.labels
  if l.attack == "upper" then string.upper = function() return "PWNED" end end
  local targets = {}
  for _, name in ipairs({ l.to or default_receiver }) do targets[#targets + 1] = name end
  if l.attack == "ipairs" then ipairs = function() error("ipairs was replaced") end end
  return targets
end
"""

EVIL = """
return function(data)
  leaked = "by the evil template"
  if data.alerts[1].labels.attack == "md_escape" then
    herald.md_escape = function() return "HACKED" end
  end
  return { format = "text", title = "evil", text = "evil" }
end
"""

# `calls` is a module-level local: counting 1, 2, 3... shows every request
# ran in the same Lua state.
VICTIM = """
local calls = 0
return function(data)
  calls = calls + 1
  local before = mine
  mine = "set"
  local names = {}
  for _, a in ipairs(data.alerts) do names[#names + 1] = a.labels.alertname end
  return { format = "text", title = "victim " .. calls,
           text = string.upper("abc") .. " " .. herald.md_escape("*x*") .. " leaked="
             .. tostring(leaked) .. " before=" .. tostring(before) .. " " .. table.concat(names, ",") }
end
"""

CLEAN = "ABC \\*x\\* leaked=nil before=nil "


def post(h, labels):
    body = harness.am_payload([{"labels": dict(labels)}])
    status, data = harness.http("POST", h.base_url + "/webhook", json.dumps(body).encode())
    assert status == 200, data


def test_no_request_changes_what_another_sees(herald_factory, tmp_path):
    route, templates = harness.write_scripts(tmp_path, ROUTE, {"evil": EVIL, "victim": VICTIM})
    evil_out, victim_out = tmp_path / "evil.jsonl", tmp_path / "victim.jsonl"
    h = herald_factory(
        {"evil": {"channel": "console", "path": str(evil_out), "template": "evil"},
         "victim": {"channel": "console", "path": str(victim_out), "template": "victim"}},
        default_receiver="victim",
        extra={"route": str(route), "templates": str(templates), "http_threads": 1})

    rounds = 4
    for i in range(rounds):
        post(h, {"alertname": "Upper%d" % i, "to": "victim", "attack": "upper"})
        post(h, {"alertname": "Ipairs%d" % i, "to": "evil", "attack": "ipairs"})
        post(h, {"alertname": "Md%d" % i, "to": "evil", "attack": "md_escape"})
        post(h, {"alertname": "Global%d" % i, "to": "evil"})
        post(h, {"alertname": "Plain%d" % i, "to": "victim"})

    harness.wait_outbox_empty(h)
    victim = harness.read_json_lines(victim_out)
    evil = harness.read_json_lines(evil_out)
    # every alert delivered: two per round to the victim, three to evil
    assert len(victim) == 2 * rounds and len(evil) == 3 * rounds, (victim, evil)

    # the victim's output is never affected, and every request ran in the
    # same state (the module-level count goes 1, 2, 3...)
    expected = []
    for i in range(rounds):
        expected += [("victim %d" % (2 * i + 1), CLEAN + "Upper%d" % i),
                     ("victim %d" % (2 * i + 2), CLEAN + "Plain%d" % i)]
    assert [(m["title"], m["text"]) for m in victim] == expected

    # the evil template ran when it did not attack, and its md_escape
    # attack was refused: that alert went out with the fallback message
    titles = [m["title"] for m in evil]
    for i in range(rounds):
        assert "[FIRING:1] Md%d" % i in titles, titles
    assert titles.count("evil") == 2 * rounds, titles

    m = harness.metrics(h.base_url)
    # only the string.upper writes failed a route (replacing ipairs broke
    # no later call), only the md_escape writes a template
    assert m["herald_route_errors_total"] == rounds, m
    assert m["herald_template_errors_total"] == rounds, m
    log = h.log()
    assert "attempt to modify read-only table 'string' (field 'upper')" in log
    assert "attempt to modify read-only table 'herald' (field 'md_escape')" in log
