"""End to end for the webhook channel: the real Alertmanager posts to
herald, herald forwards to the mock receiver (tests/mocks/mock_webhook.py)
either the template's JSON body or, with body = "payload", the very bytes
Alertmanager sent (captured on the way in). Also: PUT with custom headers
and basic auth, 503/429 with Retry-After retried, a 4xx dead-lettered
without a retry."""

import json
import re

import pytest

import harness
from mock_webhook import MockWebhook

LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100",
          "severity": "critical", "env": "prod"}
ANNOTATIONS = {"summary": "主机 10.0.0.11 无法访问",
               "description": "node_exporter 已经 1 分钟没有响应"}
DELIVERY_TIMEOUT = 30.0
HOOK_TOKEN = "hook-token-0123456789"
API_KEY = "api-key-abcdef0123456789"
USER, PASSWORD = "herald", "hook-pass-0123456789"
ZERO_TIME = "0001-01-01T00:00:00Z"


@pytest.fixture
def mock_webhook(request):
    mock = MockWebhook().start()
    yield mock
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        snap = mock.snapshot()
        print("mock webhook: %d accepted, rejected: %r" % (
            len(snap["accepted"]), [(r["status"], r["reason"]) for r in snap["rejected"]]))
    mock.stop()


def hook(mock, **extra):
    spec = {"channel": "webhook", "url": mock.url("/hook/%s" % HOOK_TOKEN)}
    spec.update(extra)
    return spec


def start(herald_factory, mock, env=None, serve=True, **extra):
    return herald_factory({"hook": hook(mock, **extra)}, default_receiver="hook",
                          env=env, extra={"delivery": harness.FAST_RETRIES}, start=serve)


def raw_log(h):
    """herald's output as written (Herald.log() hides known secrets, which
    would make a leak invisible)."""
    return h.log_path.read_bytes().decode("utf-8", "replace")


