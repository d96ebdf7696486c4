"""A full disk under the store (core/store/sqlite/checkpoint.c): herald
answers 503 while it cannot write, never 200 for an alert it did not
store, accepts again as soon as space returns without a restart, and a
restart on the full disk comes up and recovers the same way.

data_dir is a 4 MiB tmpfs mounted by the test (root only: the test is
skipped, saying why, where mounting is not allowed). The webhook channel
is down while the disk fills, so the outbox only grows; a ballast file
takes whatever room herald leaves. Every wait is bounded and waits for
something herald shows: an answer, a log line, a metric, a delivery."""

import errno
import json
import os
import subprocess

import pytest

import harness
from mock_webhook import MockWebhook

VOLUME = "4m"
ANNOTATION = "x" * 24 * 1024      # about 60 KiB stored per alert (payload, text, history)
MAX_POSTS = 200                   # the volume holds far fewer
FULL_LOG = "store: disk full at %s; answering 503 until space returns"
BACK_LOG = "store: space returned at %s; accepting alerts again"


@pytest.fixture
def volume(tmp_path):
    """A 4 MiB tmpfs at tmp_path/data, unmounted at the end (after
    herald_factory, which a test lists after this fixture, stopped herald)."""
    path = tmp_path / "data"
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for data_dir needs root (this run is uid %d)" % os.geteuid())
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + VOLUME, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs for data_dir (needs CAP_SYS_ADMIN): %s"
                    % done.stderr.strip())
    yield path
    if subprocess.run(["umount", str(path)]).returncode != 0:
        subprocess.run(["umount", "-l", str(path)])


