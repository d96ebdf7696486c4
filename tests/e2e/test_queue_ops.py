"""An operator's control of the queue (core/store/sqlite/requests.c,
core/delivery/requests.c, `herald queue send-now | drop | unpause`, the
API's mirrors) and the attempt history `queue show` lists:

  1. send-now sends a message a DingTalk 130101 pause holds, long before
     the pause ends; the others keep waiting; `queue show` lists the
     failed attempt and the delivery, and no stale last_error;
  2. drop of a waiting message: never delivered, shown as dropped with
     the reason and who, in `queue show` and the history; the API's drop;
  3. a drop while the message is in flight: the answer that comes later
     does not make it delivered (or pending) again;
  4. unpause (CLI and API) resumes a paused robot at once;
  5. what does not exist is refused with exit status 1 and a message.

Every wait polls an observable event (the mock, the store, the log)."""

import http.server
import json
import threading

import pytest

import harness
from harness import DT_SECRET, T1

ERR_TOO_FAST = 130101


def ops(mock):
    return {"channel": "dingtalk", "url": mock.url(T1), "secret": harness.lua_env("DT_SECRET")}


def start(herald_factory, receivers):
    return herald_factory(receivers, default_receiver="ops", env={"DT_SECRET": DT_SECRET},
                          extra={"shutdown_timeout": "2s"})


def post(h, name, path="/webhook"):
    alert = {"labels": {"alertname": name, "instance": name.lower() + "-host"},
             "annotations": {"summary": name + " is broken"}}
    status, data = harness.http("POST", h.base_url + path, harness.am_payload([alert]))
    assert status == 200, (status, data)


def cli(h, *argv):
    rc, out, err = harness.herald_cli(h, *argv)
    assert rc == 0, (argv, rc, out, err)
    return out


def waiting(h, name):
    """The queue's row of the notification about `name`, once it exists."""
    status, rows = harness.api_get(h, "queue")
    assert status == 200, rows
    found = [r for r in rows if name in r["title"]]
    return found[0] if found else None


def shown(h, notification_id):
    return json.loads(cli(h, "queue", "show", str(notification_id), "-o", "json"))


def accepted_names(mock):
    return [harness.message_text(m) for m in mock.messages(T1)]


def paused_by_130101(h, mock, name):
    """Posts `name` while the robot answers 130101 once: the robot is then
    paused for 10 minutes, and the notification waits with its attempt
    recorded. Returns its queue row."""
    mock.fail_next(T1, 1, ERR_TOO_FAST)
    post(h, name)
    return harness.wait_until(
        lambda: (lambda r: r if r and r["attempts"] == 1 and r["last_error"] else None)(
            waiting(h, name)),
        timeout=15, message="%s waiting after a 130101" % name)


@pytest.mark.concurrency
def test_send_now_beats_a_130101_pause_and_show_lists_the_attempts(mock_dingtalk,
                                                                   herald_factory):
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    first = paused_by_130101(h, mock_dingtalk, "Held1")
    assert "130101" in first["last_error"], first
    post(h, "Held2")
    second = harness.wait_until(lambda: waiting(h, "Held2"), timeout=15,
                                message="Held2 waiting behind the pause")

    out = cli(h, "queue", "send-now", str(first["id"]))
    assert "send-now %d:" % first["id"] in out, out
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=15)
    texts = accepted_names(mock_dingtalk)
    assert len(texts) == 1 and "Held1" in texts[0], texts
    # the pause still holds the others: send-now was for that one message
    assert waiting(h, "Held2")["id"] == second["id"]

    def delivered():
        d = shown(h, first["id"])
        return d if d["state"] == "delivered" else None
    detail = harness.wait_until(delivered, timeout=15, message="Held1 delivered in the store")
    assert detail["last_error"] is None, detail
    history = detail["attempt_history"]
    assert [a["outcome"] for a in history] == ["retry", "delivered"], history
    assert "130101" in history[0]["detail"] and history[1]["detail"] is None, history
    assert all(harness.API_TIME.fullmatch(a["at"]) and a["by"] is None for a in history), history
    assert harness.api_time_ms(history[0]["at"]) <= harness.api_time_ms(history[1]["at"])
    status, answer = harness.api_get(h, "queue/%d" % first["id"])
    assert status == 200 and answer == detail, (status, answer)

    text = cli(h, "queue", "show", str(first["id"]))
    table = text[text.index("ATTEMPTED"):text.index("FINGERPRINT")].strip().splitlines()
    assert len(table) == 3 and " retry " in table[1] and "130101" in table[1], table
    assert " delivered " in table[2] + " ", table
    assert "last error:    -" in text, text


