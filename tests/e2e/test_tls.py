"""Inbound TLS (conf/README.md, "Inbound TLS"): with `tls` set herald
serves HTTPS only; the real Alertmanager posts to it verifying the
certificate; `herald check` names a wrong file; a reload that finds a
renewed certificate says it takes effect at the next restart; the key never
reaches the log.  Certificates are made by the openssl command for each
test, for 127.0.0.1."""

import socket
import ssl
import subprocess

import pytest

import harness

LABELS = {"alertname": "CertTest", "instance": "10.0.0.31:9100", "severity": "warning"}
TOKEN = "tok-tls-6b1f92d4"


def make_pair(folder, name, days=30, encrypted=False):
    """A self-signed EC certificate for 127.0.0.1 and its key, as files."""
    cert, key = folder / ("%s.crt" % name), folder / ("%s.key" % name)
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-keyout", str(key), "-out", str(cert), "-days", str(days),
            "-subj", "/CN=%s" % name, "-addext", "subjectAltName=IP:127.0.0.1"]
    argv += ["-passout", "pass:test-passphrase"] if encrypted else ["-nodes"]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.fixture
def pair(tmp_path):
    cert, key = make_pair(tmp_path, "herald-e2e")
    harness.trust_ca(cert)
    return cert, key


def start(herald_factory, tmp_path, cert, key, extra=None, start=True):
    console = tmp_path / "console.jsonl"
    h = herald_factory({"console": {"channel": "console", "path": str(console)}},
                       default_receiver="console", env={"HERALD_TOKEN": TOKEN},
                       extra=dict({"tls": {"cert_file": str(cert), "key_file": str(key)}},
                                  **(extra or {})),
                       start=start)
    h.console = console
    return h


def payload(summary="certificate test"):
    return harness.am_payload([{"status": "firing", "labels": LABELS,
                                "annotations": {"summary": summary}}])


def key_body(key_file):
    """The base64 of a PEM key, without its armour lines."""
    return "".join(line for line in key_file.read_text().splitlines() if "-----" not in line)


