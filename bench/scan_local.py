"""Time a local scan and the catalog grouping on a large copick-like tree.

Makes N tiny files (default 100,000) laid out like a copick project (runs, voxel
spacings, zarr v2 stores with nested ``level/z/y/x`` chunk keys, picks), then times
``LocalStore.scan`` (median of 3) and ``catalog.build_entities`` on its listing.

    python bench/scan_local.py [--files N] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from synctui.project.catalog import build_entities
from synctui.storage.local import LocalStore

CHUNK = b"\x00" * 16
TOMO_TYPES = ("wbp", "denoised", "ctfdeconvolved")
ZARR_META = (".zattrs", ".zgroup", "0/.zarray", "1/.zarray", "2/.zarray")


def layout(n_files: int):
    """Yield ``n_files`` relative paths in a copick layout, store by store."""
    made = 0
    run = 0
    while True:
        run_dir = f"ExperimentRuns/TS_{run:04d}"
        paths = [f"{run_dir}/.meta", f"{run_dir}/VoxelSpacing10.000/.meta"]
        paths += [f"{run_dir}/Picks/user{u}_1_ribosome.json" for u in range(3)]
        for tomo in TOMO_TYPES:
            store = f"{run_dir}/VoxelSpacing10.000/{tomo}.zarr"
            paths += [f"{store}/{m}" for m in ZARR_META]
            # level 0: 8x8x8 chunks, level 1: 4x4x4, level 2: 2x2x2 (256^3 chunks of 2048^3)
            for level, side in ((0, 8), (1, 4), (2, 2)):
                paths += [f"{store}/{level}/{z}/{y}/{x}"
                          for z in range(side) for y in range(side) for x in range(side)]
        seg = f"{run_dir}/Segmentations/10.000_user0_1_membrane.zarr"
        paths += [f"{seg}/{m}" for m in (".zattrs", ".zgroup", "0/.zarray")]
        paths += [f"{seg}/0/{z}/{y}/{x}" for z in range(4) for y in range(4) for x in range(4)]
        for path in paths:
            if made == n_files:
                return
            yield path
            made += 1
        run += 1


def generate(root: Path, n_files: int) -> None:
    made_dirs: set[str] = set()
    for rel in layout(n_files):
        parent = os.path.dirname(rel)
        if parent not in made_dirs:
            os.makedirs(root / parent, exist_ok=True)
            made_dirs.add(parent)
        with open(root / rel, "wb") as fh:
            fh.write(CHUNK)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files to generate (default 100000)")
    parser.add_argument("--dir", type=Path, help="reuse or create the tree here instead of a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the generated temp dir")
    parser.add_argument("--repeat", type=int, default=3, help="scans to take the median of (default 3)")
    args = parser.parse_args(argv)

    tmp = None
    if args.dir:
        root = args.dir
    else:
        tmp = tempfile.mkdtemp(prefix="synctui-bench-")
        root = Path(tmp)
    try:
        existing = sum(1 for _ in LocalStore(str(root)).scan()) if root.exists() else 0
        if existing != args.files:
            if existing:
                print(f"{root} holds {existing:,} files, not {args.files:,}: use an empty --dir",
                      file=sys.stderr)
                return 2
            t0 = time.perf_counter()
            generate(root, args.files)
            print(f"generated {args.files:,} files in {time.perf_counter() - t0:.2f} s under {root}")

        store = LocalStore(str(root))
        scan_times = []
        listing = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            listing = list(store.scan(dirs=True))
            scan_times.append(time.perf_counter() - t0)
        n_files = sum(1 for f in listing if f.kind == "file")
        t0 = time.perf_counter()
        entities, runs, unknown = build_entities(listing, "overlay")
        group_time = time.perf_counter() - t0

        scan = statistics.median(scan_times)
        print(f"LocalStore.scan:          {scan:.3f} s median of {args.repeat} "
              f"({n_files:,} files, {len(listing) - n_files:,} folders, "
              f"{n_files / scan:,.0f} files/s; runs {', '.join(f'{t:.3f}' for t in scan_times)} s)")
        print(f"catalog.build_entities:   {group_time:.3f} s "
              f"({len(entities):,} entities in {len(runs):,} runs, {len(unknown)} unrecognised)")
        cmd = ["python", "bench/scan_local.py", "--files", str(args.files)]
        print(f"reproduce: {shlex.join(cmd)}")
        if unknown:
            print(f"unexpected unrecognised entries, e.g. {unknown[0]}", file=sys.stderr)
            return 1
        return 0
    finally:
        if tmp and not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp:
            print(f"kept {tmp}")


if __name__ == "__main__":
    raise SystemExit(main())