class Ballast:
    """A file that takes every free byte of the volume."""

    def __init__(self, volume):
        self.path = volume / "ballast"

    def fill(self, limit=None):
        """Grows the ballast until the volume is full, or by `limit` bytes."""
        fd = os.open(str(self.path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        written = 0
        try:
            block = b"\0" * 4096
            while limit is None or written < limit:
                written += os.write(fd, block)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        finally:
            os.close(fd)

    def free(self):
        self.path.unlink()


class Sender:
    """Posts one alert per request, each with its own name, and keeps
    what herald answered."""

    def __init__(self, herald):
        self.herald = herald
        self.accepted, self.refused = [], []

    def post(self, name, filler=ANNOTATION):
        payload = harness.am_payload([{"labels": {"alertname": name, "instance": "db1"},
                                       "annotations": {"filler": filler}}])
        status, data = harness.http("POST", self.herald.base_url + "/webhook", payload,
                                    timeout=30.0)
        assert status in (200, 503), (status, data)
        if status == 200:
            self.accepted.append(name)
        else:
            assert b"disk full at " in data, data
            self.refused.append(name)
        return status

    def until_refused(self, prefix, ballast=None):
        """Post until herald answers 503; with a ballast, topped up after
        each answer: whatever herald gives back (its WAL) goes to the
        ballast, so the volume stays full."""
        for i in range(MAX_POSTS):
            status = self.post("%s%03d" % (prefix, i))
            if ballast:
                ballast.fill()
            if status == 503:
                break
        else:
            pytest.fail("herald took %d alerts on a full %s volume" % (MAX_POSTS, VOLUME))
        assert harness.metrics(self.herald.base_url)["herald_store_disk_full"] == 1


def hook_receiver(url):
    return {"channel": "webhook", "url": url, "body": "payload"}


def start_herald(herald_factory, volume, port, strict=None):
    receivers = {"hook": hook_receiver("http://127.0.0.1:%d/hook" % port)}
    if strict:
        receivers["strict"] = hook_receiver(strict.url("/strict"))
    return herald_factory(receivers, default_receiver="hook",
                          extra={"data_dir": str(volume),
                                 "delivery": {"retry_initial": "200ms", "retry_max_delay": "1s"}})


def delivered_names(mock):
    names = []
    for record in mock.accepted():
        for a in json.loads(record["body"])["alerts"]:
            names.append(a["labels"]["alertname"])
    return names


def assert_delivered_exactly(herald, mock, accepted, refused):
    """Every alert answered 200 arrives, none answered 503 does."""
    harness.wait_until(lambda: set(accepted) <= set(delivered_names(mock)), timeout=30,
                       message="every alert answered 200 delivered")
    harness.wait_outbox_empty(herald, timeout=30)
    names = delivered_names(mock)
    assert sorted(set(names)) == sorted(accepted)
    assert not set(refused) & set(names)


@pytest.mark.concurrency
def test_full_disk_answers_503_and_accepts_again_when_space_returns(volume, herald_factory):
    port = harness.free_port()  # the channel is down: nothing listens there yet
    h = start_herald(herald_factory, volume, port)
    ballast = Ballast(volume)
    sender = Sender(h)
    ballast.fill(limit=1024 * 1024)  # what returns, later
    # herald's alerts fill the other 3 MiB: they are in the database
    # file, not in a WAL that the database file would need as much room
    # again to take in
    sender.until_refused("Full")
    assert len(sender.accepted) >= 10, sender.accepted
    wal, db = (os.path.getsize(volume / name) for name in ("herald.db-wal", "herald.db"))
    assert wal < 1536 * 1024 < db, "WAL %d bytes, database %d bytes" % (wal, db)
    ballast.fill()
    full_log = FULL_LOG % volume
    harness.wait_until(lambda: full_log in h.log(), timeout=10, message="the disk-full log line")
    # the episode is logged once, however many requests it refuses; each
    # alert is larger than the last, so none fits in what a refused one
    # left written in the WAL
    for i in range(5):
        assert sender.post("Still%03d" % i, ANNOTATION * (2 + i)) == 503
        ballast.fill()
    assert h.log().count(full_log) == 1, h.log_tail()

    ballast.free()
    for i in range(3):
        assert sender.post("Back%03d" % i) == 200
    assert harness.metrics(h.base_url)["herald_store_disk_full"] == 0
    assert BACK_LOG % volume in h.log()

    mock = MockWebhook(port=port).start()
    try:
        assert_delivered_exactly(h, mock, sender.accepted, sender.refused)
    finally:
        mock.stop()


def test_restart_on_a_full_disk_comes_up_and_recovers(volume, herald_factory):
    """Also with a dead letter that `herald queue retry` requeued while
    herald was stopped: switching it back to pending is a write, which a
    full disk refuses; herald starts anyway and delivers it once it can
    write."""
    port = harness.free_port()
    strict = MockWebhook().start()
    try:
        strict.fail_next(1, status=400, body="bad request")
        h = start_herald(herald_factory, volume, port, strict)
        sender = Sender(h)
        status, data = harness.http("POST", h.base_url + "/webhook/strict",
                                    harness.am_payload([{"labels": {"alertname": "Refused"}}]))
        assert status == 200, (status, data)
        dead = harness.wait_until(lambda: harness.api_get(h, "deadletters")[1], timeout=10,
                                  message="the dead letter")
        ballast = Ballast(volume)
        ballast.fill()
        sender.until_refused("Before", ballast)
        assert h.stop(timeout=30) == 0, h.log_tail()
        ballast.free()  # room for the CLI's write
        rc, out, err = harness.herald_cli(h, "queue", "retry", str(dead[0]["id"]))
        assert rc == 0, (out, err)
        ballast.fill()

        again = start_herald(herald_factory, volume, port, strict)  # ready on the full volume
        sender.herald = again
        sender.until_refused("During", ballast)

        ballast.free()
        for i in range(3):
            assert sender.post("After%03d" % i) == 200
        assert strict.wait_for(lambda m: len(m.accepted()) == 1, timeout=30), \
            "the requeued dead letter delivered once the store can write"
        mock = MockWebhook(port=port).start()
        try:
            assert_delivered_exactly(again, mock, sender.accepted, sender.refused)
        finally:
            mock.stop()
    finally:
        strict.stop()
