"""A loopback CryoET Data Portal: GraphQL from the real schema, files on a moto S3 server.

The GraphQL side is graphql-core executing the ``schema.graphql`` that the
``cryoet-data-portal`` package ships, so a query synctui (or copick's client) sends
is validated and answered as the portal's own server would shape it.  Resolvers are
generic: each root field is a table of rows, ``where`` clauses are evaluated as the
portal evaluates them (comparators ``_eq _neq _in _nin _gt _gte _lt _lte _is_null``,
and nested relations such as ``annotationShape: {annotation: {runId: ...}}``).
Every scalar and enum field of a fixture row that the fixture does not set is
filled from the schema (a value of the field's type), so each row has every field
in the real schema's shape.

The files live in a bucket named as the portal's (``cryoet-data-portal-public``) on a
``moto`` server (``ThreadedMotoServer``; the S3 helper has its own launcher, these
will be unified), laid out as the public bucket lays it out:
``{dataset}/{run}/Reconstructions/VoxelSpacing{vs}/Tomograms/{id}/{run}.zarr/...`` and
``.../Annotations/{id}/{object}-1.0_{shape}.ndjson|.zarr``.

The fixture: datasets 10440 (runs 1001, 1002) and 10441 (run 1003); tomograms at two
voxel spacings in run 1001; oriented points (ribosome), points (apoferritin), a
segmentation mask (membrane, zarr, plus an mrc copy that copick skips), an instance
segmentation mask, and an annotation of an object no config names (microtubule).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

BUCKET = "cryoet-data-portal-public"
IDENTIFIERS = {"ribosome": "GO:0022626", "apoferritin": "UniProtKB:P02794", "membrane": "GO:0016020"}


class ServerUnavailable(Exception):
    pass


def schema_path() -> Path:
    """The schema the official client ships, found without importing the client (gql, boto3)."""
    spec = importlib.util.find_spec("cryoet_data_portal")
    if spec is None or not spec.submodule_search_locations:
        raise ServerUnavailable("the cryoet-data-portal package (its schema.graphql) is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "schema.graphql"
    if not path.is_file():
        raise ServerUnavailable(f"{path} is missing")
    return path


# -- the fixture ----------------------------------------------------------------------------
RUNS = [(1001, "TS_100_4", 10440), (1002, "TS_100_6", 10440), (1003, "TS_69_2", 10441)]
SPACINGS = [(2001, 1001, 10.012), (2002, 1001, 4.99), (2003, 1002, 10.012), (2004, 1003, 10.012)]
#: id, voxel spacing id, reconstruction method, processing, software, ctf corrected
TOMOGRAMS = [(3001, 2001, "WBP", "denoised", "DenoisET", True), (3002, 2001, "WBP", "filtered", None, False),
             (3003, 2002, "WBP", "raw", None, False), (3004, 2003, "SART", "raw", "AreTomo", False),
             (3005, 2004, "Fourier_Space", "denoised", None, False)]
#: annotation id, run, voxel spacing id, object id, object name, shape id, shape, file ids/formats
ANNOTATIONS = [
    (4001, 1001, 2001, "GO:0022626", "cytosolic ribosome", 5001, "OrientedPoint", [(6001, "ndjson")]),
    (4002, 1002, 2003, "UniProtKB:P02794", "ferritin complex", 5002, "Point", [(6002, "ndjson")]),
    (4003, 1001, 2001, "GO:0016020", "membrane", 5003, "SegmentationMask", [(6003, "zarr"), (6004, "mrc")]),
    (4004, 1003, 2004, "GO:0022626", "cytosolic ribosome", 5004, "InstanceSegmentationMask", [(6005, "zarr")]),
    (4005, 1001, 2001, "GO:0005874", "microtubule", 5005, "Point", [(6006, "ndjson")]),
    (4006, 1001, 2002, "GO:0022626", "cytosolic ribosome", 5006, "Point", [(6007, "ndjson")]),
]
SHAPE_SUFFIX = {"OrientedPoint": "orientedpoint", "Point": "point", "SegmentationMask": "segmentationmask",
                "InstanceSegmentationMask": "instancesegmentationmask"}


@dataclass
class Fixture:
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # bucket key -> bytes


def _vs_dir(vs: float) -> str:
    return f"VoxelSpacing{vs:.3f}"


def _zarr_files(arrays: list[np.ndarray], chunks: int, voxel: float, name: str) -> dict[str, bytes]:
    """An OME-Zarr 0.4 (zarr v2) group as the portal stores it: levels "0", "1" ..."""
    import zarr

    store = zarr.storage.MemoryStore()
    group = zarr.open_group(store, mode="w", zarr_format=2)
    datasets = []
    for level, arr in enumerate(arrays):
        a = group.create_array(str(level), shape=arr.shape, dtype=arr.dtype, chunks=(chunks,) * 3,
                               chunk_key_encoding={"name": "v2", "separator": "/"})
        a[...] = arr
        scale = voxel * 2 ** level
        datasets.append({"path": str(level), "coordinateTransformations": [
            {"type": "scale", "scale": [scale] * 3}]})
    group.attrs["multiscales"] = [{"version": "0.4", "name": name, "axes": [
        {"name": ax, "type": "space", "unit": "angstrom"} for ax in "zyx"], "datasets": datasets}]
    import asyncio

    async def dump() -> dict[str, bytes]:
        out = {}
        proto = zarr.core.buffer.default_buffer_prototype()
        async for key in store.list():
            buf = await store.get(key, prototype=proto)
            out[key] = buf.to_bytes()
        return out

    return asyncio.run(dump())


def _points(n: int, seed: int, oriented: bool) -> bytes:
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        loc = {k: float(round(rng.uniform(0, 60), 3)) for k in "xyz"}
        item: dict[str, Any] = {"type": "orientedPoint" if oriented else "point", "location": loc}
        if oriented:
            q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
            item["xyz_rotation_matrix"] = [[float(round(v, 6)) for v in row] for row in q]
        lines.append(json.dumps(item))
    return ("\n".join(lines) + "\n").encode()


def add_bulk_runs(fx: Fixture, n: int, dataset: int = 10442) -> None:
    """``n`` more runs (ids from 9001) in one more dataset, each with one small tomogram and one
    points file: a dataset the size of the big portal ones, for the app's responsiveness bench."""
    t = fx.tables
    date = "2024-05-01T12:00:00+00:00"
    t["datasets"].append({"id": dataset, "title": f"Bulk dataset {dataset}", "s3Prefix": f"s3://{BUCKET}/{dataset}/",
                          "depositionDate": date, "releaseDate": date, "lastModifiedDate": date})
    vol = _zarr_files([np.zeros((4, 4, 4), np.float32)], 4, 10.0, "bulk")
    for i in range(n):
        rid, vid, tid, aid, sid, fid = 9001 + i, 19001 + i, 29001 + i, 39001 + i, 49001 + i, 59001 + i
        name = f"TS_bulk_{i:04d}"
        prefix = f"{dataset}/{name}/Reconstructions/VoxelSpacing10.000"
        t["runs"].append({"id": rid, "name": name, "datasetId": dataset})
        t["tomogramVoxelSpacings"].append({"id": vid, "runId": rid, "voxelSpacing": 10.0})
        key = f"{prefix}/Tomograms/100/{name}.zarr"
        for k, data in vol.items():
            fx.files[f"{key}/{k}"] = data
        t["tomograms"].append({"id": tid, "runId": rid, "tomogramVoxelSpacingId": vid, "voxelSpacing": 10.0,
                               "reconstructionMethod": "WBP", "processing": "denoised",
                               "s3OmezarrDir": f"s3://{BUCKET}/{key}", "lastModifiedDate": date})
        t["annotations"].append({"id": aid, "runId": rid, "tomogramVoxelSpacingId": vid, "objectId": "GO:0022626",
                                 "objectName": "cytosolic ribosome", "methodType": "manual",
                                 "depositionDate": date, "releaseDate": date, "lastModifiedDate": date})
        t["annotationShapes"].append({"id": sid, "annotationId": aid, "shapeType": "Point"})
        pkey = f"{prefix}/Annotations/100/cytosolic_ribosome-1.0_point.ndjson"
        fx.files[pkey] = _points(3, fid, False)
        t["annotationFiles"].append({"id": fid, "annotationShapeId": sid, "tomogramVoxelSpacingId": vid,
                                     "format": "ndjson", "s3Path": f"s3://{BUCKET}/{pkey}"})


