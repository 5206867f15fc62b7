"""A project root on a WebDAV server (Nextcloud, ownCloud, Apache, nginx, wsgidav ...).

How it talks to servers follows DESIGN §7, because servers differ a lot:

* listings ask PROPFIND for exactly getlastmodified, getcontentlength, getetag
  and resourcetype; ``Depth: infinity`` where the server allows it (one round
  trip), else ``Depth: 1`` per collection on a small thread pool; bodies are
  parsed as they stream in (``webdav_xml``);
* writes create missing parents with MKCOL (remembered; the scan tells which
  collections exist), PUT to a hidden ``.synctui-tmp-...`` name in the same
  collection, then MOVE it over the final name with ``Overwrite: T``, so a final
  path never shows a partial file; never a ranged PUT; large bodies stream
  (with a Content-Length when the caller knows the size, else chunked);
* exclusive creates (locks) PUT a temp file and MOVE it with ``Overwrite: F``:
  412 means someone else was first.  nginx ignores ``If-None-Match: *`` on PUT
  (it overwrites), MOVE's overwrite check works on every server we know;
* what the server can do is probed on connect by reading (OPTIONS, PROPFIND
  Depth 0 and infinity) and, only once a write or a lock is coming, by writing
  a hidden probe file (``X-OC-Mtime``, ``oc:checksums``, etags after MOVE): a
  read-only command (plan, locks, trash list, the app before a sync) writes
  nothing.  All of it is kept in ``store.capabilities`` (``describe()`` is one
  line for the app);
* 5xx, 429, 423 and dropped connections are transient: a request safe to send again
  is retried by the store's policy (``storage/retry.py``), anything else by the
  engine, never both; 401/403/404/507 become one-line errors
  naming the path and what to do.

One pooled ``httpx.Client`` (keep-alive) is shared by the engine's worker
threads; httpx clients are thread-safe for requests.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import posixpath
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote, unquote, urlsplit

from synctui import __version__
from synctui.errors import (
    ConnectionFailed,
    LocationError,
    MissingPathError,
    PathEscapeError,
    RootError,
    StoreError,
)
from synctui.storage._httpx import httpx
from synctui.storage.base import (
    TEMP_PREFIX,
    VISIBLE_TEMP_PREFIX,
    BaseStore,
    FileInfo,
    StoreFeatures,
    clean_relpath,
    size_mismatch,
    temp_name,
)
from synctui.storage.deadline import Interrupt, Interrupted, Stalled, timeout_option
from synctui.storage.options import WebDAVOptions
from synctui.storage.retry import RetryPolicy, transient
from synctui.storage.url import Location
from synctui.storage.webdav_auth import (
    AuthPrompt,
    Credentials,
    challenge_realm,
    challenge_schemes,
    coerce,
    default_prompt,
    from_env,
    from_fs_args,
    httpx_auth,
)
from synctui.storage.webdav_xml import (
    PROPFIND_LISTING,
    PROPFIND_PROBE,
    DavEntry,
    MultistatusError,
    format_http_date,
    http_date,
    norm_etag,
    parse_multistatus,
)

log = logging.getLogger("synctui.webdav")
T = TypeVar("T")

NS = 1_000_000_000
#: how long the listing fetched by the connect probe may stand in for the first scan
PREFETCH_TTL = 30.0
#: a date in the past the mtime probe asks for (2001-09-09T01:46:40Z)
PROBE_MTIME = 1_000_000_000
#: what ``_list`` returns for a collection that does not exist (compared by identity)
_MISSING: list[FileInfo] = []
#: streamed uploads go out in pieces of this size
UPLOAD_PIECE = 32 * 1024
#: a streamed body of unknown size up to this is sent in one piece with a Content-Length
GATHER_LIMIT = 16 << 20
#: after an upload broke off mid-body: when to look again for a temp the server makes late (s)
DISCARD_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})
_XML = {"Content-Type": 'application/xml; charset="utf-8"'}


@dataclass
class Capabilities:
    """What the server showed it can do.  ``None`` means not known (yet)."""

    server: str | None = None
    dav: tuple[str, ...] = ()
    allow: frozenset[str] = frozenset()
    #: PROPFIND Depth infinity allowed (else parallel Depth 1)
    depth_infinity: bool | None = None
    #: getetag reported for files
    etag: bool | None = None
    #: LOCK supported (DAV class 2 and LOCK allowed)
    lock: bool = False
    #: MOVE works (temp + MOVE writes); False falls back to a plain PUT
    move: bool = True
    #: X-OC-Mtime honoured on PUT (the server keeps the source's mtime)
    set_mtime: bool | None = None
    #: oc:checksums reported for files (ownCloud/Nextcloud)
    checksums: bool | None = None
    #: the ETag a PUT answers is the file's ETag after the MOVE (no PROPFIND needed per write)
    etag_after_move: bool | None = None
    #: a PUT of the probe file worked
    writable: bool | None = None
    #: PUT with ``If-None-Match: *`` refused to overwrite (informative: we use MOVE Overwrite: F)
    if_none_match: bool | None = None
    #: listings show names starting with "." (nginx dav_ext hides them)
    lists_dotfiles: bool | None = None
    #: the root collection exists
    root_exists: bool | None = None
    auth: str = "anonymous"
    tls: str = "none"  # "verified", "custom CA", "INSECURE" or "none" (plain http)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the app header: what this server does and does not do."""

        def yn(value: bool | None, yes: str, no: str) -> str:
            return yes if value else (no if value is False else f"{yes}?")

        parts = [self.server or "WebDAV", "DAV " + (",".join(self.dav) or "?")]
        listing = {True: "listing depth∞", False: "listing parallel depth 1",
                   None: "listing depth∞?"}[self.depth_infinity]
        parts += [listing, yn(self.etag, "etags", "no etags"), "locks" if self.lock else "no locks",
                  yn(self.set_mtime, "sets mtime", "mtime not settable"),
                  yn(self.checksums, "checksums", "no checksums")]
        if self.lists_dotfiles is False:
            parts.append("hides dotfiles (probed by name)")
        if not self.move:
            parts.append("no MOVE (in-place PUT)")
        if self.writable is False:
            parts.append("read-only")
        if self.root_exists is False:
            parts.append("root not created yet")
        parts += [f"auth {self.auth}", f"TLS {self.tls}"]
        return " · ".join(parts)


class _Prefetch:
    __slots__ = ("entries", "at")

    def __init__(self, entries: list[FileInfo]) -> None:
        self.entries = entries
        self.at = time.monotonic()


