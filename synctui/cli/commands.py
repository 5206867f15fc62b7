"""The CLI's commands.  Imported only after argparse accepted the arguments."""

from __future__ import annotations

import argparse
import json
import os
import sys

from synctui.errors import EXIT_OK, RulesError, SyncTuiError
from synctui.storage.options import parse_timeout_seconds, parse_window_seconds
from synctui.sync.rules import DIMENSIONS, RuleSet, parse_copick_list, parse_copick_mapping

_DIM_ALIASES = {d: d for d in DIMENSIONS} | {v.replace(" ", "_"): d for d, v in DIMENSIONS.items()} | {
    "kind": "kinds", "tomo_type": "tomo_types", "tomo-type": "tomo_types", "seg_name": "seg_names",
    "name": "seg_names", "vs": "voxel_spacings", "voxel-spacing": "voxel_spacings", "path": "paths"}


def _filter_arg(rules: RuleSet, side: str, text: str) -> None:
    dim, sep, pattern = text.partition("=")
    if sep and dim.strip().lower() in _DIM_ALIASES:
        rules.add_filter(side, _DIM_ALIASES[dim.strip().lower()], pattern.strip())
    else:
        rules.add_filter(side, "paths", text)


def rules_from_args(args: argparse.Namespace) -> RuleSet:
    """A rules file (if any) with the copick-style flags layered on top."""
    rules = RuleSet.load(args.rules) if getattr(args, "rules", None) else RuleSet()
    for kind in parse_copick_list(args.kinds):
        rules.add_filter("include", "kinds", kind)
    pairs = (("runs", "runs", args.source_runs, args.target_runs),
             ("objects", "objects", args.source_objects, args.target_objects),
             ("users", "users", args.source_users, args.target_users),
             ("sessions", "sessions", args.source_sessions, args.target_sessions),
             ("tomo_types", "tomo_types", args.source_tomo_types, args.target_tomo_types),
             ("seg_names", "seg_names", args.source_names, args.target_names))
    for fdim, mdim, include, mapping in pairs:
        for item in parse_copick_list(include):
            rules.add_filter("include", fdim, item)
        flag = "--target-" + fdim.replace("_", "-").replace("seg-names", "names")
        for src, dst in parse_copick_mapping(mapping, flag).items():
            rules.set_mapping(mdim, src, dst)
    for vs in parse_copick_list(args.voxel_spacings):
        try:
            float(vs)
        except ValueError:
            raise RulesError(f"--voxel-spacings: {vs!r} is not a number") from None
        rules.add_filter("include", "voxel_spacings", vs)
    for text in args.include:
        _filter_arg(rules, "include", text)
    for text in args.exclude:
        _filter_arg(rules, "exclude", text)
    if args.overwrite:
        rules.overwrite = args.overwrite
    return rules


def parse_since(text: str | None) -> int | None:
    """ISO date/time (local time unless it says otherwise) or an age: 90m, 2h, 3d, 1w."""
    if not text:
        return None
    import datetime as dt
    import re
    import time

    m = re.fullmatch(r"\s*(\d{1,12}(?:\.\d{1,9})?)\s*([smhdw])\s*", text)
    if m:
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return int((time.time() - seconds) * 1e9)
    try:
        return int(dt.datetime.fromisoformat(text.strip()).timestamp() * 1e9)
    except (ValueError, OverflowError, OSError):  # not a date, or one the clock cannot hold
        raise SyncTuiError(f"--since {text[:40]!r}: not a date (use 2026-11-01, 2026-11-01T12:00 or an age "
                           "like 2h, 3d)") from None


def _options(args: argparse.Namespace):
    from synctui.sync.plan import PlanOptions

    window = parse_window_seconds(args.modify_window, "--modify-window")
    return PlanOptions(overwrite_conflicts=args.overwrite_conflicts, checksum=args.checksum,
                       mtime_tolerance_ns=int(window * 1e9), prune=bool(args.prune),
                       prune_destroy=args.prune == "delete", since_ns=parse_since(args.since))


def _job_options(args: argparse.Namespace):
    from synctui.sync.api import JobOptions

    workers = getattr(args, "max_workers", 4)
    if workers < 1:
        raise SyncTuiError("--max-workers must be at least 1")
    commit_every = getattr(args, "commit_every", 500)
    if commit_every < 1:
        raise SyncTuiError("--commit-every must be at least 1")
    if getattr(args, "watch", None) is not None:
        parse_timeout_seconds(args.watch, "--watch")  # a positive, finite number of seconds
    if args.max_delete is not None and args.max_delete < 0:
        raise SyncTuiError("--max-delete must not be negative")
    if args.prune_all and not (args.prune or getattr(args, "plan", None)):  # a saved plan says
        raise SyncTuiError("--prune-all only means something with --prune")
    cluster = getattr(args, "cluster", None)
    if cluster is not None:  # checked now: a bad value or a missing extra writes nothing
        from synctui.sync.cluster import checked_cluster

        checked_cluster(cluster)
    return JobOptions(max_workers=workers, fsync=not getattr(args, "no_fsync", False), cluster=cluster,
                      force_full=args.force_full, break_lock=getattr(args, "break_lock", False),
                      commit_every=1 if getattr(args, "watch", None) else commit_every,
                      max_delete=args.max_delete, prune_all=args.prune_all,
                      allow_unguarded_writes=getattr(args, "allow_unguarded_writes", False))