def test_drop_of_a_waiting_message_never_delivers_it(mock_dingtalk, herald_factory):
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    row = paused_by_130101(h, mock_dingtalk, "Drop1")
    post(h, "Drop2")
    other = harness.wait_until(lambda: waiting(h, "Drop2"), timeout=15, message="Drop2 waiting")

    out = cli(h, "queue", "drop", str(row["id"]), "--reason", "fixed by hand")
    assert "dropped" in out, out
    harness.wait_until(lambda: "notification %d dropped by an operator" % row["id"] in h.log(),
                       timeout=15, message="the running herald applied the drop")
    status, data = harness.http("DELETE", h.base_url + "/api/v1/queue/%d" % other["id"])
    assert status == 200, (status, data)
    assert json.loads(data) == {"status": "success", "id": other["id"], "action": "dropped"}

    # the robot may send again: anything still held would go now, in order
    cli(h, "queue", "unpause", "ops")
    post(h, "Drop3")
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=15)
    harness.wait_outbox_empty(h)
    texts = accepted_names(mock_dingtalk)
    assert len(texts) == 1 and "Drop3" in texts[0], texts

    detail = shown(h, row["id"])
    assert detail["state"] == "dropped" and detail["last_error"] == "fixed by hand", detail
    assert detail["finished_at"] is not None, detail
    outcomes = [(a["outcome"], a["detail"]) for a in detail["attempt_history"]]
    assert outcomes[0][0] == "retry" and outcomes[1:] == [("dropped", "fixed by hand")], outcomes
    assert detail["attempt_history"][1]["by"].endswith("(herald queue)"), detail
    by_api = shown(h, other["id"])
    assert by_api["state"] == "dropped" and by_api["last_error"] == "dropped by operator", by_api
    assert by_api["attempt_history"][-1]["by"] == "HTTP API", by_api

    assert waiting(h, "Drop1") is None and waiting(h, "Drop2") is None
    status, history = harness.api_get(h, "history?alertname=Drop1")
    assert status == 200 and [r["result"] for r in history] == ["dropped"], history
    text = cli(h, "queue", "show", str(row["id"]))
    assert "state:         dropped" in text and "fixed by hand" in text, text
    # dropped is final: not a dead letter to retry, not waiting to drop again
    rc, _, err = harness.herald_cli(h, "queue", "retry", str(row["id"]))
    assert rc == 1 and "no such dead letter" in err, (rc, err)
    rc, _, err = harness.herald_cli(h, "queue", "drop", str(row["id"]))
    assert rc == 1 and "no such waiting notification or dead letter" in err, (rc, err)


class GatedHook:
    """A webhook that holds each request until released: a delivery stays
    in flight as long as a test needs."""

    def __init__(self):
        self.arrived = threading.Event()
        self.release = threading.Event()
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                gate.arrived.set()
                gate.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.concurrency