class WebDAVStore(BaseStore):
    """Store on a WebDAV collection.  See the module docstring for the protocol.

    Options (also read from the location's fs_args): ``auth`` (``[user,
    password]``, ``{"username", "password"}``, ``{"token"}`` or Credentials),
    ``auth_type`` (auto/basic/digest/bearer), ``prompt`` (callback asked on 401),
    ``ca_bundle`` (PEM path), ``insecure`` (skip TLS checks: loud warning),
    ``timeout``, ``max_connections``, ``list_workers``, ``probe`` (probe on
    connect), ``probe_writes`` (before the first write or lock, write a hidden
    probe file to test mtime and checksum support): ``WebDAVOptions``, keyword
    arguments over fs_args.  ``fsync`` is ignored; unknown fs_args are warned about
    when the config loads.
    """

    def __init__(self, location: Location | str, *, auth: object = None,
                 prompt: AuthPrompt | None = None, ca_bundle: str | None = None,
                 insecure: bool | None = None, timeout: float | None = None,
                 max_connections: int | None = None, list_workers: int | None = None,
                 probe: bool = True, probe_writes: bool | None = None,
                 transport: httpx.BaseTransport | None = None, **_ignored: object) -> None:
        if isinstance(location, str):
            from synctui.storage.url import parse_location

            location = parse_location(location)
        if location.protocol != "webdav":
            raise LocationError(f"{location.display}: not a WebDAV location")
        self.location = location
        fs = dict(location.fs_args or {})
        # every setting, parsed once: fs_args, with the keyword arguments given over them
        self.options = opts = WebDAVOptions.build(
            fs, prompt=prompt, ca_bundle=ca_bundle, insecure=insecure, timeout=timeout,
            max_connections=max_connections, list_workers=list_workers, probe_writes=probe_writes)
        base = urlsplit(location.base_url or "")
        if base.scheme not in ("http", "https") or not base.hostname:
            raise LocationError(f"WebDAV base_url {self._safe_base(location.base_url)!r} must be "
                                "an http:// or https:// URL")
        creds = coerce(auth, source="the caller") if auth is not None else None
        if creds is None:
            creds = from_fs_args(opts)
        if creds is None and base.username:
            creds = Credentials(unquote(base.username), unquote(base.password or ""), source="base_url")
        if creds is None:
            creds = from_env()
        self._creds = creds
        self._scheme: str | None = None  # "digest" once the server asked for it
        self._prompt = opts.prompt or default_prompt()
        host = base.hostname if ":" not in (base.hostname or "") else f"[{base.hostname}]"
        self._origin = f"{base.scheme}://{host}" + (f":{base.port}" if base.port else "")
        base_path = unquote(base.path).rstrip("/")
        self._root_path = posixpath.normpath(base_path + "/" + location.path.strip("/")).rstrip("/")
        if self._root_path in ("", ".", "/"):
            self._root_path = ""
        if base_path and self._root_path != base_path and not self._root_path.startswith(base_path + "/"):
            raise LocationError(f"WebDAV root {location.path!r} climbs out of base_url with '..'")
        self._base_path = base_path
        self.display = f"{self._origin}{self._root_path or '/'}"
        self.root_url = self._url(self._root_path, collection=True)
        self.warnings: list[str] = []
        self.capabilities = Capabilities()
        self._known_dirs: set[str] = set()
        self._dirs_lock = threading.Lock()
        self._mkcol_gates: dict[str, threading.Lock] = {}
        self._probe_pending = False
        self._probe_lock = threading.Lock()
        self._prefetch: _Prefetch | None = None
        self._closed = False
        self.list_workers = opts.list_workers
        self.retry_policy = RetryPolicy()

        verify: ssl.SSLContext | bool = True
        insecure, ca_bundle = opts.tls()
        if base.scheme == "https":
            if insecure:
                verify = False
                msg = (f"TLS certificate checks are OFF for {base.hostname} (insecure): anyone on the "
                       "network path can read and change this sync")
                log.warning(msg)
                self.warnings.append(msg)
                self.capabilities.tls = "INSECURE"
            elif ca_bundle:
                try:
                    verify = ssl.create_default_context(cafile=str(ca_bundle))
                except (OSError, ssl.SSLError) as exc:
                    raise ConnectionFailed(f"{self.display}: cannot load the CA bundle {ca_bundle}: "
                                           f"{getattr(exc, 'strerror', None) or exc}") from None
                self.capabilities.tls = "custom CA"
            else:
                self.capabilities.tls = "verified"
        elif creds is not None and not creds.empty and base.hostname not in ("127.0.0.1", "localhost", "::1"):
            msg = f"credentials are sent unencrypted to {base.hostname} (http://, not https://)"
            log.warning(msg)
            self.warnings.append(msg)
        t = timeout_option(opts.timeout)
        self.timeout = t
        self._interrupt = Interrupt()
        conns = opts.max_connections
        limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns, keepalive_expiry=30)
        if transport is None:
            from synctui.storage.webdav_net import PacedBackend

            transport = httpx.HTTPTransport(verify=verify, limits=limits, retries=1)
            # httpcore's seam for its sockets: paced ones, so no request outlives its deadline
            transport._pool._network_backend = PacedBackend(t, self._interrupt)  # type: ignore[attr-defined]
        self._client = httpx.Client(
            transport=transport, timeout=httpx.Timeout(t, connect=min(t, 15.0)),
            headers={"User-Agent": f"synctui/{__version__}"}, follow_redirects=False)
        self._set_auth(creds)
        if probe:
            try:
                self._connect(probe_writes=opts.probe_writes)
            except BaseException:
                self.close()
                raise

    # -- identity ---------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"WebDAVStore({self.display!r})"

    @staticmethod
    def _safe_base(url: object) -> str:
        text = str(url or "")
        parts = urlsplit(text)
        if parts.username or parts.password:
            return text.replace(parts.netloc, parts.netloc.rsplit("@", 1)[-1])
        return text

    @property
    def features(self) -> StoreFeatures:  # type: ignore[override]
        """What the server showed so far: connect learns etags and dotfiles, the write
        probe (before the first write) whether mtimes are kept.  Batches use the base
        defaults, one file after another: they would only serialise what the engine's
        workers send in parallel, so ``batch_*`` stay off and the engine does not batch."""
        cap = self.capabilities
        return StoreFeatures(set_mtime=bool(cap.set_mtime), mtime_resolution_ns=NS,  # HTTP dates: seconds
                             etag=bool(cap.etag), hides_dotfiles=cap.lists_dotfiles is False,
                             exclusive_create=True)  # MOVE Overwrite: F, refused by every server we know

    def _set_auth(self, creds: Credentials | None) -> None:
        self._creds = creds
        self._client.auth = httpx_auth(creds, self._scheme)
        cap = self.capabilities
        if creds is None or creds.empty:
            cap.auth = "anonymous"
        elif creds.token:
            cap.auth = "bearer"
        else:
            cap.auth = self._scheme or (creds.scheme if creds.scheme != "auto" else "basic")

    # -- URLs and paths -------------------------------------------------------------------
    def _abs(self, rel: str) -> str:
        return f"{self._root_path}/{rel}" if rel else self._root_path

    def _url(self, abs_path: str, *, collection: bool = False) -> str:
        path = quote(abs_path) if abs_path else ""
        if collection:
            path += "/"
        return self._origin + (path or "/")

    def _file_url(self, rel: str) -> str:
        return self._url(self._abs(rel))

    def _dir_url(self, rel: str) -> str:
        return self._url(self._abs(rel), collection=True)

    def _rel(self, abs_path: str) -> str | None:
        """Root-relative path of a decoded href path; None when outside the root."""
        root = self._root_path
        if abs_path == root or (not root and abs_path == "/"):
            return ""
        if root and not abs_path.startswith(root + "/"):
            return None
        rel = abs_path[len(root) + 1:] if root else abs_path.lstrip("/")
        try:
            return clean_relpath(rel, allow_root=True)
        except PathEscapeError:
            return None

    def _info(self, e: DavEntry, rel: str) -> FileInfo:
        return FileInfo(rel, e.size, e.mtime * NS, e.etag, "dir" if e.is_dir else "file")

    # -- HTTP ----------------------------------------------------------------------------
    def _send(self, method: str, url: str, *, action: str, path: str, headers: Mapping[str, str] | None = None,
              content: bytes | Iterable[bytes] | None = None, stream: bool = False,
              retry: bool | None = None) -> httpx.Response:
        """One request, through the retry policy when it is safe to send again (idempotent
        methods, MKCOL, DELETE, a bytes body); transport failures become StoreErrors.

        ``retry=False``: sent once, and a transient status comes back as the response
        (a caller that retries a larger call itself, or that cannot resend)."""
        if self._closed:
            raise StoreError(f"cannot {action} {path or self.display}: the WebDAV connection is closed")
        retry = (method in _IDEMPOTENT or method in ("MKCOL", "DELETE")) if retry is None else retry
        if not isinstance(content, (bytes, bytearray, memoryview, type(None))):
            retry = False  # a stream cannot be sent twice: the engine retries the whole write

        def once() -> httpx.Response:
            try:
                req = self._client.build_request(method, url, headers=headers, content=content)
                resp = self._client.send(req, stream=stream)
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, action, path) from None
            if retry and _transient_status(resp.status_code):
                resp.close()
                raise self._status_error(resp, action, path)
            return resp

        return self._retried(once) if retry else once()

    def _retried(self, fn: Callable[[], T]) -> T:
        """``fn()`` (one remote call) under the store's retry policy: the only retry loop here."""
        return self.retry_policy.call(fn, interrupt=self._interrupt, should_retry=_should_retry)

    def _transport_error(self, exc: httpx.HTTPError, action: str, path: str) -> StoreError:
        where = path or self.display
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, Interrupted):
                return StoreError(f"cannot {action} {where}: cancelled")
            if isinstance(cause, Stalled):  # not retried: a server this slow stays slow
                return StoreError(f"cannot {action} {where}: {cause} (fs_args timeout: {self.timeout:g} s)")
            if isinstance(cause, ssl.SSLCertVerificationError):
                return ConnectionFailed(
                    f"{self.display}: the server's TLS certificate is not trusted "
                    f"({cause.verify_message or 'verification failed'}): trust its certificate with "
                    "--ca-bundle PEM_FILE (or ca_bundle in the root's fs_args), or use --insecure "
                    "(insecure: true) if you accept the risk")
            if isinstance(cause, ssl.SSLError):
                return ConnectionFailed(f"{self.display}: TLS handshake failed ({cause.reason or cause}): "
                                        "is this an https server?")
            cause = cause.__cause__ or cause.__context__
        name = type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            reason = _short(exc) or "connection failed"
            return StoreError(f"cannot {action} {where}: cannot reach {self._origin} ({reason})",
                              transient=True)
        if isinstance(exc, httpx.TimeoutException):
            return StoreError(f"cannot {action} {where}: the server did not answer in time ({name})",
                              transient=True)
        if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
            return StoreError(f"cannot {action} {where}: the connection dropped ({_short(exc) or name})",
                              transient=True)
        return StoreError(f"cannot {action} {where}: {name}: {_short(exc)}")

    def _status_error(self, resp: httpx.Response, action: str, path: str) -> StoreError:
        code = resp.status_code
        where = path or self.display
        reason = resp.reason_phrase or ""
        if code == 401:
            who = self._creds.describe() if self._creds else "no credentials"
            return ConnectionFailed(
                f"{self.display}: authentication failed (401) on {action} {where} with {who}: check the "
                f"user name and password or token (fs_args auth, or SYNCTUI_WEBDAV_USER and "
                f"SYNCTUI_WEBDAV_PASSWORD, or SYNCTUI_WEBDAV_TOKEN)")
        if code == 403:
            return StoreError(f"cannot {action} {where}: the server forbids it (403): check your access "
                              f"rights on {self.display}")
        if code == 404:
            return StoreError(f"cannot {action} {where}: not found on the server (404)")
        if code == 405:
            return StoreError(f"cannot {action} {where}: the server does not allow this method here (405)")
        if code == 409:
            return StoreError(f"cannot {action} {where}: conflict (409): a parent folder is missing "
                              "or is a file", transient=True)
        if code == 412:
            return StoreError(f"cannot {action} {where}: precondition failed (412)")
        if code == 413:
            return StoreError(f"cannot {action} {where}: too large for the server (413): raise its upload "
                              "limit (nginx client_max_body_size, Apache LimitRequestBody)")
        if code == 423:
            return StoreError(f"cannot {action} {where}: locked on the server by someone else (423)",
                              transient=True)
        if code == 507:
            return StoreError(f"cannot {action} {where}: the server is out of space (507 Insufficient "
                              "Storage): free space or ask for a larger quota")
        if 300 <= code < 400:
            target = resp.headers.get("location", "?")
            return StoreError(f"cannot {action} {where}: the server redirects to {self._safe_base(target)} "
                              f"({code}): use that URL as the root")
        if _transient_status(code):
            return StoreError(f"cannot {action} {where}: server error {code} {reason}".rstrip(),
                              transient=True)
        return StoreError(f"cannot {action} {where}: HTTP {code} {reason}".rstrip())

    def _check(self, resp: httpx.Response, action: str, path: str, ok: tuple[int, ...]) -> httpx.Response:
        if resp.status_code in ok:
            return resp
        resp.close()
        raise self._status_error(resp, action, path)

    # -- connect and probe ---------------------------------------------------------------------
    def _connect(self, *, probe_writes: bool) -> None:
        cap = self.capabilities
        resp = self._authenticate()
        cap.server = resp.headers.get("server")
        root = self._propfind_entry("", "connect to")
        if root is None:
            # a target not created yet: the first write makes it, then probes it
            cap.root_exists = False
            self._probe_pending = probe_writes
            cap.lists_dotfiles = not (cap.server or "").lower().startswith("nginx")
            return
        if not root.is_dir:
            raise RootError(f"{self.display}: the root is a file, not a WebDAV collection",
                            problem=RootError.NOT_A_FOLDER)
        cap.root_exists = True
        self._remember_dir(self._root_path)
        self._read_options(resp)
        # the write probe waits for the first write or lock (``_ensure_probed``): until
        # then, nginx's dav_ext is the one server we know hides dotfiles
        self._probe_pending = probe_writes
        cap.lists_dotfiles = not (cap.server or "").lower().startswith("nginx")
        self._probe_listing()

    def _read_options(self, resp: httpx.Response) -> None:
        """DAV classes and allowed methods from an OPTIONS answer on the (existing) root."""
        cap = self.capabilities
        if resp.status_code >= 300:
            return
        cap.dav = tuple(p.strip() for p in resp.headers.get("dav", "").split(",") if p.strip())
        cap.allow = frozenset(m.strip().upper() for m in resp.headers.get("allow", "").split(",")
                              if m.strip())
        cap.lock = "2" in cap.dav and (not cap.allow or "LOCK" in cap.allow)

    def probe(self) -> None:
        """Learn now what writes can do (the first write or lock does it otherwise)."""
        self._ensure_probed()

    def _ensure_probed(self) -> None:
        """Before the first write: create the root if it did not exist on connect and run
        the write probe there (once, whichever thread gets here first)."""
        if not self._probe_pending and self.capabilities.root_exists is not False:
            return
        with self._probe_lock:
            cap = self.capabilities
            if cap.root_exists is False:
                self._ensure_collection(self._root_path)
                cap.root_exists = True
                try:
                    opts = self._send("OPTIONS", self.root_url, action="connect to", path="")
                    opts.close()
                    self._read_options(opts)
                except StoreError as exc:
                    log.info("%s: OPTIONS after creating the root failed: %s", self.display, exc)
            if self._probe_pending:
                self._probe_pending = False
                dotfiles = cap.lists_dotfiles
                cap.lists_dotfiles = None
                self._probe_writes()
                if cap.lists_dotfiles is None:
                    cap.lists_dotfiles = dotfiles

    def _authenticate(self) -> httpx.Response:
        """OPTIONS on the root until the server accepts us (prompting at most twice)."""
        prompted = 0
        while True:
            try:
                resp = self._send("OPTIONS", self.root_url, action="connect to", path="")
            except StoreError as exc:
                if isinstance(exc, ConnectionFailed):
                    raise
                raise ConnectionFailed(f"{self.display}: {_after_colon(str(exc))}") from None
            resp.close()
            if resp.status_code != 401:
                if resp.status_code == 403:
                    raise ConnectionFailed(f"{self.display}: the server forbids access (403): check the "
                                           "URL and your access rights")
                if 300 <= resp.status_code < 400:
                    raise self._as_connection_failure(self._status_error(resp, "connect to", ""))
                return resp
            offered = challenge_schemes(resp)
            creds = self._creds
            if creds is not None and not creds.token and self._scheme is None and creds.scheme == "auto" \
                    and "digest" in offered and "basic" not in offered:
                self._scheme = "digest"
                self._set_auth(creds)
                continue
            prompt = self._prompt
            if prompt is None or prompted >= 2:
                raise self._as_connection_failure(self._status_error(resp, "connect to", ""))
            prompted += 1
            why = "credentials needed" if creds is None else "credentials refused"
            answer = prompt(self.display, challenge_realm(resp), why)
            new = coerce(answer, source="prompt") if answer is not None else None
            if new is None:
                raise ConnectionFailed(f"{self.display}: authentication needed (401) and none was given")
            self._scheme = "digest" if ("digest" in offered and "basic" not in offered
                                        and not new.token) else None
            self._set_auth(new)

    def _as_connection_failure(self, err: StoreError) -> ConnectionFailed:
        return err if isinstance(err, ConnectionFailed) else ConnectionFailed(str(err))

    def _probe_writes(self) -> None:
        """Write a hidden probe file the way real writes go, look at it, delete it.

        Learns: writable; mtime settable (``X-OC-Mtime``, or nginx's use of the
        request's ``Date``); etags; ``oc:checksums``; whether the PUT response's
        ETag is still the file's ETag after the MOVE (then writes need no PROPFIND
        to learn it); whether listings show dotfiles; ``If-None-Match: *`` on PUT.
        """
        cap = self.capabilities
        token = uuid.uuid4().hex[:12]
        tmp, name = f"{TEMP_PREFIX}probe-{token}.tmp", f"{TEMP_PREFIX}probe-{token}"
        body = b"synctui capability probe\n"
        headers = {**_mtime_headers(PROBE_MTIME * NS),
                   "OC-Checksum": "SHA1:" + hashlib.sha1(body).hexdigest()}
        try:
            resp = self._send("PUT", self._file_url(tmp), action="probe", path=tmp, headers=headers,
                              content=body)
            resp.close()
            if resp.status_code not in (200, 201, 204):
                cap.writable = False
                if resp.status_code == 401:
                    raise self._status_error(resp, "write to", tmp)
                return
            cap.writable = True
            put_etag = norm_etag(resp.headers.get("etag"))
            accepted = resp.headers.get("x-oc-mtime", "").lower() == "accepted"
            try:
                code = self._move(tmp, name, overwrite=True)
                cap.move = code in (200, 201, 204)
                if not cap.move:
                    cap.notes.append(f"MOVE refused ({code}): writes go straight to the final name")
                    name = tmp
                entry = self._propfind_entry(name, "probe", body=PROPFIND_PROBE)
                if entry is not None:
                    cap.set_mtime = accepted or entry.mtime == PROBE_MTIME
                    cap.etag = entry.etag is not None
                    cap.etag_after_move = bool(cap.move and put_etag and put_etag == entry.etag)
                    cap.checksums = entry.checksums is not None
                listed = self._list("", "1") or []
                cap.lists_dotfiles = any(i.path == name for i in listed)
                again = self._send("PUT", self._file_url(name), action="probe", path=name, content=body,
                                   headers={"If-None-Match": "*"})
                again.close()
                cap.if_none_match = again.status_code == 412
            finally:
                self._delete(self._file_url(name), name)
                if name != tmp:
                    self._delete(self._file_url(tmp), tmp)
        except ConnectionFailed:
            raise
        except StoreError as exc:
            log.info("%s: write probe failed: %s", self.display, exc)
            if cap.writable is None:
                cap.writable = False

    def _probe_listing(self) -> None:
        """Try PROPFIND Depth infinity on the root; keep its result for the first scan."""
        cap = self.capabilities
        try:
            entries = self._list("", "infinity")
        except StoreError as exc:
            if isinstance(exc, ConnectionFailed):
                raise
            log.info("%s: Depth infinity probe failed: %s", self.display, exc)
            cap.depth_infinity = False
            return
        if entries is None:
            cap.depth_infinity = False
            return
        if entries is _MISSING:
            return
        cap.depth_infinity = True
        files = [e for e in entries if e.kind == "file"]
        if files and cap.etag is None:
            cap.etag = any(e.etag for e in files)
        self._prefetch = _Prefetch(entries)

    # -- listing ---------------------------------------------------------------------------------
    def _propfind_entry(self, rel: str, action: str, *, body: bytes = PROPFIND_LISTING) -> DavEntry | None:
        """The resource at ``rel`` itself (Depth 0), or None when it does not exist."""
        url = self._file_url(rel) if rel else self.root_url
        resp = self._send("PROPFIND", url, action=action, path=rel,
                          headers={"Depth": "0", **_XML}, content=body)
        if resp.status_code in (301, 302, 307, 308) and rel:
            # Apache and others redirect a collection's name to its slash form
            resp.close()
            resp = self._send("PROPFIND", self._dir_url(rel), action=action, path=rel,
                              headers={"Depth": "0", **_XML}, content=body)
        if resp.status_code == 404:
            resp.close()
            return None
        self._check(resp, action, rel, (207,))
        try:
            entries = list(parse_multistatus([resp.content]))
        except MultistatusError as exc:
            raise StoreError(f"cannot {action} {rel or self.display}: {exc}", transient=True) from None
        if not entries:
            return None
        want = self._abs(rel)
        for e in entries:
            if e.path == want or (not want and e.path == "/"):
                return e
        return entries[0]

    def _propfind_one(self, rel: str, action: str) -> FileInfo | None:
        e = self._propfind_entry(rel, action)
        return None if e is None else self._info(e, rel)

    def _list(self, rel: str, depth: str) -> list[FileInfo] | None:
        """PROPFIND ``rel``'s collection at ``depth``: its members (not itself).

        ``_MISSING`` (empty) when it does not exist; None when the server refuses the depth.
        Idempotent: the request and the reading of its body are retried as one call.
        """
        url = self._dir_url(rel)
        found = self._retried(lambda: self._list_once(url, rel, depth))
        if found is not None and found is not _MISSING and depth == "1" \
                and self.capabilities.lists_dotfiles is False:
            found.extend(self._hidden_members(rel, found))
        return found

    def _hidden_members(self, rel: str, listed: list[FileInfo]) -> list[FileInfo]:
        """Dot-names a server that hides them from listings may hold in ``rel`` (asked one by one)."""
        have = {i.path for i in listed}
        out = []
        for name in hidden_candidates(rel):
            path = f"{rel}/{name}" if rel else name
            if path in have:
                continue
            info = self._propfind_one(path, "list")
            if info is not None:
                out.append(info)
        return out

    def _list_once(self, url: str, rel: str, depth: str) -> list[FileInfo] | None:
        action = "list"
        resp = self._send("PROPFIND", url, action=action, path=rel or "/",
                          headers={"Depth": depth, **_XML}, content=PROPFIND_LISTING, stream=True,
                          retry=False)
        try:
            code = resp.status_code
            if code == 404:
                return _MISSING
            if depth == "infinity" and code in (400, 403, 405, 409, 412, 501, 507):
                return None  # "propfind-finite-depth" and friends: fall back to Depth 1
            if code != 207:
                resp.read()
                raise self._status_error(resp, action, rel or "/")
            out: list[FileInfo] = []
            dirs: list[str] = []
            try:
                for e in parse_multistatus(resp.iter_bytes()):
                    erel = self._rel(e.path)
                    if erel is None or erel == rel:
                        continue
                    if rel and not erel.startswith(rel + "/"):
                        continue
                    if e.is_dir:
                        dirs.append(e.path)
                    out.append(self._info(e, erel))
            except MultistatusError as exc:
                raise StoreError(f"cannot list {rel or self.display}: {exc}", transient=True) from None
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, action, rel or "/") from None
            self._remember_dir(self._abs(rel), *dirs)
            return out
        finally:
            resp.close()

    def scan(self, prefix: str = "", *, dirs: bool = False) -> Iterator[FileInfo]:
        """Every file below ``prefix`` (and folders with ``dirs``), paths relative to the root."""
        rel0 = clean_relpath(prefix, allow_root=True)
        pre = self._prefetch
        if rel0 == "" and pre is not None:
            self._prefetch = None
            if time.monotonic() - pre.at <= PREFETCH_TTL:
                yield from (e for e in pre.entries if dirs or e.kind == "file")
                return
        cap = self.capabilities
        if cap.depth_infinity is not False:
            entries = self._list(rel0, "infinity")
            if entries is not None:
                if cap.depth_infinity is None and entries is not _MISSING:
                    cap.depth_infinity = True
                yield from (e for e in entries if dirs or e.kind == "file")
                return
            cap.depth_infinity = False
        yield from self._scan_parallel(rel0, dirs)

    def _scan_parallel(self, rel0: str, dirs: bool) -> Iterator[FileInfo]:
        """Breadth-first Depth 1 PROPFINDs, ``list_workers`` at a time."""
        pool = ThreadPoolExecutor(self.list_workers, thread_name_prefix="synctui-propfind")
        try:
            pending: set[Future] = {pool.submit(self._list, rel0, "1")}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    for info in fut.result() or ():
                        if info.kind == "dir":
                            pending.add(pool.submit(self._list, info.path, "1"))
                            if dirs:
                                yield info
                        else:
                            yield info
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def stat(self, path: str) -> FileInfo | None:
        rel = clean_relpath(path)
        return self._propfind_one(rel, "stat")

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def check_root(self) -> None:
        info = self._propfind_entry("", "open")
        if info is None:
            raise RootError(f"project root {self.display} does not exist on the server", problem=RootError.MISSING)
        if not info.is_dir:
            raise RootError(f"project root {self.display} is a file, not a folder", problem=RootError.NOT_A_FOLDER)

    # -- reading ---------------------------------------------------------------------------
    def open_read(self, path: str) -> BinaryIO:
        """The file's content as a stream (one GET, retried until its answer starts);
        errors while reading the body are StoreErrors, not retried here (the engine
        does the file again)."""
        rel = clean_relpath(path)
        return self._retried(lambda: self._get(rel))

    def _get(self, rel: str) -> BinaryIO:
        resp = self._send("GET", self._file_url(rel), action="read", path=rel, stream=True, retry=False)
        if resp.status_code == 404:
            resp.close()
            raise MissingPathError(f"cannot read {rel}: it no longer exists")
        self._check(resp, "read", rel, (200,))
        return _ResponseReader(resp, lambda exc: self._transport_error(exc, "read", rel))  # type: ignore[return-value]

    def read_bytes(self, path: str) -> bytes:
        """The whole file: the GET and its body are retried as one call."""
        rel = clean_relpath(path)

        def once() -> bytes:
            with self._get(rel) as fh:
                return fh.read()

        return self._retried(once)

    # -- collections ---------------------------------------------------------------------------
    def _remember_dir(self, *abs_paths: str) -> None:
        with self._dirs_lock:
            self._known_dirs.update(abs_paths)

    def _forget_dirs(self, abs_path: str) -> None:
        with self._dirs_lock:
            self._known_dirs = {d for d in self._known_dirs
                                if d != abs_path and not d.startswith(abs_path + "/")}

    def _ensure_collection(self, abs_path: str) -> None:
        """Make ``abs_path`` and whatever parents are missing, top-down from the deepest
        collection known to exist (405 means it exists).  One thread creates a given
        collection while the others wait for it."""
        if self._is_known(abs_path):
            return
        chain = [abs_path]
        parent = posixpath.dirname(abs_path)
        while not self._is_known(parent):
            chain.append(parent)
            parent = posixpath.dirname(parent)
        for path in reversed(chain):
            with self._dirs_lock:
                gate = self._mkcol_gates.setdefault(path, threading.Lock())
            with gate:
                if not self._is_known(path):
                    self._mkcol(path)

    def _is_known(self, abs_path: str) -> bool:
        return abs_path in self._known_dirs or abs_path in ("", "/") or len(abs_path) <= len(self._base_path)

    def _mkcol(self, abs_path: str) -> None:
        where = self._rel(abs_path) or abs_path
        for _ in range(3):
            resp = self._send("MKCOL", self._url(abs_path, collection=True), action="create folder",
                              path=where)
            resp.close()
            code = resp.status_code
            if code == 405 and where != abs_path:
                # "exists": but a file exists the same way, and writing below it fails with
                # a bare 500 on some servers (nginx); so look once what it is
                e = self._propfind_entry(where, "create folder")
                if e is not None and not e.is_dir:
                    raise StoreError(f"cannot create folder {where}: a file is in the way "
                                     "(a parent folder is a file)")
            if code in (200, 201, 204, 405) or code in (301, 302, 308):
                # created, exists, or redirected to its slash form (exists too)
                self._remember_dir(abs_path)
                return
            if code == 409:  # a parent vanished meanwhile: make it again
                parent = posixpath.dirname(abs_path)
                self._forget_dirs(parent)
                if not self._is_known(parent):
                    self._ensure_collection(parent)
                continue
            raise self._status_error(resp, "create folder", where)
        raise StoreError(f"cannot create folder {where}: the server keeps answering 409", transient=True)

    def makedirs(self, path: str) -> None:
        rel = clean_relpath(path, allow_root=True)
        self._ensure_probed()
        self._ensure_collection(self._abs(rel))

    # -- writing -----------------------------------------------------------------------------
    def _temp_for(self, rel: str) -> str:
        parent, name = posixpath.split(rel)
        # a server that hides dotfiles would hide a temp a killed sync left: make it visible
        prefix = VISIBLE_TEMP_PREFIX if self.capabilities.lists_dotfiles is False else TEMP_PREFIX
        tmp = temp_name(name, uuid.uuid4().hex[:12], prefix)
        return posixpath.join(parent, tmp) if parent else tmp

    def _delete(self, url: str, rel: str) -> int:
        try:
            resp = self._send("DELETE", url, action="remove", path=rel)
        except StoreError:
            return 0
        resp.close()
        return resp.status_code

    def _put(self, rel: str, data: bytes | Iterable[bytes], headers: dict[str, str]) -> httpx.Response:
        content: bytes | Iterable[bytes]
        if isinstance(data, (bytes, bytearray, memoryview)):
            content = bytes(data)
        else:
            content = _pieces(data)
        resp = self._send("PUT", self._file_url(rel), action="write", path=rel, headers=headers,
                          content=content, retry=isinstance(content, bytes))
        resp.close()
        return resp

    def _put_with_parents(self, rel: str, final: str, data: bytes | Iterable[bytes],
                          headers: dict[str, str]) -> httpx.Response:
        parent = posixpath.dirname(self._abs(final))
        self._ensure_collection(parent)
        resp = self._put(rel, data, headers)
        if resp.status_code == 409 and isinstance(data, (bytes, bytearray, memoryview)):
            self._forget_dirs(parent)  # someone removed the folder since we saw it
            self._ensure_collection(parent)
            resp = self._put(rel, data, headers)
        if resp.status_code == 409:
            self._forget_dirs(parent)
        if resp.status_code not in (200, 201, 204):
            err = self._status_error(resp, "write", final)
            err.answered = True  # type: ignore[attr-defined]  # the server is done with the request
            raise err
        return resp

    def _discard_temp(self, tmp: str, *, late: bool = False) -> None:
        """Remove the temp of a failed upload.  With ``late``, the request broke off
        mid-body: what was sent can sit in network buffers while the server is still
        reading it, and a server that takes the end of the connection as the end of the
        body (wsgidav) makes the temp after our DELETE; so look again for a while.  A
        temp left even so is removed by the next sync."""
        url = self._file_url(tmp)
        self._delete(url, tmp)
        if late and not self._interrupt.is_set:
            for delay in DISCARD_DELAYS:
                time.sleep(delay)
                self._delete(url, tmp)

    def _move(self, src: str, dst: str, *, overwrite: bool, collection: bool = False) -> int:
        resp = self._send("MOVE", self._url(self._abs(src), collection=collection), action="rename",
                          path=src, headers={"Destination": self._url(self._abs(dst), collection=collection),
                                             "Overwrite": "T" if overwrite else "F"})
        resp.close()
        return resp.status_code

    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        """PUT to a hidden temp name, MOVE it over ``path``; returns what the server now shows.

        That is learnt from the PUT response where the connect probe showed it to be
        reliable (mtime set by us, ETag kept by MOVE), else by one PROPFIND Depth 0.
        A streamed body (an iterable) of known ``size`` is sent with that Content-Length
        (never chunked); its last piece goes out only once the iterable has ended with
        exactly ``size`` bytes, so a body of another length fails (StoreError) before
        the server can take it as complete, and the temp is removed.  Of unknown size,
        small ones are gathered into one body and larger ones are sent chunked (some
        PHP servers mishandle chunked bodies: pass ``size``).
        """
        rel = clean_relpath(path)
        if size is not None and size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        counter = _Counter()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data = _reading(data, rel)
        if isinstance(data, (bytes, bytearray, memoryview)):
            counter.n = len(data)
            if size is not None and counter.n != size:
                raise size_mismatch(rel, counter.n, size)
        elif size == 0 or (size is not None and size <= UPLOAD_PIECE):
            # small enough to check before anything is sent (and a bytes body can be retried)
            data = _gather(data, size)
            if not isinstance(data, bytes):
                raise size_mismatch(rel, size + 1, size)
            if len(data) != size:
                raise size_mismatch(rel, len(data), size)
            counter.n = size
        self._prefetch = None
        self._ensure_probed()
        cap = self.capabilities
        headers: dict[str, str] = {}
        if not isinstance(data, (bytes, bytearray, memoryview)):
            if size is not None:
                headers["Content-Length"] = str(size)
                data = counter.count(_exact(data, size, rel))
            else:
                data = _gather(data, GATHER_LIMIT)
                if isinstance(data, bytes):
                    counter.n = len(data)
                else:
                    data = counter.count(data)
        if mtime_ns is not None and cap.set_mtime is not False:
            headers.update(_mtime_headers(mtime_ns))
        if not cap.move:
            resp = self._put_with_parents(rel, rel, data, headers)
        else:
            tmp = self._temp_for(rel)
            try:
                resp = self._put_with_parents(tmp, rel, data, headers)
            except BaseException as exc:
                # a half-written temp, if the server kept one; a body that broke off may
                # still be on its way to the server, which can then make the temp late
                late = not isinstance(data, (bytes, bytearray, memoryview)) \
                    and not getattr(exc, "answered", False)
                self._discard_temp(tmp, late=late)
                raise
            try:
                code = self._move(tmp, rel, overwrite=True)
            except BaseException:
                self._delete(self._file_url(tmp), tmp)
                raise
            if code in (405, 501) and cap.move:
                cap.move = False
                cap.etag_after_move = False
                cap.notes.append("MOVE refused: writes go straight to the final name")
                log.warning("%s: the server refuses MOVE (%d): writing in place from now on",
                            self.display, code)
                self._delete(self._file_url(tmp), tmp)
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    raise StoreError(f"cannot write {rel}: the server refuses MOVE; retrying in place",
                                     transient=True)
                return self.write_atomic(path, data, mtime_ns=mtime_ns, size=size)
            if code not in (200, 201, 204):
                self._delete(self._file_url(tmp), tmp)
                raise self._status_error(_Fake(code), "write", rel)
        known = self._info_from_put(rel, resp, counter.n, mtime_ns if "X-OC-Mtime" in headers else None)
        if known is not None:
            return known
        info = self._propfind_one(rel, "check")
        if info is None:
            raise StoreError(f"cannot write {rel}: the server does not show it after the upload",
                             transient=True)
        if "X-OC-Mtime" in headers and cap.set_mtime is None:
            cap.set_mtime = info.mtime_ns == (mtime_ns or 0) // NS * NS
        return info

    def _info_from_put(self, rel: str, resp: httpx.Response, size: int, mtime_ns: int | None,
                       ) -> FileInfo | None:
        """What a PROPFIND would show after this write, when the probe proved we can know it."""
        cap = self.capabilities
        if cap.etag is False and cap.set_mtime and mtime_ns is not None:
            return FileInfo(rel, size, mtime_ns // NS * NS)  # no etags here: size + our mtime
        etag = norm_etag(resp.headers.get("etag"))
        if cap.etag_after_move and etag:
            if cap.set_mtime and mtime_ns is not None:
                mtime = mtime_ns // NS
            else:  # the upload's end, to the second: only used where etags are missing
                mtime = http_date(resp.headers.get("date", "")) or int(time.time())
            return FileInfo(rel, size, mtime * NS, etag)
        return None

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create ``path`` only if it does not exist; False if it does.

        The content goes to a temp name first and is MOVEd with ``Overwrite: F``
        (412: someone was first), so the file appears complete in one step.  MOVE's
        check is the server's: wsgidav and multi-process nginx check, then rename,
        so two racing creators can both pass; reading the file back settles who
        won (lock files carry a unique sync id).
        """
        rel = clean_relpath(path)
        self._prefetch = None
        self._ensure_probed()
        tmp = self._temp_for(rel)
        self._put_with_parents(tmp, rel, data, {})
        try:
            code = self._move(tmp, rel, overwrite=False)
        except BaseException:
            self._delete(self._file_url(tmp), tmp)
            raise
        if code == 412:
            self._delete(self._file_url(tmp), tmp)
            return False
        if code not in (200, 201, 204):
            # ambiguous (a 5xx while racing): our temp still there means our MOVE did not happen
            if self._propfind_one(tmp, "create") is not None:
                self._delete(self._file_url(tmp), tmp)
            if self._propfind_one(rel, "create") is None:
                raise self._status_error(_Fake(code), "create", rel)
        try:
            return self.read_bytes(rel) == data
        except MissingPathError:
            return False

    def remove(self, path: str) -> None:
        rel = clean_relpath(path)
        self._prefetch = None
        resp = self._send("DELETE", self._file_url(rel), action="remove", path=rel)
        resp.close()
        if resp.status_code not in (200, 204, 404):
            raise self._status_error(resp, "remove", rel)

    def remove_tree(self, path: str) -> None:
        rel = clean_relpath(path)
        self._prefetch = None
        resp = self._send("DELETE", self._dir_url(rel), action="remove", path=rel)
        resp.close()
        if resp.status_code in (404, 405, 409):  # not a collection (nginx wants the exact form)
            resp = self._send("DELETE", self._file_url(rel), action="remove", path=rel)
            resp.close()
        if resp.status_code not in (200, 204, 404):
            raise self._status_error(resp, "remove", rel)
        self._forget_dirs(self._abs(rel))

    def rename(self, src: str, dst: str) -> None:
        """MOVE ``src`` to ``dst`` (replacing it), creating ``dst``'s parents."""
        s, d = clean_relpath(src), clean_relpath(dst)
        self._prefetch = None
        self._ensure_collection(posixpath.dirname(self._abs(d)))
        code = self._move(s, d, overwrite=True)
        if code in (400, 409):  # nginx: a collection must be moved with its trailing slash
            info = self.stat(s)
            if info is not None and info.kind == "dir":
                code = self._move(s, d, overwrite=True, collection=True)
                self._forget_dirs(self._abs(s))
        if code not in (200, 201, 204):
            raise self._status_error(_Fake(code), "rename", f"{s} to {d}")

    def interrupt(self) -> None:
        """Break off the requests in flight and refuse new ones until ``resume``."""
        self._interrupt.set()

    def resume(self) -> None:
        self._interrupt.clear()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._prefetch = None
            self._client.close()

    def __enter__(self) -> WebDAVStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# helpers


#: names a listing that hides dotfiles would not show: zarr v2 metadata and copick's ``.meta``
ZARR_GROUP_KEYS = (".zattrs", ".zgroup", ".zarray", ".zmetadata")
ZARR_ARRAY_KEYS = (".zarray", ".zattrs", ".zgroup")
META_KEYS = (".meta",)


def hidden_candidates(rel: str) -> tuple[str, ...]:
    """Which hidden names to ask for in collection ``rel`` when listings hide dotfiles.

    A ``*.zarr`` folder may hold group metadata, its direct children (levels) array
    metadata; chunk folders deeper inside hold none.  Outside zarr stores only
    ``.meta`` markers are expected.
    """
    parts = rel.split("/") if rel else []
    inside = [i for i, p in enumerate(parts) if p.endswith(".zarr")]
    if not inside:
        return META_KEYS
    depth = len(parts) - 1 - inside[-1]
    if depth == 0:
        return ZARR_GROUP_KEYS
    if depth == 1:
        return ZARR_ARRAY_KEYS
    return ()


def _should_retry(exc: BaseException) -> bool:
    """WebDAV's classifier for the retry policy: what ``_status_error`` and
    ``_transport_error`` marked transient (5xx but 501/505/507, 408, 423, 429, dropped
    or refused connections, a multistatus cut short); never a deadline or a cancel."""
    return transient(exc)


def _transient_status(code: int) -> bool:
    return code >= 500 and code != 501 and code != 505 and code != 507 or code in (408, 423, 429)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160]


