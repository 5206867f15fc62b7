"""Time synctui against Samba's own ``smbclient`` (``mput``) on one loopback smbd, and
against ``rsync`` onto a CIFS mount of the same share when this machine can mount one.

Two data sets, each copied into a fresh folder of the share by each tool:

* ``small``: N files of S bytes (default 5,000 x 32 KiB) laid out as zarr v2 chunks of
  copick tomograms (bench/webdav_sync.py's layout);
* ``big``: one file of M MB (default 512) as a copick mesh.

synctui: first copy and no-op (``python -m synctui sync``, a fresh process each time).
smbclient: ``prompt off; recurse on; mput *`` (it has no incremental mode: its "no-op"
is not measured).  rsync: ``rsync -a`` onto ``mount -t cifs`` (first copy and no-op),
only when the mount works (it needs cifs-utils, the kernel's cifs module and the right
to mount: usually not inside a container, which is then said).  Tools are interleaved
round by round and each figure is the median of ``--repeat`` rounds.

    python bench/smb_sync.py [--files 5000] [--size 32768] [--big-mb 512] [--repeat 3]
    python bench/smb_sync.py --small          # 500 x 32 KiB and 32 MB, one round
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
sys.path.insert(0, str(HERE))

from smb_server import SHARE, ServerUnavailable, make_server  # noqa: E402
from webdav_sync import make_big, make_small, timed  # noqa: E402


def write_config(path: Path, root: str, fs_args: dict | None = None) -> Path:
    cfg = {"name": path.stem, "pickable_objects": [{"name": "ribosome", "is_particle": True, "label": 1}],
           "overlay_root": root}
    if fs_args:
        cfg["overlay_fs_args"] = fs_args
    path.write_text(json.dumps(cfg, indent=2))
    return path


def synctui_cmd(src: Path, dst: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "synctui", "sync", "-s", str(src), "-t", str(dst),
            "-j", str(workers), "--no-progress", "--no-fsync"]


def smbclient_cmd(server, src: Path, folder: str) -> list[str]:
    script = f'prompt OFF; recurse ON; mkdir "{folder}"; cd "{folder}"; lcd "{src}"; mput *'
    return ["smbclient", f"//{server.host}/{SHARE}", "-p", str(server.port),
            "-U", f"{server.user}%{server.password}", "-c", script]


def try_mount(server, where: Path) -> str | None:
    """Mount the share with ``mount -t cifs``; None when it worked, else why not."""
    if not shutil.which("mount.cifs"):
        return "mount.cifs is not installed (Debian cifs-utils)"
    where.mkdir(parents=True, exist_ok=True)
    opts = f"port={server.port},username={server.user},password={server.password},vers=3.0,noperm"
    done = subprocess.run(["mount", "-t", "cifs", f"//{server.host}/{SHARE}", str(where), "-o", opts],
                          capture_output=True, text=True)
    if done.returncode != 0:
        first = ((done.stderr or done.stdout).strip().splitlines() or ["?"])[0]
        return f"mount -t cifs failed: {first[:200]}"
    return None


def med(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} s" if values else "      –"


def check_same(src: Path, dst: Path) -> None:
    for path in src.rglob("*"):
        if path.is_file():
            other = dst / path.relative_to(src)
            if not other.is_file() or other.stat().st_size != path.stat().st_size:
                raise RuntimeError(f"{other} is missing or of another size")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--size", type=int, default=32 * 1024)
    ap.add_argument("--big-mb", type=int, default=512, help="0: skip the big file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--small", action="store_true", help="500 x 32 KiB and 32 MB, one round")
    ap.add_argument("--dir", help="work directory (default: a temp dir, removed afterwards)")
    args = ap.parse_args(argv)
    if args.small:
        args.files, args.big_mb, args.repeat = 500, 32, 1
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="synctui-smb-bench-"))
    try:
        server = make_server(base / "smbd")
    except ServerUnavailable as exc:
        print(f"no smbd: {exc}")
        return 1
    mount = base / "mnt"
    cifs_problem = try_mount(server, mount)
    try:
        datasets: dict[str, Path] = {}
        src = base / "src-small" / "overlay"
        make_small(src, args.files, args.size)
        datasets[f"small ({args.files} x {args.size // 1024} KiB)"] = src
        if args.big_mb:
            big = base / "src-big" / "overlay"
            make_big(big, args.big_mb)
            datasets[f"big (1 x {args.big_mb} MB)"] = big
        env = dict(os.environ, PYTHONPATH=str(HERE.parent))
        load = os.getloadavg()
        print(f"loopback smbd (Samba) on port {server.port}; {os.cpu_count()} cores, load "
              f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start")
        if cifs_problem:
            print(f"rsync onto a CIFS mount: not measured: {cifs_problem}")
        have_smbclient = shutil.which("smbclient") is not None
        if not have_smbclient:
            print("smbclient: not measured: not installed (Debian smbclient)")
        for name, data in datasets.items():
            rows: dict[str, list[float]] = {k: [] for k in ("synctui first", "synctui no-op", "smbclient mput",
                                                            "rsync cifs first", "rsync cifs no-op")}
            for rnd in range(args.repeat):
                tag = f"{name.split()[0]}{rnd}"
                # synctui
                dst_disk = server.share_dir / f"synctui-{tag}"
                src_cfg = write_config(base / f"src-{tag}.json", f"local://{data}")
                dst_cfg = write_config(base / f"dst-{tag}.json", f"smb:///{SHARE}/synctui-{tag}",
                                       server.fs_args())
                state = base / f"state-{tag}"
                renv = dict(env, SYNCTUI_STATE_DIR=str(state))
                rows["synctui first"].append(timed(synctui_cmd(src_cfg, dst_cfg, args.workers), renv))
                check_same(data, dst_disk)
                rows["synctui no-op"].append(timed(synctui_cmd(src_cfg, dst_cfg, args.workers), renv))
                # smbclient mput
                if have_smbclient:
                    rows["smbclient mput"].append(timed(smbclient_cmd(server, data, f"mput-{tag}"), env))
                    check_same(data, server.share_dir / f"mput-{tag}")
                if not cifs_problem:
                    target = mount / f"rsync-{tag}"
                    cmd = ["rsync", "-a", f"{data}/", f"{target}/"]
                    rows["rsync cifs first"].append(timed(cmd, env))
                    rows["rsync cifs no-op"].append(timed(cmd, env))
                for folder in server.share_dir.iterdir():
                    shutil.rmtree(folder, ignore_errors=True)
            print(f"\n{name}, median of {args.repeat}:")
            for label, values in rows.items():
                if values:
                    print(f"  {label:<18} {med(values)}   ({', '.join(f'{v:.2f}' for v in values)})")
        load = os.getloadavg()
        print(f"\nload {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")
    finally:
        if not cifs_problem:
            subprocess.run(["umount", str(mount)], capture_output=True)
        server.stop()
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f} s in all)")
    sys.exit(code)