def _tls(args: argparse.Namespace):
    """--ca-bundle / --insecure (after the command, or before it), checked: bad ones exit 2."""
    from synctui.storage.tls import TLSOptions

    tls = TLSOptions(getattr(args, "ca_bundle", None) or getattr(args, "app_ca_bundle", None),
                     bool(getattr(args, "insecure", False) or getattr(args, "app_insecure", False)))
    return tls.checked()


def _configs(args: argparse.Namespace, source: str | dict, target: str, tls=None):
    """Both configs, the TLS flags applied to their https WebDAV roots (warnings on stderr:
    unknown fs_args, certificate checks off)."""
    from synctui.project.config import load_config
    from synctui.project.tls import apply_tls, config_warnings

    tls = _tls(args) if tls is None else tls
    src, dst = apply_tls(tls, load_config(source)), apply_tls(tls, load_config(target))
    for warning in config_warnings(tls, (src, dst)):  # unknown fs_args, certificate checks off
        print(f"synctui: warning: {warning}", file=sys.stderr)
    return src, dst


def _job(args: argparse.Namespace):
    dataset_ids = getattr(args, "source_dataset_ids", None)
    if dataset_ids is not None and args.source:
        raise SyncTuiError("--source and --source-dataset-ids name the source twice: give one")
    if not ((args.source or dataset_ids is not None) and args.target):
        raise SyncTuiError("--source (or --source-dataset-ids) and --target are needed (or --plan FILE)")
    tls = _tls(args)
    rules, options, job_options = rules_from_args(args), _options(args), _job_options(args)
    source_config: str | dict = args.source
    if dataset_ids is not None:
        from synctui.project.portal.options import parse_dataset_ids
        from synctui.project.portal.source import portal_source_config

        source_config = portal_source_config(parse_dataset_ids(dataset_ids))
    source, target = _configs(args, source_config, args.target, tls)
    from synctui.sync.api import SyncJob

    return SyncJob(source, target, rules, options=options, job_options=job_options)