def build_fixture() -> Fixture:
    fx = Fixture()
    t = fx.tables
    date = "2024-05-01T12:00:00+00:00"
    runs = {rid: (name, ds) for rid, name, ds in RUNS}
    t["datasets"] = [{"id": ds, "title": f"Fixture dataset {ds}", "s3Prefix": f"s3://{BUCKET}/{ds}/",
                      "httpsPrefix": f"https://files.cryoetdataportal.cziscience.com/{ds}/",
                      "depositionDate": date, "releaseDate": date, "lastModifiedDate": date}
                     for ds in sorted({ds for _, _, ds in RUNS})]
    t["runs"] = [{"id": rid, "name": name, "datasetId": ds, "s3Prefix": f"s3://{BUCKET}/{ds}/{name}/",
                  "httpsPrefix": f"https://files.cryoetdataportal.cziscience.com/{ds}/{name}/"}
                 for rid, name, ds in RUNS]
    vs_of = {}
    t["tomogramVoxelSpacings"] = []
    for vid, rid, vs in SPACINGS:
        name, ds = runs[rid]
        vs_of[vid] = (rid, vs, f"{ds}/{name}/Reconstructions/{_vs_dir(vs)}")
        t["tomogramVoxelSpacings"].append({"id": vid, "runId": rid, "voxelSpacing": vs,
                                           "s3Prefix": f"s3://{BUCKET}/{vs_of[vid][2]}/"})
    t["tomograms"], t["tomogramAuthors"] = [], []
    rng = np.random.default_rng(7)
    for tid, vid, method, processing, software, ctf in TOMOGRAMS:
        rid, vs, prefix = vs_of[vid]
        name = runs[rid][0]
        key = f"{prefix}/Tomograms/{tid - 3000 + 99}/{name}.zarr"
        base = rng.normal(size=(8, 8, 8)).astype(np.float32)
        levels = [base, base[::2, ::2, ::2].copy(), base[::4, ::4, ::4].copy()]
        for k, data in _zarr_files(levels, 4, vs, name).items():
            fx.files[f"{key}/{k}"] = data
        t["tomograms"].append({
            "id": tid, "runId": rid, "tomogramVoxelSpacingId": vid, "name": name, "voxelSpacing": vs,
            "sizeX": 8, "sizeY": 8, "sizeZ": 8, "reconstructionMethod": method, "processing": processing,
            "processingSoftware": software, "ctfCorrected": ctf, "s3OmezarrDir": f"s3://{BUCKET}/{key}",
            "httpsOmezarrDir": f"https://files.cryoetdataportal.cziscience.com/{key}",
            "depositionDate": date, "releaseDate": date, "lastModifiedDate": date})
        t["tomogramAuthors"].append({"id": tid + 100000, "tomogramId": tid, "name": "Ada Author"})
    t["annotations"], t["annotationShapes"], t["annotationFiles"], t["annotationAuthors"] = [], [], [], []
    for aid, rid, vid, oid, oname, sid, shape, files in ANNOTATIONS:
        _, vs, prefix = vs_of[vid]
        t["annotations"].append({"id": aid, "runId": rid, "tomogramVoxelSpacingId": vid, "objectId": oid,
                                 "objectName": oname, "annotationMethod": "fixture", "methodType": "manual",
                                 "annotationPublication": "EMD-12345, PDB-4V9D" if "ribosome" in oname else None,
                                 "depositionDate": date, "releaseDate": date, "lastModifiedDate": date})
        t["annotationShapes"].append({"id": sid, "annotationId": aid, "shapeType": shape})
        t["annotationAuthors"].append({"id": aid + 100000, "annotationId": aid, "name": "Bo Curator"})
        stem = f"{prefix}/Annotations/{aid - 4000 + 99}/{oname.replace(' ', '_')}-1.0_{SHAPE_SUFFIX[shape]}"
        for fid, fmt in files:
            if fmt == "ndjson":
                key = f"{stem}.ndjson"
                fx.files[key] = _points(5 + fid % 4, fid, shape == "OrientedPoint")
            elif fmt == "zarr":
                key = f"{stem}.zarr"
                seg = (np.random.default_rng(fid).uniform(size=(8, 8, 8)) * 3).astype(np.uint8)
                for k, data in _zarr_files([seg], 8, vs, oname).items():
                    fx.files[f"{key}/{k}"] = data
            else:
                key = f"{stem}.mrc"
                fx.files[key] = b"MRC fixture bytes: copick skips non-zarr masks"
            t["annotationFiles"].append({"id": fid, "annotationShapeId": sid, "tomogramVoxelSpacingId": vid,
                                         "format": fmt, "s3Path": f"s3://{BUCKET}/{key}",
                                         "httpsPath": f"https://files.cryoetdataportal.cziscience.com/{key}",
                                         "fileSize": float(len(fx.files.get(key, b""))),
                                         "isVisualizationDefault": False, "source": "dataset_author"})
    return fx


