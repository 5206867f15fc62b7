"""Root URLs in every form copick and users write them, parsed into one value.

``local:///p``, ``file:///p`` and plain paths are local; ``ssh:///p`` and
``sftp:///p`` take host/port/user from fs_args, ``ssh://user@host:port/p`` carries
them inline; ``webdav://rel`` joins ``base_url`` from fs_args; ``http(s)://`` is
WebDAV at that URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from synctui.errors import LocationError

SCHEMES = ("local", "file", "ssh", "sftp", "webdav", "http", "https")


@dataclass(frozen=True)
class Location:
    """Where a project root lives.  ``protocol`` is local, ssh or webdav."""

    protocol: str
    path: str
    host: str | None = None
    port: int | None = None
    username: str | None = None
    base_url: str | None = None  # webdav: the server URL the path is relative to
    # not in repr: fs_args may hold a password, and so may the URL as written
    fs_args: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    original: str = field(default="", compare=False, repr=False)

    @property
    def display(self) -> str:
        """The URL a user recognises, never with a password."""
        if self.protocol == "local":
            return self.path
        if self.protocol == "ssh":
            user = f"{self.username}@" if self.username else ""
            port = f":{self.port}" if self.port and self.port != 22 else ""
            host = f"[{self.host}]" if self.host and ":" in self.host else self.host
            return f"ssh://{user}{host}{port}{self.path}"
        return f"{(self.base_url or '').rstrip('/')}/{self.path.lstrip('/')}"

    @property
    def key(self) -> str:
        """Stable identity for the state database and locks."""
        return self.display

    def join(self, sub: str) -> Location:
        path = self.path.rstrip("/") + "/" + sub.strip("/")
        return Location(self.protocol, path, self.host, self.port, self.username,
                        self.base_url, dict(self.fs_args), self.original)


def parse_location(url: object, fs_args: dict[str, Any] | None = None, *,
                   base_dir: str | None = None, what: str = "root") -> Location:
    """Parse ``url`` (with copick's fs_args) or raise LocationError saying why."""
    args = dict(fs_args or {})
    if not isinstance(url, str) or not url.strip():
        raise LocationError(f"{what} must be a non-empty path or URL")
    text = url.strip()
    if "://" not in text:
        path = os.path.expanduser(text)
        if not os.path.isabs(path):
            path = os.path.join(base_dir or os.getcwd(), path)
        return Location("local", os.path.normpath(path), fs_args=args, original=url)
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise LocationError(
            f"{what} {url!r}: unknown URL scheme {scheme!r} (use a path, local://, file://, "
            "ssh://, sftp://, webdav://, http:// or https://)")
    parts = urlsplit(text)
    path = unquote(parts.path)
    if scheme in ("local", "file"):
        if parts.netloc and parts.netloc != "localhost":
            path = "/" + parts.netloc + path if scheme == "local" else path
            if scheme == "file":
                raise LocationError(f"{what} {url!r}: file:// URLs must name a local path (file:///abs/path)")
        if not path.startswith("/"):
            raise LocationError(f"{what} {url!r}: the path must be absolute")
        return Location("local", os.path.normpath(path), fs_args=args, original=url)
    if scheme in ("ssh", "sftp"):
        host = parts.hostname or args.get("host")
        if not host:
            raise LocationError(f"{what} {url!r}: no host (write ssh://user@host/path or set host in fs_args)")
        try:
            port = parts.port or int(args.get("port") or 22)
        except ValueError as exc:
            raise LocationError(f"{what} {url!r}: bad port ({exc})") from None
        username = unquote(parts.username) if parts.username else args.get("username")
        if parts.password:
            args.setdefault("password", unquote(parts.password))
        if not path.startswith("/"):
            raise LocationError(f"{what} {url!r}: the remote path must be absolute")
        return Location("ssh", os.path.normpath(path).replace("\\", "/"), host=host, port=port,
                        username=username, fs_args=args, original=url)
    if scheme == "webdav":
        base = args.get("base_url")
        if not base:
            raise LocationError(f"{what} {url!r}: webdav:// roots need base_url in fs_args")
        rel = (parts.netloc + path).strip("/")
        bparts = urlsplit(str(base))
        if bparts.username:  # credentials belong in auth, never in a displayed URL or state key
            args.setdefault("auth", [unquote(bparts.username), unquote(bparts.password or "")])
            base = bparts._replace(netloc=bparts.netloc.rsplit("@", 1)[-1]).geturl()
        return Location("webdav", "/" + rel, base_url=str(base).rstrip("/"), fs_args=args,
                        original=url)
    # http(s)://host/path: WebDAV at that URL
    if not parts.hostname:
        raise LocationError(f"{what} {url!r}: no host")
    base = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    if parts.username:
        args.setdefault("auth", [unquote(parts.username), unquote(parts.password or "")])
    return Location("webdav", path or "/", base_url=base, fs_args=args, original=url)
