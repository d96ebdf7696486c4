"""Memory is given back after an exceptional request (core/util/memory.h):
one request of 50,000 alerts, with max_body raised, makes herald's
resident memory grow by well over 100 MiB; once it is answered and its
notification delivered, resident memory returns to within 40 MiB of what
it was before.

Skipped in a sanitizer build: AddressSanitizer's allocator keeps freed
memory in quarantine and does not return it the way glibc's malloc_trim
does, so resident memory there says nothing about herald."""

import json
from pathlib import Path

import pytest

import harness

ALERTS = 50000
MARGIN_MIB = 40


def sanitized_build():
    """Whether HERALD_BUILD_DIR was configured with -Db_sanitize."""
    options = harness.build_dir() / "meson-info" / "intro-buildoptions.json"
    try:
        for option in json.loads(options.read_text()):
            if option["name"] == "b_sanitize":
                return option["value"] not in ("none", "", [])
    except (OSError, ValueError, KeyError):
        pass
    return False


def memory_mib(pid, field="VmRSS"):
    """VmRSS (resident now) or VmHWM (resident at most, so far) of the
    process, in MiB."""
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


@pytest.mark.skipif(sanitized_build(), reason="AddressSanitizer's allocator does not give "
                    "memory back to the system as glibc's does: resident memory is not herald's")
def test_memory_returns_after_an_exceptional_request(herald_factory, tmp_path):
    out = tmp_path / "console.jsonl"
    h = herald_factory({"console": {"channel": "console", "path": str(out)}},
                       default_receiver="console", extra={"max_body": "64MiB"})
    pid = h.proc.pid
    # one ordinary request first: the thread's Lua state and the store's
    # caches are part of the baseline, not of the exceptional request
    status, data = harness.http("POST", h.base_url + "/webhook", harness.am_payload(
        [{"labels": {"alertname": "Warmup", "instance": "host-0"}}]))
    assert status == 200, data
    harness.wait_outbox_empty(h)
    baseline = memory_mib(pid)

    alerts = [{"labels": {"alertname": "Storm", "instance": "host-%06d" % i,
                          "severity": "warning"},
               "annotations": {"summary": "instance host-%06d is down" % i}}
              for i in range(ALERTS)]
    body = json.dumps(harness.am_payload(alerts)).encode("utf-8")
    status, data = harness.http("POST", h.base_url + "/webhook", body, timeout=120)
    assert status == 200, data
    assert json.loads(data)["alerts"] == ALERTS
    harness.wait_outbox_empty(h, timeout=120)
    peak = memory_mib(pid, "VmHWM")
    assert peak > baseline + 2 * MARGIN_MIB, "the request was not exceptional: %.0f MiB at most" % peak
    # the trims run just after the answer and after the delivery: wait
    # for their effect, with a bound
    try:
        harness.wait_until(lambda: memory_mib(pid) <= baseline + MARGIN_MIB, timeout=30,
                           message="resident memory back near its baseline")
    except harness.HarnessError:
        pytest.fail("resident memory %.0f MiB, %.0f MiB before a %.1f MiB request and %.0f MiB "
                    "at most: not given back" % (memory_mib(pid), baseline,
                                                 len(body) / 2 ** 20, peak))
