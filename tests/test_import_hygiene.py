"""The core stays headless and cheap to import; the CLI's --help stays fast.

Each check runs in a fresh interpreter, since this test process has long since
imported everything.  Modules are discovered at test time, so a new module in
project/, storage/ or sync/ is covered the day it is added.
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import synctui

#: never in the project, storage and sync layers (DESIGN.md section 1)
UI_MODULES = ("textual", "rich")
#: heavy or remote-only libraries: imported lazily, where they are used (DESIGN.md section 6)
HEAVY_MODULES = ("zarr", "trimesh", "paramiko", "httpx", "smbprotocol", "smbclient")
#: the one place each remote library may be imported eagerly: the store backend that wraps
#: it (module name prefixes).  Everything else must reach a backend through a lazy import,
#: as ``synctui.storage.open`` does, so listing, planning and ``--help`` never pay for it.
BACKENDS = {
    "httpx": ("synctui.storage.webdav", "synctui.storage._httpx"),
    "paramiko": ("synctui.storage.sftp", "synctui.storage.ssh"),
}
CORE_PACKAGES = ("synctui.project", "synctui.storage", "synctui.sync")
#: top-level modules that are interfaces, not core
NOT_CORE = {"synctui.__main__", "synctui.cli", "synctui.tui"}


def core_modules() -> list[str]:
    names = ["synctui"]
    for info in pkgutil.iter_modules(synctui.__path__, "synctui."):
        if info.name not in NOT_CORE and not info.ispkg:
            names.append(info.name)  # synctui.errors, synctui.format ...
    for package in CORE_PACKAGES:
        names.append(package)
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations is not None
        for info in pkgutil.walk_packages(spec.submodule_search_locations, package + "."):
            names.append(info.name)
    return sorted(names)


def loaded(names: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted({n.split(".")[0] for n in names if n.split(".")[0] in forbidden})


def modules_after(code: str, tmp_path: Path, *args: str) -> tuple[list[str], subprocess.CompletedProcess]:
    """Run ``code`` in a fresh interpreter; return the modules loaded when it exits."""
    out = tmp_path / "modules.json"
    prelude = (
        "import atexit, json, sys\n"
        f"_out = {str(out)!r}\n"
        "def _dump():\n"
        "    with open(_out, 'w') as fh:\n"
        "        json.dump(sorted(sys.modules), fh)\n"
        "atexit.register(_dump)\n"
        # synctui's CLI leaves through os._exit once its work is flushed (cli._leave)
        "import os\n"
        "_exit = os._exit\n"
        "os._exit = lambda code: (_dump(), _exit(code))\n"
    )
    proc = subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.exists(), f"interpreter died before exit: {proc.stderr[-2000:]}"
    return json.loads(out.read_text()), proc


def test_core_modules_are_discovered() -> None:
    names = core_modules()
    for expected in ("synctui.errors", "synctui.project.config", "synctui.project.layout",
                     "synctui.storage.local", "synctui.storage.url", "synctui.sync"):
        assert expected in names
    assert not any(n.startswith(("synctui.tui", "synctui.cli")) for n in names)


@pytest.mark.parametrize("module", core_modules())
def test_core_module_imports_no_ui_and_nothing_heavy(module: str, tmp_path: Path) -> None:
    names, proc = modules_after(f"import {module}\n", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert module in names
    # strict even for backends: plain `import httpx` loads rich (via its CLI), which
    # synctui.storage._httpx avoids
    assert loaded(names, UI_MODULES) == [], f"{module} loads a UI library at import time"
    allowed = {lib for lib, owners in BACKENDS.items() if module.startswith(owners)}
    heavy = [lib for lib in loaded(names, HEAVY_MODULES) if lib not in allowed]
    assert heavy == [], f"{module} loads a heavy library at import time"


def test_backend_allowance_is_narrow() -> None:
    """Only backend modules get an allowance, and only for their own library."""
    for module in core_modules():
        owned = [lib for lib, owners in BACKENDS.items() if module.startswith(owners)]
        assert len(owned) <= 1, module
        if owned:
            assert module.startswith("synctui.storage."), module


@pytest.mark.skipif(importlib.util.find_spec("synctui.cli") is None,
                    reason="synctui.cli cannot be imported: the CLI module does not exist yet")
def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import runpy\n"
        "sys.argv = ['synctui', '--help']\n"
        "runpy.run_module('synctui', run_name='__main__', alter_sys=True)\n"
    )
    names, proc = modules_after(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage" in proc.stdout.lower()
    assert "synctui.cli" in names
    assert loaded(names, ("textual", *HEAVY_MODULES)) == [], \
        "`synctui --help` should answer without importing the TUI or the remote/volume libraries"


#: what a local `synctui sync` never uses: the TUI, remote and volume libraries, rich
#: when its output is no terminal (cli/lines.py), and the SSH/WebDAV store modules
SYNC_UNUSED = ("textual", "rich", *HEAVY_MODULES)
SYNC_UNUSED_MODULES = ("rich.table", "synctui.storage.sftp", "synctui.storage.webdav",
                       "synctui.tui")


def test_local_sync_imports_only_what_it_uses(tmp_path: Path) -> None:
    """`synctui sync` on two local roots: the start-up path bench/startup.py times."""
    configs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        cfg = tmp_path / f"{name}.json"
        cfg.write_text(json.dumps({"name": name, "pickable_objects": [],
                                   "overlay_root": f"local://{tmp_path / name}"}))
        configs.append(str(cfg))
    code = (
        "import os, runpy\n"
        f"os.environ['SYNCTUI_STATE_DIR'] = {str(tmp_path / 'state')!r}\n"
        f"sys.argv = ['synctui', 'sync', '--no-progress', '-s', {configs[0]!r}, '-t', {configs[1]!r}]\n"
        "runpy.run_module('synctui', run_name='__main__', alter_sys=True)\n"
    )
    names, proc = modules_after(code, tmp_path)
    assert "up to date" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert loaded(names, SYNC_UNUSED) == [], "a local sync imports a library it never uses"
    unused = [m for m in SYNC_UNUSED_MODULES if m in names or any(n.startswith(m + ".") for n in names)]
    assert unused == [], "a local sync imports modules it never uses"