# -- GraphQL --------------------------------------------------------------------------------
#: a relation in a where clause -> the table it names (its key is ``<relation>Id``)
RELATIONS = {"dataset": "datasets", "run": "runs", "tomogramVoxelSpacing": "tomogramVoxelSpacings",
             "tomogram": "tomograms", "annotation": "annotations", "annotationShape": "annotationShapes"}


def _compare(value: Any, ops: dict[str, Any]) -> bool:
    for op, arg in ops.items():
        if op == "_eq" and not value == arg or op == "_neq" and not value != arg:
            return False
        if op == "_in" and value not in (arg or []) or op == "_nin" and value in (arg or []):
            return False
        if op == "_is_null" and (value is None) != bool(arg):
            return False
        if op in ("_gt", "_gte", "_lt", "_lte"):
            if value is None or not {"_gt": value > arg, "_gte": value >= arg, "_lt": value < arg,
                                     "_lte": value <= arg}[op]:
                return False
        if op not in ("_eq", "_neq", "_in", "_nin", "_is_null", "_gt", "_gte", "_lt", "_lte"):
            raise ValueError(f"the loopback portal does not implement {op}")
    return True


class PortalGraphQLApp:
    def __init__(self, fixture: Fixture) -> None:
        from graphql import build_schema

        self.fixture = fixture
        self.schema = build_schema(schema_path().read_text(encoding="utf-8"))
        self.tables = {name: [self._complete(name, row) for row in rows]
                       for name, rows in fixture.tables.items()}
        self.by_id = {name: {row["id"]: row for row in rows} for name, rows in self.tables.items()}
        for name, fld in self.schema.query_type.fields.items():
            fld.resolve = self._resolver(name)

    def _complete(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Every scalar and enum field of the table's type, with a value of its type."""
        from graphql import GraphQLEnumType, GraphQLScalarType, get_named_type

        gql_type = get_named_type(self.schema.query_type.fields[table].type)
        out = dict(row)
        for fname, fld in gql_type.fields.items():
            if fname in out:
                continue
            named = get_named_type(fld.type)
            if isinstance(named, GraphQLEnumType):
                out[fname] = next(iter(named.values))
            elif isinstance(named, GraphQLScalarType):
                out[fname] = {"Int": 0, "Float": 0.0, "String": "", "Boolean": False,
                              "ID": f"{gql_type.name}:{row.get('id')}",
                              "DateTime": "2024-05-01T12:00:00+00:00"}.get(named.name, None)
        return out

    def _matches(self, table: str, row: dict[str, Any], where: dict[str, Any] | None) -> bool:
        for key, cond in (where or {}).items():
            if key in RELATIONS and isinstance(cond, dict) and f"{key}Id" in row:
                other = self.by_id.get(RELATIONS[key], {}).get(row.get(f"{key}Id"))
                if other is None or not self._matches(RELATIONS[key], other, cond):
                    return False
            elif not _compare(row.get(key), cond or {}):
                return False
        return True

    def _resolver(self, table: str):
        def resolve(root: Any, info: Any, where: dict[str, Any] | None = None, **_: Any) -> Any:
            rows = self.tables.get(table)
            if rows is None:
                return [] if not table.endswith("Aggregate") else None
            return [r for r in rows if self._matches(table, r, where)]

        return resolve

    def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        from graphql import graphql_sync

        result = graphql_sync(self.schema, body.get("query") or "", variable_values=body.get("variables"),
                              operation_name=body.get("operationName"))
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return out


class _Handler(BaseHTTPRequestHandler):
    server: _GraphQLHTTPServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        srv = self.server
        with srv.lock:
            srv.requests.append(body)
            fail = srv.fail_next.pop(0) if srv.fail_next else None
        if fail is not None:
            self.send_response(fail)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        data = json.dumps(srv.app.execute(body)).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _GraphQLHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: PortalGraphQLApp) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        #: statuses to answer the next requests with (fault injection: 429, 503 ...)
        self.fail_next: list[int] = []


