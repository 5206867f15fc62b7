"""``smb://`` roots in copick's two forms, parsed into a Location.

``smb://host/share/path`` (``smb://user:pass@host:port/share/path`` too) and copick's
``smb:///share/path`` with ``host``/``port``/``username``/``password`` in fs_args.  The
Location's ``path`` is ``/<share>/<path in the share>``; the store splits off the share.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import SplitResult, unquote

from synctui.errors import LocationError
from synctui.storage.options import normalize_fs_args

DEFAULT_PORT = 445


def smb_location(parts: SplitResult, hostname: str | None, username: str | None,
                 password: str | None, url_port: int | None, fs_args: dict[str, Any], *,
                 shown: str, what: str, original: str):
    from synctui.storage.url import Location

    args = normalize_fs_args("smb", fs_args)
    host = hostname or args.get("host")
    if not host:
        raise LocationError(f"{what} {shown!r}: no host (write smb://host/share/path or set host "
                            "in fs_args)")
    raw = unquote(parts.path).replace("\\", "/")
    pieces = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in pieces:
        raise LocationError(f"{what} {shown!r}: the path climbs out of its share with '..'")
    if not pieces:
        raise LocationError(f"{what} {shown!r}: no share (write smb://host/share/path)")
    if username:
        username = unquote(username)
    if password:
        args.setdefault("password", unquote(password))
    return Location("smb", "/" + posixpath.join(*pieces), host=host,
                    port=url_port or args.get("port") or DEFAULT_PORT,
                    username=username or args.get("username"), fs_args=args, original=original)


def smb_display(location) -> str:
    user = f"{location.username}@" if location.username else ""
    port = f":{location.port}" if location.port and location.port != DEFAULT_PORT else ""
    host = f"[{location.host}]" if location.host and ":" in location.host else location.host
    return f"smb://{user}{host}{port}{location.path}"


def split_share(path: str) -> tuple[str, str]:
    """``/share/a/b`` -> (``share``, ``a/b``)."""
    share, _, rest = path.strip("/").partition("/")
    return share, rest
