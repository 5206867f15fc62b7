"""Time synctui against ``rclone copy`` to the same WebDAV server, on loopback.

Two data sets, each synced into a fresh collection on each server:

* ``small``: N files of S bytes (default 5,000 x 32 KiB) laid out as zarr v2
  chunks of copick tomograms (100 chunks per run, nested ``0/z/y/x`` keys, plus
  each store's ``.zgroup``/``.zattrs``/``0/.zarray``);
* ``big``: one file of M MB (default 512) as a copick mesh.

For each: synctui's first copy and no-op (``python -m synctui sync``, a fresh
process like rclone's) and ``rclone copy`` first copy and no-op, medians of
``--repeat`` rounds, and the ratio synctui / rclone (< 1 is faster).  Servers:
wsgidav in its own process, and nginx + dav_ext when installed.

    python bench/webdav_sync.py [--files 5000] [--size 32768] [--big-mb 512]
                                [--repeat 3] [--workers 8] [--servers wsgidav,nginx]
    python bench/webdav_sync.py --files 500 --big-mb 32 --repeat 1   # quick
    python bench/webdav_sync.py --mode api   # synctui in-process: without interpreter start
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from webdav_servers import NginxDav, ServerUnavailable, WsgiDavServer  # noqa: E402

CHUNKS_PER_RUN = 100


def make_small(root: Path, n_files: int, size: int) -> int:
    """N chunk files of ``size`` bytes in copick zarr stores; returns the files written."""
    written = 0
    run = 0
    block = os.urandom(size)
    while written < n_files:
        store = root / f"ExperimentRuns/TS_{run:04d}/VoxelSpacing10.000/wbp.zarr"
        (store / "0").mkdir(parents=True, exist_ok=True)
        (store.parent.parent / ".meta").write_text("meta")
        (store.parent / ".meta").write_text("meta")
        (store / ".zgroup").write_text('{"zarr_format": 2}')
        (store / ".zattrs").write_text(json.dumps({"multiscales": [{"version": "0.4"}]}))
        (store / "0/.zarray").write_text(json.dumps({"zarr_format": 2, "dimension_separator": "/"}))
        for i in range(min(CHUNKS_PER_RUN, n_files - written)):
            path = store / f"0/{i // 25}/{(i // 5) % 5}/{i % 5}"
            path.parent.mkdir(parents=True, exist_ok=True)
            # distinct content per file: a counter spliced into shared random bytes
            path.write_bytes(written.to_bytes(8, "little") + block[8:])
            written += 1
        run += 1
    return written


def make_big(root: Path, megabytes: int) -> None:
    path = root / "ExperimentRuns/TS_big/Meshes/bench_1_ribosome.glb"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(megabytes):
            fh.write(i.to_bytes(8, "little") + block[8:])


def write_config(path: Path, overlay_root: str, fs_args: dict | None = None) -> Path:
    cfg = {"name": path.stem, "pickable_objects": [{"name": "ribosome", "is_particle": True, "label": 1}],
           "overlay_root": overlay_root}
    if fs_args:
        cfg["overlay_fs_args"] = fs_args
    path.write_text(json.dumps(cfg, indent=2))
    return path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-2000:]}")
    return dt


def timed_api(src_cfg: Path, dst_cfg: Path, workers: int, state: Path) -> float:
    """One sync in this process (no interpreter start, imports already done)."""
    from synctui.sync.api import JobOptions, SyncJob

    os.environ["SYNCTUI_STATE_DIR"] = str(state)
    t0 = time.perf_counter()
    summary = SyncJob(str(src_cfg), str(dst_cfg),
                      job_options=JobOptions(max_workers=workers, fsync=False)).run()
    dt = time.perf_counter() - t0
    if summary.errors:
        raise RuntimeError(f"synctui sync failed: {summary.errors[:3]}")
    return dt


def synctui_cmd(src_cfg: Path, dst_cfg: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "synctui", "sync", "-s", str(src_cfg), "-t", str(dst_cfg),
            "-j", str(workers), "--no-progress", "--no-fsync"]


def rclone_cmd(src: Path, url: str, dest: str, workers: int) -> list[str]:
    return ["rclone", "copy", str(src), f":webdav:{dest}", f"--webdav-url={url}",
            "--webdav-vendor=other", f"--transfers={workers}", f"--checkers={max(8, workers)}",
            "--no-check-certificate", "-q"]


def ensure_rclone() -> str | None:
    found = shutil.which("rclone")
    if found:
        return found
    print("rclone is missing: trying `apt-get install -y rclone` ...", flush=True)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "rclone"], capture_output=True)
    return shutil.which("rclone")


def bench_server(kind: str, server, dav_root: Path, datasets: dict[str, Path], args, rclone: str | None,
                 results: dict) -> None:
    for name, src in datasets.items():
        src_cfg = write_config(src.parent / f"{name}-src.json", f"local://{src}")
        rows: dict[str, list[float]] = {"synctui first": [], "synctui no-op": [],
                                        "rclone first": [], "rclone no-op": []}
        for rnd in range(args.repeat):
            coll = f"{kind}-{name}-{rnd}"
            state = Path(tempfile.mkdtemp(prefix="synctui-bench-state-"))
            env = dict(os.environ, SYNCTUI_STATE_DIR=str(state))
            dst_cfg = write_config(src.parent / f"{coll}-dst.json", f"webdav://{coll}/synctui",
                                   {"base_url": server.url})
            if args.mode == "cli":
                rows["synctui first"].append(timed(synctui_cmd(src_cfg, dst_cfg, args.workers), env))
                rows["synctui no-op"].append(timed(synctui_cmd(src_cfg, dst_cfg, args.workers), env))
            else:
                rows["synctui first"].append(timed_api(src_cfg, dst_cfg, args.workers, state))
                rows["synctui no-op"].append(timed_api(src_cfg, dst_cfg, args.workers, state))
            check_copy(src, dav_root / coll / "synctui")
            if rclone:
                cmd = rclone_cmd(src, server.url, f"{coll}/rclone", args.workers)
                rows["rclone first"].append(timed(cmd, env))
                rows["rclone no-op"].append(timed(cmd, env))
            shutil.rmtree(dav_root / coll, ignore_errors=True)
            shutil.rmtree(state, ignore_errors=True)
        results[(kind, name)] = rows
        report(kind, name, rows)


def check_copy(src: Path, dst: Path) -> None:
    """The copy must be complete: same relative paths and sizes (hidden files included)."""
    def listing(root: Path) -> dict[str, int]:
        out = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".synctui")]
            for fn in filenames:
                if fn.startswith(".synctui"):
                    continue
                full = os.path.join(dirpath, fn)
                out[os.path.relpath(full, root)] = os.path.getsize(full)
        return out

    a, b = listing(src), listing(dst)
    if a != b:
        missing = sorted(set(a) - set(b))[:5]
        raise RuntimeError(f"synctui's copy differs from the source: {len(a)} vs {len(b)} files, "
                           f"missing e.g. {missing}")


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def report(kind: str, name: str, rows: dict[str, list[float]]) -> None:
    def fmt(v: float | None) -> str:
        return "     -" if v is None else f"{v:6.2f}s"

    sf, sn = med(rows["synctui first"]), med(rows["synctui no-op"])
    rf, rn = med(rows["rclone first"]), med(rows["rclone no-op"])
    ratio_f = f"{sf / rf:.2f}x" if sf and rf else "-"
    ratio_n = f"{sn / rn:.2f}x" if sn and rn else "-"
    print(f"{kind:8s} {name:6s} first: synctui {fmt(sf)}  rclone {fmt(rf)}  ratio {ratio_f:>6s}   |  "
          f"no-op: synctui {fmt(sn)}  rclone {fmt(rn)}  ratio {ratio_n:>6s}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000, help="small files (default 5000)")
    ap.add_argument("--size", type=int, default=32 * 1024, help="bytes per small file (default 32 KiB)")
    ap.add_argument("--big-mb", type=int, default=512, help="size of the big file in MB (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per measurement (median)")
    ap.add_argument("--workers", type=int, default=8, help="parallel transfers, both tools (default 8)")
    ap.add_argument("--servers", default="wsgidav,nginx", help="comma-separated: wsgidav, nginx")
    ap.add_argument("--no-rclone", action="store_true", help="time synctui only")
    ap.add_argument("--mode", choices=("cli", "api"), default="cli",
                    help="time `python -m synctui sync` in a fresh process like rclone (cli, default) "
                         "or SyncJob.run() in this process (api: no interpreter start or imports)")
    ap.add_argument("--dir", help="work directory (default: a temp dir, removed afterwards)")
    args = ap.parse_args(argv)

    work = Path(args.dir or tempfile.mkdtemp(prefix="synctui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rclone = None if args.no_rclone else ensure_rclone()
    if not args.no_rclone and rclone is None:
        print("rclone is missing (apt-get install rclone): timing synctui only")
    elif rclone:
        ver = subprocess.run([rclone, "version"], capture_output=True, text=True).stdout.split("\n")[0]
        print(f"rclone: {ver}")
    datasets: dict[str, Path] = {}
    t0 = time.perf_counter()
    if args.files:
        small = work / "small" / "overlay"
        n = make_small(small, args.files, args.size)
        datasets["small"] = small
        print(f"small: {n} files x {args.size} B (+ zarr metadata and .meta)")
    if args.big_mb:
        big = work / "big" / "overlay"
        make_big(big, args.big_mb)
        datasets["big"] = big
        print(f"big: one file of {args.big_mb} MB")
    print(f"data written in {time.perf_counter() - t0:.1f} s; {args.repeat} round(s), {args.workers} workers, "
          f"synctui timed as {args.mode}; medians:", flush=True)

    results: dict = {}
    try:
        for kind in [k.strip() for k in args.servers.split(",") if k.strip()]:
            dav_root = work / f"dav-{kind}"
            dav_root.mkdir(exist_ok=True)
            try:
                server = (WsgiDavServer(str(dav_root), process=True) if kind == "wsgidav"
                          else NginxDav(str(dav_root), workers=2))
                server.start()
            except ServerUnavailable as exc:
                print(f"{kind}: not available ({exc})")
                continue
            try:
                bench_server(kind, server, dav_root, datasets, args, rclone, results)
            finally:
                server.stop()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