def test_a_drop_while_in_flight_stays_dropped_when_the_answer_comes(herald_factory):
    hook = GatedHook()
    try:
        h = herald_factory({"hook": {"channel": "webhook", "url": hook.url}},
                           default_receiver="hook", extra={"shutdown_timeout": "2s"})
        post(h, "Flight1")
        assert hook.arrived.wait(15), "the delivery reached the webhook"
        [row] = harness.api_get(h, "queue")[1]
        cli(h, "queue", "drop", str(row["id"]), "--reason", "too late")
        harness.wait_until(lambda: "notification %d dropped by an operator" % row["id"]
                           in h.log(), timeout=15, message="the running herald applied the drop")
        hook.release.set()

        def answered():
            d = shown(h, row["id"])
            return d if [a["outcome"] for a in d["attempt_history"]] == \
                ["dropped", "delivered"] else None
        detail = harness.wait_until(answered, timeout=15,
                                    message="the attempt in flight recorded")
        assert detail["state"] == "dropped" and detail["last_error"] == "too late", detail
        harness.wait_outbox_empty(h)
        assert harness.api_get(h, "queue")[1] == []
    finally:
        hook.stop()


@pytest.mark.concurrency
def test_unpause_resumes_a_paused_robot(mock_dingtalk, herald_factory):
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    paused_by_130101(h, mock_dingtalk, "Pause1")
    gauge = "herald_paused_targets"
    assert harness.metrics(h.base_url).get(gauge) == 1
    out = cli(h, "queue", "unpause", "ops")
    assert "unpause ops:" in out, out
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=15)
    assert "Pause1" in accepted_names(mock_dingtalk)[0]
    harness.wait_until(lambda: "unpaused by an operator: 1 of its 1 target was paused" in h.log(),
                       timeout=15, message="the unpause logged")
    assert harness.metrics(h.base_url).get(gauge) == 0

    # the API's unpause: paused again, resumed again
    paused_by_130101(h, mock_dingtalk, "Pause2")
    status, data = harness.http("POST", h.base_url + "/api/v1/receivers/ops/unpause")
    assert status == 200, (status, data)
    assert json.loads(data) == {"status": "success", "receiver": "ops", "action": "unpause"}
    mock_dingtalk.wait_for(lambda m: len(m.accepted(T1)) == 2, timeout=15)
    harness.wait_outbox_empty(h)

    # a pause the daemon is not told about survives a restart; one cleared does not
    paused_by_130101(h, mock_dingtalk, "Pause3")
    h.stop()
    cli(h, "queue", "unpause", "ops")
    h.start()
    mock_dingtalk.wait_for(lambda m: len(m.accepted(T1)) == 3, timeout=15)
    assert "Pause3" in accepted_names(mock_dingtalk)[2]


def test_what_does_not_exist_is_refused(mock_dingtalk, herald_factory):
    h = start(herald_factory, {"ops": ops(mock_dingtalk)})
    post(h, "Gone1")
    mock_dingtalk.wait_for(lambda m: m.accepted(T1), timeout=15)
    harness.wait_outbox_empty(h)
    [row] = harness.api_get(h, "history?alertname=Gone1")[1]
    delivered = row["notification"]
    for argv, message in (
            (["send-now", str(delivered)], "send-now %d: no such waiting notification"
             % delivered),
            (["send-now", "999999"], "send-now 999999: no such waiting notification"),
            (["drop", "999999"], "drop 999999: no such waiting notification or dead letter"),
            (["unpause", "nobody"], 'unpause nobody: %s defines no receiver "nobody"'
             % h.config_path)):
        rc, out, err = harness.herald_cli(h, "queue", *argv)
        assert rc == 1 and message in err, (argv, rc, out, err)
    rc, out, err = harness.herald_cli(h, "queue", "drop", "1", "--reason", "")
    assert rc == 2 and "--reason" in err, (rc, err)
    rc, out, err = harness.herald_cli(h, "queue", "send-now", "1", "--reason", "x")
    assert rc == 2 and "--reason is only for queue drop" in err, (rc, err)
    for method, path, status in (
            ("POST", "queue/%d/send-now" % delivered, 404),
            ("DELETE", "queue/999999", 404),
            ("DELETE", "queue/%d?reason=" % delivered, 400),
            ("POST", "receivers/nobody/unpause", 404),
            ("GET", "queue/%d/send-now" % delivered, 405),
            ("GET", "receivers/ops/unpause", 405)):
        got, data = harness.http(method, h.base_url + "/api/v1/" + path)
        assert got == status, (method, path, got, data)
