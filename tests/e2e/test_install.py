"""`meson install` puts everything an operator needs in place, and an
installed herald finds it without any path set (issue 12).

Two installs of this source tree:
  destdir   `meson install --destdir` of the tree under test
            (HERALD_BUILD_DIR, prefix /usr/local): every file is checked,
            and its binary is run where it lies; a binary at
            ROOT + bindir reads every installed path under ROOT
            (core/config/layout.c), so the destdir copy runs as installed
  prefix    a second tree built with --prefix in a temporary folder and
            installed there: its binary's compiled-in paths are real, so
            it runs from / with no -c, and systemd-analyze verifies its
            unit against the real file system

The manual pages and the bash completion are checked against the
binary's own help and the configuration loader's key tables.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import harness

REPO = harness.REPO
FIXTURE = REPO / "tests" / "fixtures" / "am-firing-1.json"
PREFIX = "/usr/local"   # meson's default, that of the tree under test
# One pytest-xdist worker runs this file and test_install.py / test_sdk.py
# one after the other (tests/README.md): the module fixtures install once,
# and two `meson install`s of one build tree never run at once.
pytestmark = pytest.mark.xdist_group("meson_install")


def run(argv, cwd="/", timeout=120, check=True):
    r = subprocess.run([str(a) for a in argv], cwd=str(cwd), capture_output=True,
                       timeout=timeout, env=harness.clean_env())
    text = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    assert not harness.sanitizer_markers(text), text[-4000:]
    if check:
        assert r.returncode == 0, (argv, r.returncode, text[-4000:])
    return r


def stdout_of(argv, **kw):
    return run(argv, **kw).stdout.decode("utf-8")


def libdir_of(build):
    options = json.loads(stdout_of(["meson", "introspect", build, "--buildoptions"]))
    return next(o["value"] for o in options if o["name"] == "libdir")


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("destdir")
    run(["meson", "install", "-C", harness.build_dir(), "--no-rebuild", "--quiet",
         "--destdir", root])
    return root


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    """A tree configured with --prefix in a temporary folder, its installed
    targets built and installed there (the tests and benchmarks are not
    needed)."""
    top = tmp_path_factory.mktemp("prefix")
    build, prefix = top / "build", top / "p"
    run(["meson", "setup", build, "--prefix", prefix], cwd=REPO, timeout=300)
    targets = json.loads(stdout_of(["meson", "introspect", build, "--targets"]))
    wanted = [os.path.relpath(f, build) for t in targets if t["installed"]
              for f in t["filename"]]
    run(["ninja", "-C", build] + wanted, timeout=600)
    run(["meson", "install", "-C", build, "--no-rebuild", "--quiet"], timeout=300)
    # What the package (or systemd's StateDirectory) creates: data_dir's parent.
    (prefix / "var" / "lib").mkdir(parents=True)
    return prefix


def test_meson_install_puts_every_file_in_place(destdir):
    usr = destdir / PREFIX.lstrip("/")
    libdir = libdir_of(harness.build_dir())
    plugins = usr / libdir / "herald" / "plugins"
    expected = [
        usr / "bin" / "herald",
        usr / "include" / "herald" / "plugin.h",
        usr / libdir / "pkgconfig" / "herald-plugin.pc",
        usr / "etc" / "herald" / "herald.lua",
        usr / "lib" / "systemd" / "system" / "herald.service",
        usr / "share" / "herald" / "scripts" / "route.lua",
        usr / "share" / "man" / "man1" / "herald.1",
        usr / "share" / "man" / "man5" / "herald.lua.5",
        usr / "share" / "man" / "man7" / "herald-templates.7",
        usr / "share" / "bash-completion" / "completions" / "herald",
    ]
    expected += [plugins / (name + ".so") for name in
                 ("console", "dingtalk", "wecom", "feishu", "slack", "telegram", "email",
                  "webhook")]
    expected += [usr / "share" / "herald" / "templates" / t.name
                 for t in (REPO / "templates").glob("*.lua")]
    missing = [str(p) for p in expected if not p.is_file()]
    assert not missing, "not installed:\n" + "\n".join(missing)
    assert os.access(usr / "bin" / "herald", os.X_OK)
    # The operator's folders, searched before the shipped ones.
    for folder in ("templates", "scripts"):
        assert (usr / "etc" / "herald" / folder).is_dir(), folder
    # Nothing outside the destdir's prefix.
    assert sorted(p.name for p in destdir.iterdir()) == [PREFIX.strip("/").split("/")[0]]

    unit = (usr / "lib" / "systemd" / "system" / "herald.service").read_text()
    assert "ExecStart=%s/bin/herald serve -c %s/etc/herald/herald.lua\n" % (PREFIX, PREFIX) \
        in unit, unit
    assert not re.search(r"@[A-Z]+@", unit), "unsubstituted variable:\n" + unit

    sample = (usr / "etc" / "herald" / "herald.lua").read_text()
    assert 'default_receiver = "console"' in sample
    assert 'data_dir = "/var/local/lib/herald"' in sample, sample
    # A missing env_file is an error, so the sample only shows it.
    assert re.search(r'^-- env_file = "/usr/local/etc/herald/herald.env"$', sample, re.M), sample


def installed_config(root, body):
    """The installed sample with its data_dir moved into root (where the
    test may write), as an operator would edit it."""
    path = root / PREFIX.lstrip("/") / "etc" / "herald" / "herald.lua"
    text = path.read_text()
    text = text.replace('data_dir = "/var/local/lib/herald"',
                        'data_dir = "%s"' % (root / "data"))
    path.write_text(text + body)
    return path


def herald_in(root):
    return root / PREFIX.lstrip("/") / "bin" / "herald"


def test_destdir_herald_checks_its_installed_config(destdir, tmp_path):
    config = installed_config(destdir, "")
    out = stdout_of([herald_in(destdir), "check", "-c", config])
    share = destdir / "usr/local/share/herald"
    assert "route       %s/scripts/route.lua" % share in out, out
    assert "  console          %s/templates/console.lua" % share in out, out
    assert "plugins     %s" % (destdir / "usr/local") in out, out
    # With no -c, the relocated installed configuration.
    out = stdout_of([herald_in(destdir), "check"], cwd=tmp_path)
    assert out.startswith("%s: ok" % config), out
    help_text = stdout_of([herald_in(destdir), "check", "--help"])
    assert "(default %s)" % config in help_text, help_text


def test_operator_files_override_the_shipped_ones_by_name(destdir, tmp_path):
    etc = destdir / "usr/local/etc/herald"
    share = destdir / "usr/local/share/herald"
    mine = etc / "templates" / "console.lua"
    mine.write_text('return function(data) return { format = "text", title = "mine", '
                    'text = "operator template for " .. data.receiver } end\n')
    (etc / "scripts" / "route.lua").write_text(
        'return function(alert) return { "erp" } end\n')
    try:
        config = installed_config(destdir, "")
        out = stdout_of([herald_in(destdir), "check", "-c", config])
        assert "  console          %s" % mine in out, out
        # Only shipped: still found.
        assert "  dingtalk         %s/templates/dingtalk.lua" % share in out, out
        assert "route       %s/scripts/route.lua" % etc in out, out

        out = stdout_of([herald_in(destdir), "render", "-c", config, "--receiver", "console",
                         "--payload", FIXTURE])
        assert "operator template for console" in out, out
        out = stdout_of([herald_in(destdir), "route", "-c", config, "--payload", FIXTURE])
        assert "-> erp" in out and "-> console" not in out, out
    finally:
        mine.unlink()
        (etc / "scripts" / "route.lua").unlink()


def test_installed_defaults_need_no_paths_in_the_config(destdir, tmp_path):
    """A configuration beside no templates or scripts of its own gets the
    shipped ones; one that names a templates folder must have it."""
    config = tmp_path / "herald.lua"
    config.write_text('data_dir = "data"\ndefault_receiver = "console"\n'
                      'receivers = { console = { channel = "console" } }\n')
    out = stdout_of([herald_in(destdir), "check", "-c", config])
    share = destdir / "usr/local/share/herald"
    assert "route       %s/scripts/route.lua" % share in out, out
    assert "templates   %s/templates, then %s/templates (9)" % (tmp_path, share) in out, out

    config.write_text(config.read_text() + 'templates = "mine"\n')
    r = run([herald_in(destdir), "check", "-c", config], check=False)
    err = r.stderr.decode()
    assert r.returncode == 1 and "templates: %s/mine: No such file or directory" % tmp_path \
        in err, err

    config.write_text('route = "elsewhere/mine.lua"\ndata_dir = "data"\n'
                      'default_receiver = "console"\n'
                      'receivers = { console = { channel = "console" } }\n')
    r = run([herald_in(destdir), "check", "-c", config], check=False)
    err = r.stderr.decode()
    assert r.returncode == 1 and ("route: %s/elsewhere/mine.lua: no such file, nor is there a "
                                  "shipped %s/scripts/mine.lua" % (tmp_path, share)) in err, err


def test_prefix_install_runs_from_root_with_no_paths(prefix, tmp_path):
    herald = prefix / "bin" / "herald"
    out = stdout_of([herald, "check"], cwd="/")
    assert out.startswith("%s/etc/herald/herald.lua: ok" % prefix), out
    assert "route       %s/share/herald/scripts/route.lua" % prefix in out, out
    assert "plugins     %s/" % prefix in out and "(8 loaded)" in out, out

    # Serves on the installed configuration: the fixture comes out on the
    # console channel.
    port = harness.free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([str(herald), "serve", "--listen", "127.0.0.1:%d" % port], cwd="/",
                            stdout=log, stderr=subprocess.STDOUT, env=harness.clean_env())
    try:
        base = "http://127.0.0.1:%d" % port
        harness.wait_until(lambda: harness.is_ready(base + "/-/ready"), timeout=30,
                           message="installed herald ready")
        status, _ = harness.http("POST", base + "/webhook", FIXTURE.read_bytes(),
                                 {"Content-Type": "application/json"})
        assert status == 200
        harness.wait_until(lambda: b'"receiver":"console"' in (tmp_path / "serve.log")
                           .read_bytes(), timeout=30, message="message on the console")
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, (tmp_path / "serve.log").read_text()
        log.close()


def test_installed_unit_verifies(prefix):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found: install systemd (conf/install-deps.sh --test)"
    unit = prefix / "lib" / "systemd" / "system" / "herald.service"
    # verify needs no running systemd: it loads the unit and checks that
    # its commands exist, which they do in a prefix install.
    r = run([analyze, "verify", unit], check=False)
    text = (r.stdout + r.stderr).decode()
    assert r.returncode == 0 and not text.strip(), text
    assert "ExecStart=%s/bin/herald serve -c %s/etc/herald/herald.lua" % (prefix, prefix) \
        in unit.read_text()


# ----- manual pages -------------------------------------------------------------------
MAN_PAGES = ["man1/herald.1", "man5/herald.lua.5", "man7/herald-templates.7"]


@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_renders_without_warnings(destdir, page):
    path = destdir / "usr/local/share/man" / page
    # -P-cbou: plain text, no overstriking
    r = run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", path])
    assert not r.stderr, r.stderr.decode()
    text = r.stdout.decode()
    assert "NAME" in text and "SEE ALSO" in text, text[:2000]
    assert not re.search(r"@[A-Z]+@", text), "unsubstituted variable"
    if shutil.which("man"):
        r = run(["man", "-l", path])
        assert b"NAME" in r.stdout


def man_sections(page):
    """{section name: its troff source} of one page of this source tree."""
    sections, name = {}, None
    for line in (REPO / "man" / page).read_text().splitlines():
        m = re.match(r"\.SH (.+)", line)
        if m:
            name = m.group(1).strip('"')
            sections[name] = []
        elif name:
            sections[name].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def help_text(*argv):
    return stdout_of([harness.herald_binary()] + list(argv) + ["--help"], cwd=REPO)


def help_commands():
    text = help_text()
    block = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines()]


def long_options(text):
    return set(re.findall(r"(?<![\w/-])--([a-z][a-z-]*)", text))


def test_herald_1_lists_the_commands_and_options_of_help():
    sections = man_sections("herald.1")
    documented = [c.replace("\\-", "-") for c in
                  re.findall(r"^\.SS (\S+)$", sections["COMMANDS"], re.M)]
    assert documented == help_commands()
    in_help = long_options(help_text())
    for command in help_commands():
        in_help |= long_options(help_text(command))
    in_page = long_options(sections["OPTIONS"].replace("\\-", "-"))
    assert in_page == in_help, ("only in herald(1): %s; only in --help: %s"
                                % (sorted(in_page - in_help), sorted(in_help - in_page)))


def loader_keys():
    """The keys the configuration loader accepts, read from its tables:
    (top level and sections as "section.key", receiver keys)."""
    sections_c = (REPO / "core/config/sections.c").read_text()
    receivers_c = (REPO / "core/config/receivers.c").read_text()

    def strings(block):
        return re.findall(r'"([a-z_]+)"', block)

    top = strings(re.search(r"top_keys\[\] = \{(.*?)\};", sections_c, re.S).group(1))
    for block, section in re.findall(
            r"\bconst keys\[\] = \{(.*?)\};.*?check_keys\(rd, \"([a-z_]+)\"", sections_c, re.S):
        top += ["%s.%s" % (section, k) for k in strings(block)]
    receiver = strings(re.search(r"receiver_core_keys\[\] = \{(.*?)\};", receivers_c,
                                 re.S).group(1))
    mentions = re.search(r"\bconst keys\[\] = \{(.*?)\};\s*return expect_table\(rd, path\) \|\|",
                         receivers_c, re.S).group(1)
    receiver += ["mentions.%s" % k for k in strings(mentions)]
    return set(top), set(receiver)


def page_keys(section_source):
    return set(re.findall(r"^\.TP\n\.B (\S+)$", section_source, re.M))


def test_herald_lua_5_documents_exactly_the_loaders_keys():
    top, receiver = loader_keys()
    # The tables were found (a changed declaration must not empty the test).
    assert {"listen", "lua.timeout", "delivery.max_unrecorded", "tls.key_file"} <= top
    assert {"channel", "repeat_interval", "mentions.mobiles"} <= receiver
    sections = man_sections("herald.lua.5")
    for name, keys in (("KEYS", top), ("RECEIVERS", receiver)):
        documented = page_keys(sections[name])
        assert documented == keys, ("%s: only in herald.lua(5): %s; only in the loader: %s"
                                    % (name, sorted(documented - keys),
                                       sorted(keys - documented)))


# ----- bash completion ----------------------------------------------------------------
def complete(script, *words):
    """What the completion offers for the command line `words` (the last
    one being completed)."""
    line = "source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _herald; echo \"${COMPREPLY[*]}\"" % (
        script, " ".join("'%s'" % w for w in words), len(words) - 1)
    return stdout_of(["bash", "--norc", "-c", line]).split()


def test_bash_completion_offers_the_commands_and_options_of_help(destdir):
    script = destdir / "usr/local/share/bash-completion/completions/herald"
    commands = help_commands()
    assert sorted(complete(script, "herald", "")) == sorted(commands + ["--help", "--version"])
    assert sorted(complete(script, "herald", "se")) == ["send-test", "serve"]
    for command in commands:
        offered = {o[2:] for o in complete(script, "herald", command, "--")}
        assert offered == long_options(help_text(command)) | {"help"}, command
    assert complete(script, "herald", "queue", "") == ["list", "show", "retry", "drop",
                                                      "send-now", "unpause"]
    assert complete(script, "herald", "alerts", "-o", "j") == ["json"]
    assert complete(script, "herald", "store", "") == ["copy"]


# ----- the build tree ---------------------------------------------------------------
def test_build_tree_defaults_to_the_checkout_configuration():
    """The README's commands run from the checkout, as written."""
    out = stdout_of([harness.herald_binary(), "check"], cwd=REPO)
    assert out.startswith("conf/herald.lua: ok"), out
    assert "route       %s/scripts/route.lua" % REPO in out
    assert "templates   %s/templates (9)" % REPO in out, out
    assert "(default conf/herald.lua)" in help_text("check")
