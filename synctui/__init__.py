"""synctui: keep copick cryo-ET projects in sync across local disks, SSH and WebDAV.

The public API is re-exported here lazily so ``import synctui`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

from synctui.errors import SyncTuiError  # noqa: E402

_LAZY = {
    "load_config": "synctui.project.config",
    "open_project": "synctui.project.catalog",
    "SyncJob": "synctui.sync.api",
    "JobOptions": "synctui.sync.api",
    "sync_picks": "synctui.sync.api",
    "sync_meshes": "synctui.sync.api",
    "sync_segmentations": "synctui.sync.api",
    "sync_tomograms": "synctui.sync.api",
    "RuleSet": "synctui.sync.rules",
    "Plan": "synctui.sync.plan",
    "PlanOptions": "synctui.sync.plan",
    "make_plan": "synctui.sync.plan",
    "Summary": "synctui.sync.engine",
    "EventSink": "synctui.sync.events",
    "write_demo": "synctui.project.demo",
}

__all__ = ["SyncTuiError", "__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synctui' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