def _after_colon(text: str) -> str:
    return text.split(": ", 1)[1] if ": " in text else text


def _mtime_headers(mtime_ns: int) -> dict[str, str]:
    """Ask the server to keep this mtime: ownCloud/Nextcloud read ``X-OC-Mtime``,
    nginx's dav module the request's ``Date``."""
    secs = mtime_ns // NS
    return {"X-OC-Mtime": str(secs), "Date": format_http_date(secs)}


class _Counter:
    """Counts the bytes of a streamed body as it goes out."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def count(self, data: Iterable[bytes]) -> Iterator[bytes]:
        for block in data:
            self.n += len(block)
            yield block


def _reading(data: Iterable[bytes], rel: str) -> Iterator[bytes]:
    """The caller's stream, its read errors (the source file) turned into a StoreError."""
    try:
        yield from data
    except OSError as exc:
        raise StoreError(f"cannot write {rel}: reading its data failed: "
                         f"{exc.strerror or exc}") from exc


def _exact(data: Iterable[bytes], size: int, rel: str) -> Iterator[bytes]:
    """``data``, refused (StoreError) unless it holds exactly ``size`` bytes.

    One piece is held back until the next arrives and the last until the iterable
    has ended, so when the count is wrong the server has been sent fewer than
    ``size`` bytes and the connection is dropped: never a complete body (a server
    that takes the drop as the end has a short temp, which is never moved into place).
    """
    total = 0
    held: bytes | None = None
    for block in data:
        if not block:
            continue
        total += len(block)
        if total > size:
            raise size_mismatch(rel, total, size)
        if held is not None:
            yield held
        held = bytes(block)
    if total != size:
        raise size_mismatch(rel, total, size)
    if held is not None:
        yield held


