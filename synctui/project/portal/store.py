"""The portal as a read-only Store: a virtual tree in copick's layout over the public bucket.

The first scan (or ``check_root``) reads the index from GraphQL (or the cache), lists
each zarr store's prefix in the bucket, and reads each point annotation (a conditional
GET when a copy is cached) to synthesize its picks JSON; all of that in parallel.
Every write is refused: the portal is never written, and the planner already marks
an entity that would shadow a static one as blocked.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from synctui.errors import MissingPathError, StoreError
from synctui.project.portal.bucket import Bucket, Key
from synctui.project.portal.graphql import PortalGraphQL
from synctui.project.portal.http import PortalHTTP, PortalHTTPError
from synctui.project.portal.names import PORTAL_USER
from synctui.project.portal.options import PortalSpec
from synctui.project.portal.picks import picks_json
from synctui.project.portal.tree import PortalTree, SynthPicks, build_tree
from synctui.storage.base import BaseStore, FileInfo, StoreFeatures, clean_relpath
from synctui.storage.url import Location

log = logging.getLogger("synctui.portal")

PROTOCOL = "portal"


def portal_location(spec: PortalSpec) -> Location:
    """The static root of a portal config, as the app and messages show it."""
    return Location(PROTOCOL, "", base_url=f"cryoet-data-portal:{spec.label}")


class PortalStore(BaseStore):
    features = StoreFeatures(etag=True, mtime_resolution_ns=1_000_000_000)

    def __init__(self, spec: PortalSpec, go_map: dict[str, str], location: Location | None = None,
                 where: str = "") -> None:
        self.spec = spec
        self.go_map = dict(go_map)
        self.location = location or portal_location(spec)
        self.http = PortalHTTP(spec.options.timeout)
        self.graphql = PortalGraphQL(spec, self.http, where)
        opts = spec.options
        self.bucket = Bucket(self.http, opts.s3_endpoint or "", opts.files_url)
        self.tree: PortalTree | None = None
        self._files: dict[str, FileInfo] = {}
        self._keys: dict[str, tuple[str, str]] = {}  # virtual path -> (bucket, key)
        self._synth: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # -- building the tree -----------------------------------------------------------
    def _load(self) -> None:
        with self._lock:
            if self.tree is not None:
                return
            index = self.graphql.index(sorted(self.go_map))
            tree = build_tree(index, self.go_map)
            files: dict[str, FileInfo] = {}
            with ThreadPoolExecutor(self.spec.options.list_workers, thread_name_prefix="portal") as pool:
                listed = list(pool.map(lambda m: (m, self.bucket.list(m.bucket, m.prefix)), tree.mounts))
                synth = list(pool.map(self._synthesize, tree.picks))
            for mount, keys in listed:
                if not keys:  # the portal lists it, the bucket holds nothing under it
                    tree.skipped.append((mount.path, f"s3://{mount.bucket}/{mount.prefix}/ is empty"))
                for k in keys:
                    member = k.key[len(mount.prefix.rstrip("/")) + 1:]
                    path = f"{mount.path}/{member}"
                    files[path] = FileInfo(path, k.size, k.mtime_ns, k.etag)
                    self._keys[path] = (mount.bucket, k.key)
            for pick, (data, info) in zip(tree.picks, synth, strict=True):
                self._synth[pick.path] = data
                files[pick.path] = info
            self._files = files
            self.tree = tree

    def _synthesize(self, pick: SynthPicks) -> tuple[bytes, FileInfo]:
        raw, key = self._annotation(pick.bucket, pick.key)
        data = picks_json(raw, shape_type=pick.shape_type, voxel_spacing=pick.voxel_spacing,
                          object_name=pick.object_name, user_id=PORTAL_USER, session_id=pick.session_id,
                          run_name=pick.run, where=f"s3://{pick.bucket}/{pick.key}")
        tag = hashlib.sha256(data).hexdigest()[:32]
        return data, FileInfo(pick.path, len(data), key.mtime_ns, f"synth-{tag}")

    def _annotation(self, bucket: str, key: str) -> tuple[bytes, Key]:
        """An annotation file's bytes; a cached copy is revalidated by ETag (304: no body)."""
        from synctui.storage.dirs import state_dir

        base = os.path.join(state_dir(), "portal-cache", "files",
                            hashlib.sha256(f"{self.bucket.s3}/{bucket}/{key}".encode()).hexdigest()[:32])
        cached: dict | None = None
        if self.spec.cache:
            try:
                with open(base + ".json", encoding="utf-8") as fh:
                    cached = json.load(fh)
                with open(base + ".data", "rb") as fh:
                    cached["data"] = fh.read()
            except (OSError, ValueError):
                cached = None
        try:
            body, info = self.bucket.get(bucket, key, etag=cached.get("etag") if cached else None)
        except PortalHTTPError as exc:
            if exc.status == 404:
                raise StoreError(f"the portal lists s3://{bucket}/{key} but the bucket has no such file") from exc
            raise
        if body is None and cached is not None:
            return cached["data"], Key(key, len(cached["data"]), cached["mtime_ns"], cached["etag"])
        assert body is not None
        if self.spec.cache:
            try:
                os.makedirs(os.path.dirname(base), exist_ok=True)
                with open(base + ".data", "wb") as fh:
                    fh.write(body)
                with open(base + ".json", "w", encoding="utf-8") as fh:
                    json.dump({"etag": info.etag, "mtime_ns": info.mtime_ns}, fh)
            except OSError as exc:
                log.info("cannot cache %s: %s", key, exc)
        return body, info

    # -- reading -----------------------------------------------------------------------
    def check_root(self) -> None:
        self._load()

    def scan(self, prefix: str = "", *, dirs: bool = False) -> Iterator[FileInfo]:
        self._load()
        assert self.tree is not None
        prefix = clean_relpath(prefix, allow_root=True)
        inside = (lambda p: p == prefix or p.startswith(prefix + "/")) if prefix else (lambda p: True)
        if dirs:
            for d in sorted(self.tree.dirs):
                if inside(d):
                    yield FileInfo(d, 0, 0, kind="dir")
        for path in sorted(self._files):
            if inside(path):
                yield self._files[path]

    def stat(self, path: str) -> FileInfo | None:
        self._load()
        path = clean_relpath(path)
        info = self._files.get(path)
        if info is None and self.tree is not None and path in self.tree.dirs:
            return FileInfo(path, 0, 0, kind="dir")
        return info

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def read_bytes(self, path: str) -> bytes:
        self._load()
        path = clean_relpath(path)
        if path in self._synth:
            return self._synth[path]
        where = self._keys.get(path)
        if where is None:
            raise MissingPathError(f"{path}: not in the portal datasets {self.spec.label}")
        try:
            body, _ = self.bucket.get(*where)
        except PortalHTTPError as exc:
            if exc.status == 404:
                raise MissingPathError(f"s3://{where[0]}/{where[1]}: no longer in the bucket") from exc
            raise
        assert body is not None
        return body

    def open_read(self, path: str) -> BinaryIO:
        return io.BytesIO(self.read_bytes(path))

    def bucket_key(self, path: str) -> tuple[str, str] | None:
        """The bucket and key a virtual file reads (None: synthesized or unknown)."""
        self._load()
        return self._keys.get(clean_relpath(path))

    # -- never written -------------------------------------------------------------------
    def _refuse(self, path: str) -> StoreError:
        return StoreError(f"{path}: the CryoET Data Portal (datasets {self.spec.label}) is read-only")

    def write_atomic(self, path: str, data: bytes | Iterable[bytes], *,
                     mtime_ns: int | None = None, size: int | None = None) -> FileInfo:
        raise self._refuse(path)

    def makedirs(self, path: str) -> None:
        raise self._refuse(path)

    def remove(self, path: str) -> None:
        raise self._refuse(path)

    def remove_tree(self, path: str) -> None:
        raise self._refuse(path)

    def rename(self, src: str, dst: str) -> None:
        raise self._refuse(src)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        raise self._refuse(path)

    def interrupt(self) -> None:
        self.http.interrupt.set()

    def resume(self) -> None:
        self.http.interrupt.clear()

    def close(self) -> None:
        self.http.close()