def served_certificate(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            return tls.getpeercert(binary_form=True)


def der_of(cert_file):
    return ssl.PEM_cert_to_DER_cert(cert_file.read_text())


def test_https_only_and_the_key_stays_out_of_the_log(herald_factory, tmp_path, pair):
    cert, key = pair
    h = start(herald_factory, tmp_path, cert, key)
    assert h.base_url.startswith("https://")
    status, data = harness.http("POST", h.base_url + "/webhook", payload())
    assert status == 200, data
    harness.wait_until(lambda: h.console.exists() and harness.read_json_lines(h.console),
                       timeout=10, message="the alert is delivered")
    assert served_certificate(h.port) == der_of(cert)
    # plain HTTP gets no HTTP answer, and herald keeps serving HTTPS
    with socket.create_connection(("127.0.0.1", h.port), timeout=5) as plain:
        plain.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            answer = plain.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/"), answer
    assert harness.http("GET", h.base_url + "/-/healthy")[0] == 200
    log = h.log()
    assert "serving on https://127.0.0.1:%d" % h.port in log, log
    assert "serving HTTPS with %s (/CN=herald-e2e, valid until " % cert in log, log
    assert "BEGIN PRIVATE KEY" not in log and key_body(key)[:40] not in log


@pytest.mark.concurrency
def test_alertmanager_posts_over_https_with_a_token(herald_factory, alertmanager_factory,
                                                   tmp_path, pair):
    cert, key = pair
    h = start(herald_factory, tmp_path, cert, key,
              extra={"auth": {"bearer_token": harness.lua_env("HERALD_TOKEN")}})
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    am = alertmanager_factory(h.base_url + "/webhook", http_config={
        "authorization": {"credentials_file": str(token_file)},
        "tls_config": {"ca_file": str(cert)}})
    am.fire(LABELS, {"summary": "sent over https"})
    lines = harness.wait_until(
        lambda: h.console.exists() and harness.read_json_lines(h.console), timeout=30,
        message="Alertmanager's notification is delivered")
    assert "sent over https" in lines[0]["text"], lines
    assert "without tls" not in h.log()


def test_check_names_the_wrong_file(herald_factory, tmp_path, pair):
    cert, key = pair
    other_cert, other_key = make_pair(tmp_path, "other")
    enc_cert, enc_key = make_pair(tmp_path, "locked", encrypted=True)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        ({"cert_file": str(cert)}, "tls.key_file: missing"),
        ({"cert_file": str(cert), "key_file": str(key), "ca": "x"}, "tls.ca: unknown key"),
        ({"cert_file": str(tmp_path / "nope.crt"), "key_file": str(key)},
         "tls.cert_file: %s: No such file" % (tmp_path / "nope.crt")),
        ({"cert_file": str(garbage), "key_file": str(key)},
         "tls.cert_file: %s: no PEM certificate" % garbage),
        ({"cert_file": str(cert), "key_file": str(other_key)},
         "tls.key_file: %s: is not the key of the certificate in %s" % (other_key, cert)),
        ({"cert_file": str(enc_cert), "key_file": str(enc_key)},
         "tls.key_file: %s: the key is encrypted" % enc_key),
        ({"cert_file": str(cert), "key_file": str(cert)}, "tls.key_file: %s: no PEM private key"
         % cert),
    ]
    h = start(herald_factory, tmp_path, cert, key, start=False)
    for tls, expected in cases:
        h.write_config({"console": {"channel": "console", "path": str(h.console)}},
                       "console", {"tls": tls})
        r = h.command("check", "-c", h.config_path)
        out = (r.stdout + r.stderr).decode()
        assert r.returncode != 0 and expected in out, (tls, out)
        for k in (key, other_key, enc_key):
            assert key_body(k)[:40] not in out
    h.write_config({"console": {"channel": "console", "path": str(h.console)}}, "console",
                   {"tls": {"cert_file": str(other_cert), "key_file": str(other_key)}})
    r = h.command("check", "-c", h.config_path)
    assert r.returncode == 0, r.stderr
    assert "tls         %s (/CN=other, valid until " % other_cert in r.stdout.decode()


def test_a_certificate_close_to_its_end_is_warned_about(herald_factory, tmp_path):
    cert, key = make_pair(tmp_path, "short", days=3)
    harness.trust_ca(cert)
    h = start(herald_factory, tmp_path, cert, key)
    assert "tls: the certificate in %s expires in 2 days" % cert in h.log() or \
        "tls: the certificate in %s expires in 3 days" % cert in h.log(), h.log_tail()


def test_a_reload_reports_a_renewed_certificate(herald_factory, tmp_path, pair):
    cert, key = pair
    h = start(herald_factory, tmp_path, cert, key)
    status, data = harness.http("POST", h.base_url + "/-/reload")
    assert status == 200, data
    assert "tls changed" not in h.log(), h.log_tail()  # nothing changed yet
    first = der_of(cert)
    kept = tmp_path / "first.crt"  # still trusted once the file is overwritten
    kept.write_bytes(cert.read_bytes())
    harness.trust_ca(kept)
    renewed_cert, renewed_key = make_pair(tmp_path, "renewed", days=90)
    cert.write_bytes(renewed_cert.read_bytes())
    key.write_bytes(renewed_key.read_bytes())
    harness.trust_ca(renewed_cert)
    status, data = harness.http("POST", h.base_url + "/-/reload")
    assert status == 200, data
    changed = [line for line in h.log().splitlines() if "tls changed to " in line]
    assert len(changed) == 1, h.log_tail()
    renewed, started = changed[0].split(" stays in force until a restart")[0].split("; ")
    assert "(/CN=renewed, valid until " in renewed and "/CN=renewed" not in started, changed
    assert served_certificate(h.port) == first
    assert h.stop(timeout=30) == 0
    h.start()
    assert served_certificate(h.port) == der_of(renewed_cert)
