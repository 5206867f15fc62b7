"""Typed settings from fs_args and environment variables, parsed strictly.

Configs are JSON written by hand, so ``"insecure": "false"`` must mean false, and a
value that is no boolean at all (``"maybe"``) is an error naming its key, never a
guess; a key no root reads (``"insecrue"``) is a warning naming it.  Each kind of
root declares its settings once, as a frozen dataclass (``LocalOptions``,
``SFTPOptions``, ``WebDAVOptions``, ``S3Options``) that its store builds once (``build``).  Every store reads its settings through these parsers, and ``parse_location``
runs ``normalize_fs_args`` once, so a bad value stops the config load (exit 2) before
anything connects or writes.  Each parser takes the value and the key it came from,
returns the typed value or raises ``OptionError(key, problem)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from synctui.errors import OptionError

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
#: keys whose values never appear in a message
SECRET_KEYS = frozenset({"password", "passphrase", "token", "auth", "secret", "key"})
SSH_LISTING_MODES = ("auto", "find", "sftp")
#: local listing: "find" is GNU find in a process of its own, "scandir" Python's os.scandir
LOCAL_LISTING_MODES = ("auto", "find", "scandir")
WEBDAV_AUTH_TYPES = ("auto", "basic", "digest", "bearer")


def describe(value: Any, limit: int = 40) -> str:
    """A short, printable picture of a value for a message (huge ints and strings cut)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"  # str() may refuse it
    if isinstance(value, (dict, list)):
        return kind_of(value)
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + "…" + text[-3:]


def kind_of(value: Any) -> str:
    """What kind of JSON value this is, in words (for messages that must not show it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, (list, tuple)) else "an object"


def _shown(value: Any, key: str) -> str:
    return "the value given" if key.rsplit(".", 1)[-1] in SECRET_KEYS else describe(value)


def parse_bool(value: Any, key: str) -> bool:
    """true/false, "true"/"false", "yes"/"no", "on"/"off", "1"/"0" and 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise OptionError(key, f"{_shown(value, key)} is not true or false (write true or false)")


def _number(value: Any, key: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise OptionError(key, f"{_shown(value, key)} is not {what}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise OptionError(key, f"{_shown(value, key)} is not {what}") from None
    if not math.isfinite(number):
        raise OptionError(key, f"{_shown(value, key)} is not {what}")
    return number


#: the longest timeout: a week is as good as none, and sockets refuse far longer ones
MAX_TIMEOUT = 7 * 86400.0


def parse_timeout_seconds(value: Any, key: str) -> float:
    """A timeout: a positive, finite number of seconds (``30``, ``2.5`` or ``"30"``), at
    most MAX_TIMEOUT."""
    seconds = _number(value, key, "a number of seconds")
    if not 0 < seconds <= MAX_TIMEOUT:
        raise OptionError(key, f"{describe(value)} is not a number of seconds from 0 to {MAX_TIMEOUT:.0f}")
    return seconds


def parse_window_seconds(value: Any, key: str, maximum: float = 1e9) -> float:
    """A tolerance such as ``--modify-window``: a finite number of seconds, zero or more
    (at most ``maximum``: 30 years is wide enough, and its nanoseconds still fit an int64)."""
    seconds = _number(value, key, "a number of seconds")
    if not 0 <= seconds <= maximum:
        raise OptionError(key, f"{describe(value)} is not from 0 to {maximum:g} seconds")
    return seconds


def parse_int(value: Any, key: str, *, minimum: int = 1, maximum: int = 1 << 31) -> int:
    """A whole number within [minimum, maximum] (``8`` or ``"8"``)."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 20:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise OptionError(key, f"{_shown(value, key)} is not a whole number from {minimum} to {maximum}")
    return value


def parse_port(value: Any, key: str) -> int:
    return parse_int(value, key, minimum=1, maximum=65535)


def parse_str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise OptionError(key, f"must be a string, not {kind_of(value)}")
    return value


def parse_paths(value: Any, key: str) -> str | list[str]:
    """A path or a list of paths (``client_keys``, ``known_hosts``)."""
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise OptionError(key, f"{describe(value)} is not a path or a list of paths")


def parse_verify(value: Any, key: str) -> bool | str:
    """requests' ``verify``: a boolean (``false`` turns TLS checks off) or a CA bundle path."""
    try:
        return parse_bool(value, key)
    except OptionError:
        if isinstance(value, str) and value.strip():
            return value
        raise OptionError(key, f"{describe(value)} is neither true/false nor a CA bundle path") from None


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str], str]:
    def parse(value: Any, key: str) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise OptionError(key, f"{describe(value)} is not one of {', '.join(choices)}")

    return parse


def _any(value: Any, key: str) -> Any:
    """A setting checked where it is used (``auth``: a pair, an object or Credentials)."""
    return value


