"""`herald send-test`: one message to one receiver now, through the real
channel and dispatcher, with the service's verdict as the exit status."""

import re

import harness
from harness import DT_SECRET, T1

FIXTURE_1 = harness.REPO / "tests" / "fixtures" / "am-firing-1.json"


def configure(herald_factory, mock, secret=DT_SECRET):
    receivers = {
        "console": {"channel": "console"},
        "ops": {"channel": "dingtalk", "url": mock.url(T1), "secret": harness.lua_env("DT_SECRET"),
                "template": "dingtalk"},
    }
    return herald_factory(receivers, default_receiver="console", env={"DT_SECRET": secret},
                          start=False)


def send_test(h, *args):
    r = h.command("send-test", "-c", h.config_path, *args, timeout=60)
    out, err = r.stdout.decode(), r.stderr.decode()
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in err, err
    return r.returncode, out, err


def test_the_sample_reaches_the_robot(mock_dingtalk, herald_factory):
    h = configure(herald_factory, mock_dingtalk)
    rc, out, err = send_test(h, "--receiver", "ops")
    assert rc == 0, (out, err)
    assert "delivered: 1 message to receiver ops (channel dingtalk)" in out, out
    [msg] = mock_dingtalk.messages(T1)
    assert "[故障]" in harness.message_text(msg), msg
    assert DT_SECRET not in out + err


def test_a_payload_instead_of_the_sample(mock_dingtalk, herald_factory):
    h = configure(herald_factory, mock_dingtalk)
    rc, out, err = send_test(h, "--receiver", "ops", "--payload", str(FIXTURE_1))
    assert rc == 0, (out, err)
    [msg] = mock_dingtalk.messages(T1)
    assert "InstanceDown" in harness.message_text(msg), msg


def test_a_refusal_is_the_exit_status_and_the_reason_is_shown(mock_dingtalk, herald_factory):
    h = configure(herald_factory, mock_dingtalk, secret="SECwrongwrongwrong0123456789abcd")
    rc, out, err = send_test(h, "--receiver", "ops")
    assert rc == 1, (out, err)
    assert "sign not match" in err and "0 of 1 message delivered to receiver ops" in err, err
    # Nothing is stored, so nothing is called a dead letter or given an id.
    assert "not delivered: message (firing, " in err, err
    assert "dead letter" not in err and "notification 1" not in err, err
    assert len(mock_dingtalk.rejected()) == 1  # no retries


def test_a_throttled_robot_answers_at_once(mock_dingtalk, herald_factory):
    h = configure(herald_factory, mock_dingtalk)
    mock_dingtalk.fail_next(T1, 1, 130101)
    rc, out, err = send_test(h, "--receiver", "ops")
    assert rc == 1, (out, err)
    assert re.search(r"attempt 1 failed \(errcode 130101", err), err
    assert len(mock_dingtalk.rejected()) == 1 and mock_dingtalk.accepted() == []


def test_usage(mock_dingtalk, herald_factory):
    h = configure(herald_factory, mock_dingtalk)
    rc, out, err = send_test(h)
    assert rc == 2 and "--receiver NAME is required" in err, err
    rc, out, err = send_test(h, "--receiver", "nobody")
    assert rc == 1 and 'no receiver named "nobody"' in err and "ops" in err, err
    assert mock_dingtalk.accepted() == [] and mock_dingtalk.rejected() == []
