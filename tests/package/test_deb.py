"""The Debian package (debian/, issue 12): built from a copy of this
checkout with `dpkg-buildpackage -b -us -uc`, checked with lintian,
installed into this machine with apt-get, run as the package's user with
the installed unit's command line, and purged.

Changes the machine, so it needs root (CI runs as root) and refuses to
run where herald is already installed. The packages are purged at the
end whatever failed (the `installed` fixture; tests/run purges once more
should pytest itself be killed). While installing, a policy-rc.d forbids
starting services, so a running systemd does not start herald on its
port 8060 beside the test's own.
"""

import os
import pwd
import grp
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import harness  # noqa: E402

REPO = harness.REPO
FIXTURE = REPO / "tests" / "fixtures" / "am-firing-1.json"
PACKAGES = ("herald", "herald-dev")
UNIT = Path("/lib/systemd/system/herald.service")
CONFIG = Path("/etc/herald/herald.lua")
ENV_FILE = Path("/etc/herald/herald.env")
STATE = Path("/var/lib/herald")
POLICY = Path("/usr/sbin/policy-rc.d")


def run(argv, timeout=120, check=True, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), **kw)
    text = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    if check:
        assert r.returncode == 0, (argv, r.returncode, text[-4000:])
    return r, text


def installed(package):
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout not in ("", "not-installed")


def checkout_files():
    """The checkout's files as git sees them (tracked, and new ones not
    ignored): no build trees or editor leftovers go into the package.
    Outside a git checkout, every file but the build trees'."""
    r = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(REPO), "ls-files", "-z",
                        "--cached", "--others", "--exclude-standard"], capture_output=True)
    if r.returncode == 0:
        return [f for f in r.stdout.decode().split("\0") if f]
    build_trees = re.compile(r"^(build[^/]*|obj-[^/]*|\.git)/")
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
            if p.is_file() and not build_trees.match(str(p.relative_to(REPO)) + "/")]


@pytest.fixture(scope="module")
def debs():
    assert os.geteuid() == 0, ("the package test installs into this machine and needs root "
                               "(HERALD_PACKAGE=0 tests/run leaves it out)")
    present = [p for p in PACKAGES if installed(p)]
    assert not present, ("%s already installed here: the test would purge it; "
                         "remove it first" % ", ".join(present))
    # Not under pytest's basetemp, which another pytest run of the same
    # user may clean up during this build.
    top = Path(tempfile.mkdtemp(prefix="herald-deb-"))
    try:
        yield build(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def build(top):
    src = top / "herald"
    for name in checkout_files():
        path = REPO / name
        if path.is_file():  # a deleted file git still tracks is left out
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    _, log = run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, timeout=900)
    found = {p: sorted(top.glob("%s_*.deb" % p)) for p in PACKAGES}
    assert all(len(f) == 1 for f in found.values()), (found, log[-4000:])
    return {p: f[0] for p, f in found.items()}


def purge():
    return run(["apt-get", "purge", "-y"] + [p for p in PACKAGES if installed(p)],
               timeout=300, check=False)


@pytest.fixture(scope="module")
def install(debs):
    own_policy = not POLICY.exists()
    if own_policy:
        POLICY.write_text("#!/bin/sh\n# herald tests/package: no service starts\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        run(["apt-get", "install", "-y", "--no-install-recommends"]
            + ["./" + debs[p].name for p in PACKAGES], cwd=debs["herald"].parent, timeout=300)
        yield debs
    finally:
        if any(installed(p) for p in PACKAGES):
            purge()
        if own_policy:
            POLICY.unlink()


def unit_value(key):
    values = re.findall(r"^%s=(.*)$" % key, UNIT.read_text(), re.M)
    return values[-1] if values else None


def test_lintian_reports_no_errors_or_warnings(debs):
    # Its infos stay: package-supports-alternative-init-but-no-init.d-script
    # (herald ships a systemd unit only) and
    # systemd-service-file-missing-documentation-key (a Documentation=
    # man: URL would fail systemd-analyze verify of a prefix install).
    r, text = run(["lintian", "--fail-on", "error,warning"] + [debs[p] for p in PACKAGES],
                  timeout=300, check=False)
    assert r.returncode == 0, text
    assert not re.search(r"^[EW]: ", text, re.M), text


def test_packages_split_the_installed_files(install):
    _, herald = run(["dpkg", "-L", "herald"])
    for path in ("/usr/bin/herald", str(CONFIG), str(UNIT), "/usr/share/herald/scripts/route.lua",
                 "/usr/share/herald/templates/dingtalk.lua", "/usr/share/man/man1/herald.1.gz",
                 "/usr/share/man/man5/herald.lua.5.gz", "/usr/share/man/man7/herald-templates.7.gz",
                 "/usr/share/bash-completion/completions/herald", "/etc/herald/templates"):
        assert path + "\n" in herald, path
    assert re.search(r"^/usr/lib/[^/]+/herald/plugins/dingtalk\.so$", herald, re.M), herald
    _, dev = run(["dpkg", "-L", "herald-dev"])
    assert "/usr/include/herald/plugin.h\n" in dev
    assert "/usr/include/herald" not in herald
    _, conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "herald"])
    assert str(CONFIG) in conffiles, conffiles


