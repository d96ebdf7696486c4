"""End to end for the email channel: the real Alertmanager posts to herald,
herald renders the Chinese HTML template and sends it through libcurl SMTP
to a real SMTP server (aiosmtpd, tests/mocks/smtp_server.py). The received
message is read back with Python's email package. Also: SMTP AUTH, a 4xx
reply retried, a 5xx reply dead-lettered without a retry."""

import datetime
import email.utils
import re

import pytest

import harness
from smtp_server import NO_SUCH_USER, SmtpServer

LABELS = {"alertname": "HostDown", "instance": "10.0.0.11:9100",
          "severity": "critical", "env": "prod"}
ANNOTATIONS = {"summary": "主机 10.0.0.11 无法访问",
               "description": "node_exporter 已经 1 分钟没有响应"}
SENDER = "alerts@example.com"
TO = ["ops@example.com", "张三 <zhangsan@example.com>"]
CC = ["值班 <oncall@example.com>"]
ENVELOPE_RCPTS = ["ops@example.com", "zhangsan@example.com", "oncall@example.com"]
DELIVERY_TIMEOUT = 30.0
USER, PASSWORD = "herald", "smtp-pass-0123456789"


@pytest.fixture
def smtp_auth():
    server = SmtpServer(users={USER: PASSWORD}).start()
    yield server
    server.stop()


def mail_receiver(server, **extra):
    spec = {"channel": "email", "url": server.url, "from": "herald 告警 <%s>" % SENDER,
            "to": TO, "cc": CC, "tls": "none", "subject_prefix": "[prod] "}
    spec.update(extra)
    return spec


def start(herald_factory, server, env=None, **extra):
    return herald_factory({"mail": mail_receiver(server, **extra)}, default_receiver="mail",
                          env=env, extra={"delivery": harness.FAST_RETRIES})


def raw_log(h):
    """herald's output as written (Herald.log() hides known secrets, which
    would make a leak invisible)."""
    return h.log_path.read_bytes().decode("utf-8", "replace")


def post_alert(h, name="DiskFull"):
    payload = harness.am_payload([{"labels": dict(LABELS, alertname=name),
                                   "annotations": ANNOTATIONS}])
    status, data = harness.http("POST", h.base_url + "/webhook", payload)
    assert status == 200, (status, data)


def wait_mails(server, n, timeout=DELIVERY_TIMEOUT):
    server.wait_for(lambda s: len(s.accepted()) >= n, timeout=timeout)
    recs = server.accepted()
    if len(recs) < n:
        pytest.fail("SMTP server got %d message(s) within %.0f s, wanted %d; rejected: %r"
                    % (len(recs), timeout, n, [r["reply"] for r in server.rejected()]),
                    pytrace=False)
    return recs


def wait_resolved_mail(server, first, subject, timeout=DELIVERY_TIMEOUT):
    """The first mail whose Subject is `subject`.  Alertmanager may post the
    firing notification again when herald answers slowly (a loaded
    machine): every mail before the resolved one must be such a re-post,
    i.e. the same as `first` (Subject and both text parts)."""
    def index(s):
        recs = s.accepted()
        for i, r in enumerate(recs):
            if r["message"]["Subject"] == subject:
                return i + 1  # true even for the first mail
        return 0
    found = server.wait_for(index, timeout=timeout)
    recs = server.accepted()
    if not found:
        pytest.fail("no mail %r within %.0f s; got %r; rejected: %r"
                    % (subject, timeout, [r["message"]["Subject"] for r in recs],
                       [r["reply"] for r in server.rejected()]), pytrace=False)
    want = (first["message"]["Subject"], parts(first["message"]))
    for r in recs[:found - 1]:
        assert (r["message"]["Subject"], parts(r["message"])) == want, \
            "a mail other than a re-post of the first came before the resolved one: %r" \
            % r["message"]["Subject"]
    return recs[found - 1]


