"""pytest setup for the mock servers' own tests.

The mocks stand in for the chat services in tests/e2e; these tests check
that each mock enforces what its service does, so that a passing e2e test
means something. They talk to the mocks with the e2e harness's HTTP
helpers (no proxy, bounded waits, loopback ports), hence tests/e2e on the
path; the mocks themselves import nothing from tests/e2e.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
