"""The CLI's commands.  Imported only after argparse accepted the arguments."""

from __future__ import annotations

import argparse
import json
import os
import sys

from synctui.errors import EXIT_BAD_INPUT, EXIT_OK, RulesError, SyncTuiError
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


def _options(args: argparse.Namespace):
    from synctui.sync.plan import PlanOptions

    if args.modify_window < 0:
        raise SyncTuiError("--modify-window must not be negative")
    return PlanOptions(overwrite_conflicts=args.overwrite_conflicts, checksum=args.checksum,
                       mtime_tolerance_ns=int(args.modify_window * 1e9), prune=args.prune)


def _job(args: argparse.Namespace, **kw):
    from synctui.sync.api import SyncJob

    if not (args.source and args.target):
        raise SyncTuiError("--source and --target are needed (or --plan FILE)")
    return SyncJob(args.source, args.target, rules_from_args(args), options=_options(args), **kw)


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
    from synctui.cli import render

    if args.max_workers < 1:
        raise SyncTuiError("--max-workers must be at least 1")
    fsync = not args.no_fsync
    if args.plan:
        from synctui.sync.api import SyncJob
        from synctui.sync.plan import Plan

        plan = Plan.load(args.plan)
        if not (plan.source_config and plan.target_config):
            raise SyncTuiError(f"{args.plan}: the plan does not name its config files")
        job = SyncJob(plan.source_config, plan.target_config, RuleSet.from_dict(plan.rules),
                      options=plan.options, max_workers=args.max_workers, fsync=fsync)
        job.scan()
    else:
        job = _job(args, max_workers=args.max_workers, fsync=fsync)
        plan = job.plan()
    if args.dry_run:
        _show_plan(args, job, plan)
        return EXIT_OK
    if args.save_plan:
        plan.save(args.save_plan)
    summary = render.run_with_progress(job, plan, progress=not (args.no_progress or args.json),
                                       verbose=args.verbose, verify=bool(args.plan), as_json=args.json)
    return summary.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from synctui.project.demo import write_demo

    paths = write_demo(os.path.abspath(args.directory))
    print(f"source config: {paths.source_config}")
    print(f"target config: {paths.target_config}")
    print(f"rules file:    {paths.rules_file}")
    if args.no_tui:
        print(f"try: synctui plan --source {paths.source_config} --target {paths.target_config} "
              f"--rules {paths.rules_file}")
        return EXIT_OK
    return _open_app(paths.source_config, paths.target_config, paths.rules_file)


def cmd_app(args: argparse.Namespace) -> int:
    return _open_app(args.source, args.target, None)


def _open_app(source: str, target: str, rules: str | None) -> int:
    from synctui.project.config import load_config

    load_config(source)  # bad configs fail here, before any screen opens
    load_config(target)
    if not sys.stdout.isatty():
        raise SyncTuiError("the app needs a terminal; use `synctui plan` / `synctui sync` in scripts")
    try:
        from synctui.tui.app import run_app
    except ImportError:
        print("the app is not available in this build; use `synctui plan` and `synctui sync`",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_app(source, target, rules)
