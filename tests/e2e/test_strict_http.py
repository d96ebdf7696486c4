"""What herald refuses before it reads a body (README.md, "HTTP endpoints"):
requests a browser sends for a page of another site, bodies that are not
application/json, ambiguous framing, paths that are not text, and bodies
with a key given twice. Every refusal is a valid UTF-8 JSON error, is
counted as rejected and delivers nothing.

Malformed requests go over a raw socket: urllib would not send them."""

import json
import socket

import pytest

import harness

FIXTURE = (harness.REPO / "tests" / "fixtures" / "am-firing-1.json").read_bytes()


def start(herald_factory, tmp_path, extra=None):
    console = tmp_path / "console.jsonl"
    h = herald_factory({"console": {"channel": "console", "path": str(console)},
                        "c1": {"channel": "console", "path": str(tmp_path / "c1.jsonl")}},
                       default_receiver="console", extra=extra)
    h.console = console
    return h


def raw(h, request):
    """Sends request bytes as they are; returns (status, headers, body bytes)
    of the answer, read until herald closes or the body is complete."""
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body


def json_error(status, body, want_status, *needles):
    assert status == want_status, (status, body)
    parsed = json.loads(body.decode("utf-8"))  # strict: raises on bytes that are not UTF-8
    assert parsed["status"] == "error", parsed
    for needle in needles:
        assert needle in parsed["error"], (needle, parsed)
    return parsed["error"]


def rejected(h):
    return harness.metrics(h.base_url)["herald_requests_rejected_total"]


def nothing_delivered(h, tmp_path):
    harness.wait_outbox_empty(h)
    assert harness.metrics(h.base_url)["herald_requests_accepted_total"] == 0
    assert not h.console.exists() and not (tmp_path / "c1.jsonl").exists()


# ----- Content-Type and browsers ---------------------------------------------
@pytest.mark.parametrize("path", ["/webhook", "/webhook/c1", "/dingtalk/c1/send", "/api/v2/alerts"])
@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonx"])
def test_ingest_refuses_bodies_that_are_not_json_with_415(herald_factory, tmp_path, path, ctype):
    h = start(herald_factory, tmp_path)
    headers = "Content-Type: %s\r\n" % ctype if ctype else ""
    status, _, body = raw(h, b"POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (
        path.encode(), headers.encode(), len(FIXTURE), FIXTURE))
    json_error(status, body, 415, "Content-Type: got %s" % ('"%s"' % ctype if ctype else "none"),
               "expected application/json")
    assert rejected(h) == 1
    assert "rejected with 415 (from 127.0.0.1" in h.log(), h.log_tail()
    nothing_delivered(h, tmp_path)


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8",
                                   "Application/JSON;charset=UTF-8"])
def test_ingest_takes_application_json_with_parameters(herald_factory, tmp_path, ctype):
    h = start(herald_factory, tmp_path)
    status, data = harness.http("POST", h.base_url + "/webhook", FIXTURE,
                                headers={"Content-Type": ctype})
    assert status == 200, data


