"""Typed settings from fs_args and environment variables, parsed strictly.

Configs are JSON written by hand, so ``"insecure": "false"`` must mean false, and a
value that is no boolean at all (``"maybe"``) is an error naming its key, never a
guess.  Every store reads its settings through these parsers, and ``parse_location``
runs ``normalize_fs_args`` once, so a bad value stops the config load (exit 2) before
anything connects or writes.  Each parser takes the value and the key it came from,
returns the typed value or raises ``OptionError(key, problem)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from synctui.errors import OptionError

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
#: keys whose values never appear in a message
SECRET_KEYS = frozenset({"password", "passphrase", "token", "auth"})
SSH_LISTING_MODES = ("auto", "find", "sftp")


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


#: the fs_args each kind of root reads, with the parser of each (other keys pass untouched)
FS_ARGS: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "ssh": {
        "host": parse_str, "port": parse_port, "username": parse_str, "password": parse_str,
        "passphrase": parse_str, "client_keys": parse_paths, "known_hosts": parse_paths,
        "accept_new_host_key": parse_bool, "allow_agent": parse_bool, "look_for_keys": parse_bool,
        "timeout": parse_timeout_seconds, "proxy_jump": parse_str, "ssh_config": parse_str,
        "listing": _choice(SSH_LISTING_MODES), "max_idle": parse_int, "fsync": parse_bool,
        "listing_cache": parse_bool,
    },
    "webdav": {
        "base_url": parse_str, "insecure": parse_bool, "verify": parse_verify, "ca_bundle": parse_str,
        "timeout": parse_timeout_seconds, "max_connections": parse_int, "list_workers": parse_int,
        "probe_writes": parse_bool, "username": parse_str, "password": parse_str, "token": parse_str,
    },
}


def normalize_fs_args(protocol: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` with every setting this kind of root reads parsed into its type.

    ``None`` stays None (copick templates write null for "use the default")."""
    parsers = FS_ARGS.get(protocol, {})
    out = dict(args)
    for key, parser in parsers.items():
        if out.get(key) is not None:
            out[key] = parser(out[key], key)
    return out


def flag(args: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean fs_arg (absent or null: ``default``)."""
    value = args.get(key)
    return default if value is None else parse_bool(value, key)


def env_flag(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean environment variable such as ``SYNCTUI_SSH_ACCEPT_NEW`` (unset or empty:
    ``default``); a value that is no boolean is an error naming the variable."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return default if not value else parse_bool(value, f"environment variable {name}")