# -- S3 (moto) ------------------------------------------------------------------------------
class MotoS3:
    """A moto S3 server on a free loopback port (this module's own small launcher)."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise ServerUnavailable(f"moto[server] is not installed ({exc})") from exc
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self.port = self._server._server.server_port  # noqa: SLF001 - moto keeps it there
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="fixture",
                            aws_secret_access_key="fixture", region_name="us-west-2")

    def stop(self) -> None:
        self._server.stop()


@dataclass
class LoopbackPortal:
    fixture: Fixture
    s3: MotoS3
    graphql: _GraphQLHTTPServer
    _thread: threading.Thread

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.graphql.server_address[1]}/graphql"

    @property
    def env(self) -> dict[str, str]:
        """What points synctui at this portal (and copick's s3fs, via AWS_ENDPOINT_URL)."""
        return {"SYNCTUI_PORTAL_GRAPHQL_URL": self.graphql_url, "SYNCTUI_PORTAL_S3_ENDPOINT": self.s3.endpoint}

    def fs_args(self) -> dict[str, str]:
        return {"graphql_url": self.graphql_url, "s3_endpoint": self.s3.endpoint}

    def config(self, overlay: str, *, dataset_ids: list[int] | None = None,
               objects: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
        objs = IDENTIFIERS if objects is None else objects
        return {"config_type": "cryoet_data_portal", "name": "portal fixture",
                "dataset_ids": dataset_ids or [10440, 10441], "overlay_root": overlay,
                "pickable_objects": [{"name": n, "is_particle": n != "membrane", "label": i + 1,
                                      "identifier": ident} for i, (n, ident) in enumerate(objs.items())],
                **extra}

    def put(self, key: str, data: bytes) -> None:
        self.s3.client().put_object(Bucket=BUCKET, Key=key, Body=data)

    def requests(self) -> list[dict[str, Any]]:
        with self.graphql.lock:
            return list(self.graphql.requests)

    def stop(self) -> None:
        self.graphql.shutdown()
        self.graphql.server_close()
        self.s3.stop()


def start_portal(bulk_runs: int = 0) -> LoopbackPortal:
    fixture = build_fixture()
    if bulk_runs:
        add_bulk_runs(fixture, bulk_runs)
    app = PortalGraphQLApp(fixture)
    s3 = MotoS3()
    try:
        client = s3.client()
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]}))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:  # boto3 clients are thread-safe
            list(pool.map(lambda kv: client.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1],
                                                       ACL="public-read"),
                          fixture.files.items()))
    except Exception:
        s3.stop()
        raise
    server = _GraphQLHTTPServer(app)
    thread = threading.Thread(target=server.serve_forever, name="portal-graphql", daemon=True)
    thread.start()
    return LoopbackPortal(fixture, s3, server, thread)


def portal_session() -> Iterator[LoopbackPortal]:
    """For a session fixture: the portal, stopped at the end (ServerUnavailable if it cannot start)."""
    try:
        portal = start_portal()
    except ServerUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any start failure is "no server here"
        raise ServerUnavailable(f"the loopback portal did not start: {type(exc).__name__}: {exc}") from exc
    try:
        yield portal
    finally:
        portal.stop()


if __name__ == "__main__":  # python tests/integration/portal_server.py [BULK_RUNS]: one JSON line, then serve
    import sys

    p = start_portal(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(json.dumps({"graphql": p.graphql_url, "s3": p.s3.endpoint, "bucket": BUCKET, "env": p.env}),
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        p.stop()
        os._exit(0)
