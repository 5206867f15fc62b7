"""Portal metadata from its GraphQL API, by plain httpx POSTs.

Why not the official ``cryoet-data-portal`` client: it pulls in gql, requests and
boto3 (seconds of imports and a sync HTTP stack with retries of its own, which would
nest with our RetryPolicy), and builds one query per type.  We send the same
selections copick's client asks for (copick's ``_fetch_portal_data``), a few root
fields per request, batched over runs as copick batches them.  The query text is
checked against the ``schema.graphql`` that client ships (tests/project/test_portal_graphql.py),
so a schema change upstream fails a test, not a user.

Results are cached in the state directory for the config's TTL (copick's
``portal_cache_ttl_seconds``, 24 h by default): parallel jobs on a cluster read the
cache instead of all asking the portal at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import Any

from synctui.errors import ConfigError, StoreError
from synctui.project.portal.http import PortalHTTP
from synctui.project.portal.names import SHAPE_TYPES
from synctui.project.portal.options import PortalSpec

log = logging.getLogger("synctui.portal")

DATASETS = """query Datasets($ids: [Int!]) {
  datasets(where: {id: {_in: $ids}}) { id title }
  runs(where: {datasetId: {_in: $ids}}) { id name datasetId s3Prefix }
}"""

RUN_DATA = """query RunData($runs: [Int!], $objects: [String!], $shapes: [annotation_file_shape_type_enum!]) {
  tomogramVoxelSpacings(where: {runId: {_in: $runs}}) { id runId voxelSpacing }
  tomograms(where: {tomogramVoxelSpacing: {runId: {_in: $runs}}}) {
    id name tomogramVoxelSpacingId reconstructionMethod processing processingSoftware
    ctfCorrected s3OmezarrDir fileSizeOmezarr lastModifiedDate
  }
  annotationFiles(where: {annotationShape: {annotation: {runId: {_in: $runs}, objectId: {_in: $objects}},
                                             shapeType: {_in: $shapes}}}) {
    id annotationShapeId tomogramVoxelSpacingId format s3Path fileSize
  }
  annotationShapes(where: {annotation: {runId: {_in: $runs}, objectId: {_in: $objects}},
                           shapeType: {_in: $shapes}}) { id annotationId shapeType }
  annotations(where: {runId: {_in: $runs}, objectId: {_in: $objects}}) {
    id runId objectId objectName lastModifiedDate
  }
}"""

OBJECTS = """query Objects($ids: [Int!]) {
  annotations(where: {run: {datasetId: {_in: $ids}}}) { id objectId objectName annotationPublication }
  annotationShapes(where: {annotation: {run: {datasetId: {_in: $ids}}}}) { annotationId shapeType }
}"""

QUERIES = {"datasets": DATASETS, "run_data": RUN_DATA, "objects": OBJECTS}
RUN_KEYS = ("tomogramVoxelSpacings", "tomograms", "annotationFiles", "annotationShapes", "annotations")
#: bump when what is cached changes shape
CACHE_VERSION = 1


class PortalGraphQL:
    def __init__(self, spec: PortalSpec, http: PortalHTTP, where: str = "") -> None:
        #: the config file, for messages (``portal.json: dataset_ids: ...``)
        self.where = f"{where}: " if where else ""
        self.spec = spec
        self.http = http
        self.url = spec.options.graphql_url or ""

    def query(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = {"query": QUERIES[name], "operationName": None, "variables": variables}

        def read(resp: Any) -> dict[str, Any]:
            try:
                doc = resp.json()
            except ValueError:
                raise StoreError(f"portal GraphQL {self.url}: the answer is not JSON") from None
            if doc.get("errors"):
                first = doc["errors"][0]
                msg = first.get("message", first) if isinstance(first, dict) else first
                raise StoreError(f"portal GraphQL {self.url}: {msg}")
            return doc.get("data") or {}

        return self.http.request(f"portal GraphQL {self.url}", "POST", self.url, json=body, read=read)

    # -- the index of a config -------------------------------------------------------
    def index(self, identifiers: list[str]) -> dict[str, Any]:
        """Everything the tree needs, from the cache when fresh, else from the portal."""
        key = {"v": CACHE_VERSION, "url": self.url, "datasets": list(self.spec.dataset_ids),
               "objects": sorted(identifiers)}
        path = _cache_path("index", key)
        if self.spec.cache:
            cached = _read_cache(path, self.spec.cache_ttl)
            if cached is not None:
                return cached
        data = self._fetch(identifiers)
        if self.spec.cache:
            _write_cache(path, data)
        return data

    def _fetch(self, identifiers: list[str]) -> dict[str, Any]:
        ids = list(self.spec.dataset_ids)
        top = self.query("datasets", {"ids": ids})
        found = {d["id"] for d in top.get("datasets") or []}
        missing = [i for i in ids if i not in found]
        if missing:
            names = ", ".join(str(i) for i in missing)
            raise ConfigError(f"{self.where}dataset_ids: the CryoET Data Portal ({self.url}) has no dataset "
                              f"{names}; nothing was read")
        out: dict[str, Any] = {"datasets": top["datasets"], "runs": top.get("runs") or []}
        for k in RUN_KEYS:
            out[k] = []
        run_ids = [r["id"] for r in out["runs"]]
        step = self.spec.options.batch_runs
        for at in range(0, len(run_ids), step):
            got = self.query("run_data", {"runs": run_ids[at:at + step], "objects": identifiers,
                                          "shapes": list(SHAPE_TYPES)})
            for k in RUN_KEYS:
                out[k].extend(got.get(k) or [])
        return out

    def objects(self) -> dict[str, Any]:
        """Annotations and shapes of the datasets, for copick's ``objects_from_datasets``."""
        return self.query("objects", {"ids": list(self.spec.dataset_ids)})


def _cache_path(kind: str, key: dict[str, Any]) -> str:
    from synctui.storage.dirs import state_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return os.path.join(state_dir(), "portal-cache", f"{kind}-{digest}.json")


def _read_cache(path: str, ttl: int) -> dict[str, Any] | None:
    try:
        st = os.stat(path)
        if ttl > 0 and time.time() - st.st_mtime > ttl:
            return None
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _write_cache(path: str, data: dict[str, Any]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError as exc:  # a cache we cannot write costs a query next time, nothing more
        log.info("cannot write the portal cache %s: %s", path, exc)
