"""pytest fixtures for herald's end-to-end tests.

  mock_dingtalk        an in-process mock DingTalk with two robots:
                       T1 signed with DT_SECRET, T2 keyword "报警"
  mock_wecom           an in-process mock WeCom with the robot WECOM_KEY
  smtp                 an in-process SMTP server (no AUTH)
  herald_factory       make(receivers, default_receiver=None, env=None, ...)
                       -> a started Herald (harness.Herald); stopped with
                       SIGTERM at teardown; the test fails if herald exited
                       non-zero or printed a sanitizer report (serve, or a
                       command run with Herald.command)
  alertmanager_factory make(webhook_url, ...) -> a started Alertmanager
  wait_until           harness.wait_until (bounded polling)
  postgres             a PostgreSQL server of the tests' own (harness.Postgres),
                       one for the session, started at first use
  pg_herald_factory    herald_factory's make() with the store on a fresh
                       database of that server (DSN in HERALD_PG_DSN)

Environment: HERALD_BUILD_DIR (default <repo>/build) holds `herald` and
`plugins/`; ALERTMANAGER_BIN (default /usr/bin/prometheus-alertmanager).
"""

import sys
from pathlib import Path

import pytest

# harness.py beside this file; the mock servers in tests/mocks
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "mocks")]

import harness  # noqa: E402
from harness import DT_SECRET, KEYWORD, T1, T2, WECOM_KEY  # noqa: E402
from mock_dingtalk import MockDingTalk  # noqa: E402
from mock_wecom import MockWeCom  # noqa: E402
from smtp_server import SmtpServer  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    return any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
               for w in ("setup", "call"))


@pytest.fixture
def wait_until():
    return harness.wait_until


@pytest.fixture
def free_port():
    return harness.free_port


@pytest.fixture
def mock_dingtalk(request):
    mock = MockDingTalk()
    mock.add_signed(T1, DT_SECRET)
    mock.add_keyword(T2, KEYWORD)
    mock.start()
    yield mock
    if _failed(request):
        snap = mock.snapshot()
        print("mock DingTalk: %d accepted, %d rejected" % (
            len(snap["accepted"]), len(snap["rejected"])))
        for r in snap["rejected"]:
            print("  rejected token=%s errcode=%s errmsg=%s body=%.300s"
                  % (r["token"], r["errcode"], r["errmsg"], r["body"]))
    mock.stop()


@pytest.fixture
def mock_wecom(request):
    mock = MockWeCom()
    mock.add_robot(WECOM_KEY)
    mock.start()
    yield mock
    if _failed(request):
        for r in mock.rejected():
            print("mock WeCom rejected key=%s errcode=%s errmsg=%s body=%.300s"
                  % (r["key"][:8], r["errcode"], r["errmsg"], r["body"]))
    mock.stop()


@pytest.fixture
def smtp(request):
    server = SmtpServer().start()
    yield server
    if _failed(request):
        print("SMTP server: %d accepted, rejected: %r" % (
            len(server.accepted()), [(r["stage"], r["reply"]) for r in server.rejected()]))
    server.stop()


@pytest.fixture
def herald_factory(tmp_path, request):
    started = []

    def make(receivers, default_receiver=None, env=None, extra=None, ready_timeout=10.0,
             start=True):
        h = harness.Herald(tmp_path / ("herald-%d" % len(started)), env=env)
        if (extra or {}).get("tls"):
            h.scheme = "https"
        h.write_config(receivers, default_receiver, extra)
        started.append(h)
        error = None
        if start:
            try:
                h.start(ready_timeout=ready_timeout)
            except harness.HarnessError as e:
                error = str(e)
        if error:
            pytest.fail(error, pytrace=False)
        return h

    yield make

    problems = []
    for h in started:
        # well above herald's shutdown_timeout (harness default 3 s), so a
        # slow but clean shutdown is not reported as killed
        h.stop(timeout=30.0)
        for p in h.problems():
            problems.append("%s: %s" % (h.workdir.name, p))
    if _failed(request) and not problems:
        for h in started:
            if h.proc is None:
                continue
            print("----- %s log (%s) -----\n%s" % (h.workdir.name, h.log_path, h.log_tail()))
    if problems:
        pytest.fail("herald was not clean:\n  " + "\n  ".join(problems)
                    + "\n" + "\n".join(h.log_tail(4000) for h in started), pytrace=False)


@pytest.fixture
def alertmanager_factory(tmp_path, request):
    started = []

    def make(webhook_url, **kw):
        am = harness.Alertmanager(tmp_path / ("alertmanager-%d" % len(started)),
                                  webhook_url, **kw)
        started.append(am)
        error = None
        try:
            am.start()
        except harness.HarnessError as e:
            error = str(e)
        if error:
            pytest.fail(error, pytrace=False)
        return am

    yield make

    for am in started:
        am.stop(timeout=10.0)
    if _failed(request):
        for am in started:
            if am.proc is None:
                continue
            print("----- %s log -----\n%s" % (am.workdir.name, am.log_tail(4000)))


@pytest.fixture(scope="session")
def postgres():
    server = harness.Postgres()
    try:
        server.start()
    except harness.HarnessError:
        server.stop()
        raise
    yield server
    server.stop()


_databases = iter(range(1, 10 ** 6))


@pytest.fixture
def pg_herald_factory(herald_factory, postgres):
    """make(...) as herald_factory's, each herald on a new empty database;
    the Herald's `dsn` and `database` say which."""
    def make(receivers, default_receiver=None, env=None, extra=None, **kw):
        database = postgres.create_database("herald_%d" % next(_databases))
        dsn = postgres.dsn(database)
        env = dict(env or {}, HERALD_PG_DSN=dsn)
        store = {"backend": "postgresql", "dsn": harness.lua_env("HERALD_PG_DSN")}
        extra = dict(extra or {}, store=store)
        h = herald_factory(receivers, default_receiver, env=env, extra=extra, **kw)
        h.dsn, h.database = dsn, database
        write_config = h.write_config

        def rewrite(receivers, default_receiver=None, extra=None):
            """A test's new config keeps the store where it is."""
            return write_config(receivers, default_receiver,
                                dict(extra or {}, store=store))
        h.write_config = rewrite
        return h
    return make
