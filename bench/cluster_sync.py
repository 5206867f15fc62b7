"""One plan on 1, 2 and 4 Dask worker processes vs the single-process engine and rsync.

SSH to a throwaway OpenSSH sshd on loopback (tests/integration/sshd_server.py),
local source -> SSH target, each run into a fresh target folder:

* many small files: ``--files`` x 32 KiB (default 20,000) as zarr v2 chunk keys,
  one 517-file tomogram per run (so one entity per run: units are whole entities);
* big files: ``--big`` files of ``--big-mb`` MB (default 4 x 512 MB), one tomogram
  per run, so each is a unit alone.

Tools, interleaved within each repetition so a busy neighbour hurts them alike:
``rsync -a -e ssh``; ``engine`` (SyncJob in this process, ``-j`` transfer threads);
``cluster-N`` (the same SyncJob with ``JobOptions.cluster`` = a Client of a
``LocalCluster`` of N worker processes, one unit at a time each, ``-j`` threads per
unit).  The clusters are started once, before timing; their start-up time is
printed separately.  Figures are medians of ``--repeat`` runs; speed-up is the
engine's time / this time.  The load average is printed before and after: on a
shared machine it says how much the figures can be trusted.

    python bench/cluster_sync.py            # 20,000 x 32 KiB and 4 x 512 MB
    python bench/cluster_sync.py --small    # 2,000 x 32 KiB and 4 x 32 MB (a quick check)
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
sys.path.insert(0, str(HERE))

from ssh_sync import MTIME, config, small_layout, verify, write_files  # noqa: E402
from sshd_server import ServerUnavailable, SSHServer, make_server  # noqa: E402


def write_bigs(root: Path, count: int, megabytes: int) -> int:
    """``count`` tomograms of one ``megabytes`` MB chunk each, one per run."""
    block = os.urandom(1 << 20)
    for n in range(count):
        store = root / f"ExperimentRuns/TS_big{n}/VoxelSpacing10.000/wbp.zarr"
        (store / "0/0/0").mkdir(parents=True, exist_ok=True)
        (store / ".zgroup").write_bytes(b'{"zarr_format": 2}')
        (store / "0/.zarray").write_bytes(b'{"zarr_format": 2}')
        with open(store / "0/0/0/0", "wb") as fh:
            for i in range(megabytes):
                fh.write(block[(i + n) % 251:] + block[: (i + n) % 251])
    for p in root.rglob("*"):
        os.utime(p, (MTIME, MTIME))
    return count * (megabytes << 20)


class Tools:
    def __init__(self, server: SSHServer, work: Path, threads: int) -> None:
        self.server, self.work, self.threads = server, work, threads
        self.known_hosts = server.write_known_hosts(work / "known_hosts")
        self.counter = 0
        self.clusters: dict[int, tuple[Any, Any]] = {}
        self.ssh_cmd = (f"ssh -p {server.port} -i {server.user_key} -o BatchMode=yes "
                        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={self.known_hosts}")

    def fresh(self, tool: str) -> Path:
        self.counter += 1
        target = self.work / "targets" / f"{tool}-{self.counter}"
        target.mkdir(parents=True)
        return target

    def start_cluster(self, n: int) -> float:
        import distributed

        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=":0",
                                           silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
        client.wait_for_workers(n, timeout=120)
        self.clusters[n] = (cluster, client)
        return time.perf_counter() - t0

    def close(self) -> None:
        for cluster, client in self.clusters.values():
            client.close()
            cluster.close()

    def synctui(self, src: Path, dst: Path, workers: int | None) -> Callable[[], None]:
        from synctui.sync.api import JobOptions, SyncJob

        src_cfg = config(dst.parent / f"{dst.name}-src.json", f"local://{src}")
        dst_cfg = config(dst.parent / f"{dst.name}-dst.json", f"ssh://{dst}",
                         self.server.fs_args(self.known_hosts))
        cluster = self.clusters[workers][1] if workers else None

        def run() -> None:
            with SyncJob(str(src_cfg), str(dst_cfg),
                         job_options=JobOptions(max_workers=self.threads, fsync=False,
                                                cluster=cluster)) as job:
                summary = job.run()
            if summary.errors:
                raise RuntimeError(f"synctui: {summary.errors[:3]}")

        return run

    def rsync(self, src: Path, dst: Path) -> Callable[[], None]:
        cmd = ["rsync", "-a", "-e", self.ssh_cmd, f"{src}/", f"{self.server.user}@127.0.0.1:{dst}/"]

        def run() -> None:
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"rsync exited {res.returncode}: {res.stderr.strip()[-300:]}")

        return run


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20000, help="small files (default 20000)")
    ap.add_argument("--big", type=int, default=4, help="big files (default 4)")
    ap.add_argument("--big-mb", type=int, default=512, help="MB per big file (default 512)")
    ap.add_argument("--small", action="store_true", help="a quick run: 2,000 small files, 4 x 32 MB")
    ap.add_argument("--workers", default="1,2,4", help="cluster sizes (default 1,2,4)")
    ap.add_argument("-j", "--threads", type=int, default=4, help="transfer threads per unit / engine (default 4)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; medians (default 3)")
    ap.add_argument("--no-rsync", action="store_true")
    ap.add_argument("--dir", help="work folder (default: a temp folder, removed afterwards)")
    args = ap.parse_args(argv)
    if args.small:
        args.files, args.big_mb = 2000, 32
    sizes = [int(n) for n in args.workers.split(",") if n.strip()]
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="synctui-bench-cluster-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["SYNCTUI_STATE_DIR"] = str(work / "state")
    try:
        try:
            server = make_server(work / "sshd")
        except ServerUnavailable as exc:
            print(f"cannot start sshd: {exc}")
            return 2
        tools = Tools(server, work, args.threads)
        try:
            return run_all(args, sizes, work, tools)
        finally:
            tools.close()
            server.stop()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


def run_all(args: argparse.Namespace, sizes: list[int], work: Path, tools: Tools) -> int:
    small, big = work / "src-small", work / "src-big"
    small_bytes = write_files(small, small_layout(args.files), 32 * 1024)
    big_bytes = write_bigs(big, args.big, args.big_mb) if args.big and args.big_mb else 0
    print(f"data: {args.files} x 32 KiB ({small_bytes / 1e6:.0f} MB), {args.big} x {args.big_mb} MB; "
          f"{os.cpu_count()} CPUs; -j {args.threads}; load average before: {load()}")
    for n in sizes:
        print(f"LocalCluster of {n} worker process(es) started in {tools.start_cluster(n):.1f} s")
    names = (["rsync"] if not args.no_rsync and shutil.which("rsync") else []) + ["engine"] + \
        [f"cluster-{n}" for n in sizes]
    times: dict[tuple[str, str], list[float]] = {}
    for rep in range(args.repeat):
        for name in names:
            for case, src in (("small", small), ("big", big)):
                if case == "big" and not big_bytes:
                    continue
                dst = tools.fresh(f"{name}-{case}")
                if name == "rsync":
                    run = tools.rsync(src, dst)
                else:
                    run = tools.synctui(src, dst, None if name == "engine" else int(name.split("-")[1]))
                t0 = time.perf_counter()
                run()
                took = time.perf_counter() - t0
                verify(src, dst)
                times.setdefault((name, case), []).append(took)
                print(f"  run {rep + 1}/{args.repeat} {name:<10} {case:<5} {took:7.2f} s  (load {load()})")
                shutil.rmtree(dst, ignore_errors=True)

    def med(name: str, case: str) -> float | None:
        v = times.get((name, case))
        return statistics.median(v) if v else None

    print()
    print(f"medians of {args.repeat}; speed-up = engine's time / this time; load average after: {load()}")
    print(f"{'tool':<11} {'small':>9} {'files/s':>8} {'speed-up':>8}   {'big':>9} {'MB/s':>6} {'speed-up':>8}")
    for name in names:
        row = f"{name:<11}"
        for case, amount in (("small", args.files), ("big", big_bytes / 1e6)):
            t, base = med(name, case), med("engine", case)
            if t is None:
                row += f" {'-':>9} {'-':>8} {'-':>8}  " if case == "small" else ""
                continue
            rate = f"{amount / t:.0f}"
            up = f"{base / t:.2f}x" if base else "-"
            row += f" {t:8.2f}s {rate:>8} {up:>8}  " if case == "small" else f" {t:8.2f}s {rate:>6} {up:>8}"
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
