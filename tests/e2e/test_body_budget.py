"""Requests in progress hold at most max_body bytes of bodies at once
(core/http/body_budget.c): a request whose Content-Length does not fit
beside those in progress is left unread until they are answered, then
read and answered as usual. That bounds herald's memory however many
clients post large payloads at once.

The request that holds the budget is a raw socket that sends its head and
part of its body and then waits: herald cannot answer it, so it holds its
claim for as long as the test says."""

import json
import socket

import pytest

import harness

MAX_BODY = 64 * 1024


def payload_of_size(size, instance):
    """An Alertmanager payload padded with an annotation to exactly size
    bytes."""
    body = harness.am_payload([{"labels": {"alertname": "Big", "instance": instance},
                                "annotations": {"summary": ""}}])
    bare = len(json.dumps(body).encode("utf-8"))
    body["alerts"][0]["annotations"]["summary"] = "x" * (size - bare)
    data = json.dumps(body).encode("utf-8")
    assert len(data) == size
    return data


def head(port, length):
    return ("POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (port, length)).encode("ascii")


def read_status(sock):
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("connection closed before an answer: %r" % data)
        data += chunk
    return int(data.split(b" ", 2)[1])


def wait_budget_free(h):
    """Claims go when a request is freed, just after its answer is sent."""
    def free():
        m = harness.metrics(h.base_url)
        return (m["herald_request_body_bytes_in_progress"] == 0
                and m["herald_requests_waiting_for_memory"] == 0)
    harness.wait_until(free, timeout=15, message="no claim left")


@pytest.mark.concurrency
def test_a_body_that_does_not_fit_waits_unread_until_the_one_in_progress_is_answered(
        herald_factory, tmp_path):
    out = tmp_path / "console.jsonl"
    h = herald_factory({"console": {"channel": "console", "path": str(out)}},
                       default_receiver="console", extra={"max_body": "64KiB"})
    size = 40 * 1024  # two do not fit in 64 KiB
    first, second = payload_of_size(size, "first"), payload_of_size(size, "second")

    holder = socket.create_connection(("127.0.0.1", h.port), timeout=30)
    waiter = socket.create_connection(("127.0.0.1", h.port), timeout=30)
    try:
        holder.sendall(head(h.port, size) + first[:1000])
        harness.wait_until(
            lambda: harness.metrics(h.base_url)["herald_request_body_bytes_in_progress"] == size,
            timeout=15, message="the first request's claim counted")

        waiter.sendall(head(h.port, size) + second)
        harness.wait_until(
            lambda: harness.metrics(h.base_url)["herald_requests_waiting_for_memory"] == 1,
            timeout=15, message="the second request waiting")
        m = harness.metrics(h.base_url)
        assert m["herald_request_body_bytes_in_progress"] == size
        assert m["herald_requests_accepted_total"] == 0

        holder.sendall(first[1000:])
        assert read_status(holder) == 200
        assert read_status(waiter) == 200
    finally:
        holder.close()
        waiter.close()

    harness.wait_until(lambda: len(harness.read_json_lines(out)) >= 2, timeout=15,
                       message="both alerts delivered")
    assert harness.metrics(h.base_url)["herald_requests_accepted_total"] == 2
    wait_budget_free(h)


@pytest.mark.concurrency
def test_many_concurrent_large_posts_are_all_answered_and_delivered(herald_factory, tmp_path):
    out = tmp_path / "console.jsonl"
    h = herald_factory({"console": {"channel": "console", "path": str(out)}},
                       default_receiver="console", extra={"max_body": "64KiB"})
    bodies = [payload_of_size(30 * 1024, "host-%02d" % i) for i in range(16)]
    answers = harness.post_concurrently(
        len(bodies), lambda i: harness.http("POST", h.base_url + "/webhook", bodies[i], timeout=60),
        threads=8, timeout=120)
    assert sorted(status for status, _ in answers) == [200] * len(bodies), answers
    harness.wait_until(lambda: len(harness.read_json_lines(out)) >= len(bodies), timeout=60,
                       message="every alert delivered")
    wait_budget_free(h)