def test_bodiless_writes_refuse_a_form_content_type(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    for method, path in (("POST", "/-/reload"), ("POST", "/api/v1/deadletters/1/retry"),
                         ("DELETE", "/api/v1/deadletters/1")):
        status, _, body = raw(h, b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                 b"application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n"
                              % (method.encode(), path.encode()))
        json_error(status, body, 415, "application/x-www-form-urlencoded")
        # without a Content-Type (curl -XPOST) they are served
        status, _ = harness.http(method, h.base_url + path)
        assert status in (200, 404), (method, path, status)
    assert rejected(h) == 3


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:1"},      # another port is another site's page
    {"Origin": "null"},                    # a sandboxed page or a file
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_writes_from_a_page_of_another_site_are_403(herald_factory, tmp_path, headers):
    h = start(herald_factory, tmp_path)
    for method, path, body in (("POST", "/webhook", FIXTURE), ("POST", "/-/reload", None),
                               ("DELETE", "/api/v1/deadletters/1", None)):
        status, data = harness.http(method, h.base_url + path, body, headers=headers)
        json_error(status, data, 403, "%s %s: refused from a page of another site" % (method, path),
                   "%s: %s" % next(iter(headers.items())))
    assert rejected(h) == 3
    assert "rejected with 403" in h.log(), h.log_tail()
    # reading is harmless and stays open
    assert harness.http("GET", h.base_url + "/-/healthy", headers=headers)[0] == 200
    nothing_delivered(h, tmp_path)


def test_writes_from_herald_own_origin_are_taken(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    status, data = harness.http("POST", h.base_url + "/webhook", FIXTURE,
                                headers={"Origin": "http://127.0.0.1:%d" % h.port,
                                         "Sec-Fetch-Site": "same-origin"})
    assert status == 200, data


# ----- framing -----------------------------------------------------------------
def test_content_length_with_transfer_encoding_is_400_and_closes(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(FIXTURE), FIXTURE)
    status, headers, body = raw(
        h, b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s" % (len(chunked), chunked))
    json_error(status, body, 400, "both Content-Length and Transfer-Encoding")
    assert headers.get("connection", "").lower() == "close", headers
    assert rejected(h) == 1
    nothing_delivered(h, tmp_path)


def test_http11_without_host_is_400(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    status, _, body = raw(h, b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(FIXTURE), FIXTURE))
    json_error(status, body, 400, "without a Host header")
    # HTTP/1.0 has no Host header to require
    status, _, _ = raw(h, b"GET /-/healthy HTTP/1.0\r\n\r\n")
    assert status == 200
    nothing_delivered(h, tmp_path)


# ----- paths -------------------------------------------------------------------
def test_encoded_nul_in_the_path_is_400_not_a_shorter_name(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    status, _, body = raw(h, b"POST /webhook/c1%%00evil HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(FIXTURE), FIXTURE))
    json_error(status, body, 400, "%00")
    assert rejected(h) == 1
    nothing_delivered(h, tmp_path)


@pytest.mark.parametrize("path", [b"/webhook/%ff", b"/webhook/c1%c3", b"/no/such/%fe%ff",
                                  b"/api/v1/deadletters/%ff"])
def test_a_path_that_is_not_utf8_is_400_with_a_utf8_json_error(herald_factory, tmp_path, path):
    h = start(herald_factory, tmp_path)
    status, _, body = raw(h, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (path, len(FIXTURE), FIXTURE))
    json_error(status, body, 400, "is not UTF-8")
    nothing_delivered(h, tmp_path)


def test_client_bytes_in_an_error_become_replacement_characters(herald_factory, tmp_path):
    h = start(herald_factory, tmp_path)
    status, _, body = raw(h, b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: text/\xff\r\n"
                             b"Content-Length: 2\r\n\r\n{}")
    assert "text/\ufffd" in json_error(status, body, 415)


# ----- duplicate keys ------------------------------------------------------------
@pytest.mark.parametrize("path,body,key", [
    ("/webhook", b'{"alerts": [], "alerts": []}', "alerts"),
    ("/webhook", b'{"version": "4", "status": "firing", "alerts": [{"labels": {"a": "b"}, '
                 b'"status": "firing", "status": "resolved"}]}', "alerts[0].status"),
    ("/webhook", b'{"alerts": [{"labels": {"a": "b"}}], "commonLabels": {"x": "1", "x": "2"}}',
     "commonLabels.x"),
    ("/webhook", b'{"alerts": [{"labels": {"a": "b"}}], "extra": {"deep": [{"k": 1, "k": 2}]}}',
     "extra.deep[0].k"),
    ("/api/v2/alerts", b'[{"labels": {"a": "b"}, "labels": {"a": "c"}}]', "alerts[0].labels"),
])
def test_a_key_given_twice_is_400_naming_its_path(herald_factory, tmp_path, path, body, key):
    h = start(herald_factory, tmp_path)
    status, data = harness.http("POST", h.base_url + path, body)
    json_error(status, data, 400, "%s: the key appears twice" % key)
    nothing_delivered(h, tmp_path)
