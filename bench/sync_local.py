"""Time `synctui sync` against `rsync -a` and `cp -a` on the same local data.

For each data set (issue #18: (a) 20,000 zarr chunk files of 4-64 KiB, (b) 100,000,
(c) 20,000 plus three files of 100 MiB) generates a copick project, then times, in
rounds that interleave the tools, on the same data:

* ``synctui sync --no-progress`` (a subprocess, as users run it): first copy into an
  empty target, then a no-op resync; with its default durability (fsync before
  rename) and with ``--no-fsync``;
* ``rsync -a`` and ``rsync -a --fsync``, first copy and no-op (skipped with a message
  when rsync is missing);
* ``cp -a`` first copy, the floor.

Prints the median of ``--repeat`` rounds, the ratios synctui/rsync (durable against
durable, and without fsync against plain rsync) and synctui's peak RSS
(``/usr/bin/time -v`` when present, else getrusage).
``--profile`` runs one first copy and one no-op in-process under cProfile
(worker threads included) and prints where the time goes.

    python bench/sync_local.py [--sets a,b,c] [--small] [--repeat N] [--workers N]
                               [--files N [--big N] [--big-mb MB]] [--dir DIR] [--keep] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GNU_TIME = "/usr/bin/time"
CHUNKS_PER_STORE = 512  # 8x8x8 chunk keys per zarr level 0


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


# -- data -------------------------------------------------------------------------------------

def generate(root: Path, n_files: int, n_big: int, big_mb: int, seed: int = 1) -> tuple[int, int]:
    """A copick overlay below ``root``: zarr stores of 4-64 KiB chunks, picks, and big files."""
    rng = random.Random(seed)
    pool = os.urandom(64 << 20)  # slices of one random pool: incompressible, fast to make
    made = size = 0

    def put(rel: str, data: bytes | memoryview) -> None:
        nonlocal made, size
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        made += 1
        size += len(data)

    view = memoryview(pool)
    run = 0
    while made < n_files:
        run_dir = f"ExperimentRuns/TS_{run:04d}"
        put(f"{run_dir}/.meta", b"meta")
        put(f"{run_dir}/VoxelSpacing10.000/.meta", b"meta")
        for user in ("alice", "bob"):
            points = [{"location": {"x": rng.uniform(0, 5000), "y": rng.uniform(0, 5000), "z": rng.uniform(0, 2000)},
                       "instance_id": 0, "score": 1.0} for _ in range(200)]
            put(f"{run_dir}/Picks/{user}_1_ribosome.json", json.dumps(
                {"pickable_object_name": "ribosome", "user_id": user, "session_id": "1", "run_name": f"TS_{run:04d}",
                 "voxel_spacing": 10.0, "unit": "angstrom", "points": points}, indent=4).encode())
        store = f"{run_dir}/VoxelSpacing10.000/wbp.zarr"
        put(f"{store}/.zgroup", b'{"zarr_format": 2}')
        put(f"{store}/.zattrs", b'{"multiscales": [{"version": "0.4"}]}')
        put(f"{store}/0/.zarray", json.dumps({"zarr_format": 2, "chunks": [256, 256, 256],
                                              "dimension_separator": "/"}).encode())
        for i in range(min(CHUNKS_PER_STORE, max(0, n_files - made))):
            n = rng.randint(4 << 10, 64 << 10)
            off = rng.randrange(0, len(pool) - n)
            put(f"{store}/0/{i // 64}/{(i // 8) % 8}/{i % 8}", view[off:off + n])
        run += 1
    if n_big:
        store = "ExperimentRuns/TS_0000/VoxelSpacing10.000/big.zarr"
        put(f"{store}/.zgroup", b'{"zarr_format": 2}')
        put(f"{store}/0/.zarray", b'{"zarr_format": 2, "dimension_separator": "/"}')
        for i in range(n_big):
            path = root / f"{store}/0/0/0/{i}"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                left = big_mb << 20
                while left:
                    n = min(left, len(pool))
                    fh.write(view[:n])
                    left -= n
            made += 1
            size += big_mb << 20
    return made, size


def write_config(path: Path, overlay: Path, name: str) -> None:
    path.write_text(json.dumps({
        "name": name, "pickable_objects": [{"name": "ribosome", "is_particle": True, "label": 1}],
        "overlay_root": f"local://{overlay}"}, indent=4))


def tree_stats(root: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".synctui")]
        for fn in filenames:
            if fn.startswith(".synctui"):
                continue
            files += 1
            size += os.stat(os.path.join(dirpath, fn)).st_size
    return files, size


# -- timing -----------------------------------------------------------------------------------

class Runner:
    def __init__(self, work: Path, workers: int) -> None:
        self.work = work
        self.workers = workers
        self.gnu_time = os.path.exists(GNU_TIME) and _gnu_time_works()
        self.peak_kib = 0
        self.runs = 0
        self.cpu: list[float] = []

    def timed(self, cmd: list[str], *, env: dict[str, str] | None = None, measure_rss: bool = False) -> float:
        full = [GNU_TIME, "-v", *cmd] if measure_rss and self.gnu_time else cmd
        os.sync()  # start clean: the last run's dirty pages must not throttle this one
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(full, capture_output=True, text=True, env=env)
        took = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds (user + system) of the tool and its children: what a busy machine
        # inflates least (wall time includes waiting for the other tenants)
        self.cpu.append((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime))
        if res.returncode != 0:
            sys.exit(f"failed ({res.returncode}): {shlex.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
        if measure_rss:
            if self.gnu_time:
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
                if m:
                    self.peak_kib = max(self.peak_kib, int(m.group(1)))
            else:
                # ru_maxrss of children is in KiB on Linux and covers every child so far;
                # synctui is the largest child we run, so this is its peak
                self.peak_kib = max(self.peak_kib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        return took

    def fresh(self, name: str) -> Path:
        target = self.work / name
        if target.exists():
            shutil.rmtree(target)
        return target

    def synctui(self, src_cfg: Path, fsync: bool) -> tuple[float, float]:
        self.runs += 1
        overlay = self.fresh("dst-synctui")
        overlay.mkdir()
        cfg = self.work / "target.json"
        write_config(cfg, overlay, "bench target")
        env = dict(os.environ, SYNCTUI_STATE_DIR=str(self.work / f"state-{self.runs}"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed synctui has its bytecode
        cmd = [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", str(src_cfg), "-t", str(cfg),
               "--max-workers", str(self.workers)] + ([] if fsync else ["--no-fsync"])
        first = self.timed(cmd, env=env, measure_rss=fsync)
        noop = self.timed(cmd, env=env, measure_rss=fsync)
        return first, noop

    def rsync(self, src: Path, fsync: bool = False) -> tuple[float, float]:
        dst = self.fresh("dst-rsync")
        cmd = ["rsync", "-a", *(["--fsync"] if fsync else []), f"{src}/", f"{dst}/"]
        return self.timed(cmd), self.timed(cmd)

    def cp(self, src: Path) -> float:
        dst = self.fresh("dst-cp")
        return self.timed(["cp", "-a", str(src), str(dst)])


def _gnu_time_works() -> bool:
    try:
        res = subprocess.run([GNU_TIME, "-v", "true"], capture_output=True, text=True)
    except OSError:
        return False
    return "Maximum resident set size" in res.stderr


# -- profiling --------------------------------------------------------------------------------

def profile(src_cfg: Path, work: Path, workers: int, top: int = 25) -> None:
    """cProfile one first copy and one no-op in-process, worker threads included."""
    import cProfile
    import io
    import pstats
    import threading

    from synctui.cli import main
    from synctui.sync import engine

    profiles: list[cProfile.Profile] = []
    local = threading.local()
    originals = {"_do_file": engine.Engine._do_file, "_do_batch": engine.Engine._do_batch}

    def wrap(original):
        def profiled(self, *a, **kw):  # each worker thread gets its own profiler
            prof = getattr(local, "prof", None)
            if prof is None:
                prof = local.prof = cProfile.Profile()
                profiles.append(prof)
            if getattr(local, "depth", 0):
                return original(self, *a, **kw)
            local.depth = 1
            prof.enable()
            try:
                return original(self, *a, **kw)
            finally:
                prof.disable()
                local.depth = 0
        return profiled

    for name, fn in originals.items():
        setattr(engine.Engine, name, wrap(fn))
    try:
        for label in ("first copy", "no-op"):
            if label == "first copy":
                overlay = work / "dst-profile"
                if overlay.exists():
                    shutil.rmtree(overlay)
                overlay.mkdir()
                write_config(work / "profile-target.json", overlay, "profile target")
            os.environ["SYNCTUI_STATE_DIR"] = str(work / "state-profile")
            profiles.clear()
            main_prof = cProfile.Profile()
            t0 = time.perf_counter()
            main_prof.enable()
            code = main(["sync", "--no-progress", "-s", str(src_cfg), "-t", str(work / "profile-target.json"),
                         "--max-workers", str(workers)])
            main_prof.disable()
            took = time.perf_counter() - t0
            print(f"\n=== profile: {label} (exit {code}, {took:.2f} s wall, {workers} workers) ===")
            for what, profs in (("main thread (scan, plan, orchestration)", [main_prof]),
                                (f"worker threads (summed over {len(profiles)})", profiles)):
                if not profs or not any(p.getstats() for p in profs):
                    print(f"--- {what}: nothing recorded")
                    continue
                buf = io.StringIO()
                stats = pstats.Stats(profs[0], stream=buf)
                for p in profs[1:]:
                    stats.add(p)
                stats.sort_stats("tottime").print_stats(top)
                print(f"--- {what}, by own time:")
                print("\n".join(buf.getvalue().splitlines()[-(top + 3):]))
    finally:
        for name, fn in originals.items():
            setattr(engine.Engine, name, fn)


# -- main -------------------------------------------------------------------------------------

#: the data sets of issue #18: (name, small files, big files, MiB each)
SETS = {"a": ("a: 20k small files", 20_000, 0, 0), "b": ("b: 100k small files", 100_000, 0, 0),
        "c": ("c: 20k small + 3 x 100 MiB", 20_000, 3, 100)}
SMALL_SETS = {"a": ("a (--small): 2k small files", 2_000, 0, 0), "b": ("b (--small): 5k small files", 5_000, 0, 0),
              "c": ("c (--small): 2k small + 3 x 10 MiB", 2_000, 3, 10)}


def run_set(work: Path, label: str, n_files: int, n_big: int, big_mb: int, args: argparse.Namespace) -> None:
    src = work / "src"
    t0 = time.perf_counter()
    if src.exists():
        shutil.rmtree(src)
    n, size = generate(src, n_files, n_big, big_mb)
    src_cfg = work / "source.json"
    write_config(src_cfg, src, "bench source")
    print(f"\n== {label}: {n:,} files, {human(size)} (made in {time.perf_counter() - t0:.1f} s)")
    runner = Runner(work, args.workers)
    have_rsync = shutil.which("rsync") is not None
    if not have_rsync:
        print("rsync is not installed (apt-get install rsync): skipping the rsync rows")
    results: dict[str, list[tuple[float, float | None]]] = {}
    cpu: dict[str, list[tuple[float, float | None]]] = {}

    def record(name: str, fn, *a, **kw) -> None:
        n0 = len(runner.cpu)
        got = fn(*a, **kw)
        got = got if isinstance(got, tuple) else (got, None)
        results.setdefault(name, []).append(got)
        c = runner.cpu[n0:]
        cpu.setdefault(name, []).append((c[0], c[1] if len(c) > 1 else None))

    for rep in range(args.repeat):  # interleaved: each tool once per round
        record("cp -a", runner.cp, src)
        if have_rsync:
            record("rsync -a", runner.rsync, src)
            record("rsync -a --fsync", runner.rsync, src, fsync=True)
        record("synctui", runner.synctui, src_cfg, fsync=True)
        record("synctui --no-fsync", runner.synctui, src_cfg, fsync=False)
        print(f"  round {rep + 1}/{args.repeat}: " + ", ".join(
            f"{k} {v[-1][0]:.2f}/{'-' if v[-1][1] is None else f'{v[-1][1]:.2f}'}" for k, v in results.items()))
    got = tree_stats(work / "dst-synctui")
    if got != (n, size):
        print(f"WARNING: synctui's target has {got[0]} files / {got[1]} bytes, expected {n} / {size}")

    def medians(rows: list[tuple[float, float | None]]) -> tuple[float, float | None]:
        noops = [r[1] for r in rows if r[1] is not None]
        return statistics.median(r[0] for r in rows), (statistics.median(noops) if noops else None)

    med = {name: medians(rows) for name, rows in results.items()}
    med_cpu = {name: medians(rows) for name, rows in cpu.items()}
    print(f"{'':22} {'first copy':>11} {'no-op':>9} {'cpu first':>10} {'cpu no-op':>10}   (medians of {args.repeat})")
    for name, (first, noop) in med.items():
        c_first, c_noop = med_cpu[name]
        print(f"{name:22} {first:10.2f}s {'-' if noop is None else f'{noop:8.2f}s':>9} {c_first:9.2f}s "
              f"{'-' if c_noop is None else f'{c_noop:9.2f}s':>10}   ({human(size / first)}/s)")
    if have_rsync:
        for name, ref in (("synctui", "rsync -a"), ("synctui", "rsync -a --fsync"),
                          ("synctui --no-fsync", "rsync -a")):
            for what, table in (("wall", med), ("cpu", med_cpu)):
                (s_first, s_noop), (r_first, r_noop) = table[name], table[ref]
                noop = f", no-op {s_noop / r_noop:.2f}x" if s_noop and r_noop else ""
                print(f"ratio {name} / {ref} ({what}): first copy {s_first / r_first:.2f}x{noop}")
        print(f"ratio synctui / cp -a (wall): first copy {med['synctui'][0] / med['cp -a'][0]:.2f}x")
    rss_how = "/usr/bin/time -v" if runner.gnu_time else "getrusage(RUSAGE_CHILDREN)"
    print(f"synctui peak RSS: {human(runner.peak_kib * 1024)} ({rss_how})")
    if args.profile:
        profile(src_cfg, work, args.workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="a,b,c",
                        help="data sets, comma-separated: a (20k small files), b (100k), c (20k + 3 x 100 MiB)")
    parser.add_argument("--files", type=int, help="instead of --sets: this many small files (with --big)")
    parser.add_argument("--big", type=int, default=0, help="with --files: big files (default 0)")
    parser.add_argument("--big-mb", type=int, default=100, help="with --files: MiB per big file (default 100)")
    parser.add_argument("--small", action="store_true", help="a quick check: the sets at a tenth of the size, one round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds to take the median of (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="synctui --max-workers (default 4)")
    parser.add_argument("--dir", type=Path, help="work here instead of a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--profile", action="store_true", help="also profile synctui in-process (cProfile)")
    args = parser.parse_args(argv)
    if args.small:
        args.repeat = 1 if args.repeat == 3 else args.repeat
    table = SMALL_SETS if args.small else SETS
    if args.files:
        sets = [(f"{args.files:,} small + {args.big} x {args.big_mb} MiB", args.files, args.big, args.big_mb)]
    else:
        sets = [table[k.strip()] for k in args.sets.split(",") if k.strip()]

    work = args.dir or Path(tempfile.mkdtemp(prefix="synctui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"command: {shlex.join([sys.executable, *sys.argv])}")
        print(f"cpus: {os.cpu_count()}, synctui --max-workers {args.workers}, median of {args.repeat}, "
              "tools interleaved; each run after os.sync(), into a fresh target")
        for label, n_files, n_big, big_mb in sets:
            run_set(work, label, n_files, n_big, big_mb, args)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
