"""Small copick projects on disk for the engine, API, CLI and crash tests.

Importable from any test module (``tests/`` is on sys.path through the root
conftest): ``from sync_helpers import ...``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from synctui.storage.base import is_temp_path
from synctui.sync.rules import RuleSet

OBJECTS: list[dict[str, Any]] = [
    {"name": "ribosome", "is_particle": True, "label": 1, "color": [0, 117, 220, 255], "radius": 150.0},
    {"name": "membrane", "is_particle": False, "label": 2, "color": [255, 0, 0, 255]},
]

TEMP_MARK = ".synctui-tmp-"
#: source files get this mtime; target files written by ``Pair`` an older one
SRC_MTIME = 1_700_000_000
OLD_MTIME = SRC_MTIME - 86_400
TRASH = ".synctui-trash"


def write_config(path: Path, overlay: Path, *, name: str = "project", objects: list | None = None,
                 static: Path | None = None, **extra: Any) -> Path:
    overlay.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {"name": name,
                           "pickable_objects": OBJECTS if objects is None else objects,
                           "overlay_root": f"local://{overlay}"}
    if static is not None:
        static.mkdir(parents=True, exist_ok=True)
        cfg["static_root"] = f"local://{static}"
    cfg.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=4))
    return path


def write_tree(root: Path, files: Mapping[str, bytes | str], *, mtime: int | None = None) -> None:
    """``files`` below ``root`` (a folder, or an s3_servers.S3Path: S3 keeps no mtimes)."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
        if mtime is not None and isinstance(p, Path):
            os.utime(p, (mtime, mtime))


def read_tree(root: Path, *, hidden: bool = False) -> dict[str, bytes]:
    """Every regular file below ``root`` (relative path -> bytes).

    Without ``hidden``, our own trash/temp/lock entries (visible temps too) are left out (zarr's
    ``.zarray``/``.zattrs``/``.zgroup`` and ``.meta`` are kept).
    """
    out: dict[str, bytes] = {}
    if hasattr(root, "walk_files"):  # an S3 prefix (s3_servers.S3Path)
        return {rel: data for rel, data in root.walk_files().items() if hidden or not any(
            part.startswith(".synctui") for part in rel.split("/")) and not is_temp_path(rel)}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if not hidden:
            dirnames[:] = [d for d in dirnames if not d.startswith(".synctui")]
        for fn in filenames:
            if not hidden and (fn.startswith(".synctui") or is_temp_path(fn)):
                continue
            full = os.path.join(dirpath, fn)
            rel = fn if rel_dir == "." else f"{rel_dir}/{fn}".replace(os.sep, "/")
            with open(full, "rb") as fh:
                out[rel] = fh.read()
    return out


def temp_files(root: Path) -> list[str]:
    """Temp files an interrupted write left (anywhere, trash included; the visible kind
    made on servers that hide dotfiles too)."""
    from synctui.storage.base import is_temp_path

    return sorted(rel for p in root.rglob("*synctui-tmp-*")
                  if is_temp_path(rel := str(p.relative_to(root))))


