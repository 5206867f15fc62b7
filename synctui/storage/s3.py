"""A project root in an S3 bucket (AWS, MinIO, Ceph, SeaweedFS ...), through obstore.

``s3://bucket/prefix``; credentials, region and endpoint in s3fs's vocabulary
(storage/s3_auth.py).  How it maps the Store contract onto objects:

* listing is one paginated ListObjectsV2 of the prefix (obstore's ``list``): path,
  size, ETag, last-modified, no HEAD per object.  Folders are the prefixes of keys
  (``features.folders_are_prefixes``): an empty folder does not exist, a zero-byte
  "folder marker" object other tools make (``name/``) is shown as the folder it stands for;
* an object appears whole or not at all: one PUT, or for bodies over ``part_size`` a
  multipart upload, streamed (never the whole file in memory) with ``part_concurrency``
  parts in flight.  obstore aborts an upload that fails; one a killed sync left is found
  by the marker ``.synctui-uploads/<id>`` written before it and aborted by the next
  sync's first write (ListMultipartUploads/AbortMultipartUpload, signed here: obstore
  has neither);
* integrity: obstore signs every body with its SHA-256 (``x-amz-content-sha256``, which
  the server checks with the signature), and after each upload the ETag the server
  returns is compared with the MD5 of what was sent (a multipart ETag with the MD5 of
  the parts' MD5s): a mismatch fails the file.  Servers whose ETags are not MD5s (SSE-KMS)
  are noted in ``capabilities`` and rely on the signed hash alone;
* no mtimes (``set_mtime`` False): the planner compares size and the ETag recorded in
  the state database, as for WebDAV; a multipart ETag is only ever compared with a
  recorded one;
* locks are conditional creates (``PUT If-None-Match: *``).  Before the first write a
  probe creates one key twice: a server that lets the second through ignores the
  condition, and every write is then refused (``UnguardedWrites``) unless the store was
  opened with ``allow_unguarded_writes`` (the CLI's ``--allow-unguarded-writes``);
* rename (trash, stale keys, broken locks) is a server-side copy, then a delete;
  ``remove_tree`` deletes only what a complete listing showed.

obstore's own retries are off: each call that is safe to send again goes through the
one policy (storage/retry.py), a streamed upload is sent once and its failure goes to
the engine.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from synctui.errors import (
    ConnectionFailed,
    LocationError,
    MissingPathError,
    RootError,
    StoreError,
    UnguardedWrites,
)
from synctui.storage.base import BaseStore, FileInfo, StoreFeatures, clean_relpath, size_mismatch
from synctui.storage.deadline import Interrupt, timeout_option
from synctui.storage.options import S3Options
from synctui.storage.retry import RetryPolicy, transient
from synctui.storage.s3_auth import S3Settings, resolve
from synctui.storage.url import Location

log = logging.getLogger("synctui.s3")
T = TypeVar("T")

NS = 1_000_000_000
#: where the marker of each multipart upload in flight lives (body: the object key)
UPLOADS_DIR = ".synctui-uploads"
#: where the probe's key goes: the lock folder (sync/locks.py's LOCK_DIR), whose writes never sweep
PROBE_DIR = ".synctui-lock"
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}(-\d+)?$")
_CODE = re.compile(r"<Code>([^<]{1,80})</Code>")
#: deletes per DeleteObjects request (S3's limit)
DELETE_BATCH = 1000


def _obstore() -> Any:
    try:
        import obstore
    except ImportError:  # pragma: no cover - the s3 extra is missing
        raise ConnectionFailed("S3 roots need the obstore package: pip install 'synctui[s3]'") from None
    return obstore


@dataclass
class Capabilities:
    """What the server showed: its name, whether it honours ``If-None-Match: *`` (None
    until the write probe ran) and whether its ETags are MD5s of what was sent."""

    server: str | None = None
    conditional_put: bool | None = None
    etag_md5: bool | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        cond = {None: "not probed yet", True: "honoured", False: "IGNORED"}[self.conditional_put]
        md5 = {None: "not seen yet", True: "MD5 (uploads verified)", False: "not MD5"}[self.etag_md5]
        return f"{self.server or 'S3 server'}: If-None-Match {cond}; ETags {md5}"


class S3Store(BaseStore):
    """Store on ``s3://bucket/prefix``.  See the module docstring.

    Options (fs_args, keyword arguments over them): ``S3Options``.  ``allow_unguarded_writes``
    (keyword only: the user's explicit consent) lets writes go to a server that ignores
    conditional creates; ``probe`` (default True) checks the bucket on connect."""

    def __init__(self, location: Location | str, *, timeout: float | None = None,
                 part_size: int | None = None, part_concurrency: int | None = None,
                 allow_unguarded_writes: bool = False, probe: bool = True,
                 **_ignored: object) -> None:
        if isinstance(location, str):
            from synctui.storage.url import parse_location

            location = parse_location(location)
        if location.protocol != "s3" or not location.host:
            raise LocationError(f"{location.display}: not an S3 location")
        self.location = location
        self.options = opts = S3Options.build(location.fs_args or {}, timeout=timeout,
                                              part_size=part_size, part_concurrency=part_concurrency)
        self.settings: S3Settings = resolve(opts)
        self._creds = self.settings.credentials
        self.bucket = location.host
        self.root = location.path.strip("/")
        self.display = location.display
        self.endpoint = self.settings.url
        self.allow_unguarded_writes = bool(allow_unguarded_writes)
        self.capabilities = Capabilities()
        self.warnings: list[str] = []
        self.timeout = timeout_option(opts.timeout)
        self.retry_policy = RetryPolicy()
        self._interrupt = Interrupt()
        self._probe_lock = threading.Lock()
        self._swept = False
        #: file paths of the last full scan, plus what we wrote since: a path under one of
        #: them cannot be written (no store may hold "f" and "f/child")
        self._files: set[str] | None = None
        self._known_dirs: set[str] = set()
        self._paths_lock = threading.Lock()
        self._closed = False
        self._http: Any = None
        self._store = self._open_obstore()
        if probe:
            self._connect()

    # -- identity and features --------------------------------------------------------
    def __repr__(self) -> str:
        return f"S3Store({self.display!r})"

    @property
    def features(self) -> StoreFeatures:  # type: ignore[override]
        return StoreFeatures(set_mtime=False, mtime_resolution_ns=NS, etag=True,
                             exclusive_create=bool(self.capabilities.conditional_put),
                             folders_are_prefixes=True)

    def _open_obstore(self) -> Any:
        from obstore.store import S3Store as ObStore

        s = self.settings
        t = self.timeout
        client = {"connect_timeout": f"{min(t, 15.0):g}s", "read_timeout": f"{t:g}s",
                  "allow_http": self.endpoint.startswith("http://"),
                  "pool_max_idle_per_host": "64"}
        kwargs: dict[str, Any] = {"region": s.region, "conditional_put": "etag"}
        if s.endpoint:
            kwargs["endpoint"] = s.endpoint
        if s.credentials.anon:
            kwargs["skip_signature"] = True
        else:
            kwargs["access_key_id"] = s.credentials.key
            kwargs["secret_access_key"] = s.credentials.secret
            if s.credentials.token:
                kwargs["session_token"] = s.credentials.token
        try:
            return ObStore(self.bucket, client_options=client, retry_config={"max_retries": 0},
                           **kwargs)
        except Exception as exc:  # noqa: BLE001 - obstore's config errors
            raise ConnectionFailed(f"{self.display}: {self._short(exc)}") from None

    # -- keys ------------------------------------------------------------------------------
    def _key(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.root and rel else (self.root or rel)

    def _rel(self, key: str) -> str:
        return key[len(self.root) + 1:] if self.root else key

    # -- errors ------------------------------------------------------------------------------
    def _short(self, exc: BaseException) -> str:
        """One line of an obstore error (its debug dump cut off), with no secret in it."""
        text = str(exc).split("\n\nDebug source", 1)[0]
        code = _CODE.search(text)
        first = text.split("\n", 1)[0]
        status = re.search(r"Server returned non-2xx status code: (\d{3} [A-Za-z ]+)", first)
        if status:
            first = first[:first.find(" - Server returned")] if " - Server returned" in first else first
            first = f"{status.group(1).strip()}{' ' + code.group(1) if code else ''}"
        elif "error sending request" in first:
            first = f"cannot reach {self.endpoint} (connection failed)"
        return self._creds.scrub(" ".join(first.split()))[:300]

    def _error(self, exc: BaseException, action: str, rel: str) -> StoreError:
        """Our StoreError for an obstore error, by its type (never by its text)."""
        from obstore import exceptions as ox

        where = rel or self.display
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, (FileNotFoundError, ox.NotFoundError)):
            return MissingPathError(f"cannot {action} {where}: it no longer exists on {self.display}")
        if isinstance(exc, (ox.PermissionDeniedError, ox.UnauthenticatedError)):
            return ConnectionFailed(f"cannot {action} {where}: {self.display} refused access "
                                    f"({self._short(exc)}): check key/secret/profile")
        if isinstance(exc, (ox.InvalidPathError, ox.NotSupportedError, ox.UnknownConfigurationKeyError,
                            ox.AlreadyExistsError, ox.PreconditionError)):
            return StoreError(f"cannot {action} {where}: {self._short(exc)}")
        # GenericError and plain I/O errors: 5xx, dropped connections, timeouts
        return StoreError(f"cannot {action} {where}: {self._short(exc)}", transient=True)

    def _call(self, fn: Callable[[], T], action: str, rel: str) -> T:
        """``fn()`` (one obstore call safe to send again) under the store's retry policy."""
        def once() -> T:
            if self._interrupt.is_set:
                raise StoreError(f"cannot {action} {rel or self.display}: cancelled")
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - mapped by type
                raise self._error(exc, action, rel) from None
        return self.retry_policy.call(once, interrupt=self._interrupt, should_retry=transient)

    # -- connect ---------------------------------------------------------------------------
    def _signed(self, method: str, path_and_query: str) -> Any:
        """One bodiless request of ours (HEAD bucket, the upload sweep), signed unless anon."""
        from synctui.storage._httpx import httpx
        from synctui.storage.s3_sign import sign

        if self._http is None:
            self._http = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)))
        url = f"{self.endpoint}/{self.bucket}{path_and_query}"
        c = self._creds
        headers = {} if c.anon else sign(method, url, region=self.settings.region, key=c.key or "",
                                         secret=c.secret or "", token=c.token)
        try:
            return self._http.request(method, url, headers=headers)
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"{self.display}: cannot reach {self.endpoint} "
                                   f"({type(exc).__name__})") from None

    def _connect(self) -> None:
        """HEAD the bucket: reachable, credentials accepted, bucket there (one-line errors)."""
        resp = self._signed("HEAD", "")
        self.capabilities.server = resp.headers.get("server") or None
        code = resp.status_code
        if code == 200:
            return
        if code == 404:
            raise RootError(f"{self.display}: bucket {self.bucket!r} does not exist on {self.endpoint}",
                            problem=RootError.UNREADABLE)
        if code in (301, 307) and resp.headers.get("x-amz-bucket-region"):
            raise ConnectionFailed(f"{self.display}: the bucket is in region "
                                   f"{resp.headers['x-amz-bucket-region']}: set client_kwargs.region_name")
        detail = ""
        if code in (400, 401, 403):
            probe = self._signed("GET", f"?list-type=2&max-keys=1&prefix={self.root}")
            found = _CODE.search(probe.text)
            detail = f" {found.group(1)}" if found else ""
            raise ConnectionFailed(f"{self.display}: {self.endpoint} refused the credentials from "
                                   f"{self._creds.source} ({code}{detail}): check key/secret/profile")
        raise ConnectionFailed(f"{self.display}: {self.endpoint} answered HEAD bucket with {code}")

    def _ensure_probed(self) -> None:
        """Before the first write: does the server honour ``If-None-Match: *``?  Create one
        probe key twice; the second must fail.  Then sweep uploads a killed sync left."""
        if self.capabilities.conditional_put is not None:
            return
        with self._probe_lock:
            if self.capabilities.conditional_put is not None:
                return
            ob = _obstore()
            from obstore import exceptions as ox

            key = self._key(f"{PROBE_DIR}/probe-{uuid.uuid4().hex[:12]}")
            try:
                self._call(lambda: ob.put(self._store, key, b"probe", mode="create"), "probe", "")
                try:
                    ob.put(self._store, key, b"probe", mode="create")
                    honoured = False
                    why = "a second create of one key succeeded"
                except (ox.AlreadyExistsError, ox.PreconditionError):
                    honoured, why = True, ""
                except Exception as exc:  # noqa: BLE001 - 501 and kin: no conditional writes
                    honoured, why = False, f"it refused the conditional create ({self._short(exc)})"
            finally:
                try:
                    ob.delete(self._store, key)
                except Exception:  # noqa: BLE001 - best effort
                    log.debug("probe key %s not removed", key, exc_info=True)
            self.capabilities.conditional_put = honoured
            if not honoured:
                self.capabilities.notes.append(f"If-None-Match ignored: {why}")
                self._unguarded_why = why
                log.warning("%s: %s ignores If-None-Match: * (%s)", self.display, self._server, why)

    @property
    def _server(self) -> str:
        return f"{self.capabilities.server or 'the server'} at {self.endpoint}"

    def _guard(self, rel: str = "") -> None:
        """Every write starts here: refused where no lock can be trusted, unless accepted.

        The first write of a file (not a lock's: a reader's lock and heartbeat are writes
        too, and a reader must never abort a live writer's upload) sweeps the uploads a
        killed sync left: by then the engine holds the write lock."""
        self._ensure_probed()
        if not self.capabilities.conditional_put and not self.allow_unguarded_writes:
            raise UnguardedWrites(self.display, self._server, getattr(self, "_unguarded_why", ""))
        if not self._swept and rel and not rel.startswith(PROBE_DIR + "/"):
            self._swept = True
            self._sweep_uploads()

    def _sweep_uploads(self) -> None:
        """Abort the multipart uploads a killed sync left (their markers name the keys)."""
        ob = _obstore()
        try:
            markers = [m for chunk in ob.list(self._store, self._key(UPLOADS_DIR)) for m in chunk]
        except Exception as exc:  # noqa: BLE001 - nothing to sweep is no failure
            log.debug("listing upload markers failed: %s", self._short(exc))
            return
        if not markers:
            return
        if self._creds.anon:
            return
        keys: dict[str, str] = {}
        for m in markers:
            try:
                keys[bytes(ob.get(self._store, m["path"]).bytes()).decode()] = m["path"]
            except Exception:  # noqa: BLE001 - a marker gone meanwhile
                continue
        from urllib.parse import quote

        from synctui.storage.s3_sign import quote_key

        prefix = quote(self._key("") and self._key("") + "/", safe="")
        resp = self._signed("GET", f"?uploads&prefix={prefix}")
        if resp.status_code != 200:
            log.warning("%s: cannot list multipart uploads (%d): left ones stay", self.display,
                        resp.status_code)
            return
        import xml.etree.ElementTree as ET

        root = ET.fromstring(resp.content)
        aborted = 0
        for up in root.iter():
            if not up.tag.endswith("Upload"):
                continue
            key = next((c.text for c in up if c.tag.endswith("Key")), None)
            upload_id = next((c.text for c in up if c.tag.endswith("UploadId")), None)
            if key in keys and upload_id:
                r = self._signed("DELETE", f"/{quote_key(key)}?uploadId={quote(upload_id, safe='')}")
                aborted += r.status_code in (200, 204)
        for marker in keys.values():
            try:
                ob.delete(self._store, marker)
            except Exception:  # noqa: BLE001 - best effort
                pass
        if aborted:
            note = f"aborted {aborted} multipart upload(s) a killed sync left"
            log.warning("%s: %s", self.display, note)
            self.warnings.append(note)

    # -- listing -------------------------------------------------------------------------
    def _info(self, meta: dict[str, Any], rel: str) -> FileInfo:
        modified: datetime = meta["last_modified"]
        etag = meta.get("e_tag")
        return FileInfo(rel, int(meta["size"]), int(modified.timestamp()) * NS,
                        etag.strip('"') if etag else None)

    def _list(self, rel0: str) -> list[dict[str, Any]]:
        ob = _obstore()
        prefix = self._key(rel0) or None
        return self._call(lambda: [m for chunk in ob.list(self._store, prefix, chunk_size=1000)
                                   for m in chunk], "list", rel0)

    def scan(self, prefix: str = "", *, dirs: bool = False) -> Iterator[FileInfo]:
        """Every object below ``prefix`` (one paginated listing); folders are key prefixes.
        A zero-byte object whose name is also a prefix of others is a folder marker."""
        rel0 = clean_relpath(prefix, allow_root=True)
        metas = self._list(rel0)
        files: dict[str, FileInfo] = {}
        for m in metas:
            rel = self._rel(m["path"])
            if rel:
                files[rel] = self._info(m, rel)
        folders: set[str] = set()
        for rel in files:
            parent = posixpath.dirname(rel)
            while parent and parent not in folders and (not rel0 or parent.startswith(rel0 + "/")):
                folders.add(parent)
                parent = posixpath.dirname(parent)
        markers = {p for p in folders if p in files and files[p].size == 0}
        with self._paths_lock:
            self._known_dirs |= folders
            if rel0 == "":
                self._files = set(files) - markers
        if dirs:
            for d in sorted(folders):
                yield FileInfo(d, 0, 0, kind="dir")
        for rel, info in files.items():
            if rel not in markers:
                yield info

    def stat(self, path: str) -> FileInfo | None:
        rel = clean_relpath(path)
        ob = _obstore()
        try:
            meta = self._call(lambda: ob.head(self._store, self._key(rel)), "stat", rel)
            return self._info(meta, rel)
        except MissingPathError:
            pass
        if self._has_under(rel):
            return FileInfo(rel, 0, 0, kind="dir")
        return None

    def _has_under(self, rel: str) -> bool:
        ob = _obstore()

        def first() -> bool:
            for chunk in ob.list(self._store, self._key(rel), chunk_size=1):
                return bool(chunk)
            return False
        return self._call(first, "stat", rel)

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def check_root(self) -> None:
        """The bucket was checked on connect; a prefix with nothing under it is a missing root."""
        if self.root and not self._has_under(""):
            raise RootError(f"project root {self.display} does not exist (nothing under the prefix)",
                            problem=RootError.MISSING)

    # -- reading ---------------------------------------------------------------------------
    def read_bytes(self, path: str) -> bytes:
        rel = clean_relpath(path)
        ob = _obstore()
        return self._call(lambda: bytes(ob.get(self._store, self._key(rel)).bytes()), "read", rel)

    def open_read(self, path: str) -> BinaryIO:
        """A stream of the object (one GET, retried until its answer starts)."""
        rel = clean_relpath(path)
        ob = _obstore()
        result = self._call(lambda: ob.get(self._store, self._key(rel)), "read", rel)
        return io.BufferedReader(_Body(result.stream(min_chunk_size=1 << 20), self, rel), 1 << 20)  # type: ignore[return-value]

    # -- writing ---------------------------------------------------------------------------
    def _check_parents(self, rel: str) -> None:
        """A path under a file fails for good (as on every other store)."""
        parent = posixpath.dirname(rel)
        while parent:
            with self._paths_lock:
                if parent in self._known_dirs:
                    return
                files = self._files
            if files is not None:
                if parent in files:
                    raise StoreError(f"cannot write {rel}: {parent} is a file, not a folder")
            else:
                try:
                    self._call(lambda p=parent: _obstore().head(self._store, self._key(p)), "check", rel)
                    raise StoreError(f"cannot write {rel}: {parent} is a file, not a folder")
                except MissingPathError:
                    pass
            parent = posixpath.dirname(parent)

    def _wrote(self, rel: str) -> None:
        with self._paths_lock:
            if self._files is not None:
                self._files.add(rel)
            parent = posixpath.dirname(rel)
            while parent and parent not in self._known_dirs:
                self._known_dirs.add(parent)
                parent = posixpath.dirname(parent)

    def _forget(self, rel: str, *, tree: bool = False) -> None:
        with self._paths_lock:
            if self._files is not None:
                self._files.discard(rel)
                if tree:
                    self._files = {f for f in self._files if not f.startswith(rel + "/")}
            if tree:
                self._known_dirs = {d for d in self._known_dirs if d != rel and not d.startswith(rel + "/")}

    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        """One PUT, or a streamed multipart upload for more than ``part_size`` bytes; the
        object appears whole or not at all.  ``mtime_ns`` cannot be kept (S3 has none)."""
        rel = clean_relpath(path)
        if size is not None and size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        self._guard(rel)
        self._check_parents(rel)
        part = self.options.part_size
        if isinstance(data, (bytes, bytearray, memoryview)):
            body = bytes(data)
            if size is not None and len(body) != size:
                raise size_mismatch(rel, len(body), size)
            info = self._put_whole(rel, body)
        else:
            head, rest = _gather(_reading(data, rel), part)
            if rest is None:
                if size is not None and len(head) != size:
                    raise size_mismatch(rel, len(head), size)
                info = self._put_whole(rel, head)
            else:
                info = self._put_multipart(rel, head, rest, size)
        self._wrote(rel)
        return info

    def _put_whole(self, rel: str, body: bytes) -> FileInfo:
        ob = _obstore()
        key = self._key(rel)
        result = self._call(lambda: ob.put(self._store, key, body, use_multipart=False), "write", rel)
        return self._verified(rel, len(body), result.get("e_tag"), hashlib.md5(body).hexdigest())

    def _put_multipart(self, rel: str, head: bytes, rest: Iterator[bytes], size: int | None) -> FileInfo:
        ob = _obstore()
        key = self._key(rel)
        part = self.options.part_size
        hasher = _PartHasher(part)
        marker = self._key(f"{UPLOADS_DIR}/{uuid.uuid4().hex}")
        self._call(lambda: ob.put(self._store, marker, key.encode(), use_multipart=False), "write", rel)

        def body() -> Iterator[bytes]:
            n = 0
            for block in _chain(head, rest):
                if self._interrupt.is_set:
                    raise StoreError(f"cannot write {rel}: cancelled")
                n += len(block)
                if size is not None and n > size:
                    raise size_mismatch(rel, n, size)
                hasher.update(block)
                yield block
            if size is not None and n != size:
                raise size_mismatch(rel, n, size)

        try:
            result = ob.put(self._store, key, body(), use_multipart=True, chunk_size=part,
                            max_concurrency=self.options.part_concurrency)
        except BaseException as exc:
            self._abort_uploads_of(key)  # obstore aborts its own; a belt for the braces
            try:
                ob.delete(self._store, marker)
            except Exception:  # noqa: BLE001 - the next sync's sweep finds it
                pass
            if isinstance(exc, Exception):
                raise self._error(exc, "write", rel) from None
            raise
        try:
            ob.delete(self._store, marker)
        except Exception:  # noqa: BLE001 - the next sync's sweep finds it
            log.debug("upload marker %s not removed", marker)
        return self._verified(rel, hasher.total, result.get("e_tag"), hasher.etag())

    def _abort_uploads_of(self, key: str) -> None:
        if self._creds.anon:
            return
        try:
            from urllib.parse import quote

            from synctui.storage.s3_sign import quote_key

            resp = self._signed("GET", f"?uploads&prefix={quote(key, safe='')}")
            if resp.status_code != 200:
                return
            import xml.etree.ElementTree as ET

            for up in ET.fromstring(resp.content).iter():
                if up.tag.endswith("Upload"):
                    k = next((c.text for c in up if c.tag.endswith("Key")), None)
                    uid = next((c.text for c in up if c.tag.endswith("UploadId")), None)
                    if k == key and uid:
                        self._signed("DELETE", f"/{quote_key(key)}?uploadId={quote(uid, safe='')}")
        except Exception:  # noqa: BLE001 - best effort; the next sync sweeps
            log.debug("abort of uploads of %s failed", key, exc_info=True)

    def _verified(self, rel: str, size: int, etag: str | None, expected: str) -> FileInfo:
        """The FileInfo of a finished upload, once its ETag matches what we sent."""
        tag = (etag or "").strip('"')
        cap = self.capabilities
        if tag and _MD5_ETAG.match(tag):
            if tag != expected:
                try:
                    _obstore().delete(self._store, self._key(rel))
                except Exception:  # noqa: BLE001 - the write failed either way
                    pass
                raise StoreError(f"cannot write {rel}: the server's ETag {tag} is not the MD5 of what was "
                                 "sent (corrupted in transit?)", transient=True)
            cap.etag_md5 = True
        elif cap.etag_md5 is None:
            cap.etag_md5 = False
            cap.notes.append("ETags are not MD5s: uploads rest on the signed SHA-256 of each body")
        return FileInfo(rel, size, time.time_ns() // NS * NS, tag or None)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """``PUT If-None-Match: *``, then a read-back: False when the key exists (or another
        racer's create landed over ours).  Where the server ignores the
        condition (and the user accepted that) a HEAD first, then a read-back, best effort."""
        rel = clean_relpath(path)
        self._guard()
        ob = _obstore()
        from obstore import exceptions as ox

        key = self._key(rel)
        if self.capabilities.conditional_put:
            try:
                self._call(lambda: _create(ob, ox, self._store, key, data), "create", rel)
            except _Exists:
                return False
            self._wrote(rel)
            # a server that checks, then writes (moto's threads) can let two racing creates
            # through: reading back settles who won (lock records carry a unique sync id)
            try:
                return self.read_bytes(rel) == data
            except MissingPathError:
                return False
        if self.stat(rel) is not None:
            return False
        self._put_whole(rel, data)
        self._wrote(rel)
        try:
            return self.read_bytes(rel) == data
        except MissingPathError:
            return False

    def makedirs(self, path: str) -> None:
        """Nothing to do: folders are the prefixes of keys (an empty one does not exist)."""
        clean_relpath(path)

    def remove(self, path: str) -> None:
        rel = clean_relpath(path)
        self._guard(rel)
        ob = _obstore()
        self._call(lambda: ob.delete(self._store, self._key(rel)), "remove", rel)
        self._forget(rel)

    def remove_tree(self, path: str) -> None:
        """Delete the object ``path`` and every object under ``path/``: only what a complete
        listing showed (a failed listing raises before anything is deleted)."""
        rel = clean_relpath(path)
        self._guard(rel)
        ob = _obstore()
        keys = [m["path"] for m in self._list(rel)] + [self._key(rel)]
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i:i + DELETE_BATCH]
            self._call(lambda b=batch: ob.delete(self._store, b), "remove", rel)
        self._forget(rel, tree=True)

    def rename(self, src: str, dst: str) -> None:
        """Server-side copy, then delete (a folder: each object under it)."""
        s, d = clean_relpath(src), clean_relpath(dst)
        self._guard(s)
        ob = _obstore()
        try:
            self._call(lambda: ob.head(self._store, self._key(s)), "rename", s)
            pairs = [(s, d)]
        except MissingPathError:
            pairs = [(self._rel(m["path"]), d + self._rel(m["path"])[len(s):]) for m in self._list(s)]
            if not pairs:
                raise StoreError(f"cannot rename {s} to {d}: {s} does not exist") from None
        self._check_parents(d)
        for a, b in pairs:
            self._call(lambda a=a, b=b: ob.copy(self._store, self._key(a), self._key(b)), "rename", a)
            self._wrote(b)
        for a, _ in pairs:
            self._call(lambda a=a: ob.delete(self._store, self._key(a)), "rename", a)
            self._forget(a)
        if len(pairs) > 1 or pairs[0][0] != s:
            self._forget(s, tree=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Refuse new requests (and stop streamed bodies between chunks) until ``resume``.
        A request obstore has in flight ends by itself within ``timeout``."""
        self._interrupt.set()

    def resume(self) -> None:
        self._interrupt.clear()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._http is not None:
                self._http.close()

    def __enter__(self) -> S3Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# helpers


class _Exists(StoreError):
    """The conditional create found the key there."""


def _create(ob: Any, ox: Any, store: Any, key: str, data: bytes) -> None:
    try:
        ob.put(store, key, data, mode="create")
    except (ox.AlreadyExistsError, ox.PreconditionError):
        raise _Exists("exists") from None


def _reading(data: Iterable[bytes], rel: str) -> Iterator[bytes]:
    """The caller's stream, its read errors (the source file) turned into a StoreError."""
    try:
        yield from data
    except OSError as exc:
        raise StoreError(f"cannot write {rel}: reading its data failed: {exc.strerror or exc}") from exc


def _gather(it: Iterator[bytes], limit: int) -> tuple[bytes, Iterator[bytes] | None]:
    """Up to ``limit`` bytes of ``it``: (all of it, None) when it ends within the limit,
    else (what was read, the rest) for a multipart upload."""
    buf = bytearray()
    for block in it:
        buf += block
        if len(buf) > limit:
            return bytes(buf), it
    return bytes(buf), None


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


class _PartHasher:
    """The MD5 of each ``part``-byte slice of a stream, as obstore cuts its parts: the
    ETag S3 gives a multipart upload is the MD5 of these, then ``-<parts>``."""

    def __init__(self, part: int) -> None:
        self.part = part
        self.digests: list[bytes] = []
        self._cur = hashlib.md5()
        self._filled = 0
        self.total = 0

    def update(self, block: bytes) -> None:
        view = memoryview(block)
        self.total += len(view)
        while view:
            take = min(len(view), self.part - self._filled)
            self._cur.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.part:
                self.digests.append(self._cur.digest())
                self._cur, self._filled = hashlib.md5(), 0

    def etag(self) -> str:
        digests = self.digests + ([self._cur.digest()] if self._filled or not self.digests else [])
        return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


class _Body(io.RawIOBase):
    """An obstore byte stream as a file (errors as StoreErrors, a cancel between chunks)."""

    def __init__(self, stream: Any, store: S3Store, rel: str) -> None:
        super().__init__()
        self._stream = stream
        self._store = store
        self._rel = rel
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            if self._store._interrupt.is_set:
                raise StoreError(f"cannot read {self._rel}: cancelled")
            try:
                chunk = next(self._stream)
            except StopIteration:
                return 0
            except Exception as exc:  # noqa: BLE001 - mapped by type
                raise self._store._error(exc, "read", self._rel) from None
            self._buf = memoryview(bytes(chunk))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n
