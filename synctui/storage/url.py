"""Root URLs in every form copick and users write them, parsed into one value.

``local:///p``, ``file:///p`` and plain paths are local; ``ssh:///p`` and
``sftp:///p`` take host/port/user from fs_args, ``ssh://user@host:port/p`` carries
them inline; ``webdav://rel`` joins ``base_url`` from fs_args; ``http(s)://`` is
WebDAV at that URL; ``s3://bucket/prefix`` is an S3 bucket (endpoint and credentials
in fs_args, in s3fs's words).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from synctui.errors import LocationError
from synctui.storage.options import normalize_fs_args

SCHEMES = ("local", "file", "ssh", "sftp", "webdav", "http", "https", "s3", "smb")
#: scheme://userinfo@ -- the netloc ends at the first / ? or #, its userinfo at its last @
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,19}")


def redact_url(text: str) -> str:
    """``text`` with any password in its userinfo replaced by ``***``, even when the URL is
    malformed: every message and log line that shows a URL as written goes through here."""
    m = _USERINFO.match(text)
    if m is None or ":" not in m.group(2):
        return text
    user = m.group(2).split(":", 1)[0]
    return f"{m.group(1)}{user}:***@{text[m.end():]}"


@dataclass(frozen=True)
class Location:
    """Where a project root lives.  ``protocol`` is local, ssh, webdav or s3 (``host``
    is then the bucket, ``path`` the prefix, ``base_url`` the endpoint or None for AWS)."""

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
        if self.protocol == "s3":
            return f"s3://{self.host}{self.path.rstrip('/')}"
        if self.protocol == "smb":
            from synctui.storage.smb_url import smb_display

            return smb_display(self)
        return f"{(self.base_url or '').rstrip('/')}/{self.path.lstrip('/')}"

    @property
    def key(self) -> str:
        """Stable identity for the state database and locks."""
        if self.protocol == "s3" and self.base_url:  # one bucket name on two servers: two roots
            return f"{self.display} at {self.base_url}"
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
    if "\x00" in text:
        raise LocationError(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LocationError(f"{what} is not valid Unicode (a lone surrogate escape)") from None
    if "://" not in text:
        path = os.path.expanduser(text)
        if not os.path.isabs(path):
            path = os.path.join(base_dir or os.getcwd(), path)
        return Location("local", os.path.normpath(path), fs_args=normalize_fs_args("local", args),
                        original=url)
    shown = redact_url(text)
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        named = f"unknown URL scheme {scheme!r}" if _SCHEME.fullmatch(scheme) else "not a URL"
        raise LocationError(
            f"{what} {shown!r}: {named} (use a path, local://, file://, "
            "ssh://, sftp://, smb://, webdav://, http://, https:// or s3://)")
    try:
        parts = urlsplit(text)
        hostname, username, password = parts.hostname, parts.username, parts.password
    except ValueError:  # a bracketed IPv6 host that is unclosed or no address
        raise LocationError(f"{what} {shown!r}: malformed host (an IPv6 address goes in "
                            "brackets, e.g. ssh://[::1]:22/path)") from None
    try:
        url_port = parts.port
    except ValueError:
        url_port = -1
    if url_port is not None and not 1 <= url_port <= 65535:  # urlsplit lets 0 through
        port_text = parts.netloc.rsplit("@", 1)[-1].rpartition(":")[2]
        raise LocationError(f"{what} {shown!r}: bad port {port_text[:20]!r} (a number from 1 "
                            "to 65535)")
    path = unquote(parts.path)
    if scheme in ("local", "file"):
        if parts.netloc and parts.netloc != "localhost":
            path = "/" + parts.netloc + path if scheme == "local" else path
            if scheme == "file":
                raise LocationError(f"{what} {shown!r}: file:// URLs must name a local path (file:///abs/path)")
        if not path.startswith("/"):
            raise LocationError(f"{what} {shown!r}: the path must be absolute")
        return Location("local", os.path.normpath(path), fs_args=normalize_fs_args("local", args),
                        original=url)
    if scheme in ("ssh", "sftp"):
        args = normalize_fs_args("ssh", args)
        host = hostname or args.get("host")
        if not host:
            raise LocationError(f"{what} {shown!r}: no host (write ssh://user@host/path or set host in fs_args)")
        port = url_port or args.get("port") or 22
        username = unquote(username) if username else args.get("username")
        if password:
            args.setdefault("password", unquote(password))
        if not path.startswith("/"):
            raise LocationError(f"{what} {shown!r}: the remote path must be absolute")
        return Location("ssh", os.path.normpath(path).replace("\\", "/"), host=host, port=port,
                        username=username, fs_args=args, original=url)
    if scheme == "s3":
        return _s3_location(parts.netloc, path, args, what, shown, url)
    if scheme == "smb":
        from synctui.storage.smb_url import smb_location

        return smb_location(parts, hostname, username, password, url_port, args, shown=shown,
                            what=what, original=url)
    args = normalize_fs_args("webdav", args)
    if scheme == "webdav":
        base = args.get("base_url")
        if not base:
            raise LocationError(f"{what} {shown!r}: webdav:// roots need base_url in fs_args")
        rel = (parts.netloc + path).strip("/")
        try:
            bparts = urlsplit(base)
            buser, bpass = bparts.username, bparts.password
        except ValueError:
            raise LocationError(f"{what}: base_url {redact_url(base)!r}: malformed host") from None
        if buser:  # credentials belong in auth, never in a displayed URL or state key
            args.setdefault("auth", [unquote(buser), unquote(bpass or "")])
            base = bparts._replace(netloc=bparts.netloc.rsplit("@", 1)[-1]).geturl()
        return Location("webdav", "/" + rel, base_url=str(base).rstrip("/"), fs_args=args,
                        original=url)
    # http(s)://host/path: WebDAV at that URL
    if not hostname:
        raise LocationError(f"{what} {shown!r}: no host")
    base = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    if username:
        args.setdefault("auth", [unquote(username), unquote(password or "")])
    return Location("webdav", path or "/", base_url=base, fs_args=args, original=url)


def _s3_location(bucket: str, path: str, args: dict[str, Any], what: str, shown: str,
                 url: str) -> Location:
    """``s3://bucket/prefix``: the endpoint (when not AWS) comes from fs_args or the environment."""
    from synctui.storage.options import S3Options
    from synctui.storage.s3_auth import endpoint_of

    args = normalize_fs_args("s3", args)
    if "@" in bucket or ":" in bucket:
        raise LocationError(f"{what} {shown!r}: write s3://bucket/prefix (credentials go in fs_args)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-_]{1,62}", bucket or ""):
        raise LocationError(f"{what} {shown!r}: {bucket[:70]!r} is not an S3 bucket name")
    prefix = "/".join(p for p in path.split("/") if p not in ("", "."))
    if ".." in prefix.split("/"):
        raise LocationError(f"{what} {shown!r}: the prefix must not contain '..'")
    try:
        endpoint = endpoint_of(S3Options.build(args))
    except LocationError as exc:
        raise LocationError(f"{what} {shown!r}: {exc}") from None
    return Location("s3", "/" + prefix, host=bucket, base_url=endpoint, fs_args=args, original=url)