def test_postinst_creates_the_user_its_state_and_the_secrets_file(install):
    user = pwd.getpwnam("herald")
    assert user.pw_uid < 1000 and user.pw_shell in ("/usr/sbin/nologin", "/bin/false"), user
    assert grp.getgrgid(user.pw_gid).gr_name == "herald"
    st = STATE.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, user.pw_gid, 0o750)
    st = ENV_FILE.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, user.pw_gid, 0o640)
    assert all(not line.strip() or line.startswith("#")
               for line in ENV_FILE.read_text().splitlines()), "herald.env is not empty"
    # The configuration reads it.
    assert re.search(r'^env_file = "%s"$' % ENV_FILE, CONFIG.read_text(), re.M)


def test_installed_unit_runs_as_the_package_user_and_is_enabled(install):
    assert unit_value("User") == "herald"
    assert unit_value("DynamicUser") is None
    assert unit_value("EnvironmentFile") == "-%s" % ENV_FILE
    assert unit_value("ExecStart") == "/usr/bin/herald serve -c %s" % CONFIG
    wants = Path("/etc/systemd/system/multi-user.target.wants/herald.service")
    assert wants.resolve() == UNIT.resolve()  # /lib may be a link to /usr/lib
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found: install systemd (conf/install-deps.sh --test)"
    # verify needs no running systemd: it loads the unit and checks that
    # its commands exist.
    r, text = run([analyze, "verify", UNIT], check=False)
    assert r.returncode == 0 and not text.strip(), text


def test_herald_check_passes_on_the_installed_configuration(install):
    _, out = run(["runuser", "-u", "herald", "--", "herald", "check", "-c", CONFIG], cwd="/")
    assert out.startswith("%s: ok" % CONFIG), out
    assert "route       /usr/share/herald/scripts/route.lua" in out, out
    assert "(8 loaded)" in out, out


def stop_under_runuser(proc):
    """SIGTERM to herald, as systemd stops it. Not to runuser, which
    would pass it on and then die of it, hiding herald's exit status."""
    try:
        children = Path("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).read_text().split()
    except OSError:  # runuser has exited already
        children = []
    if children:
        os.kill(int(children[0]), signal.SIGTERM)
    else:
        proc.terminate()


def test_serves_as_the_package_user_with_the_units_command_line(install, tmp_path):
    argv = shlex.split(unit_value("ExecStart"))
    port = harness.free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["runuser", "-u", "herald", "--"] + argv
                                + ["--listen", "127.0.0.1:%d" % port],
                                cwd="/", stdout=log, stderr=subprocess.STDOUT,
                                env=harness.clean_env())
        try:
            base = "http://127.0.0.1:%d" % port
            harness.wait_until(lambda: harness.is_ready(base + "/-/ready"), timeout=30,
                               message="packaged herald ready")
            status, _ = harness.http("POST", base + "/webhook", FIXTURE.read_bytes(),
                                     {"Content-Type": "application/json"})
            assert status == 200
            harness.wait_until(lambda: b'"receiver":"console"' in log_path.read_bytes(),
                               timeout=30, message="message on the console channel")
        finally:
            stop_under_runuser(proc)
            rc = proc.wait(timeout=30)
    assert rc == 0, log_path.read_text()
    herald_uid = pwd.getpwnam("herald").pw_uid
    stored = [p for p in STATE.rglob("*") if p.is_file()]
    assert stored and all(p.stat().st_uid == herald_uid for p in stored), stored


def test_reinstall_keeps_the_secrets_and_the_store(install):
    """postinst again, as on an upgrade: the user exists, herald.env holds
    a secret and the store has data; none of it is replaced."""
    ENV_FILE.write_text(ENV_FILE.read_text() + "HERALD_TOKEN=kept\n")
    stored = sorted(p for p in STATE.rglob("*") if p.is_file())
    run(["dpkg", "-i", install["herald"]], timeout=300)
    assert ENV_FILE.read_text().endswith("HERALD_TOKEN=kept\n")
    st = ENV_FILE.stat()
    assert (st.st_uid, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)) == \
        (0, "herald", 0o640)
    assert sorted(p for p in STATE.rglob("*") if p.is_file()) == stored


def test_herald_dev_compiles_a_plugin(install, tmp_path):
    _, cflags = run(["pkg-config", "--cflags", "herald-plugin"])
    _, plugindir = run(["pkg-config", "--variable=plugindir", "herald-plugin"])
    assert re.fullmatch(r"/usr/lib/[^/]+/herald/plugins\n", plugindir), plugindir
    source = tmp_path / "plugin.c"
    source.write_text("#include <herald/plugin.h>\nint plugin_probe(void) { return 0; }\n")
    run(["cc", "-c", "-o", tmp_path / "plugin.o", source] + shlex.split(cflags))


def test_purge_removes_the_package_and_the_users_data(install):
    r, text = purge()
    assert r.returncode == 0, text
    assert not any(installed(p) for p in PACKAGES), text
    for gone in (STATE, ENV_FILE, CONFIG.parent, Path("/usr/share/herald"), UNIT,
                 Path("/usr/bin/herald"),
                 Path("/etc/systemd/system/multi-user.target.wants/herald.service")):
        assert not os.path.lexists(gone), gone
