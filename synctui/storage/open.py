"""Turn a Location into the Store that serves it (remote stores import lazily)."""

from __future__ import annotations

from synctui.errors import LocationError
from synctui.storage.base import Store
from synctui.storage.url import Location


def open_store(location: Location, **options: object) -> Store:
    if location.protocol == "local":
        from synctui.storage.local import LocalStore

        return LocalStore(location, **options)  # type: ignore[arg-type]
    if location.protocol == "ssh":
        from synctui.storage.sftp import SFTPStore

        return SFTPStore(location, **options)  # type: ignore[arg-type]
    if location.protocol == "webdav":
        from synctui.storage.webdav import WebDAVStore

        return WebDAVStore(location, **options)  # type: ignore[arg-type]
    raise LocationError(f"unknown protocol {location.protocol!r}")
