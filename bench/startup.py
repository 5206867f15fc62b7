"""Time synctui's start-up: `synctui --help` and `synctui sync` on an empty local pair.

Each command runs as a fresh process, interleaved with the interpreter's own floor
(``python -c pass``, whatever the site's .pth files import) and ``python -I -S -c pass``
(no site at all), ``--repeat`` times; prints medians, and synctui's time above the
floor.  Targets (issue #18): ``--help`` < 0.15 s, an empty ``sync`` < 0.3 s.

    python bench/startup.py [--repeat 15] [--small]
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
from pathlib import Path

TARGETS = {"synctui --help": 0.15, "synctui sync (empty pair)": 0.3}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its children)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return took, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="runs of each (default 15); medians")
    ap.add_argument("--small", action="store_true", help="a quick check: 5 runs")
    args = ap.parse_args(argv)
    repeat = 5 if args.small else max(3, args.repeat)
    work = Path(tempfile.mkdtemp(prefix="synctui-bench-startup-"))
    try:
        configs = []
        for name in ("a", "b"):
            (work / name).mkdir()
            cfg = work / f"{name}.json"
            cfg.write_text(json.dumps({"name": name, "pickable_objects": [],
                                       "overlay_root": f"local://{work / name}"}))
            configs.append(str(cfg))
        env = dict(os.environ, SYNCTUI_STATE_DIR=str(work / "state"))
        # an installed synctui has its bytecode compiled; a checkout run with this set
        # would compile every module on every start
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        py = sys.executable
        cmds = {
            "python -I -S -c pass": [py, "-I", "-S", "-c", "pass"],
            "python -c pass": [py, "-c", "pass"],
            "synctui --help": [py, "-m", "synctui", "--help"],
            "synctui sync (empty pair)": [py, "-m", "synctui", "sync", "--no-progress",
                                          "-s", configs[0], "-t", configs[1]],
        }
        for cmd in cmds.values():  # warm: bytecode caches written, files in the page cache
            timed(cmd, env)
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        for _ in range(repeat):
            for name, cmd in cmds.items():
                times[name].append(timed(cmd, env))
        print(f"command: {' '.join([py, *sys.argv])}")
        print(f"{os.cpu_count()} CPUs; medians of {repeat}, interleaved; python {sys.version.split()[0]}")
        floor = statistics.median(t for t, _ in times["python -c pass"])
        cpu_floor = statistics.median(c for _, c in times["python -c pass"])
        print(f"{'':28} {'median':>8} {'min':>8} {'above python':>13} {'cpu':>7} {'cpu above':>10} {'target':>14}")
        for name, ts in times.items():
            med = statistics.median(t for t, _ in ts)
            cpu = statistics.median(c for _, c in ts)
            target = TARGETS.get(name)
            verdict = "" if target is None else (f"< {target:.2f}" + (" met" if med < target else " MISSED"))
            synctui = name.startswith("synctui")
            above = f"{med - floor:+.3f} s" if synctui else ""
            cpu_above = f"{cpu - cpu_floor:+.3f} s" if synctui else ""
            print(f"{name:28} {med:7.3f}s {min(t for t, _ in ts):7.3f}s {above:>13} {cpu:6.3f}s {cpu_above:>10} "
                  f"{verdict:>14}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