def picks_json(obj: str, user: str, session: str, run: str, n: int = 3, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    data = {
        "pickable_object_name": obj, "user_id": user, "session_id": session, "run_name": run,
        "voxel_spacing": 10.0, "unit": "angstrom", "trust_orientation": False,
        "points": [{"location": {"x": round(rng.uniform(0, 600), 3), "y": round(rng.uniform(0, 600), 3),
                                 "z": round(rng.uniform(0, 300), 3)},
                    "transformation_": [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
                                        [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
                    "instance_id": i, "score": 0.5} for i in range(n)],
        "extra_key": {"kept": True},
    }
    return json.dumps(data, indent=4).encode()


def zarr_files(prefix: str, *, chunks: int = 4, chunk_size: int = 512, seed: int = 0,
               levels: int = 1) -> dict[str, bytes]:
    """A fake zarr v2 store (metadata JSON plus random chunk bytes) below ``prefix``."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {
        f"{prefix}/.zgroup": b'{"zarr_format": 2}',
        f"{prefix}/.zattrs": json.dumps({"multiscales": [{"version": "0.4", "seed": seed}]}).encode(),
    }
    for level in range(levels):
        files[f"{prefix}/{level}/.zarray"] = json.dumps(
            {"zarr_format": 2, "shape": [64, 64, 64], "chunks": [32, 32, 32], "dtype": "<f4",
             "dimension_separator": "/", "seed": seed}).encode()
        for i in range(chunks):
            files[f"{prefix}/{level}/0/{i // 2}/{i % 2}"] = rng.randbytes(chunk_size)
    return files


def find_record(info: Any) -> str:
    """The record GNU find prints for a FileInfo (storage/local_scan.FIND_FORMAT), as a
    FileBundle keeps it."""
    sec, ns = divmod(info.mtime_ns, 1_000_000_000)
    return f"{info.path}\tf\t{info.size}\t{sec}.{ns:09d}0"


def tomo_path(run: str, tomo: str = "wbp", vs: str = "10.000") -> str:
    return f"ExperimentRuns/{run}/VoxelSpacing{vs}/{tomo}.zarr"


def picks_path(run: str, user: str, session: str, obj: str) -> str:
    return f"ExperimentRuns/{run}/Picks/{user}_{session}_{obj}.json"


def seg_path(run: str, user: str, session: str, name: str, vs: str = "10.000",
             multilabel: bool = False) -> str:
    suffix = "-multilabel" if multilabel else ""
    return f"ExperimentRuns/{run}/Segmentations/{vs}_{user}_{session}_{name}{suffix}.zarr"


def basic_source(runs: tuple[str, ...] = ("TS_001", "TS_002"), *, chunks: int = 4,
                 chunk_size: int = 512) -> dict[str, bytes]:
    """A run .meta, a tomogram, two picks, a mesh and a segmentation per run."""
    files: dict[str, bytes] = {}
    for k, run in enumerate(runs):
        files[f"ExperimentRuns/{run}/.meta"] = b"meta"
        files[f"ExperimentRuns/{run}/VoxelSpacing10.000/.meta"] = b"meta"
        files.update(zarr_files(tomo_path(run), chunks=chunks, chunk_size=chunk_size, seed=k))
        files[picks_path(run, "alice", "1", "ribosome")] = picks_json("ribosome", "alice", "1", run, seed=k)
        files[picks_path(run, "bob", "0", "membrane")] = picks_json("membrane", "bob", "0", run, seed=k + 7)
        files[f"ExperimentRuns/{run}/Meshes/alice_1_ribosome.glb"] = random.Random(k).randbytes(300)
        files.update(zarr_files(seg_path(run, "alice", "1", "membrane"), chunks=2, chunk_size=256,
                                seed=100 + k))
    return files


class Pair:
    """A source and a target project below ``base``.

    ``transport`` (tests/transports.py; local disk by default) decides where the roots
    are on disk and how the two configs reach them (SSH, WebDAV).  The configs are
    always local files below ``base``; the trees are written and read on disk.
    """

    def __init__(self, base: Path, source_files: Mapping[str, bytes] | None = None,
                 target_files: Mapping[str, bytes] | None = None, *,
                 target_objects: list | None = None, target_extra: Mapping[str, Any] | None = None,
                 target_static: Mapping[str, bytes] | None = None, transport: Any = None) -> None:
        from transports import LOCAL

        self.base = base
        self.transport = LOCAL if transport is None else transport
        self.src_root = self.transport.root(base, "src")
        self.dst_root = self.transport.root(base, "dst")
        self.src_files = dict(basic_source() if source_files is None else source_files)
        write_tree(self.src_root, self.src_files, mtime=SRC_MTIME)
        # older than the source, so a differing target file is an update, not a conflict
        self.dst_root.mkdir(parents=True, exist_ok=True)
        write_tree(self.dst_root, target_files or {}, mtime=OLD_MTIME)
        self.dst_static = self.transport.root(base, "dst", "static") if target_static is not None else None
        if self.dst_static is not None:
            write_tree(self.dst_static, target_static or {}, mtime=OLD_MTIME)
        self.source_config = write_config(base / "src" / "config.json", self.src_root, name="source")
        self.target_config = write_config(base / "dst" / "config.json", self.dst_root, name="target",
                                          objects=target_objects, static=self.dst_static,
                                          **(target_extra or {}))
        self.transport.point(self.source_config, "src", self.src_root)
        self.transport.point(self.target_config, "dst", self.dst_root, self.dst_static)

    @property
    def src(self) -> str:
        return str(self.source_config)

    @property
    def dst(self) -> str:
        return str(self.target_config)

    def target_tree(self) -> dict[str, bytes]:
        return read_tree(self.dst_root)

    def source_tree(self) -> dict[str, bytes]:
        return read_tree(self.src_root)


def run_cli(*args: str, timeout: float = 120, env: Mapping[str, str] | None = None,
            cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m synctui ARGS`` in a subprocess, capturing text output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "synctui", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def kill_during(cmd: list[str], target: Path, delay: float, env: Mapping[str, str], *,
                first_file: bool = False) -> tuple[int, bool]:
    """Start ``cmd``; once the target shows its first write (with ``first_file``: its first
    file at a final path, as batches make folders and temps long before), SIGKILL it after
    ``delay`` s.  Returns (exit status, whether it was still running to be killed)."""
    import signal
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(env))
    runs = target / "ExperimentRuns"

    def started() -> bool:
        if not first_file:
            return runs.exists()
        return any(p.is_file() and not is_temp_path(p.name) for p in runs.rglob("*")) if runs.exists() else False

    deadline = time.monotonic() + 60
    while proc.poll() is None and not started() and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert_no_traceback(proc.stderr.read().decode() if proc.stderr else "")
    return proc.returncode, killed


# -- crash tests: a project a kill can land in the middle of, and what "consistent" means ----------

def crash_source(seed: int = 0, *, runs: int = 4, big: int = 2 << 20) -> dict[str, bytes]:
    """~80 files per run: zarr chunks of 4-48 KiB, picks, meshes, segmentations, and three
    files of ``big`` bytes (a kill can land mid-file)."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for r in range(runs):
        run = f"TS_{r:03d}"
        files[f"ExperimentRuns/{run}/.meta"] = b"meta"
        tomo = tomo_path(run)
        files.update(zarr_files(tomo, chunks=0, seed=r))
        for i in range(60):
            files[f"{tomo}/0/{i // 16}/{(i // 4) % 4}/{i % 4}"] = rng.randbytes(rng.randint(4 << 10, 48 << 10))
        for user in ("alice", "bob"):
            files[picks_path(run, user, "1", "ribosome")] = picks_json("ribosome", user, "1", run, n=30, seed=r)
        files[f"ExperimentRuns/{run}/Meshes/alice_1_ribosome.glb"] = rng.randbytes(20_000)
        files.update(zarr_files(seg_path(run, "alice", "1", "membrane"), chunks=10, chunk_size=8192, seed=50 + r))
    for i in range(3):
        files[f"{tomo_path('TS_000')}/0/9/9/{i}"] = rng.randbytes(big)
    return files


def assert_consistent(root: Path, expected: Mapping[str, bytes],
                      same: Callable[[str, bytes, bytes], bool] = lambda rel, got, want: got == want,
                      ) -> dict[str, bytes]:
    """No partial file at a final path, and no zarr store showing metadata before its chunks."""
    from synctui.sync.plan import is_zarr_metadata

    tree = read_tree(root)
    for rel, content in tree.items():
        assert rel in expected, f"unexpected file {rel}"
        assert same(rel, content, expected[rel]), f"partial or wrong file at final path {rel}"
    stores: dict[str, list[str]] = {}
    for rel in expected:
        if ".zarr/" in rel:
            stores.setdefault(rel.split(".zarr/")[0], []).append(rel)
    for store, members in stores.items():
        if any(m in tree and is_zarr_metadata(m) for m in members):
            missing = [m for m in members if not is_zarr_metadata(m) and m not in tree]
            assert not missing, f"{store}.zarr shows metadata but lacks {missing[:3]}"
    return tree


# -- hypothesis strategies: small random projects and rules --------------------------------------

RUNS = ["TS_001", "TS_002", "TS_003"]
USERS = ["alice", "bob"]
OBJS = ["ribosome", "membrane", "apo"]


@st.composite
def _entity_files(draw, run: str) -> dict[str, bytes]:
    kind = draw(st.sampled_from(["tomo", "picks", "mesh", "seg", "meta"]))
    seed = draw(st.integers(0, 3))
    if kind == "tomo":
        tomo = draw(st.sampled_from(["wbp", "denoised"]))
        vs = draw(st.sampled_from(["10.000", "7.840"]))
        return zarr_files(tomo_path(run, tomo, vs), chunks=draw(st.integers(1, 4)), chunk_size=64, seed=seed)
    user, obj = draw(st.sampled_from(USERS)), draw(st.sampled_from(OBJS))
    session = draw(st.sampled_from(["0", "1"]))
    if kind == "picks":
        return {picks_path(run, user, session, obj): picks_json(obj, user, session, run, n=seed + 1, seed=seed)}
    if kind == "mesh":
        return {f"ExperimentRuns/{run}/Meshes/{user}_{session}_{obj}.glb": bytes([seed]) * (10 + seed)}
    if kind == "seg":
        return zarr_files(seg_path(run, user, session, obj), chunks=draw(st.integers(1, 3)), chunk_size=32,
                          seed=seed)
    return {f"ExperimentRuns/{run}/.meta": b"meta"}


@st.composite
def hyp_project(draw) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for _ in range(draw(st.integers(0, 6))):
        files.update(draw(_entity_files(draw(st.sampled_from(RUNS)))))
    return files


@st.composite
def hyp_rules(draw) -> RuleSet:
    # "always" rewrites on purpose every time: not idempotent by definition
    rules = RuleSet(overwrite=draw(st.sampled_from(["never", "if-changed"])))
    if draw(st.booleans()):
        rules.set_mapping("runs", draw(st.sampled_from(RUNS)), "Mapped")
    if draw(st.booleans()):
        rules.set_mapping("users", draw(st.sampled_from(USERS)), "carol")
    if draw(st.booleans()):
        rules.set_mapping("objects", draw(st.sampled_from(OBJS)), "newobj")
    if draw(st.booleans()):
        dim, value = draw(st.sampled_from([("users", "bob"), ("runs", "TS_002"), ("kinds", "meshes"),
                                           ("sessions", "0"), ("objects", "membrane")]))
        rules.add_filter("exclude", dim, value)
    return rules


# -- crash tests during an update: one store rewritten in the source, the sync killed part-way -----

#: the store an update rewrites (its own, so its chunks can be told apart from the rest)
UPDATED_STORE = seg_path("TS_001", "alice", "1", "organelle")
#: the source's files after the rewrite get this mtime (newer than the first version's)
NEW_MTIME = SRC_MTIME + 3_600
#: where in an update a kill lands: (name, how many of the store's new chunks are in place, and
#: whether some of its new metadata is too); ``None`` chunks means all of them
UPDATE_MOMENTS = [("mid-way", 0.5, False), ("first chunk", 1, False), ("near the end", -1, False),
                  ("metadata", None, True)]


def update_versions(seed: int = 0, *, chunks: int = 160, runs: int = 2) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(first version, second version) of a project whose ``UPDATED_STORE`` is rewritten whole:
    every chunk new (half of them the same size as before, so sizes tell nothing), new
    metadata, one stale chunk and one new one.  The rest of the project stays."""
    rng = random.Random(seed)
    base = crash_source(seed, runs=runs, big=64 << 10)
    old, new = dict(base), dict(base)
    for version, files in ((0, old), (1, new)):
        files[f"{UPDATED_STORE}/.zgroup"] = json.dumps({"zarr_format": 2, "version": version}).encode()
        files[f"{UPDATED_STORE}/.zattrs"] = json.dumps({"multiscales": [{"version": "0.4"}],
                                                        "written": version}).encode()
        files[f"{UPDATED_STORE}/0/.zarray"] = json.dumps({"zarr_format": 2, "chunks": [16, 16, 16],
                                                          "version": version}).encode()
    sizes = [rng.randint(1 << 10, 4 << 10) for _ in range(chunks)]
    for i, size in enumerate(sizes):
        key = f"{UPDATED_STORE}/0/{i // 64}/{(i // 8) % 8}/{i % 8}"
        if i != chunks - 1:  # the last one is stale in the new version
            old[key] = rng.randbytes(size)
        new[key] = rng.randbytes(size if i % 2 else size + 16)
    new[f"{UPDATED_STORE}/0/9/9/9"] = rng.randbytes(2048)
    return old, new


def rewrite_source(pair: Pair, new: Mapping[str, bytes], mtime: int = NEW_MTIME) -> None:
    """Give ``pair``'s source another version (newer mtimes; stale keys gone)."""
    changed = {rel: data for rel, data in new.items() if pair.src_files.get(rel) != data}
    write_tree(pair.src_root, changed, mtime=mtime)
    for rel in set(pair.src_files) - set(new):
        (pair.src_root / rel).unlink()
    pair.src_files = dict(new)


def new_in_store(new: Mapping[str, bytes]) -> tuple[list[str], list[str]]:
    """(chunks, metadata keys) of ``UPDATED_STORE`` the second version changes, in the order
    the engine writes them (chunks first)."""
    from synctui.sync.plan import is_zarr_metadata

    members = sorted(rel for rel in new if rel.startswith(UPDATED_STORE + "/"))
    return [m for m in members if not is_zarr_metadata(m)], [m for m in members if is_zarr_metadata(m)]


def moment_files(new: Mapping[str, bytes], chunks: int | float | None, meta: bool) -> list[str]:
    """The files of the new version a sync killed at that moment had put in place."""
    data, metadata = new_in_store(new)
    if chunks is None:
        n = len(data)
    elif isinstance(chunks, float):
        n = int(len(data) * chunks)
    else:
        n = chunks % len(data)
    return data[:n] + (metadata[:1] if meta else [])


def updated_in_place(root: Path, new: Mapping[str, bytes]) -> tuple[int, int]:
    """(chunks, metadata keys) of ``UPDATED_STORE`` that hold the new version on disk now."""
    data, metadata = new_in_store(new)

    def done(rel: str) -> bool:
        try:
            return (root / rel).read_bytes() == new[rel]
        except OSError:
            return False

    return sum(1 for rel in data if done(rel)), sum(1 for rel in metadata if done(rel))


def kill_during_update(cmd: list[str], target: Path, new: Mapping[str, bytes],
                       chunks: int | float | None, meta: bool, env: Mapping[str, str]) -> tuple[int, int]:
    """Start the update ``cmd`` and SIGKILL it once ``target`` holds that many of the store's new
    chunks (a fraction, a count, or all), and with ``meta`` some of its new metadata.
    Returns what was in place when it died: (new chunks, new metadata keys)."""
    import signal
    import time

    want = len(moment_files(new, chunks, False))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(env))
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        n, m = updated_in_place(target, new)
        if n >= max(want, 1) and (m > 0 or not meta):
            break
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert_no_traceback(proc.stderr.read().decode() if proc.stderr else "")
    return updated_in_place(target, new)


def write_through_target(pair: Pair, files: Mapping[str, bytes], mtime: int = NEW_MTIME) -> None:
    """Leave the target as a sync killed before committing its last records does: ``files``
    put in place the way a sync writes them (the target store: temp + rename, the source's
    mtime asked for) but not recorded, and that sync still marked running in the history."""
    from synctui.project.config import load_config
    from synctui.storage.open import open_store
    from synctui.sync.state import StateDB

    target = load_config(pair.dst).overlay
    store = open_store(target, fsync=False)
    try:
        for rel, data in files.items():
            store.write_atomic(rel, data, mtime_ns=mtime * 1_000_000_000)
    finally:
        store.close()
    db = StateDB()
    try:
        db.start_sync(db.pair_id(load_config(pair.src).overlay.key, target.key), f"killed-{mtime}",
                      "incremental")
    finally:
        db.close()


def converge(pair: Pair) -> None:
    """The sync after a kill (breaking the stale lock it left), then a plan: it must exit 0 with
    no conflict and the target equal to the source byte for byte, no temp left, and the plan
    must have nothing to do (nothing to write, nothing held back)."""
    from synctui.sync.api import JobOptions, SyncJob

    job = SyncJob(pair.src, pair.dst, job_options=JobOptions(break_lock=True, fsync=False))
    try:
        summary = job.run()
        print(f"  the rerun wrote {summary.files_written} files, {summary.conflicts} conflicts")
        assert summary.exit_code == 0 and summary.conflicts == 0 and summary.errors == [], summary
        assert pair.target_tree() == pair.src_files
        assert temp_files(pair.dst_root) == []
        plan = job.plan()
        assert plan.up_to_date, [(e.target_path, e.action, e.reason) for e in plan.entities
                                 if e.action.writes or e.action.value == "conflict"][:3]
    finally:
        job.close_stores()


def update_moments_converge(pair: Pair, versions: tuple[dict[str, bytes], dict[str, bytes]],
                            cmd: list[str] | None = None) -> None:
    """Sync ``pair`` (holding the first version), then once per ``UPDATE_MOMENTS`` give the
    source the other version and leave the target as a sync killed at that moment does: by
    a real SIGKILL of the sync ``cmd``, or without ``cmd`` by ``write_through_target``.  Each
    time the next sync must converge (``converge``)."""
    from synctui.sync.api import JobOptions, SyncJob

    job = SyncJob(pair.src, pair.dst, job_options=JobOptions(fsync=False))
    try:
        assert job.run().errors == []
    finally:
        job.close_stores()
    mixed = 0
    for i, (moment, chunks, meta) in enumerate(UPDATE_MOMENTS):
        old, new = versions[i % 2], versions[(i + 1) % 2]
        mtime = NEW_MTIME + 3_600 * i
        rewrite_source(pair, new, mtime)
        if cmd is not None:
            done, meta_done = kill_during_update(cmd, pair.dst_root, new, chunks, meta, os.environ)
            # every file at a final path is whole: the old version or the new one
            for rel, got in read_tree(pair.dst_root).items():
                assert got in (old.get(rel), new.get(rel)), f"partial or foreign file at {rel}"
            mixed += 0 < done < len(new_in_store(new)[0]) or meta_done > 0
        else:
            write_through_target(pair, {rel: new[rel] for rel in moment_files(new, chunks, meta)}, mtime)
            done, meta_done = updated_in_place(pair.dst_root, new)
        print(f"{moment}: {done} new chunks and {meta_done} new metadata keys in place")
        converge(pair)
    if cmd is not None:
        assert mixed >= 1, "no kill landed part-way through the update: make the store bigger"


def run_dropping_sessions(job: Any, store: Any, kill_sessions: Callable[[], int]) -> tuple[Any, int, int, int]:
    """Run ``job`` while a thread drops the server's sessions (``kill_sessions()``, which
    returns how many it killed) once a file is done and something is still in flight.

    Returns (summary, sessions killed, ``store``'s connections before the kill, after the
    run); killed is 0 when the moment never came.  The caller closes the job's stores."""
    import threading
    import time

    killed: list[tuple[int, int]] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not job.sink.progress.finished:
            prog = job.sink.progress  # something done, something (a batch, a big file) in flight
            if prog.done_files >= 1 and prog.in_flight:
                opened = store.connections_opened
                killed.append((kill_sessions(), opened))
                return
            time.sleep(0.005)

    t = threading.Thread(target=killer)
    t.start()
    try:
        summary = job.run()
    finally:
        t.join()
    sessions, before = killed[0] if killed else (0, 0)
    return summary, sessions, before, store.connections_opened


def sync_lands_before_the_lock(monkeypatch: Any, other_source: Path, target_cfg: Path) -> list[int]:
    """Make another sync (``other_source`` into the same target) run to its end just before
    the next write lock on that target is taken: the moment a listing taken before the lock
    would go stale.  Returns a list that gets the other sync's files_written."""
    from synctui.sync import locks
    from synctui.sync.api import SyncJob

    real = locks.Lock.acquire
    landed: list[int] = []

    def acquire(self):
        if self.mode == "write" and not landed:
            landed.append(-1)  # once, and not for the other sync's own lock
            with SyncJob(str(other_source), str(target_cfg)) as other:
                landed[0] = other.run().files_written
        return real(self)

    monkeypatch.setattr(locks.Lock, "acquire", acquire)
    return landed


def two_sources_one_file(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """Sources a and b with different picks at one path, and an empty target: (a config,
    b config, target config, the path)."""
    rel = picks_path("TS_001", "alice", "1", "ribosome")
    cfgs = []
    for name, body in (("a", b'{"points": [], "from": "a"}'), ("b", b'{"points": [], "from": "b, later"}')):
        write_tree(tmp_path / name, {rel: body})
        cfgs.append(write_config(tmp_path / f"{name}.json", tmp_path / name, name=name))
    return cfgs[0], cfgs[1], write_config(tmp_path / "t.json", tmp_path / "t", name="t"), rel