def post_alert(h, name="DiskFull"):
    payload = harness.am_payload([{"labels": dict(LABELS, alertname=name),
                                   "annotations": ANNOTATIONS}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200, (status, data)
    return payload


def wait_requests(mock, n, timeout=DELIVERY_TIMEOUT):
    mock.wait_for(lambda m: len(m.accepted()) >= n, timeout=timeout)
    recs = mock.accepted()
    if len(recs) < n:
        pytest.fail("mock webhook got %d request(s) within %.0f s, wanted %d; rejected: %r"
                    % (len(recs), timeout, n,
                       [(r["status"], r["reason"]) for r in mock.rejected()]), pytrace=False)
    return recs


# ----- from Alertmanager to the hook ------------------------------------
def test_alertmanager_to_webhook_template_body(mock_webhook, herald_factory,
                                               alertmanager_factory):
    h = start(herald_factory, mock_webhook)
    am = alertmanager_factory(h.base_url + "/webhook")

    starts = am.fire(LABELS, ANNOTATIONS, generator_url="http://prometheus:9090/graph?g0.expr=up")
    firing = wait_requests(mock_webhook, 1)[0]  # a re-post may follow: checked below
    assert firing["method"] == "POST"
    assert firing["path"] == "/hook/" + HOOK_TOKEN
    assert firing["headers"]["content-type"] == "application/json"
    assert firing["auth"] is None
    body = firing["json"]
    assert body is not None, firing["body"]
    assert set(body) == {"version", "receiver", "status", "title", "summary", "firing",
                         "resolved", "truncatedAlerts", "groupLabels", "commonLabels",
                         "commonAnnotations", "externalURL", "alerts"}
    assert body["version"] == "1" and body["receiver"] == "hook"
    assert body["status"] == "firing" and body["firing"] == 1 and body["resolved"] == 0
    assert body["title"] == "[故障] HostDown"
    assert body["summary"] == ANNOTATIONS["summary"]
    assert body["groupLabels"] == {"alertname": "HostDown"}
    assert body["externalURL"] == am.base_url
    [alert] = body["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"] == LABELS and alert["annotations"] == ANNOTATIONS
    assert alert["startsAt"] == starts.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert alert["endsAt"] == ZERO_TIME
    assert alert["generatorURL"] == "http://prometheus:9090/graph?g0.expr=up"
    assert re.fullmatch(r"[0-9a-f]{16}", alert["fingerprint"]), alert["fingerprint"]
    # the token in the URL path never reaches the log
    assert HOOK_TOKEN not in raw_log(h)

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    # Alertmanager may post the firing notification again when herald
    # answers slowly: allowed before the resolved one only as the same body
    def first_resolved(m):
        return next((i + 1 for i, r in enumerate(m.accepted())
                     if (r["json"] or {}).get("status") == "resolved"), 0)
    found = mock_webhook.wait_for(first_resolved, timeout=DELIVERY_TIMEOUT)
    recs = mock_webhook.accepted()
    assert found, "no resolved notification within %.0f s: %r" % (
        DELIVERY_TIMEOUT, [(r["json"] or {}).get("status") for r in recs])
    assert all(r["json"] == body for r in recs[:found - 1]), [r["json"] for r in recs]
    resolved = recs[found - 1]["json"]
    assert resolved["status"] == "resolved" and resolved["title"] == "[恢复] HostDown"
    [r_alert] = resolved["alerts"]
    assert r_alert["status"] == "resolved" and r_alert["fingerprint"] == alert["fingerprint"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", r_alert["endsAt"])
    assert r_alert["endsAt"] > alert["startsAt"]
    assert mock_webhook.rejected() == []


def test_payload_forwarded_byte_identical(mock_webhook, herald_factory, alertmanager_factory):
    h = start(herald_factory, mock_webhook, body="payload")
    proxy = harness.CaptureProxy(h.base_url)
    try:
        am = alertmanager_factory(proxy.base_url + "/webhook")
        am.fire(LABELS, ANNOTATIONS)
        recs = wait_requests(mock_webhook, 1)
        bodies = proxy.bodies()
    finally:
        proxy.stop()
    # Alertmanager may post the same notification again when herald answers
    # slowly (a loaded machine): allowed only as byte-identical re-posts, and
    # every forwarded body must be exactly what Alertmanager sent
    assert bodies, "the proxy saw no request from Alertmanager"
    sent = bodies[0]
    assert all(b == sent for b in bodies), bodies
    assert all(r["body"] == sent for r in recs), [r["body"] for r in recs]
    assert len(recs) <= len(bodies), (len(recs), len(bodies))
    rec = recs[0]
    assert rec["headers"]["content-type"] == "application/json"
    original = json.loads(sent)
    assert original["version"] == "4" and original["alerts"][0]["labels"] == LABELS


def test_payload_receiver_storm_is_not_merged(mock_webhook, herald_factory):
    """A digest has no request body of its own, so a receiver that forwards
    each notification's body must not merge them, even with a text template
    (whose messages would merge): 10 requests at once behind a limit of 4 a
    minute (a storm for any other receiver) go out one by one, each with
    the bytes Alertmanager posted, and none becomes a dead letter.

    A receiver that may merge, stormed the same way right after, shows
    when herald has gathered a storm: once its digest is delivered, the
    payload receiver's storm (gathered earlier) would have gone too."""
    storm = {"rate_per_minute": 4, "template": "console"}
    h = herald_factory({"hook": hook(mock_webhook, body="payload", **storm),
                        "merging": dict(storm, channel="webhook",
                                        url=mock_webhook.url("/merging"))},
                       default_receiver="hook", extra={"delivery": harness.FAST_RETRIES})
    payloads = []
    for i in range(10):
        payloads.append(harness.am_payload([{"labels": dict(LABELS, alertname="Storm%02d" % i),
                                             "annotations": ANNOTATIONS}]))
        status, data = harness.http("POST", h.base_url + "/webhook", payloads[-1])
        assert status == 200, (status, data)
    for i in range(10):
        payload = harness.am_payload([{"labels": dict(LABELS, alertname="Merged%02d" % i)}])
        status, data = harness.http("POST", h.base_url + "/webhook/merging", payload)
        assert status == 200, (status, data)
    harness.wait_until(lambda: harness.metrics(h.base_url).get(
        'herald_receiver_deliveries_total{receiver="merging"}') == 10, timeout=DELIVERY_TIMEOUT,
        message="the merging receiver's storm delivered")
    assert re.search(r" merging: delivered a digest", h.log()), h.log_tail()
    recs = [r for r in mock_webhook.accepted() if r["path"].startswith("/hook/")]
    assert len(recs) == 4, [r["body"][:80] for r in recs]
    assert [json.loads(r["body"]) for r in recs] == payloads[:4]
    assert not re.search(r" hook: .*digest", h.log()), h.log_tail()
    status, dead = harness.api_get(h, "deadletters")
    assert status == 200 and dead == [], dead


def test_payload_receiver_refuses_split_per_alert(mock_webhook, herald_factory):
    h = start(herald_factory, mock_webhook, body="payload", split="alert", serve=False)
    r = h.command("check", "-c", h.config_path)
    err = r.stderr.decode()
    assert r.returncode == 1, (r.returncode, err)
    assert 'receivers.hook.split: "alert" cannot go with a receiver that forwards' in err, err


def test_put_custom_headers_and_basic_auth(herald_factory):
    with MockWebhook(users={USER: PASSWORD}, required_headers={"X-Api-Key": API_KEY},
                     content_types=["application/vnd.alerts+json"]) as mock:
        h = start(herald_factory, mock,
                  env={"HOOK_PASSWORD": PASSWORD, "HOOK_API_KEY": API_KEY},
                  method="PUT", username=USER, password=harness.lua_env("HOOK_PASSWORD"),
                  headers=[harness.Lua('"X-Api-Key: " .. env("HOOK_API_KEY")'),
                           "Content-Type: application/vnd.alerts+json",
                           "X-Source: herald 告警"])
        post_alert(h)
        [rec] = wait_requests(mock, 1)
        assert mock.rejected() == []
    assert rec["method"] == "PUT"
    assert rec["auth"] == (USER, PASSWORD)
    assert rec["headers"]["x-api-key"] == API_KEY
    assert rec["headers"]["content-type"] == "application/vnd.alerts+json"
    assert rec["headers"]["x-source"].encode("latin-1").decode("utf-8") == "herald 告警"
    assert rec["json"]["title"] == "[故障] DiskFull"
    log = raw_log(h)
    assert PASSWORD not in log and API_KEY not in log and HOOK_TOKEN not in log


# ----- statuses ------------------------------------------------------------
@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(mock_webhook, herald_factory, status):
    h = start(herald_factory, mock_webhook)
    mock_webhook.fail_next(1, status, "busy, come back", {"Retry-After": "1"})
    post_alert(h)
    [rec] = wait_requests(mock_webhook, 1)
    [rejected] = mock_webhook.rejected()
    assert rejected["status"] == status
    retries = harness.retries(h)
    assert len(retries) == 1, h.log_tail()
    attempt, reason, delay = retries[0]
    assert reason == "HTTP %d: busy, come back" % status
    assert int(delay) == 1000  # Retry-After wins over the 100 ms backoff
    gap = rec["time"] - rejected["time"]
    assert 0.9 <= gap <= 3.0, gap  # not before Retry-After; upper bound: scheduling slack
    harness.wait_outbox_empty(h)
    assert len(mock_webhook.accepted()) == 1


def test_4xx_is_a_dead_letter_without_retry(herald_factory):
    with MockWebhook(users={USER: PASSWORD}) as mock:
        h = start(herald_factory, mock, env={"HOOK_PASSWORD": "wrong-password-000"},
                  username=USER, password=harness.lua_env("HOOK_PASSWORD"))
        post_alert(h)
        harness.wait_until(lambda: harness.dead_letters(h), timeout=10,
                           message="dead letter logged")
        harness.wait_outbox_empty(h)  # given up: nothing left to retry
        [dead] = harness.dead_letters(h)
        assert "HTTP 401: unauthorized" in dead, dead
        assert harness.retries(h) == []
        assert [r["status"] for r in mock.rejected()] == [401]
        assert mock.accepted() == []
    assert "wrong-password-000" not in raw_log(h)
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1 and m["herald_delivery_retries_total"] == 0, m


def test_config_errors_never_show_header_values(mock_webhook, herald_factory):
    h = herald_factory({"hook": hook(mock_webhook, headers=["Authorization Bearer SECRETVALUE"])},
                       default_receiver="hook", start=False)
    res = h.command("check", "-c", h.config_path)
    assert res.returncode == 1
    err = res.stderr.decode("utf-8")
    assert "receivers.hook.headers: line 1: expected \"Name: value\"" in err, err
    assert "SECRETVALUE" not in err + res.stdout.decode("utf-8")
