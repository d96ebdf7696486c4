"""pytest setup for the mock servers' own tests.

The mocks stand in for the chat services in tests/e2e; these tests check
that each mock enforces what its service does, so that a passing e2e test
means something. They talk to the mocks with the e2e harness's HTTP
helpers (no proxy, bounded waits, loopback ports), hence tests/e2e on the
path; the mocks themselves import nothing from tests/e2e.

  mock_cli  start(script, *args) runs `python3 tests/mocks/SCRIPT --port P
            --quiet ARGS...` (a mock's command line, for manual use) and
            returns its base URL once it answers; stopped at teardown
"""

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))

import harness  # noqa: E402


@pytest.fixture
def mock_cli():
    procs = []

    def start(script, *args):
        port = harness.free_port()
        procs.append(subprocess.Popen(
            [sys.executable, str(HERE / script), "--port", str(port), "--quiet"] + list(args),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        base = "http://127.0.0.1:%d" % port
        harness.wait_until(lambda: harness.http("GET", base + "/_received", timeout=1)[0] == 200,
                           timeout=10, message="%s's command line not answering" % script)
        return base

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
