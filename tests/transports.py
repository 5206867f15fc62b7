"""Where a test's source and target projects live: local disk, an SSH server or a WebDAV server.

The same engine and API tests run over every transport (issue #7/#8: "the full
engine test set runs with an SSH target and with an SSH source", "... with a
WebDAV target and a WebDAV source").  A ``Transport`` says

* where the source and target roots are on disk (tests write and inspect the
  trees there directly: on loopback the sshd serves this filesystem as the same
  user, and a WebDAV server's collection is a folder on this disk), and
* how a copick config points at them: ``local://<abs path>``, copick's
  ``ssh:///<abs path>`` plus ``*_fs_args`` {host, port, username, client_keys,
  known_hosts}, or ``webdav://<rel path>`` plus ``*_fs_args`` {base_url}.

Transports (the ``transport`` fixture runs a test once per name):

=================  ===========  ===========
name               source       target
=================  ===========  ===========
``local``          local        local
``ssh-target``     local        sshd
``ssh-source``     sshd         local
``dav-target``     local        wsgidav
``dav-source``     wsgidav      local
``nginx-target``   local        nginx + dav_ext
``moto-target``    local        S3 (moto)
``moto-source``    S3 (moto)    local
``weed-target``    local        S3 (SeaweedFS)
``weed-source``    S3 (SeaweedFS) local
``smb-target``     local        Samba smbd
``smb-source``     Samba smbd   local
=================  ===========  ===========

An S3 side has no folder on this disk: its roots are ``s3_servers.S3Path`` values (a
pathlib-like view of a fresh bucket), which the tree helpers in sync_helpers read and
write like folders, and configs name them ``s3://bucket/prefix`` with copick-style
``*_fs_args`` {endpoint_url, key, secret}.

``sets_mtime`` tells whether the *target* keeps the source's mtimes (wsgidav
does not; nginx takes the PUT's ``Date``, which synctui sets to the source's
mtime).  Targets that cannot set mtimes plan incrementally from the state
database: engine-level tests give them one (``state_for``), as ``SyncJob`` does.

The fixture is registered as a plugin by the root conftest.  A test can take a
subset with ``@pytest.mark.parametrize("transport", [...], indirect=True)``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: name -> (source side, target side); a side is "local", "ssh", "wsgidav", "nginx" or "smb"
SIDES: dict[str, tuple[str, str]] = {
    "local": ("local", "local"),
    "ssh-target": ("local", "ssh"),
    "ssh-source": ("ssh", "local"),
    "dav-target": ("local", "wsgidav"),
    "dav-source": ("wsgidav", "local"),
    "nginx-target": ("local", "nginx"),
    "moto-target": ("local", "s3-moto"),
    "moto-source": ("s3-moto", "local"),
    "weed-target": ("local", "s3-seaweedfs"),
    "weed-source": ("s3-seaweedfs", "local"),
    "smb-target": ("local", "smb"),
    "smb-source": ("smb", "local"),
}
#: the S3 transports (both servers, both directions)
S3 = ["moto-target", "moto-source", "weed-target", "weed-source"]
#: an SMB source runs in the engine test set only (tests/sync/test_engine.py)
SMB_SOURCE = ["smb-source"]
#: every transport but S3 and an SMB source: tests take those through ``over(S3)`` or
#: ``over(ALL + S3 + SMB_SOURCE)``, so their runs stay within CI's time budget
ALL = [name for name in SIDES if name not in S3 + SMB_SOURCE]
#: every transport but local disk
REMOTE = [name for name in ALL if name != "local"]
#: the one-server-per-direction set (no second WebDAV server)
DIRECTIONS = ["local", "ssh-target", "ssh-source", "dav-target", "dav-source"]

#: whether a side keeps the mtimes written to it (see the module doc)
SETS_MTIME = {"local": True, "ssh": True, "wsgidav": False, "nginx": True, "s3-moto": False,
              "s3-seaweedfs": False, "smb": True}

_names = itertools.count()


@dataclass(eq=False)
class Transport:
    """One transport, bound to this test's servers (``remote``: server_fixtures.Remote,
    ``dav``: webdav_servers.Dav)."""

    name: str = "local"
    remote: Any = None
    dav: Any = None
    #: s3_servers.S3Root: this test's bucket on the S3 side's server
    s3: Any = None
    smb: Any = None  # smb_server.Share
    _dav_dirs: dict[Path, Path] = field(default_factory=dict)
    _closing: list[Any] = field(default_factory=list)

    # -- what it is -------------------------------------------------------------------
    @property
    def source_side(self) -> str:
        return SIDES[self.name][0]

    @property
    def target_side(self) -> str:
        return SIDES[self.name][1]

    def side(self, which: str) -> str:
        """"local", "ssh", "wsgidav", "nginx" or "smb" for ``which`` ("src" or "dst")."""
        return self.source_side if which == "src" else self.target_side

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    @property
    def sets_mtime(self) -> bool:
        """Whether files written to the target keep the source's mtime."""
        return SETS_MTIME[self.target_side]

    @property
    def remote_source(self) -> bool:
        return self.source_side != "local"

    @property
    def remote_target(self) -> bool:
        return self.target_side != "local"

    def __repr__(self) -> str:
        return f"Transport({self.name})"

    # -- where the roots are ------------------------------------------------------------
    def root(self, base: Path, which: str, kind: str = "overlay") -> Path:
        """The on-disk folder of ``which`` ("src"/"dst") root ``kind`` ("overlay"/"static").

        Local and SSH roots are ``base/<which>/<kind>``; a WebDAV root must be inside
        the server's collection, so each ``base`` gets its own folder there."""
        if self.side(which).startswith("s3-"):
            home = self._dav_dirs.get(base)
            if home is None:
                home = self._dav_dirs[base] = self.s3.path(f"p{next(_names)}")
            return home / which / kind
        if self.side(which) in ("wsgidav", "nginx", "smb"):
            home = self._dav_dirs.get(base)
            if home is None:
                share = self.smb if self.side(which) == "smb" else self.dav
                home = self._dav_dirs[base] = share.disk / f"p{next(_names)}"
            return home / which / kind
        return base / which / kind

    def root_url(self, which: str, path: Path) -> tuple[str, dict[str, Any] | None]:
        """(root, fs_args) a copick config names for the folder ``path``, in copick's forms."""
        side = self.side(which)
        if side == "local":
            return f"local://{path}", None
        if side == "ssh":
            return f"ssh://{path}", self.remote.fs_args()
        if side.startswith("s3-"):
            return self.s3.url(path.key), self.s3.fs_args()
        if side == "smb":  # copick's form: smb:///share/path, host and user in fs_args
            return self.smb.url(path), self.smb.fs_args()
        rel = path.relative_to(self.dav.disk)
        return f"webdav://{self.dav.prefix.strip('/')}/{rel.as_posix()}", {"base_url": self.dav.server_url}

    def point(self, config_path: Path, which: str, overlay: Path, static: Path | None = None) -> Path:
        """Rewrite ``config_path``'s overlay (and static) root for this transport's ``which`` side."""
        if self.side(which) == "local":
            return config_path
        cfg = json.loads(config_path.read_text())
        for key, path in (("overlay", overlay), ("static", static)):
            if path is None:
                continue
            root, fs_args = self.root_url(which, path)
            cfg[f"{key}_root"] = root
            if fs_args is not None:
                cfg[f"{key}_fs_args"] = fs_args
        config_path.write_text(json.dumps(cfg, indent=4))
        return config_path

    # -- resources -------------------------------------------------------------------------
    def track(self, *things: Any) -> None:
        """Close these when the test ends: catalogs (their stores' remote connections),
        or anything with ``close()``."""
        self._closing.extend(t for t in things if t is not None)

    def close_remote_stores(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Close every SSH and WebDAV store the test opens (SyncJob and the copick-style
        functions leave theirs open) when it ends, so connections do not pile up."""
        from synctui.storage.s3 import S3Store
        from synctui.storage.sftp import SFTPStore
        from synctui.storage.smb import SMBStore
        from synctui.storage.webdav import WebDAVStore

        for cls in (SFTPStore, WebDAVStore, S3Store, SMBStore):
            init = cls.__init__

            def registering(store: Any, *args: Any, _init: Any = init, **kwargs: Any) -> None:
                _init(store, *args, **kwargs)
                self._closing.append(store)

            monkeypatch.setattr(cls, "__init__", registering)

    def close(self) -> None:
        while self._closing:
            thing = self._closing.pop()
            stores = thing.stores.values() if hasattr(thing, "stores") else [thing]
            for store in stores:
                try:
                    store.close()
                except Exception:  # noqa: BLE001 - best effort at teardown
                    pass


#: the default transport of ``Pair`` (nothing to start, nothing to close)
LOCAL = Transport("local")


def make_transport(request: pytest.FixtureRequest, name: str) -> Transport:
    """Bind ``name`` to this test's servers (started on demand; missing ones skip or fail)."""
    if name not in SIDES:
        raise ValueError(f"unknown transport {name!r}; one of {', '.join(SIDES)}")
    sides = SIDES[name]
    t = Transport(name)
    if "ssh" in sides:
        t.remote = request.getfixturevalue("remote")
    for kind in ("wsgidav", "nginx"):
        if kind in sides:
            t.dav = request.getfixturevalue(f"{kind}_dav")
    for side in sides:
        if side.startswith("s3-"):
            from s3_servers import s3_root

            t.s3 = s3_root(request, side[3:])
    if "smb" in sides:
        t.smb = request.getfixturevalue("smb")
    return t


def param(name: str, *marks: pytest.MarkDecorator) -> Any:
    """``name`` as a ``transport`` parameter; a remote one is marked ``integration`` (it needs a
    server), so ``-m "not integration"`` keeps the local runs only."""
    if name != "local":
        marks = (pytest.mark.integration, *marks)
    return pytest.param(name, marks=marks, id=name)


def transport_for(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Transport]:
    """The body of a ``transport`` fixture (a module that runs over S3 too defines its own
    with ``params=ALL + S3`` and yields from this)."""
    t = make_transport(request, request.param)
    if not t.is_local:
        t.close_remote_stores(monkeypatch)
    yield t
    t.close()


@pytest.fixture(params=[param(name) for name in ALL])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Transport]:
    """The test once per transport (see the module doc); ``indirect=True`` picks a subset."""
    yield from transport_for(request, monkeypatch)


def over(names: list[str] | None = None, *, xfail: dict[str, str] | None = None,
         exclude: dict[str, str] | None = None) -> pytest.MarkDecorator:
    """The ``transport`` fixture over ``names`` (default: all), for one test.

    ``xfail={name: "BUG: ..."}`` marks a known product bug on that transport (strict:
    it must fail until fixed); ``exclude={name: why}`` leaves out a transport the test
    cannot apply to (the why is for the reader)."""
    params = []
    for name in names or ALL:
        if exclude and name in exclude:
            continue
        marks = [pytest.mark.xfail(strict=True, reason=xfail[name])] if xfail and name in xfail else []
        params.append(param(name, *marks))
    return pytest.mark.parametrize("transport", params, indirect=True)
