"""Time the dry run (``make_plan``) on two in-memory catalogs of about 100,000 files each.

No disk: synthetic ``FileInfo`` listings in the copick layout (runs, a voxel
spacing, zarr v2 tomograms and segmentations with nested ``level/z/y/x`` chunk
keys, picks, meshes) go through ``catalog.build_entities``, as a scan's would.
The target is the source with a few differences: chunks of another size, newer
source chunks, missing chunks, stale keys, missing stores, target-only entities,
newer target files (conflicts).  Times ``make_plan`` (median of 3; a no-op plan
too) and prints the plan's counts.

    python bench/plan_100k.py [--files N] [--diff FRACTION] [--profile]
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
import time

from synctui.project.catalog import Catalog, build_entities
from synctui.project.config import load_config
from synctui.storage.base import FileInfo
from synctui.storage.local import LocalStore
from synctui.sync.plan import Act, PlanOptions, make_plan
from synctui.sync.rules import RuleSet

T0 = 1_700_000_000 * 10**9
TOMO_TYPES = ("wbp", "denoised", "ctfdeconvolved")
ZARR_META = (".zattrs", ".zgroup", "0/.zarray", "1/.zarray", "2/.zarray")


def _chunks(levels: tuple[int, ...]) -> list[str]:
    return [f"{lvl}/{z}/{y}/{x}" for lvl, n in enumerate(levels)
            for z in range(n) for y in range(n) for x in range(n)]


TOMO_CHUNKS = _chunks((6, 3, 2))  # 216 + 27 + 8 = 251 chunks
SEG_CHUNKS = [f"0/{z}/{y}/{x}" for z in range(4) for y in range(4) for x in range(4)]


def source_listing(n_files: int) -> list[FileInfo]:
    """About ``n_files`` files, run by run (each run ~ 3 x 256 + 70 + 8 files)."""
    out: list[FileInfo] = []
    run = 0
    rng = random.Random(1)
    while len(out) < n_files:
        rd = f"ExperimentRuns/TS_{run:04d}"
        vs = f"{rd}/VoxelSpacing10.000"
        out.append(FileInfo(f"{rd}/.meta", 4, T0))
        out.append(FileInfo(f"{vs}/.meta", 4, T0))
        for u in range(3):
            out.append(FileInfo(f"{rd}/Picks/user{u}_1_ribosome.json", 2000 + rng.randrange(500), T0))
        out.append(FileInfo(f"{rd}/Meshes/user0_1_membrane.glb", 50_000, T0))
        for tomo in TOMO_TYPES:
            store = f"{vs}/{tomo}.zarr"
            out += [FileInfo(f"{store}/{m}", 300, T0) for m in ZARR_META]
            out += [FileInfo(f"{store}/{c}", 60_000 + rng.randrange(4000), T0) for c in TOMO_CHUNKS]
        store = f"{rd}/Segmentations/10.000_user0_1_membrane.zarr"
        out += [FileInfo(f"{store}/.zarray", 300, T0), FileInfo(f"{store}/.zattrs", 300, T0)]
        out += [FileInfo(f"{store}/{c}", 500, T0) for c in SEG_CHUNKS]
        run += 1
    return out


def target_listing(source: list[FileInfo], diff: float, seed: int = 2) -> list[FileInfo]:
    """The source as a previous sync left it, then ``diff`` of the files touched on either side."""
    rng = random.Random(seed)
    out: list[FileInfo] = []
    for info in source:
        r = rng.random()
        if r >= diff:
            out.append(info)
            continue
        r = rng.randrange(6)
        if r == 0:  # a chunk the target lacks: created
            continue
        if r == 1:  # another size: updated
            out.append(FileInfo(info.path, info.size + 17, T0))
        elif r == 2:  # the source moved on since: updated
            out.append(FileInfo(info.path, info.size, T0 - 10**9))
        elif r == 3 and ".zarr/" not in info.path:  # the target edited after the source: a conflict
            out.append(FileInfo(info.path, info.size, T0 + 60 * 10**9))
        elif r == 4 and ".zarr/" in info.path:  # a stale key next to an unchanged one: deleted
            out.append(info)
            out.append(FileInfo(info.path + "9", 123, T0))
        else:  # same size and time (or a zarr key the r == 3, 4 cases skip): unchanged
            out.append(info)
    # stores the source never had
    for i in range(20):
        out.append(FileInfo(f"ExperimentRuns/TS_{i:04d}/VoxelSpacing10.000/old{i}.zarr/.zarray", 300, T0))
        out.append(FileInfo(f"ExperimentRuns/TS_{i:04d}/VoxelSpacing10.000/old{i}.zarr/0/0/0/0", 999, T0))
    return out


def catalog(files: list[FileInfo], name: str) -> Catalog:
    ents, runs, unknown = build_entities(files, "overlay")
    assert not unknown, unknown[:3]
    cfg = load_config({"name": name, "pickable_objects": [
        {"name": "ribosome", "is_particle": True, "label": 1},
        {"name": "membrane", "is_particle": False, "label": 2}], "overlay_root": f"/nonexistent/{name}"})
    # make_plan reads files only for mapped annotations or --checksum: neither happens here
    return Catalog(config=cfg, entities=ents, runs=runs, stores={"overlay": LocalStore(f"/nonexistent/{name}")})


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000, help="files per side (default 100,000)")
    ap.add_argument("--diff", type=float, default=0.02, help="fraction of files that differ (default 0.02)")
    ap.add_argument("--prune", action="store_true", help="plan with --prune")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one make_plan")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    src_files = source_listing(args.files)
    dst_files = target_listing(src_files, args.diff)
    t_list = time.perf_counter() - t0
    t_build, (source, target) = timed(lambda: (catalog(src_files, "source"), catalog(dst_files, "target")), 1)
    opts = PlanOptions(prune=args.prune)
    rules = RuleSet()
    t_plan, plan = timed(lambda: make_plan(source, target, rules, opts))
    t_noop, noop = timed(lambda: make_plan(source, source, rules, opts))
    assert noop.is_noop
    counts = plan.counts()

    print(f"source: {len(src_files):,} files in {len(source.entities):,} entities, {len(source.runs)} runs")
    print(f"target: {len(dst_files):,} files in {len(target.entities):,} entities ({args.diff:.1%} touched)")
    print(f"synthetic listings {t_list:.2f} s, build_entities (both sides) {t_build:.2f} s")
    print(f"make_plan, median of 3:     {t_plan * 1000:7.0f} ms   ({len(src_files) / t_plan / 1e6:.2f} M files/s)")
    print(f"make_plan no-op, median 3:  {t_noop * 1000:7.0f} ms")
    print("plan: " + ", ".join(f"{a.value} {c.entities:,} entities / {c.files:,} files"
                               for a, c in counts.items() if c.entities or c.files))
    print(f"would transfer {plan.transfer_files:,} files, {plan.transfer_bytes / 1e6:.1f} MB; "
          f"{sum(1 for e in plan.entities if e.action is Act.CONFLICT)} conflicts held back")
    print("reproduce: python " + " ".join(shlex.quote(a) for a in ["bench/plan_100k.py", *sys.argv[1:]]))
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        make_plan(source, target, rules, opts)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
