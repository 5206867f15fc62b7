"""Time synctui against rsync and rclone over SSH, on loopback, on the same data.

Starts a throwaway OpenSSH sshd on 127.0.0.1 (generated keys, see
tests/integration/sshd_server.py) and times, each into a fresh target folder:

* many small files: ``--files`` x ``--size`` bytes (default 5,000 x 32 KiB) laid
  out like a copick project (zarr v2 chunk keys under runs): first copy, then a
  no-op second run;
* one big file (default 512 MB): first copy.

Tools: synctui through its Python API (``SyncJob``, in-process) and through its
CLI (a fresh process, like the others); "synctui-batch" plans with SyncJob and
then writes with the SFTP store's batch API (``write_many``: one tar stream, then
pipelined renames), which the engine does not call yet; ``rsync -a -e ssh`` and ``rclone copy``
with the sftp backend (skipped with a message when rclone is not installed;
``--rclone-timeout`` caps its famously slow many-files copy).  With ``--repeat N``
each figure is the median of N runs.  Ratios are time / rsync's time (< 1 is
faster than rsync); for the big file also throughput vs rsync's (> 1 is faster).

    python bench/ssh_sync.py                          # the full run (several minutes)
    python bench/ssh_sync.py --small                  # a quick one
    python bench/ssh_sync.py --rtt-ms 20              # through bench/delay_proxy.py (20 ms RTT)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from sshd_server import ServerUnavailable, SSHServer, make_server  # noqa: E402

MTIME = 1_700_000_000
OBJECTS = [{"name": "ribosome", "is_particle": True, "label": 1}]


# -- data --------------------------------------------------------------------------


def small_layout(n_files: int) -> list[str]:
    """``n_files`` paths: runs of one zarr v2 tomogram each (8x8x8 chunks + metadata)."""
    paths: list[str] = []
    run = 0
    while len(paths) < n_files:
        store = f"ExperimentRuns/TS_{run:03d}/VoxelSpacing10.000/wbp.zarr"
        batch = [f"ExperimentRuns/TS_{run:03d}/.meta", f"ExperimentRuns/TS_{run:03d}/VoxelSpacing10.000/.meta",
                 f"{store}/.zgroup", f"{store}/.zattrs", f"{store}/0/.zarray"]
        batch += [f"{store}/0/{z}/{y}/{x}" for z in range(8) for y in range(8) for x in range(8)]
        paths.extend(batch[: n_files - len(paths)])
        run += 1
    return paths


def write_files(root: Path, paths: list[str], size: int) -> int:
    block = os.urandom(size)
    total = 0
    for i, rel in enumerate(paths):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        data = b"meta" if rel.endswith(".meta") else (
            b'{"zarr_format": 2}' if "/.z" in rel else block[i % 97:] + block[: i % 97])
        p.write_bytes(data)
        os.utime(p, (MTIME, MTIME))
        total += len(data)
    return total


def write_big(root: Path, megabytes: int) -> int:
    store = root / "ExperimentRuns/TS_big/VoxelSpacing10.000/wbp.zarr"
    (store / "0/0/0").mkdir(parents=True, exist_ok=True)
    (store / ".zgroup").write_bytes(b'{"zarr_format": 2}')
    (store / "0/.zarray").write_bytes(b'{"zarr_format": 2}')
    block = os.urandom(1 << 20)
    with open(store / "0/0/0/0", "wb") as fh:
        for i in range(megabytes):
            fh.write(block[i % 251:] + block[: i % 251])
    for p in root.rglob("*"):
        os.utime(p, (MTIME, MTIME))
    return megabytes << 20


def config(path: Path, root: str, fs_args: dict | None = None) -> Path:
    cfg = {"name": path.stem, "pickable_objects": OBJECTS, "overlay_root": root}
    if fs_args:
        cfg["overlay_fs_args"] = fs_args
    path.write_text(json.dumps(cfg, indent=2))
    return path


# -- tools ----------------------------------------------------------------------------


class Bench:
    def __init__(self, server: SSHServer, work: Path, known_hosts: Path, workers: int,
                 rclone_timeout: float, port: int | None = None) -> None:
        self.server = server
        self.port = port or server.port  # the delay proxy's, with --rtt-ms
        self.work = work
        self.known_hosts = known_hosts
        self.workers = workers
        self.rclone_timeout = rclone_timeout
        self.counter = 0
        self.ssh_cmd = (f"ssh -p {self.port} -i {server.user_key} -o BatchMode=yes "
                        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts}")
        self.env = dict(os.environ, SYNCTUI_STATE_DIR=str(work / "state"), HOME=str(work / "home"))
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed synctui has its bytecode
        (work / "home" / ".ssh").mkdir(parents=True, exist_ok=True)

    def fresh(self, tool: str) -> Path:
        self.counter += 1
        target = self.work / "targets" / f"{tool}-{self.counter}"
        target.mkdir(parents=True)
        return target

    def fs_args(self) -> dict:
        return self.server.fs_args(self.known_hosts, port=self.port)

    # each returns a callable that runs one sync of ``src`` into ``dst``
    def synctui_api(self, src: Path, dst: Path) -> Callable[[], None]:
        src_cfg = config(dst.parent / f"{dst.name}-src.json", f"local://{src}")
        dst_cfg = config(dst.parent / f"{dst.name}-dst.json", f"ssh://{dst}", self.fs_args())

        def run() -> None:
            from synctui.sync.api import JobOptions, SyncJob

            old = dict(os.environ)
            os.environ.update(self.env)
            try:
                job = SyncJob(str(src_cfg), str(dst_cfg),
                              job_options=JobOptions(max_workers=self.workers, fsync=False))
                summary = job.run()
                for cat in (job.source, job.target):
                    for store in cat.stores.values():
                        store.close()
            finally:
                os.environ.clear()
                os.environ.update(old)
            if summary.errors:
                raise RuntimeError(f"synctui: {summary.errors[:3]}")

        return run

    def synctui_batch(self, src: Path, dst: Path) -> Callable[[], None]:
        """What the engine would do with the store's batch API: plan with SyncJob,
        then write every planned file with ``SFTPStore.write_many`` (no locks, no state)."""
        src_cfg = config(dst.parent / f"{dst.name}-src.json", f"local://{src}")
        dst_cfg = config(dst.parent / f"{dst.name}-dst.json", f"ssh://{dst}", self.fs_args())

        def run() -> None:
            from synctui.sync.api import JobOptions, SyncJob
            from synctui.sync.plan import Act

            old = dict(os.environ)
            os.environ.update(self.env)
            try:
                job = SyncJob(str(src_cfg), str(dst_cfg),
                              job_options=JobOptions(max_workers=self.workers, fsync=False,
                                                     use_state=False, use_locks=False))
                plan = job.plan()
                source, target = job.source.stores["overlay"], job.target.stores["overlay"]
                batch: list[tuple[str, bytes, int | None]] = []
                size = 0
                errors = []
                for _, fa in plan.file_actions():
                    if fa.action is Act.DELETE or fa.source_path is None:
                        continue
                    if fa.size >= 8 << 20:  # big files stream, as the engine does
                        from synctui.storage.base import read_stream

                        target.write_atomic(fa.target_path, read_stream(source.open_read(fa.source_path)),
                                            mtime_ns=fa.src_mtime_ns)
                        continue
                    data = source.read_bytes(fa.source_path)
                    batch.append((fa.target_path, data, fa.src_mtime_ns))
                    size += len(data)
                    if size > 64 << 20:
                        errors += [r for r in target.write_many(batch) if isinstance(r, Exception)]
                        batch, size = [], 0
                if batch:
                    errors += [r for r in target.write_many(batch) if isinstance(r, Exception)]
                for cat in (job.source, job.target):
                    for store in cat.stores.values():
                        store.close()
            finally:
                os.environ.clear()
                os.environ.update(old)
            if errors:
                raise RuntimeError(f"synctui batch: {errors[:3]}")

        return run

    def synctui_cli(self, src: Path, dst: Path) -> Callable[[], None]:
        src_cfg = config(dst.parent / f"{dst.name}-src.json", f"local://{src}")
        dst_cfg = config(dst.parent / f"{dst.name}-dst.json", f"ssh://{dst}", self.fs_args())
        cmd = [sys.executable, "-m", "synctui", "sync", "--no-progress", "-s", str(src_cfg),
               "-t", str(dst_cfg), "-j", str(self.workers)]
        return lambda: _check(subprocess.run(cmd, capture_output=True, text=True, env=self.env))

    def rsync(self, src: Path, dst: Path) -> Callable[[], None]:
        cmd = ["rsync", "-a", "-e", self.ssh_cmd, f"{src}/", f"{self.server.user}@127.0.0.1:{dst}/"]
        return lambda: _check(subprocess.run(cmd, capture_output=True, text=True, env=self.env))

    def rclone(self, src: Path, dst: Path) -> Callable[[], None]:
        env = dict(self.env, RCLONE_CONFIG_BENCH_TYPE="sftp", RCLONE_CONFIG_BENCH_HOST="127.0.0.1",
                   RCLONE_CONFIG_BENCH_PORT=str(self.port),
                   RCLONE_CONFIG_BENCH_USER=self.server.user,
                   RCLONE_CONFIG_BENCH_KEY_FILE=str(self.server.user_key),
                   RCLONE_CONFIG_BENCH_KNOWN_HOSTS_FILE=str(self.known_hosts),
                   RCLONE_CONFIG="/dev/null")
        cmd = ["rclone", "copy", str(src), f"bench:{dst}"]

        def run() -> None:
            try:
                _check(subprocess.run(cmd, capture_output=True, text=True, env=env,
                                      timeout=self.rclone_timeout))
            except subprocess.TimeoutExpired:
                raise TimedOut(self.rclone_timeout) from None

        return run


class TimedOut(Exception):
    def __init__(self, limit: float) -> None:
        super().__init__(f"> {limit:.0f} s")
        self.limit = limit


def _check(res: subprocess.CompletedProcess) -> None:
    if res.returncode != 0:
        raise RuntimeError(f"{res.args[0]} exited {res.returncode}: {(res.stderr or '').strip()[-500:]}")


#: client CPU seconds (this process and its children, user + system) of each timed run,
#: in order: what a busy machine inflates least.  The server side (sshd, tar, rsync
#: --server) is not in it, for any tool.
CPU: list[float] = []


def _cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def timed(fn: Callable[[], None]) -> float:
    c0 = _cpu()
    t0 = time.perf_counter()
    fn()
    took = time.perf_counter() - t0
    CPU.append(_cpu() - c0)
    return took


def verify(src: Path, dst: Path) -> None:
    """The target holds every source file with its bytes and whole-second mtime."""
    for p in src.rglob("*"):
        if p.is_file():
            q = dst / p.relative_to(src)
            if not q.is_file() or q.stat().st_size != p.stat().st_size:
                raise RuntimeError(f"{q} missing or wrong size")
            if int(q.stat().st_mtime) != int(p.stat().st_mtime):
                raise RuntimeError(f"{q}: mtime not kept")


# -- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="5000x32768,20000x4096",
                    help="small-file data sets, FILESxBYTES comma-separated (default 5000x32768,20000x4096)")
    ap.add_argument("--files", type=int, help="one data set of this many files (with --size)")
    ap.add_argument("--size", type=int, default=32 * 1024, help="bytes per small file with --files (default 32 KiB)")
    ap.add_argument("--big-mb", type=int, default=512, help="size of the big file in MB (0 skips it)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; medians are printed (default 3)")
    ap.add_argument("--rtt-ms", type=float, default=0.0,
                    help="go through bench/delay_proxy.py with this round-trip time (e.g. 20)")
    ap.add_argument("--small", action="store_true",
                    help="a quick check: 500 x 32 KiB and 2000 x 4 KiB, a 32 MB file, one run")
    ap.add_argument("--workers", "-j", type=int, default=4, help="synctui --max-workers (default 4)")
    ap.add_argument("--tools", default="synctui-api,synctui-cli,rsync,rclone",
                    help="comma-separated subset of synctui-api,synctui-cli,synctui-batch,rsync,rclone "
                         "(synctui-batch: plan, then the store's write_many - the batch API the "
                         "engine does not use yet)")
    ap.add_argument("--rclone-timeout", type=float, default=120.0,
                    help="give up on one rclone run after this many seconds (default 120)")
    ap.add_argument("--sftp-server", choices=("internal", "external"), default="internal",
                    help="sshd's internal-sftp, or sftp-server started through the login shell")
    ap.add_argument("--dir", help="work folder (default: a temp folder, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)
    if args.small:
        args.sets, args.big_mb, args.repeat = "500x32768,2000x4096", min(args.big_mb, 32), 1
    if args.files:
        args.sets = f"{args.files}x{args.size}"

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if "rclone" in tools and not shutil.which("rclone"):
        print("rclone is not installed: skipping it (apt-get install rclone)")
        tools.remove("rclone")
    if "rsync" in tools and not shutil.which("rsync"):
        print("rsync is not installed: skipping it, and ratios are not computed")
        tools.remove("rsync")
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="synctui-bench-ssh-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        try:
            server = make_server(work / "sshd", sftp=args.sftp_server)
        except ServerUnavailable as exc:
            print(f"cannot start sshd: {exc}")
            return 2
        try:
            return run_all(args, tools, work, server)
        finally:
            server.stop()
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)


def start_proxy(port: int, rtt_ms: float) -> tuple[subprocess.Popen, int]:
    """bench/delay_proxy.py in front of ``port``, each direction delayed by half ``rtt_ms``."""
    proc = subprocess.Popen([sys.executable, str(HERE / "delay_proxy.py"), "--to", f"127.0.0.1:{port}",
                             "--delay-ms", str(rtt_ms / 2)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the delay proxy did not start: {line!r}")
    return proc, int(line.split()[-1])


def run_all(args: argparse.Namespace, tools: list[str], work: Path, server: SSHServer) -> int:
    kh = server.write_known_hosts(work / "known_hosts")
    proxy = None
    port = server.port
    if args.rtt_ms:
        proxy, port = start_proxy(server.port, args.rtt_ms)
        kh.write_text(server.known_hosts_line + server.known_hosts_line.replace(f":{server.port} ", f":{port} "))
    try:
        return _run_sets(args, tools, work, server, Bench(server, work, kh, args.workers, args.rclone_timeout,
                                                            port=port))
    finally:
        if proxy is not None:
            proxy.kill()
            proxy.wait()


def _run_sets(args: argparse.Namespace, tools: list[str], work: Path, server: SSHServer, bench: Bench) -> int:
    sets = []
    for spec in args.sets.split(","):
        n, _, size = spec.strip().partition("x")
        sets.append((int(n), int(size)))
    link = f"through the delay proxy, {args.rtt_ms:g} ms RTT" if args.rtt_ms else "loopback"
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"sshd {server.port} ({args.sftp_server} sftp), {link}; synctui workers {args.workers}; "
          f"{os.cpu_count()} CPUs; medians of {args.repeat}, tools interleaved")
    makers = {"synctui-api": bench.synctui_api, "synctui-cli": bench.synctui_cli,
              "synctui-batch": bench.synctui_batch,
              "rsync": bench.rsync, "rclone": bench.rclone}
    for n_files, size in sets:
        small = work / f"src-{n_files}x{size}"
        t0 = time.perf_counter()
        nbytes = write_files(small, small_layout(n_files), size)
        print(f"\ndata: {n_files} files x {size} B, {nbytes / 1e6:.1f} MB (made in {time.perf_counter() - t0:.1f} s)")
        results: dict[str, dict[str, list[float] | str]] = {t: {} for t in tools}
        for rep in range(args.repeat):
            for tool in tools:
                res = results[tool]
                if isinstance(res.get("first"), str):
                    continue  # timed out or failed once: not again
                dst = bench.fresh(tool)
                run = makers[tool](small, dst)
                try:
                    res.setdefault("first", []).append(timed(run))  # type: ignore[union-attr]
                    res.setdefault("cpu first", []).append(CPU[-1])  # type: ignore[union-attr]
                    verify(small, dst)
                    res.setdefault("noop", []).append(timed(run))  # type: ignore[union-attr]
                    res.setdefault("cpu noop", []).append(CPU[-1])  # type: ignore[union-attr]
                except TimedOut as exc:
                    res["first"] = f"> {exc.limit:.0f} s"
                    res["noop"] = "-"
                except RuntimeError as exc:
                    print(f"{tool}: {exc}")
                    res["first"] = res["noop"] = "failed"
                shutil.rmtree(dst, ignore_errors=True)
                print(f"  run {rep + 1}/{args.repeat} {tool}: " + ", ".join(
                    f"{k} {v[-1]:.2f} s" if isinstance(v, list) else f"{k} {v}" for k, v in res.items()))
        print(f"{n_files} x {size} B ({nbytes / 1e6:.0f} MB), {link}; medians of {args.repeat}; "
              "ratio = time / rsync's (< 1 is faster)")
        _table(results, tools, ("first", "no-op"), ("first", "noop"))
        print("client CPU seconds (user + system, this side only):")
        _table(results, tools, ("cpu first", "cpu no-op"), ("cpu first", "cpu noop"))
        shutil.rmtree(small, ignore_errors=True)
    if args.big_mb:
        big = work / "src-big"
        big_bytes = write_big(big, args.big_mb)
        results = {t: {} for t in tools}
        for _ in range(args.repeat):
            for tool in tools:
                dst = bench.fresh(tool + "-big")
                try:
                    results[tool].setdefault("big", []).append(timed(makers[tool](big, dst)))  # type: ignore[union-attr]
                    verify(big, dst)
                except (TimedOut, RuntimeError) as exc:
                    print(f"{tool} (big file): {exc}")
                    results[tool]["big"] = "failed"
                shutil.rmtree(dst, ignore_errors=True)
        print(f"\none {args.big_mb} MB file, {link}; medians of {args.repeat}; "
              "throughput ratio = rsync's time / this time (>= 1 is as fast)")
        print(f"{'tool':<14} {'time':>9} {'MB/s':>8} {'ratio':>7}")
        for tool in tools:
            v = _med(results, tool, "big")
            rate = f"{big_bytes / 1e6 / v:.0f}" if isinstance(v, float) else "-"
            print(f"{tool:<14} {_fmt(v):>9} {rate:>8} {_ratio(results, tool, 'big', inverse=True):>7}")
    return 0


def _med(results: dict, tool: str, key: str) -> float | str:
    v = results[tool].get(key, "-")
    return statistics.median(v) if isinstance(v, list) and v else (v if isinstance(v, str) else "-")


def _ratio(results: dict, tool: str, key: str, inverse: bool = False) -> str:
    a = _med(results, tool, key)
    b = _med(results, "rsync", key) if "rsync" in results else None
    if not isinstance(a, float) or not isinstance(b, float) or a <= 0 or b <= 0:
        return "-"
    return f"{(b / a if inverse else a / b):.2f}x"


def _fmt(v: float | str) -> str:
    return f"{v:.2f} s" if isinstance(v, float) else str(v)


def _table(results: dict, tools: list[str], heads: tuple[str, str], keys: tuple[str, str]) -> None:
    print(f"{'tool':<14} {heads[0]:>10} {'ratio':>7} {heads[1]:>9} {'ratio':>7}")
    for tool in tools:
        print(f"{tool:<14} {_fmt(_med(results, tool, keys[0])):>10} {_ratio(results, tool, keys[0]):>7} "
              f"{_fmt(_med(results, tool, keys[1])):>9} {_ratio(results, tool, keys[1]):>7}")


if __name__ == "__main__":
    raise SystemExit(main())