def parts(message):
    """{content type: decoded text} of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative", message.get_content_type()
    return {p.get_content_type(): p.get_content() for p in message.iter_parts()}


def check_wire_format(data):
    """CRLF only, no line over 998 bytes (RFC 5322 2.1.1), base64 lines at
    most 76 characters."""
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF in the message"
    lines = data.split(b"\r\n")
    assert max(len(ln) for ln in lines) <= 998
    head, _, body = data.partition(b"\r\n\r\n")
    assert all(len(ln) <= 78 for ln in head.split(b"\r\n")), head
    assert all(len(ln) <= 76 for ln in body.split(b"\r\n") if not ln.startswith(b"--")), body


# ----- from Alertmanager to the mailbox ---------------------------------
def test_alertmanager_to_email(smtp, herald_factory, alertmanager_factory):
    h = start(herald_factory, smtp)
    am = alertmanager_factory(h.base_url + "/webhook")

    starts = am.fire(LABELS, ANNOTATIONS)
    firing = wait_mails(smtp, 1)[0]  # a re-post may follow: checked below
    assert firing["mail_from"] == SENDER
    assert sorted(firing["rcpt_tos"]) == sorted(ENVELOPE_RCPTS)
    check_wire_format(firing["data"])

    msg = firing["message"]
    assert msg["Subject"] == "[prod] [故障] HostDown"
    assert msg["From"].addresses[0].display_name == "herald 告警"
    assert msg["From"].addresses[0].addr_spec == SENDER
    assert [a.addr_spec for a in msg["To"].addresses] == ["ops@example.com",
                                                          "zhangsan@example.com"]
    assert msg["To"].addresses[1].display_name == "张三"
    assert [(a.display_name, a.addr_spec) for a in msg["Cc"].addresses] == \
        [("值班", "oncall@example.com")]
    assert "Bcc" not in msg
    sent = email.utils.parsedate_to_datetime(msg["Date"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert sent.utcoffset() == datetime.timedelta(0)
    assert abs((now - sent).total_seconds()) < 120, msg["Date"]
    assert re.fullmatch(r"<\d{13}\.[0-9a-f]{32}@example\.com>", msg["Message-ID"]), \
        msg["Message-ID"]
    assert msg["MIME-Version"] == "1.0"
    assert msg["Auto-Submitted"] == "auto-generated"

    texts = parts(msg)
    assert set(texts) == {"text/plain", "text/html"}
    for part in msg.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "base64"
    plain, html = texts["text/plain"], texts["text/html"]
    for needle in ("[故障] HostDown", "告警名称\tHostDown", "告警级别\tcritical",
                   "告警主机\t10.0.0.11:9100", "告警摘要\t" + ANNOTATIONS["summary"],
                   "告警详情\t" + ANNOTATIONS["description"],
                   "告警时间\t" + harness.shanghai(starts)):
        assert needle in plain, "plain part lacks %r:\n%s" % (needle, plain)
    assert "<t" not in plain and "</" not in plain  # no markup in the plain part
    for needle in ("<table", ">告警名称</th>", ">HostDown</td>", ANNOTATIONS["summary"],
                   harness.shanghai(starts)):
        assert needle in html, "html part lacks %r" % needle

    am.resolve(LABELS, ANNOTATIONS, starts_at=starts)
    resolved = wait_resolved_mail(smtp, firing, "[prod] [恢复] HostDown")["message"]
    assert resolved["Subject"] == "[prod] [恢复] HostDown"
    r_plain = parts(resolved)["text/plain"]
    assert "恢复时间\t" in r_plain and "10.0.0.11:9100" in r_plain
    assert resolved["Message-ID"] != msg["Message-ID"]
    assert smtp.rejected() == []


def test_smtp_auth(smtp_auth, herald_factory):
    h = start(herald_factory, smtp_auth, env={"SMTP_PASSWORD": PASSWORD}, username=USER,
              password=harness.lua_env("SMTP_PASSWORD"))
    post_alert(h)
    [rec] = wait_mails(smtp_auth, 1)
    assert rec["login"] == USER
    assert rec["message"]["Subject"] == "[prod] [故障] DiskFull"
    assert PASSWORD not in raw_log(h)


def test_wrong_password_is_a_dead_letter(smtp_auth, herald_factory):
    h = start(herald_factory, smtp_auth, env={"SMTP_PASSWORD": "wrong-password-000"},
              username=USER, password=harness.lua_env("SMTP_PASSWORD"))
    post_alert(h)
    harness.wait_until(lambda: harness.dead_letters(h), timeout=10,
                       message="dead letter logged")
    [dead] = harness.dead_letters(h)
    assert "SMTP 535" in dead, dead
    assert harness.retries(h) == []
    assert smtp_auth.accepted() == []
    assert "wrong-password-000" not in raw_log(h)


# ----- SMTP replies ------------------------------------------------------
@pytest.mark.concurrency
def test_4xx_reply_is_retried_then_delivered(smtp, herald_factory):
    h = start(herald_factory, smtp)
    smtp.fail_next(1, "451 4.3.0 try later")
    post_alert(h)
    [rec] = wait_mails(smtp, 1)
    assert rec["message"]["Subject"] == "[prod] [故障] DiskFull"
    [rejected] = smtp.rejected()
    assert rejected["stage"] == "DATA" and rejected["reply"] == "451 4.3.0 try later"
    retries = harness.retries(h)
    assert len(retries) == 1 and "SMTP 451" in retries[0][1], h.log_tail()
    harness.wait_until(lambda: harness.metrics(h.base_url)["herald_deliveries_total"] == 1,
                       timeout=30)
    m = harness.metrics(h.base_url)
    assert m["herald_delivery_retries_total"] == 1 and m["herald_dead_letters_total"] == 0, m
    harness.wait_outbox_empty(h)
    assert len(smtp.accepted()) == 1  # delivered once, not again


def test_5xx_reply_is_a_dead_letter_without_retry(smtp, herald_factory):
    smtp.refuse_recipient("oncall@example.com", NO_SUCH_USER)
    h = start(herald_factory, smtp)
    post_alert(h)
    harness.wait_until(lambda: harness.dead_letters(h), timeout=10,
                       message="dead letter logged")
    [dead] = harness.dead_letters(h)
    # the dead letter carries the server's own reply, not just curl's code
    assert "SMTP 550" in dead and NO_SUCH_USER.split(" ", 1)[1] in dead, dead
    harness.wait_outbox_empty(h)  # given up: nothing left to retry
    assert harness.retries(h) == []
    assert [(r["stage"], r["address"], r["reply"]) for r in smtp.rejected()] == \
        [("RCPT", "oncall@example.com", NO_SUCH_USER)]
    assert smtp.accepted() == []
    m = harness.metrics(h.base_url)
    assert m["herald_dead_letters_total"] == 1 and m["herald_delivery_retries_total"] == 0, m


def test_5xx_at_data_is_a_dead_letter(smtp, herald_factory):
    smtp.fail_next(1, "552 5.3.4 message too big for system", stage="DATA")
    h = start(herald_factory, smtp)
    post_alert(h)
    harness.wait_until(lambda: harness.dead_letters(h), timeout=10,
                       message="dead letter logged")
    [dead] = harness.dead_letters(h)
    assert "SMTP 552" in dead, dead
    assert harness.retries(h) == []
    assert smtp.accepted() == []


def test_config_errors_name_the_key(smtp, herald_factory):
    h = herald_factory({"mail": mail_receiver(smtp, to=["nobody"])}, default_receiver="mail",
                       start=False)
    res = h.command("check", "-c", h.config_path)
    assert res.returncode == 1
    err = res.stderr.decode("utf-8")
    assert "receivers.mail" in err, err
    assert "to: item 1 \"nobody\" is not an e-mail address" in err, err
