"""Credentials for WebDAV roots: where they come from and how they are sent.

Sources, first match wins: the ``auth=`` option, the root's fs_args (copick
writes ``auth: [user, password]``; we also take ``{"username", "password"}``,
``{"token"}`` and top-level ``username``/``password``/``token``), the
environment (``SYNCTUI_WEBDAV_USER`` + ``SYNCTUI_WEBDAV_PASSWORD`` or
``SYNCTUI_WEBDAV_TOKEN``), and last a prompt callback the app supplies (asked
once the server answers 401).  Schemes: basic, digest, bearer token; ``auto``
starts with basic and switches to digest when the server only offers digest.

Secrets never reach a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from synctui.errors import LocationError
from synctui.storage._httpx import httpx
from synctui.storage.options import WEBDAV_AUTH_TYPES, WebDAVOptions

ENV_USER = "SYNCTUI_WEBDAV_USER"
ENV_PASSWORD = "SYNCTUI_WEBDAV_PASSWORD"
ENV_TOKEN = "SYNCTUI_WEBDAV_TOKEN"
SCHEMES = WEBDAV_AUTH_TYPES


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or a bearer token.  Never printed."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    scheme: str = "auto"  # auto, basic, digest or bearer
    source: str = ""  # where they came from (for messages): "fs_args", "environment", "prompt"

    def __repr__(self) -> str:
        kind = "token" if self.token else f"user {self.username!r}"
        return f"Credentials({kind}, scheme={self.scheme}, from {self.source or 'caller'})"

    @property
    def empty(self) -> bool:
        return not self.token and self.username is None

    def describe(self) -> str:
        """Who we are, for messages: never the secret."""
        if self.token:
            return f"a bearer token from {self.source or 'the caller'}"
        if self.username is not None:
            return f"user {self.username!r} from {self.source or 'the caller'}"
        return "no credentials"


#: the prompt hook: (root URL, realm or None, what went wrong) -> credentials or None (cancel)
AuthPrompt = Callable[[str, str | None, str], "Credentials | tuple[str, str] | Mapping[str, str] | None"]

_prompt_lock = threading.Lock()
_default_prompt: AuthPrompt | None = None


def set_auth_prompt(prompt: AuthPrompt | None) -> None:
    """Install the app-wide prompt asked for WebDAV credentials on a 401."""
    global _default_prompt
    with _prompt_lock:
        _default_prompt = prompt


def default_prompt() -> AuthPrompt | None:
    return _default_prompt


def coerce(value: object, *, source: str, scheme: str = "auto") -> Credentials | None:
    """Credentials from the shapes copick configs and callers use (None for none)."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, Credentials):
        return value
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(isinstance(v, str) for v in value):
            raise LocationError(f"webdav auth from {source} must be [user, password]")
        return Credentials(value[0], value[1], scheme=scheme, source=source)
    if isinstance(value, Mapping):
        scheme = str(value.get("type") or value.get("scheme") or scheme).lower()
        if scheme not in SCHEMES:
            raise LocationError(f"webdav auth from {source}: unknown scheme {scheme!r} "
                                f"(use one of {', '.join(SCHEMES)})")
        token = value.get("token")
        if token:
            return Credentials(token=str(token), scheme="bearer", source=source)
        user = value.get("username", value.get("user"))
        if user is None:
            raise LocationError(f"webdav auth from {source} needs username and password, or token")
        return Credentials(str(user), str(value.get("password") or ""), scheme=scheme, source=source)
    if isinstance(value, str):
        return Credentials(token=value, scheme="bearer", source=source)
    raise LocationError(f"webdav auth from {source} has an unusable type {type(value).__name__}")


def from_fs_args(fs_args: Mapping[str, Any] | WebDAVOptions) -> Credentials | None:
    """The credentials a root's options give (``auth``, else ``token``, else
    ``username``/``password``), or None."""
    opts = fs_args if isinstance(fs_args, WebDAVOptions) else WebDAVOptions.build(fs_args)
    scheme = opts.auth_type or "auto"
    found = coerce(opts.auth, source="fs_args", scheme=scheme)
    if found is not None:
        return found
    if opts.token:
        return Credentials(token=opts.token, scheme="bearer", source="fs_args")
    if opts.username is not None:
        return Credentials(opts.username, opts.password or "", scheme=scheme, source="fs_args")
    return None


def from_env(environ: Mapping[str, str] | None = None) -> Credentials | None:
    env = os.environ if environ is None else environ
    if env.get(ENV_TOKEN):
        return Credentials(token=env[ENV_TOKEN], scheme="bearer", source="environment")
    if env.get(ENV_USER):
        return Credentials(env[ENV_USER], env.get(ENV_PASSWORD, ""), source="environment")
    return None


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "BearerAuth(***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def httpx_auth(creds: Credentials | None, scheme: str | None = None) -> httpx.Auth | None:
    """The httpx auth object for ``creds`` (``scheme`` overrides ``auto``)."""
    if creds is None or creds.empty:
        return None
    if creds.token:
        return BearerAuth(creds.token)
    use = scheme or creds.scheme
    if use == "digest":
        return httpx.DigestAuth(creds.username or "", creds.password or "")
    return httpx.BasicAuth(creds.username or "", creds.password or "")


def challenge_schemes(response: httpx.Response) -> set[str]:
    """The auth schemes a 401 offers, lower-case (``basic``, ``digest``, ``bearer`` ...)."""
    out = set()
    for value in response.headers.get_list("www-authenticate"):
        for part in value.split(","):
            word = part.strip().split(" ", 1)[0].split("=", 1)
            if len(word) == 1 and word[0]:
                out.add(word[0].lower())
    return out


def challenge_realm(response: httpx.Response) -> str | None:
    for value in response.headers.get_list("www-authenticate"):
        low = value.lower()
        i = low.find("realm=")
        if i >= 0:
            rest = value[i + 6:]
            if rest.startswith('"'):
                return rest[1:].split('"', 1)[0]
            return rest.split(",", 1)[0].strip()
    return None
