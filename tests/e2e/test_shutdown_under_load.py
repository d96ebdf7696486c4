"""SIGTERM in the middle of an ingest load (README, "Delivery you can rely
on": on SIGTERM herald answers 503 to new alerts, finishes the deliveries
in flight and keeps the rest for the next start).

Every thread of herald is busy when the signal comes: HTTP threads parse,
route and wait for their commit, the store's writer commits, the
dispatcher sends. The test holds herald to what it promised whatever the
interleaving: a clean exit, no answer but 200 or 503, and every alert
answered 200 delivered exactly once across this run and the next."""

import re
import threading

import pytest

import harness
from harness import DT_SECRET, T1
from mock_dingtalk import MockDingTalk

POSTERS = 8
MOST_POSTS = 2000  # a bound on the load, far above what SIGTERM leaves time for


def name(i):
    return "Term%04d" % i


def no_answer(error):
    """What a post that got no HTTP answer ran into: "refused" once herald's
    listener is closed, "reset" for a connection still waiting in the
    listener's backlog when it closed (herald never read that request);
    anything else (a timeout) as it was."""
    reason = getattr(error, "reason", error)  # urllib wraps errors while sending
    if isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(reason, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    return repr(error)


@pytest.mark.concurrency
def test_sigterm_under_load_delivers_every_acknowledged_alert_once(herald_factory):
    mock = MockDingTalk(rate_limit=10 ** 6)  # the mock's own rate limit off
    mock.add_signed(T1, DT_SECRET)
    mock.start()
    try:
        h = herald_factory(
            {"ops": {"channel": "dingtalk", "url": mock.url(T1), "rate_per_minute": 0,
                     "secret": harness.lua_env("DT_SECRET"), "template": "dingtalk"}},
            default_receiver="ops", env={"DT_SECRET": DT_SECRET},
            extra={"shutdown_timeout": "10s"})
        lock = threading.Lock()
        indexes = iter(range(MOST_POSTS))
        acked, answers = set(), {}

        def poster():
            """Posts one new alert after another until herald stops taking them."""
            while True:
                with lock:
                    i = next(indexes, None)
                if i is None:
                    return
                payload = harness.am_payload([{
                    "labels": {"alertname": name(i), "instance": "t%04d" % i},
                    "fingerprint": "%016x" % (0x7e000 + i)}])
                try:
                    status = harness.http("POST", h.base_url + "/webhook", payload,
                                          timeout=30)[0]
                except OSError as e:
                    status = no_answer(e)
                with lock:
                    answers[i] = status
                    if status == 200:
                        acked.add(i)
                if status != 200:
                    return

        threads = [threading.Thread(target=poster, daemon=True) for _ in range(POSTERS)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: len(acked) >= 50, timeout=60, interval=0.01,
                           message="50 posts acknowledged")
        rc = h.stop(timeout=60)  # SIGTERM while the posters keep going
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "posting threads did not finish"
        assert not h.killed and rc == 0, (rc, h.log_tail())
        with lock:
            others = {i: s for i, s in answers.items() if s != 200}
        print("%d posts acknowledged; the others: %s" % (
            len(acked), {s: list(others.values()).count(s) for s in set(others.values())}))
        assert len(acked) < MOST_POSTS, "the load ended before SIGTERM"
        # 503 while stopping, or no connection once herald is gone: never
        # an error of its own (500), a timeout, or another status
        assert set(others.values()) <= {503, "refused", "reset"}, others
        assert re.search(r"stopping", h.log()), h.log_tail()

        h.start()  # same config and data_dir: what was kept goes now
        harness.wait_outbox_empty(h, timeout=60)
        counts = {}
        for msg in mock.messages(T1):
            for n in set(re.findall(r"Term\d{4}", harness.message_text(msg))):
                counts[n] = counts.get(n, 0) + 1
        missing = sorted(name(i) for i in acked if name(i) not in counts)
        assert not missing, "%d acknowledged alert(s) never delivered: %s" % (
            len(missing), missing[:20])
        twice = {n: c for n, c in counts.items() if c > 1}
        assert not twice, "delivered more than once after a clean stop: %s" % (
            sorted(twice.items())[:20],)
        assert mock.rejected() == []
    finally:
        mock.stop()