def _show_plan(args: argparse.Namespace, job, plan) -> None:
    from synctui.cli import render

    if args.save_plan:
        plan.save(args.save_plan)
    if args.json:
        data = plan.to_dict()
        data["counts"] = {a.value: vars(c) for a, c in plan.counts().items()}
        json.dump(data, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    console = render.console()
    if args.itemize:
        render.itemize(console, plan, show_all=args.all)
    render.plan_table(console, plan, job.source, job.target)
    if args.save_plan:
        console.print(f"plan saved to [bold]{args.save_plan}[/]")


def cmd_plan(args: argparse.Namespace) -> int:
    job = _job(args)
    plan = job.plan()
    _show_plan(args, job, plan)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    if args.plan:
        from synctui.sync.api import SyncJob
        from synctui.sync.plan import Plan

        plan = Plan.load(args.plan)
        if not (plan.source_config and plan.target_config):
            raise SyncTuiError(f"{args.plan}: the plan does not name its config files")
        job_options = _job_options(args)
        source, target = _configs(args, plan.source_config, plan.target_config)
        job = SyncJob(source, target, RuleSet.from_dict(plan.rules), options=plan.options,
                      job_options=job_options)
        job.scan()
    else:
        job = _job(args)
        # a sync lists and plans under its locks (run with no plan); only a dry run or a
        # plan to save needs one first, and a saved plan is checked file by file when run
        plan = job.plan() if args.dry_run or args.save_plan else None
    if args.watch:
        try:
            return _watch(args, job)
        finally:
            job.close()
    if args.dry_run:
        _show_plan(args, job, plan)
        return EXIT_OK
    if args.save_plan:
        plan.save(args.save_plan)
    from synctui.cli import render

    try:
        summary = render.run_with_progress(job, plan, progress=not (args.no_progress or args.json),
                                           verbose=args.verbose, verify=plan is not None,
                                           as_json=args.json)
    finally:
        job.close()  # and a local:N cluster with it
    return summary.exit_code_strict() if args.fail_on_conflict else summary.exit_code


def _watch(args: argparse.Namespace, job) -> int:
    """Apply source changes as they appear; each change once (the state DB is the journal)."""
    from synctui.cli import render
    from synctui.cli.lines import Lines
    from synctui.sync.watch import WatchLoop

    out = Lines()
    code = EXIT_OK

    def say(text: str, changes: bool) -> None:
        out.line(text, style="" if changes else "dim")

    def sync(plan) -> bool:
        """``plan`` (made unlocked) said there is work: list and plan again under the locks."""
        nonlocal code
        summary = render.run_with_progress(job, None, progress=False, verbose=args.verbose,
                                           verify=False, as_json=args.json)
        code = summary.exit_code_strict() if args.fail_on_conflict else summary.exit_code
        return not summary.cancelled

    try:
        WatchLoop(args.watch).run(job.plan, sync, say)
    except KeyboardInterrupt:
        out.line("watch stopped")
    return code


def cmd_history(args: argparse.Namespace) -> int:
    from synctui.cli import render
    from synctui.sync.state import StateDB

    source = target = None
    if args.source:
        from synctui.project.config import load_config

        source = load_config(args.source).overlay.key
    if args.target:
        from synctui.project.config import load_config

        target = load_config(args.target).overlay.key
    db = StateDB()
    rows = db.history(source=source or args.pair, target=target, limit=args.limit)
    if args.pair and not (source or target):
        rows += [r for r in db.history(target=args.pair, limit=args.limit) if r not in rows]
        rows.sort(key=lambda r: r.started, reverse=True)
    if args.json:
        json.dump([vars(r) for r in rows], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        render.history_table(render.console(), rows)
    return EXIT_OK


def cmd_trash(args: argparse.Namespace) -> int:
    from synctui.format import human_bytes
    from synctui.project.config import load_config
    from synctui.storage.open import open_store
    from synctui.sync import trash

    store = open_store(load_config(args.target).overlay)
    if args.action == "list":
        batches = trash.list_trash(store)
        if not batches:
            print("the trash is empty")
        for b in batches:
            print(f"{b.sync_id}  {len(b.files)} file(s)  {human_bytes(b.bytes)}")
        return EXIT_OK
    if not args.batch:
        raise SyncTuiError("trash restore needs the batch id (see `synctui trash list`)")
    result = trash.restore(store, args.batch, args.path, replace=args.replace)
    for path in result.restored:
        print(f"restored {path}")
    for path, why in result.kept:
        print(f"kept in trash {path}: {why}", file=sys.stderr)
    return EXIT_OK


def cmd_locks(args: argparse.Namespace) -> int:
    from synctui.project.config import load_config
    from synctui.storage.open import open_store
    from synctui.sync.locks import list_locks

    cfg = load_config(args.config)
    store = open_store(cfg.overlay)
    locks = list_locks(store)
    if not locks:
        print(f"{cfg.overlay.display}: not locked")
    for lock in locks:
        print(f"{cfg.overlay.display}: {lock.describe()}")
        if args.break_stale and lock.is_stale:
            store.remove(lock.path)
            print(f"  broken (it was stale: {lock.stale_reason()})")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from synctui.project.demo import write_demo

    paths = write_demo(os.path.abspath(args.directory), copick=args.copick)
    print(f"source config: {paths.source_config}")
    print(f"target config: {paths.target_config}")
    print(f"rules file:    {paths.rules_file}")
    if args.no_tui:
        print(f"try: synctui plan --source {paths.source_config} --target {paths.target_config} "
              f"--rules {paths.rules_file}")
        return EXIT_OK
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return _demo_headless(paths)
    return _open_app(paths.source_config, paths.target_config, paths.rules_file)


def _demo_headless(paths) -> int:
    """No terminal for the app: show the dry run, then run the sync it describes."""
    from synctui.cli import render
    from synctui.sync.api import SyncJob

    print("no terminal for the app: showing the plan, then running the sync headless")
    job = SyncJob(paths.source_config, paths.target_config, RuleSet.load(paths.rules_file))
    plan = job.plan()
    render.plan_table(render.console(), plan, job.source, job.target)
    summary = render.run_with_progress(job, None, progress=False, verbose=False, verify=False)
    return summary.exit_code


def cmd_app(args: argparse.Namespace) -> int:
    cluster = args.app_cluster
    if cluster is not None:
        from synctui.sync.cluster import checked_cluster

        checked_cluster(cluster)
    return _open_app(args.source, args.target, args.app_rules, tls=_tls(args), cluster=cluster,
                     allow_unguarded_writes=args.app_allow_unguarded_writes)


def _open_app(source: str, target: str, rules: str | None, *, tls=None, cluster: str | None = None,
              allow_unguarded_writes: bool = False) -> int:
    from synctui.storage.tls import TLSOptions

    # bad configs fail here, before any screen opens; warnings go to stderr
    _configs(argparse.Namespace(), source, target, tls or TLSOptions())
    if not sys.stdout.isatty():
        raise SyncTuiError("the app needs a terminal; use `synctui plan` / `synctui sync` in scripts")
    from synctui.tui.app import run_app

    return run_app(source, target, rules, tls=tls, cluster=cluster, allow_unguarded_writes=allow_unguarded_writes)
