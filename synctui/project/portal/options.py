"""What a portal-backed config says, parsed strictly: dataset ids, cache and endpoints.

Endpoints default to the real portal; ``$SYNCTUI_PORTAL_GRAPHQL_URL``,
``$SYNCTUI_PORTAL_S3_ENDPOINT`` and ``$SYNCTUI_PORTAL_FILES_URL`` override the
defaults, and the config's ``portal_fs_args`` (a synctui key copick ignores)
override both, so a test or a mirror points a config copied from elsewhere at
another server without editing it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from synctui.errors import ConfigError, OptionError
from synctui.storage.options import (
    StoreOptions,
    describe,
    parse_bool,
    parse_int,
    parse_str,
    parse_timeout_seconds,
    setting,
)

#: the cryoet-data-portal client's default (``cryoet_data_portal._client.DEFAULT_URL``)
GRAPHQL_URL = "https://graphql.cryoetdataportal.czscience.com/graphql"
#: the public bucket is in us-west-2; requests are path-style: ``{endpoint}/{bucket}/{key}``
S3_ENDPOINT = "https://s3.us-west-2.amazonaws.com"
#: the portal's HTTPS mirror of the bucket (``httpsPrefix`` in GraphQL): reads only, no listings
FILES_URL = "https://files.cryoetdataportal.cziscience.com"
ENV = {"graphql_url": "SYNCTUI_PORTAL_GRAPHQL_URL", "s3_endpoint": "SYNCTUI_PORTAL_S3_ENDPOINT",
       "files_url": "SYNCTUI_PORTAL_FILES_URL", "cache_ttl": "SYNCTUI_PORTAL_CACHE_TTL"}
#: copick's default for ``portal_cache_ttl_seconds``
DEFAULT_TTL = 86400


def _url(value: Any, key: str) -> str:
    text = parse_str(value, key).strip()
    if not text.startswith(("http://", "https://")):
        raise OptionError(key, f"{describe(value)} is not an http(s) URL")
    return text.rstrip("/")


def _ttl(value: Any, key: str) -> int:
    """Seconds; 0 or less means "never expire", as copick's ``portal_cache_ttl_seconds``."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(key, f"{describe(value)} is not a whole number of seconds")
    return value


@dataclass(frozen=True)
class PortalOptions(StoreOptions):
    """``portal_fs_args``: where the portal is and how patiently to ask it."""

    graphql_url: str | None = setting(_url)
    s3_endpoint: str | None = setting(_url)
    #: GET files from this HTTPS prefix instead of the S3 endpoint (listings stay on S3)
    files_url: str | None = setting(_url)
    timeout: float = setting(parse_timeout_seconds, 60.0)
    #: parallel bucket listings and annotation reads
    list_workers: int = setting(parse_int, 8)
    #: runs per GraphQL request (copick batches 50)
    batch_runs: int = setting(parse_int, 50)

    def resolved(self, env: Mapping[str, str] | None = None) -> PortalOptions:
        """These options with every endpoint filled in: fs_args, else env, else the real portal."""
        env = os.environ if env is None else env
        values = {}
        for key, default in (("graphql_url", GRAPHQL_URL), ("s3_endpoint", S3_ENDPOINT), ("files_url", None)):
            given = getattr(self, key)
            if given is None and env.get(ENV[key]):
                given = _url(env[ENV[key]], ENV[key])
            values[key] = given or default
        return PortalOptions(**{**{k: getattr(self, k) for k in self.parsers()}, **values})


@dataclass(frozen=True)
class PortalSpec:
    """The portal side of a ``cryoet_data_portal`` config."""

    dataset_ids: tuple[int, ...]
    options: PortalOptions
    #: copick's ``portal_cache`` / ``portal_cache_ttl_seconds`` (our cache is in the state dir)
    cache: bool = True
    cache_ttl: int = DEFAULT_TTL

    @property
    def label(self) -> str:
        return ",".join(str(i) for i in self.dataset_ids)


#: keys copick 1.31 / 2 accept in a portal config beyond the common ones; synctui's own: portal_fs_args
PORTAL_KEYS = ("dataset_ids", "portal_cache", "portal_cache_ttl_seconds", "portal_cache_dir",
               "portal_cache_lock_timeout_seconds", "portal_fs_args")


def parse_portal(data: Mapping[str, Any], fail: Callable[[str, str], ConfigError],
                 env: Mapping[str, str] | None = None) -> tuple[PortalSpec, list[str]]:
    """The PortalSpec of a config (``fail(key, problem)`` makes its errors) and warnings."""
    env = os.environ if env is None else env
    ids = data.get("dataset_ids")
    if ids is None:
        raise fail("dataset_ids", "missing (a cryoet_data_portal config names its portal datasets)")
    if not isinstance(ids, list) or not ids:
        raise fail("dataset_ids", "must be a non-empty list of dataset ids (e.g. [10440])")
    parsed: list[int] = []
    for i, item in enumerate(ids):
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())  # copick's pydantic model accepts "10440" too
        if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
            raise fail(f"dataset_ids[{i}]", f"{describe(item)} is not a dataset id (a positive integer)")
        if item not in parsed:
            parsed.append(item)
    try:
        cache = parse_bool(data.get("portal_cache", True), "portal_cache")
        ttl = _ttl(data.get("portal_cache_ttl_seconds", DEFAULT_TTL), "portal_cache_ttl_seconds")
        if env.get(ENV["cache_ttl"]):
            ttl = _ttl(env[ENV["cache_ttl"]], ENV["cache_ttl"])
        for key in ("portal_cache_dir",):
            if data.get(key) is not None:
                parse_str(data[key], key)
        if data.get("portal_cache_lock_timeout_seconds") is not None:
            _ttl(data["portal_cache_lock_timeout_seconds"], "portal_cache_lock_timeout_seconds")
        args = data.get("portal_fs_args") or {}
        if not isinstance(args, dict):
            raise OptionError("portal_fs_args", "must be an object")
        options = PortalOptions.build({k: v for k, v in args.items()}).resolved(env)
    except OptionError as exc:
        key = exc.key if exc.key.startswith(("portal", "SYNCTUI")) else f"portal_fs_args.{exc.key}"
        raise fail(key, exc.problem) from None
    warnings = [f"portal_fs_args: {key!r} is not a setting of the portal (known: "
                f"{', '.join(PortalOptions.parsers())})" for key in args if key not in PortalOptions.parsers()]
    return PortalSpec(tuple(parsed), options, cache, ttl), warnings


def parse_dataset_ids(text: str, flag: str = "--source-dataset-ids") -> list[int]:
    """copick's ``parse_dataset_ids``: ``"10440, 10441"``, strictly (no guessing)."""
    out: list[int] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit() or int(item) <= 0:
            raise ConfigError(f"{flag}: {describe(item)} is not a dataset id (a positive integer)")
        if int(item) not in out:
            out.append(int(item))
    if not out:
        raise ConfigError(f"{flag}: no dataset ids given (e.g. {flag} 10440,10441)")
    return out