def _pieces(data: Iterable[bytes], piece: int = UPLOAD_PIECE) -> Iterator[bytes]:
    """Re-cut a body into ``piece``-sized bytes: servers that read chunked bodies in
    small blocks (cheroot, under wsgidav) copy a whole large chunk per block read."""
    for block in data:
        if not block:
            continue
        if len(block) <= piece:
            yield bytes(block)
            continue
        view = memoryview(block)
        for i in range(0, len(view), piece):
            yield bytes(view[i:i + piece])


def _gather(data: Iterable[bytes], limit: int) -> bytes | Iterable[bytes]:
    """The whole body as bytes when it is at most ``limit`` bytes, else a stream of it."""
    it = iter(data)
    head: list[bytes] = []
    total = 0
    for block in it:
        head.append(block)
        total += len(block)
        if total > limit:
            return itertools.chain(head, it)
    return b"".join(head)


class _Fake:
    """A stand-in response (status only) for errors from closed responses."""

    def __init__(self, code: int) -> None:
        self.status_code = code
        self.reason_phrase = httpx.codes.get_reason_phrase(code)
        self.headers = httpx.Headers()


class _ResponseReader(io.RawIOBase):
    """A streaming GET body as a binary file; transport errors become StoreErrors.

    ``read(n)`` returns ``n`` bytes unless the body ends first (the engine sends
    what it reads as one piece), without copying more than once.
    """

    def __init__(self, resp: httpx.Response, wrap: Callable[[httpx.HTTPError], StoreError]) -> None:
        self._resp = resp
        self._it = resp.iter_bytes()
        self._chunk = b""
        self._pos = 0
        self._wrap = wrap
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        """Make the current chunk non-empty; False at the end of the body."""
        while self._pos >= len(self._chunk):
            if self._eof:
                return False
            try:
                self._chunk = next(self._it)
            except StopIteration:
                self._eof = True
                self._chunk, self._pos = b"", 0
                return False
            except httpx.HTTPError as exc:
                raise self._wrap(exc) from None
            self._pos = 0
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        parts: list[bytes] = []
        need = size
        while need > 0 and self._fill():
            avail = len(self._chunk) - self._pos
            if self._pos == 0 and avail <= need:
                parts.append(self._chunk)
                self._pos = avail
                need -= avail
                continue
            take = min(avail, need)
            parts.append(self._chunk[self._pos:self._pos + take])
            self._pos += take
            need -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readall(self) -> bytes:
        parts: list[bytes] = []
        while self._fill():
            parts.append(self._chunk[self._pos:] if self._pos else self._chunk)
            self._pos = len(self._chunk)
        return b"".join(parts)

    def readinto(self, b: Any) -> int:
        data = self.read(len(memoryview(b)))
        n = len(data)
        memoryview(b).cast("B")[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
        super().close()
