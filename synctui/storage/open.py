"""Turn a Location into the Store that serves it (remote stores import lazily)."""

from __future__ import annotations

from synctui.errors import LocationError
from synctui.storage.base import Store
from synctui.storage.url import Location


def open_store(location: Location, **options: object) -> Store:
    """``options`` go to the store; ``ssh_prompt``/``webdav_prompt``/``smb_prompt`` become the ``prompt``
    of that kind of store only (their callbacks differ), and local stores take only fsync
    and listing."""
    if location.protocol == "local":
        from synctui.storage.local import LocalStore

        fsync, listing = options.get("fsync"), options.get("listing")
        return LocalStore(location, fsync=None if fsync is None else bool(fsync),
                          listing=None if listing is None else str(listing))
    mine = f"{location.protocol}_prompt"
    opts = {k: v for k, v in options.items() if not k.endswith("_prompt")}
    if options.get(mine) is not None:
        opts["prompt"] = options[mine]
    if location.protocol == "ssh":
        from synctui.storage.sftp import SFTPStore

        return SFTPStore(location, **opts)  # type: ignore[arg-type]
    if location.protocol == "webdav":
        from synctui.storage.webdav import WebDAVStore

        return WebDAVStore(location, **opts)  # type: ignore[arg-type]
    if location.protocol == "s3":
        from synctui.storage.s3 import S3Store

        return S3Store(location, **opts)  # type: ignore[arg-type]
    if location.protocol == "smb":
        from synctui.storage.smb import SMBStore

        return SMBStore(location, **opts)  # type: ignore[arg-type]
    raise LocationError(f"unknown protocol {location.protocol!r}")
