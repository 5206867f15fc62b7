"""Time synctui against rclone 1.60's s3 backend and ``aws s3 sync`` on SeaweedFS, on loopback.

The same data for every tool (bench/webdav_sync.py's generators):

* ``small``: N files of S bytes (default 5,000 x 32 KiB) laid out as copick zarr chunks;
* ``big``: one file of M MB (default 512) as a copick mesh.

Each round copies into a fresh prefix of one bucket, the tools interleaved (synctui,
rclone at its defaults, rclone ``--transfers 32 --checkers 32``, aws), first copy then
no-op, each a fresh process; medians over ``--repeat`` rounds; ratios are synctui /
tool (< 1: synctui is faster; for the big file the throughput ratio, > 1: faster).
Peak RSS is each process's own (``wait4``), for synctui the largest of its runs.

    python bench/s3_sync.py                      # the issue's sizes, 3 rounds
    python bench/s3_sync.py --small              # 500 x 32 KiB and 32 MB, 1 round
    python bench/s3_sync.py --workers 32 --repeat 5

rclone: ``apt-get install rclone`` (Debian's 1.60).  aws: ``pip install awscli`` into its
own venv (its botocore pin differs from moto's): ``python -m venv ~/.cache/synctui/awscli-venv
&& ~/.cache/synctui/awscli-venv/bin/pip install awscli``, or ``--aws PATH``.  A tool that
is missing is left out and said so.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(HERE))

from s3_servers import KEY, SECRET, ServerUnavailable, start_seaweedfs  # noqa: E402
from webdav_sync import make_big, make_small, write_config  # noqa: E402

DEFAULT_AWS = Path.home() / ".cache" / "synctui" / "awscli-venv" / "bin" / "aws"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one process; raises when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{out[-1500:]!r}\n{err[-1500:]!r}")
    return dt, usage.ru_maxrss


def tools(args: argparse.Namespace, endpoint: str) -> dict[str, callable]:
    """name -> (source folder, bucket, prefix) -> command."""
    out: dict[str, callable] = {}

    def synctui(src: Path, bucket: str, prefix: str) -> list[str]:
        cfg = write_config(src.parent / f"{prefix.replace('/', '-')}.json", f"s3://{bucket}/{prefix}",
                           {"endpoint_url": endpoint, "key": KEY, "secret": SECRET})
        src_cfg = write_config(src.parent / "src.json", f"local://{src}")
        return [sys.executable, "-m", "synctui", "sync", "-s", str(src_cfg), "-t", str(cfg),
                "-j", str(args.workers), "--no-progress", "--no-fsync"]
    out["synctui"] = synctui
    rclone = shutil.which("rclone")
    if rclone:
        base = [rclone, "copy", "--s3-provider=Other", f"--s3-endpoint={endpoint}", f"--s3-access-key-id={KEY}",
                f"--s3-secret-access-key={SECRET}", "--s3-region=us-east-1", "-q"]
        out["rclone"] = lambda src, bucket, prefix: [*base, str(src), f":s3:{bucket}/{prefix}"]
        out["rclone-32"] = lambda src, bucket, prefix: [*base, "--transfers=32", "--checkers=32", str(src),
                                                        f":s3:{bucket}/{prefix}"]
    else:
        print("rclone: missing (apt-get install rclone), left out")
    aws = Path(args.aws) if args.aws else DEFAULT_AWS
    if aws.exists():
        out["aws"] = lambda src, bucket, prefix: [str(aws), "--endpoint-url", endpoint, "s3", "sync", str(src),
                                                  f"s3://{bucket}/{prefix}", "--only-show-errors"]
    else:
        print(f"aws: missing ({aws}; see the module doc), left out")
    return out


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--size", type=int, default=32 * 1024)
    ap.add_argument("--big-mb", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=16, help="synctui's -j (default 16)")
    ap.add_argument("--small", action="store_true", help="quick: 500 files, 32 MB, 1 round")
    ap.add_argument("--aws", help="the aws executable (default: the awscli venv of the module doc)")
    ap.add_argument("--dir", help="work directory (default: a temp dir, removed afterwards)")
    args = ap.parse_args(argv)
    if args.small:
        args.files, args.big_mb, args.repeat = 500, 32, 1
    work = Path(args.dir or tempfile.mkdtemp(prefix="synctui-s3-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    datasets: dict[str, Path] = {}
    if args.files:
        datasets["small"] = work / "small" / "overlay"
        n = make_small(datasets["small"], args.files, args.size)
        print(f"small: {n} files x {args.size} B (+ zarr metadata and .meta)")
    if args.big_mb:
        datasets["big"] = work / "big" / "overlay"
        make_big(datasets["big"], args.big_mb)
        print(f"big: one file of {args.big_mb} MB")
    try:
        (work / "server").mkdir(exist_ok=True)
        server = start_seaweedfs(work / "server")
    except ServerUnavailable as exc:
        print(f"SeaweedFS not available: {exc}")
        return 1
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.repeat} round(s), synctui -j {args.workers}; medians:", flush=True)
    try:
        cmds = tools(args, server.endpoint)
        bucket = server.new_bucket()
        for name, src in datasets.items():
            times: dict[tuple[str, str], list[float]] = {}
            rss: dict[str, int] = {}
            for rnd in range(args.repeat):
                for tool, make in cmds.items():
                    prefix = f"{name}-{rnd}/{tool}"
                    state = Path(tempfile.mkdtemp(prefix="synctui-bench-state-"))
                    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
                    env = dict(clean, SYNCTUI_STATE_DIR=str(state), AWS_ACCESS_KEY_ID=KEY,
                               AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1")
                    cmd = make(src, bucket, prefix)
                    for what in ("first", "no-op"):
                        dt, peak = run(cmd, env)
                        times.setdefault((tool, what), []).append(dt)
                        rss[tool] = max(rss.get(tool, 0), peak)
                    shutil.rmtree(state, ignore_errors=True)
            report(name, times, rss, src)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(name: str, times: dict[tuple[str, str], list[float]], rss: dict[str, int], src: Path) -> None:
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    me_first, me_noop = med(times[("synctui", "first")]), med(times[("synctui", "no-op")])
    for tool in sorted({t for t, _ in times}):
        first, noop = med(times[(tool, "first")]), med(times[(tool, "no-op")])
        line = (f"{name:5s} {tool:9s} first {first:7.2f} s ({total / first / 1e6:7.1f} MB/s)  no-op {noop:6.2f} s  "
                f"peak RSS {rss[tool] / 1024:6.0f} MB")
        if tool != "synctui":
            line += f"   synctui/{tool}: first {me_first / first:.2f}x, no-op {me_noop / noop:.2f}x"
            if name == "big":
                line += f", throughput {first / me_first:.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
