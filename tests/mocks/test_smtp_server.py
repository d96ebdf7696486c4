"""Tests of the SMTP server the email tests deliver to: it records each
envelope and message as received, refuses on demand (a 4xx at DATA, a 5xx
at RCPT) and requires AUTH when given users, or the e2e tests prove
nothing."""

import smtplib

import pytest

from smtp_server import SmtpServer

USER, PASSWORD = "herald", "smtp-pass-0123456789"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def test_fixture_records_envelope_and_refuses_on_demand(smtp):
    client = smtplib.SMTP("127.0.0.1", smtp.port, timeout=5)
    try:
        client.sendmail("a@example.com", ["b@example.com", "c@example.com"],
                        b"Subject: =?UTF-8?B?5rWL6K+V?=\r\n\r\n.line\r\nend\r\n")
        smtp.fail_next(1, "451 4.3.0 try later")
        with pytest.raises(smtplib.SMTPDataError) as e:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nx\r\n")
        assert e.value.smtp_code == 451
        smtp.refuse_recipient("nobody@example.com")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as r:
            client.sendmail("a@example.com", ["nobody@example.com"], b"Subject: x\r\n\r\nx\r\n")
        assert r.value.recipients["nobody@example.com"][0] == 550
    finally:
        client.quit()
    [rec] = smtp.accepted()
    assert rec["mail_from"] == "a@example.com"
    assert rec["rcpt_tos"] == ["b@example.com", "c@example.com"]
    assert rec["message"]["Subject"] == "测试"
    assert rec["data"].endswith(b"\r\n.line\r\nend\r\n")  # dot-unstuffed
    assert [r["stage"] for r in smtp.rejected()] == ["DATA", "RCPT"]


def test_fixture_requires_auth_when_users_given():
    with SmtpServer(users={USER: PASSWORD}) as smtp_auth:
        client = smtplib.SMTP("127.0.0.1", smtp_auth.port, timeout=5)
        try:
            with pytest.raises(smtplib.SMTPSenderRefused) as e:
                client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nx\r\n")
            assert e.value.smtp_code == 530
            client.ehlo()
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login(USER, "nope")
            client.login(USER, PASSWORD)
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nx\r\n")
        finally:
            client.quit()
        assert [r["login"] for r in smtp_auth.accepted()] == [USER]
