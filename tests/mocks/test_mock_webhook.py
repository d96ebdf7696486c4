"""Tests of the mock webhook receiver itself: it must check what a real
receiver would (method, basic auth, required headers, size, content type,
rate), or the e2e tests prove nothing."""

import base64
import json
import time

import pytest

import harness
from mock_webhook import MockWebhook


@pytest.fixture
def mock():
    m = MockWebhook().start()
    yield m
    m.stop()


def request(mock, method, body=b"{}", headers=None, path="/hook"):
    return harness.http_full(method, mock.url(path), body,
                             headers=dict({"Content-Type": "application/json"}, **(headers or {})))


def auth_header(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_mock_records_and_answers_ok(mock):
    status, _, data = request(mock, "PATCH", b'{"a":"\xe4\xb8\xad"}', path="/x?y=1")
    assert status == 200 and json.loads(data) == {"status": "ok"}
    [rec] = mock.accepted()
    assert rec["method"] == "PATCH" and rec["path"] == "/x" and rec["query"] == {"y": "1"}
    assert rec["json"] == {"a": "中"} and rec["body"] == b'{"a":"\xe4\xb8\xad"}'
    assert request(mock, "DELETE")[0] == 405
    status, _, data = harness.http_full("GET", mock.url("/_received"))
    assert status == 200 and len(json.loads(data)["accepted"]) == 1


def test_mock_checks_auth_headers_size_type_and_rate():
    with MockWebhook(users={"u": "p"}, required_headers={"X-Key": "k"}, max_body=10,
                     content_types=["application/json"], rate_limit=1) as mock:
        assert request(mock, "POST")[0] == 401
        status, headers, _ = request(mock, "POST", headers={"Authorization": auth_header("u", "x")})
        assert status == 401 and headers["www-authenticate"].startswith("Basic")
        good = {"Authorization": auth_header("u", "p"), "X-Key": "k"}
        assert request(mock, "POST", headers=dict(good, **{"X-Key": "other"}))[0] == 403
        assert request(mock, "POST", b'{"long":"0123456789"}', headers=good)[0] == 413
        assert request(mock, "POST", headers=dict(good, **{"Content-Type": "text/plain"}))[0] == 415
        assert request(mock, "POST", b"{nope", headers=good)[0] == 400
        assert request(mock, "POST", headers=good)[0] == 200
        status, headers, _ = request(mock, "POST", headers=good)
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert [r["status"] for r in mock.rejected()] == [401, 401, 403, 413, 415, 400, 429]
        assert mock.accepted()[0]["auth"] == ("u", "p")


def test_mock_fail_next_and_controls(mock):
    mock.fail_next(2, 503, "busy", {"Retry-After": "7"})
    status, headers, data = request(mock, "POST")
    assert status == 503 and headers["retry-after"] == "7" and data == b"busy"
    status, _, _ = harness.http_full("POST", mock.url("/_reset"), b"")
    assert status == 200
    assert request(mock, "POST")[0] == 200  # the second failure was reset
    status, _, _ = harness.http_full("POST", mock.url("/_fail_next"),
                                     {"count": 1, "status": 429, "body": "slow"})
    assert status == 200
    assert request(mock, "POST")[:1] == (429,)
    mock.set_delay(0.3)
    started = time.monotonic()
    assert request(mock, "POST")[0] == 200
    assert time.monotonic() - started >= 0.3
    assert len(mock.accepted()) == 2
