"""Receiver options the core serves for every HTTP channel: `proxy`,
`ca_file` and `tls_verify` (verification on by default), against a real
HTTPS server with a self-signed certificate and a small forward proxy."""

import json
import ssl
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import harness

FIXTURE = harness.REPO / "tests" / "fixtures" / "am-firing-1.json"


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to every POST and records the path and body."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body,
                                         "host": self.headers.get("Host")})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class _Proxy(_Recorder):
    """A forward proxy: records the absolute URL, forwards to the target."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        req = urllib.request.Request(self.path, data=body, method="POST",
                                     headers={"Content-Type": self.headers.get("Content-Type")})
        with opener.open(req, timeout=5) as resp:
            status, answer = resp.status, resp.read()
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def serve(handler, tls_files=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.requests = []
    if tls_files:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    return server


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.fixture
def https_server(certificate):
    server = serve(_Recorder, certificate)
    yield server
    server.shutdown()
    server.server_close()


def hook(server, scheme="https", **options):
    receiver = {"channel": "webhook", "url": "%s://127.0.0.1:%d/hook" % (scheme, server.server_port)}
    receiver.update(options)
    return {"hook": receiver}


def post(h):
    status, _ = harness.http("POST", h.base_url + "/webhook", FIXTURE.read_bytes(),
                             {"Content-Type": "application/json"})
    assert status == 200


FAST = {"delivery": {"retry_initial": "200ms", "retry_max_delay": "400ms"}}


def test_tls_is_verified_by_default(https_server, herald_factory):
    h = herald_factory(hook(https_server), default_receiver="hook", extra=FAST)
    post(h)
    harness.wait_until(lambda: "attempt 2 failed" in h.log(), timeout=10,
                       message="two failed attempts against the self-signed server")
    assert "SSL certificate problem" in h.log() or "certificate" in h.log(), h.log_tail()
    assert https_server.requests == []  # the handshake failed: nothing was sent


def test_ca_file_trusts_the_server(https_server, certificate, herald_factory):
    h = herald_factory(hook(https_server, ca_file=str(certificate[0])), default_receiver="hook")
    post(h)
    harness.wait_until(lambda: https_server.requests, timeout=10, message="delivered over TLS")
    body = json.loads(https_server.requests[0]["body"])
    assert "InstanceDown" in json.dumps(body, ensure_ascii=False)
    assert "failed" not in h.log()


def test_tls_verify_false_is_allowed_and_warned_about(https_server, herald_factory):
    h = herald_factory(hook(https_server, tls_verify=False), default_receiver="hook")
    post(h)
    harness.wait_until(lambda: https_server.requests, timeout=10, message="delivered unverified")
    assert "tls_verify = false" in h.log()


def test_proxy_carries_the_request(herald_factory):
    target = serve(_Recorder)
    proxy = serve(_Proxy)
    try:
        h = herald_factory(hook(target, scheme="http",
                                proxy="http://127.0.0.1:%d" % proxy.server_port),
                           default_receiver="hook")
        post(h)
        harness.wait_until(lambda: target.requests, timeout=10, message="delivered via the proxy")
        [through] = proxy.requests
        assert through["path"] == "http://127.0.0.1:%d/hook" % target.server_port
        assert target.requests[0]["body"] == through["body"]
    finally:
        for server in (target, proxy):
            server.shutdown()
            server.server_close()


def test_bad_transport_options_are_refused(herald_factory, tmp_path):
    h = herald_factory({"hook": {"channel": "webhook", "url": "https://127.0.0.1:1/hook",
                                 "ca_file": str(tmp_path / "missing.pem"), "tls_verify": "no"}},
                       default_receiver="hook", start=False)
    r = subprocess.run([str(harness.herald_binary()), "check", "-c", str(h.config_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "receivers.hook.ca_file" in r.stderr and "missing.pem" in r.stderr, r.stderr