def setting(parse: Callable[[Any, str], Any], default: Any = None) -> Any:
    """A dataclass field that is an fs_arg of the same name, read with ``parse``
    (a secret one is left out of the repr)."""
    return field(default=default, metadata={"parse": parse})


def secret(parse: Callable[[Any, str], Any]) -> Any:
    return field(default=None, repr=False, metadata={"parse": parse})


#: fs_args that copick's other backends (fsspec) write and synctui has no use for:
#: accepted without a warning
FOREIGN_KEYS = frozenset({"auto_mkdir", "skip_instance_cache", "use_listings_cache",
                          "listings_expiry_time", "asynchronous"})

Opts = TypeVar("Opts", bound="StoreOptions")


@dataclass(frozen=True)
class StoreOptions:
    """The settings of one kind of root, declared once as fields (see ``setting``) and
    built once by :meth:`build`: the parsers, the defaults and the known keys all come
    from the fields, so the config loader and the store read the same table."""

    @classmethod
    def parsers(cls) -> dict[str, Callable[[Any, str], Any]]:
        return {f.name: f.metadata["parse"] for f in fields(cls) if "parse" in f.metadata}

    @classmethod
    def build(cls: type[Opts], fs_args: Mapping[str, Any] | None = None, **overrides: Any) -> Opts:
        """The options of a root: its fs_args, with the keyword arguments a caller gave
        (not None) over them, each parsed strictly (``OptionError`` naming the key)."""
        args = fs_args or {}
        values: dict[str, Any] = {}
        for key, parse in cls.parsers().items():
            given = overrides.get(key)
            raw = given if given is not None else args.get(key)
            if raw is not None:
                values[key] = parse(raw, key)
        return cls(**values)


@dataclass(frozen=True)
class LocalOptions(StoreOptions):
    #: fsync each file and folder after writing (the engine's --no-fsync turns it off)
    fsync: bool = setting(parse_bool, True)
    #: "auto": GNU find where it works, else os.scandir (storage/local_scan.py)
    listing: str = setting(_choice(LOCAL_LISTING_MODES), "auto")


@dataclass(frozen=True)
class SFTPOptions(StoreOptions):
    # the connection (read by ssh_connect.settings_for_location)
    host: str | None = setting(parse_str)
    port: int | None = setting(parse_port)
    username: str | None = setting(parse_str)
    password: str | None = secret(parse_str)
    passphrase: str | None = secret(parse_str)
    client_keys: str | list[str] | None = setting(parse_paths)
    known_hosts: str | list[str] | None = setting(parse_paths)
    accept_new_host_key: bool = setting(parse_bool, False)
    allow_agent: bool = setting(parse_bool, True)
    look_for_keys: bool = setting(parse_bool, True)
    #: None: 15 s to connect, 60 s of silence (ssh_connect)
    timeout: float | None = setting(parse_timeout_seconds)
    proxy_jump: str | None = setting(parse_str)
    ssh_config: str | None = setting(parse_str)
    #: zlib on the wire; None: ~/.ssh/config's Compression decides (default off)
    compression: bool | None = setting(parse_bool)
    # the store
    listing: str = setting(_choice(SSH_LISTING_MODES), "auto")
    max_idle: int = setting(parse_int, 16)
    #: ask the server to fsync each file before its rename (off, like rsync)
    fsync: bool = setting(parse_bool, False)
    #: None: ``SYNCTUI_LISTING_CACHE`` decides
    listing_cache: bool | None = setting(parse_bool)


@dataclass(frozen=True)
class WebDAVOptions(StoreOptions):
    base_url: str | None = setting(parse_str)
    insecure: bool = setting(parse_bool, False)
    verify: bool | str | None = setting(parse_verify)
    ca_bundle: str | None = setting(parse_str)
    #: None: deadline.DEFAULT_TIMEOUT
    timeout: float | None = setting(parse_timeout_seconds)
    max_connections: int = setting(parse_int, 32)
    list_workers: int = setting(parse_int, 8)
    probe_writes: bool = setting(parse_bool, True)
    username: str | None = setting(parse_str)
    password: str | None = secret(parse_str)
    token: str | None = secret(parse_str)
    auth: Any = secret(_any)
    auth_type: str | None = setting(_choice(WEBDAV_AUTH_TYPES))
    #: a callback for 401s (from the API only: JSON cannot hold one)
    prompt: Any = setting(_any)
    #: the engine's local-disk option: meaningless here, accepted
    fsync: bool | None = setting(parse_bool)

    def tls(self) -> tuple[bool, str | None]:
        """(certificate checks off, CA bundle): ``insecure`` and ``ca_bundle``, or
        requests' ``verify`` (false, or a CA bundle path)."""
        insecure, ca_bundle = self.insecure, self.ca_bundle or None
        if self.verify is False:
            insecure = True
        elif isinstance(self.verify, str) and not ca_bundle:
            ca_bundle = self.verify
        return insecure, ca_bundle


