"""Every channel plugin exports exactly one dynamic symbol, the ABI entry.

Anything else a plugin exported could clash with the core or with another
plugin, and would become de facto ABI. Checked with `nm -D --defined-only`
on each *.so under $HERALD_BUILD_DIR/plugins (default: build), where no
linker-defined symbols appear, so nothing is ignored.
"""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD_DIR = REPO / os.environ.get("HERALD_BUILD_DIR", "build")
PLUGINS_DIR = BUILD_DIR / "plugins"
PLUGINS = sorted(p for p in PLUGINS_DIR.rglob("*.so") if p.is_file())


def defined_dynamic_symbols(path):
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)],
                         check=True, capture_output=True, text=True).stdout
    # Lines are "<address> <type> <name>".
    return sorted(line.split()[-1] for line in out.splitlines() if line.strip())


def test_plugins_were_built():
    names = {p.name for p in PLUGINS}
    assert {"dingtalk.so", "console.so"} <= names, (
        f"no plugins found under {PLUGINS_DIR}; build first "
        f"(meson setup {BUILD_DIR.name} && ninja -C {BUILD_DIR.name})")


@pytest.mark.parametrize("plugin", PLUGINS,
                         ids=[str(p.relative_to(PLUGINS_DIR)) for p in PLUGINS])
def test_only_entry_symbol_exported(plugin):
    assert defined_dynamic_symbols(plugin) == ["herald_plugin_entry"]