def parse_client_kwargs(value: Any, key: str) -> dict[str, Any]:
    """s3fs's ``client_kwargs``: an object whose ``region_name`` and ``endpoint_url`` are read."""
    if not isinstance(value, dict):
        raise OptionError(key, f"must be an object, not {kind_of(value)}")
    for name in ("region_name", "endpoint_url"):
        if value.get(name) is not None:
            parse_str(value[name], f"{key}.{name}")
    return dict(value)


_hidden = secret  # the S3 options have a field named ``secret``


@dataclass(frozen=True)
class S3Options(StoreOptions):
    """s3fs's vocabulary, as copick configs write it (storage/s3_auth.py reads it)."""

    key: str | None = _hidden(parse_str)
    secret: str | None = _hidden(parse_str)
    token: str | None = _hidden(parse_str)
    profile: str | None = setting(parse_str)
    anon: bool = setting(parse_bool, False)
    endpoint_url: str | None = setting(parse_str)
    region_name: str | None = setting(parse_str)
    client_kwargs: dict[str, Any] | None = setting(parse_client_kwargs)
    use_ssl: bool | None = setting(parse_bool)
    #: None: deadline.DEFAULT_TIMEOUT
    timeout: float | None = setting(parse_timeout_seconds)
    #: bytes per part of a multipart upload (S3's minimum is 5 MiB); smaller files go in one PUT
    part_size: int = setting(lambda v, k: parse_int(v, k, minimum=5 << 20, maximum=5 << 30), 8 << 20)
    #: parts of one upload in flight at once
    part_concurrency: int = setting(lambda v, k: parse_int(v, k, maximum=64), 8)
SMB_AUTH_PROTOCOLS = ("negotiate", "ntlm", "kerberos")


@dataclass(frozen=True)
class SMBOptions(StoreOptions):
    """An ``smb://`` root: copick's fs_args (fsspec's SMBFileSystem) and ours."""

    host: str | None = setting(parse_str)
    port: int | None = setting(parse_port)
    username: str | None = setting(parse_str)
    password: str | None = secret(parse_str)
    #: fsspec's folder for its temp files: synctui writes each temp next to its file
    temppath: str | None = setting(parse_str)
    #: true: refuse a session the server will not encrypt (None: as the server asks)
    encrypt: bool | None = setting(parse_bool)
    #: sign every message (smbprotocol's default; Samba refuses unsigned shares over SMB3):
    #: false signs only when the server requires it
    require_signing: bool = setting(parse_bool, True)
    auth_protocol: str = setting(_choice(SMB_AUTH_PROTOCOLS), "negotiate")
    #: None: deadline.DEFAULT_TIMEOUT
    timeout: float | None = setting(parse_timeout_seconds)
    #: folders listed at once (each lister has its own session)
    list_workers: int = setting(parse_int, 8)
    #: fsspec's (unused here: every open shares read, write and delete as Samba needs)
    share_access: str | None = setting(parse_str)
    register_session_retries: int | None = setting(lambda v, k: parse_int(v, k, minimum=0))
    #: a callback for a missing password (from the API only)
    prompt: Any = setting(_any)
    #: the engine's local-disk option: meaningless here, accepted
    fsync: bool | None = setting(parse_bool)


#: the options type of each kind of root
OPTIONS: dict[str, type[StoreOptions]] = {"local": LocalOptions, "ssh": SFTPOptions,
                                          "webdav": WebDAVOptions, "s3": S3Options, "smb": SMBOptions}
#: the fs_args each kind of root reads, with the parser of each (derived from OPTIONS)
FS_ARGS: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    protocol: kind.parsers() for protocol, kind in OPTIONS.items()}


def normalize_fs_args(protocol: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` with every setting this kind of root reads parsed into its type (other
    keys pass untouched: see ``unknown_fs_args``).

    ``None`` stays None (copick templates write null for "use the default")."""
    parsers = FS_ARGS.get(protocol, {})
    out = dict(args)
    for key, parser in parsers.items():
        if out.get(key) is not None:
            out[key] = parser(out[key], key)
    return out


def unknown_fs_args(protocol: str, args: Mapping[str, Any], where: str = "fs_args") -> list[str]:
    """One warning per key this kind of root does not read (a typo such as ``insecrue``
    must not pass in silence), with the nearest known key when there is one."""
    import difflib

    known = FS_ARGS.get(protocol, {})
    out = []
    for key in args:
        if key in known or key in FOREIGN_KEYS:
            continue
        shown = describe(key) if isinstance(key, str) else repr(key)
        near = difflib.get_close_matches(str(key), list(known), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        out.append(f"{where}: unknown setting {shown} for a {protocol} root, ignored{hint}")
    return out


def env_flag(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean environment variable such as ``SYNCTUI_SSH_ACCEPT_NEW`` (unset or empty:
    ``default``); a value that is no boolean is an error naming the variable."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return default if not value else parse_bool(value, f"environment variable {name}")
