"""`synctui`: the command line.  argparse only at import, so `--help` is instant.

Every SyncTuiError becomes one line on stderr and its exit code; the traceback
goes to the log file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from synctui import __version__
from synctui.errors import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_CONFLICTS,
    EXIT_CONNECTION,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PARTIAL,
    SyncTuiError,
)

EXIT_INTERNAL = 70

EXIT_CODES = f"""exit codes:
  {EXIT_OK}   done (or nothing to do)
  {EXIT_PARTIAL}   some items failed; the rest were done (each failure is listed)
  {EXIT_BAD_INPUT}   bad input (config, rules, URL, names, flags), an unusable root or a refused prune;
      nothing was written
  {EXIT_LOCKED}   a lock is held by another sync (owner and age are shown)
  {EXIT_CANCELLED}   cancelled (Ctrl-C or a signal); finished files are kept, none is partial
  {EXIT_CONFLICTS}   with --fail-on-conflict: conflicts were left untouched (they are always listed)
  {EXIT_CONNECTION}   a remote store could not be reached, authenticated or trusted
  {EXIT_INTERNAL}  internal error (a bug: the log has the traceback)
"""

log = logging.getLogger("synctui")


def _add_project_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--source", "-s", required=required, metavar="CONFIG",
                   help="source project config (copick JSON)")
    p.add_argument("--target", "-t", required=required, metavar="CONFIG",
                   help="target project config (copick JSON)")


def _add_portal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source-dataset-ids", metavar="IDS",
                   help="pull from these CryoET Data Portal datasets (comma-separated, e.g. "
                        "10440,10441) instead of --source, as copick's flag does")


def _add_rule_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rules (copick-style flags; lists are comma-separated, maps are a:b,c:d)")
    g.add_argument("--rules", metavar="FILE", help="rules file (filters and mappings) saved by the app")
    g.add_argument("--kinds", metavar="LIST",
                   help="entity kinds to sync: tomograms, features, picks, filaments, meshes, "
                        "segmentations (or binary-/multilabel-/instance-/panoptic-segmentations), "
                        "density-maps, meta")
    for dim, help_dim in (("runs", "runs"), ("objects", "objects"), ("users", "user ids"),
                          ("sessions", "session ids"), ("tomo-types", "tomogram types"),
                          ("names", "segmentation names")):
        g.add_argument(f"--source-{dim}", metavar="LIST", help=f"only these source {help_dim} (globs allowed)")
        g.add_argument(f"--target-{dim}", metavar="MAP", help=f"rename {help_dim}: src:dst,... (a bare name keeps its name)")
    g.add_argument("--voxel-spacings", metavar="LIST", help="only these voxel spacings (e.g. 10,7.84)")
    g.add_argument("--include", action="append", default=[], metavar="PATTERN",
                   help="include only matching entities: a path glob, or DIM=GLOB (e.g. user=alice); repeatable")
    g.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="exclude matching entities: a path glob, or DIM=GLOB (e.g. session=0); repeatable")
    g.add_argument("--overwrite", choices=("never", "if-changed", "always"),
                   help="what to do with entities the target already has (default: if-changed)")
    g.add_argument("--checksum", action="store_true", help="compare content hashes, not size+mtime")
    g.add_argument("--modify-window", type=float, default=0.0, metavar="SECONDS",
                   help="mtimes this close count as equal (default 0; coarse stores widen it)")
    g.add_argument("--overwrite-conflicts", action="store_true",
                   help="overwrite target files that are newer than the source")
    g.add_argument("--prune", "--delete", dest="prune", nargs="?", const="trash", choices=("trash", "delete"),
                   help="also remove target entities no source entity maps to: into the target's "
                        ".synctui-trash/ (default), or destroyed with --prune=delete")
    g.add_argument("--max-delete", type=int, metavar="N",
                   help="refuse to prune more than N entities (instead of the default limit: half "
                        "of the target's entities); nothing is written")
    g.add_argument("--prune-all", action="store_true",
                   help="with --prune: also prune more than half of the target, or after a source "
                        "listing with no entities (refused by default)")
    g.add_argument("--force-full", action="store_true",
                   help="ignore what earlier syncs recorded; re-check every file")
    g.add_argument("--since", metavar="DATE",
                   help="only entities changed after DATE (ISO date/time, or an age like 2h, 3d)")


def _add_tls_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    g = p.add_argument_group("TLS (https WebDAV roots of either project; override their fs_args)")
    g.add_argument("--ca-bundle", dest=f"{prefix}ca_bundle", metavar="PATH",
                   help="trust the server certificate or CA in this PEM file (self-signed servers)")
    g.add_argument("--insecure", dest=f"{prefix}insecure", action="store_true",
                   help="do not check certificates at all (warns: anyone on the network path can "
                        "read and change the sync)")


def _add_output_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--itemize", "-i", action="store_true", help="one line per file, like rsync -i")
    g.add_argument("--json", action="store_true", help="machine-readable output")
    g.add_argument("--save-plan", metavar="FILE", help="write the plan (with each file's precondition) to FILE")
    g.add_argument("--all", action="store_true", help="with --itemize, also list unchanged entities")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synctui",
        description="Keep copick cryo-ET projects in sync between a workstation, an SSH cluster "
                    "and a WebDAV server. Without a command, opens the app on --source and --target.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"synctui {__version__}")
    _add_project_args(parser, required=False)
    parser.add_argument("--rules", dest="app_rules", metavar="FILE", help="with --source/--target: open the app with this rules file")
    parser.add_argument("--log", metavar="FILE", help="write the debug log (with tracebacks) to FILE")
    _add_tls_args(parser, prefix="app_")
    parser.add_argument("--allow-unguarded-writes", dest="app_allow_unguarded_writes", action="store_true",
                        help="with --source/--target: let the app write to an S3 server that ignores "
                             "conditional creates (no lock is safe there; shown in the header)")
    parser.add_argument("--cluster", dest="app_cluster", metavar="SPEC",
                        help="with --source/--target: the app's syncs run on this Dask cluster "
                             "(as `sync --cluster`)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="write two demo projects and open the app on them",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", nargs="?", default="synctui-demo", help="where to write (default ./synctui-demo)")
    p.add_argument("--no-tui", action="store_true", help="only write the projects and print their configs")
    p.add_argument("--copick", type=int, choices=(1, 2), default=1,
                   help="volume format: 1 = zarr v2 as copick 1.x writes it (default), "
                        "2 = zarr v3 (OME-Zarr 0.5, sharded) as copick 2 writes it")

    p = sub.add_parser("plan", help="dry run: show what a sync would do, and why",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_project_args(p, required=False)
    _add_portal_args(p)
    _add_rule_args(p)
    _add_output_args(p)
    _add_tls_args(p)

    p = sub.add_parser("sync", help="sync source into target (incremental)",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_project_args(p, required=False)
    _add_portal_args(p)
    _add_rule_args(p)
    _add_output_args(p)
    _add_tls_args(p)
    g = p.add_argument_group("running")
    g.add_argument("--plan", metavar="FILE", help="run a saved plan exactly as previewed (skips what changed since)")
    g.add_argument("--dry-run", "-n", action="store_true", help="only show the plan (same output as `plan`)")
    g.add_argument("--max-workers", "-j", type=int, default=4, metavar="N", help="parallel transfers (default 4)")
    g.add_argument("--cluster", metavar="SPEC",
                   help="run the plan on a Dask cluster: local:N (N worker processes here), "
                        "tcp://HOST:PORT (a scheduler) or a scheduler file (.json); -j is per unit. "
                        'Needs pip install "synctui[cluster]"')
    g.add_argument("--no-progress", action="store_true", help="no progress bars (for cron and logs)")
    g.add_argument("--verbose", "-v", action="store_true", help="print every file as it is done")
    g.add_argument("--no-fsync", action="store_true", help="do not fsync each file before renaming it (faster, less durable)")
    g.add_argument("--log", dest="sub_log", metavar="FILE", help="write the debug log to FILE")
    g.add_argument("--fail-on-conflict", action="store_true",
                   help=f"exit {EXIT_CONFLICTS} when conflicts were left untouched (default: report them, exit 0)")
    g.add_argument("--break-lock", action="store_true",
                   help="break stale locks (a dead process or no heartbeat); live locks are never broken")
    g.add_argument("--allow-unguarded-writes", action="store_true",
                   help="write to an S3 server that ignores conditional creates (If-None-Match), "
                        "where no lock can exclude another sync (refused without this)")
    g.add_argument("--commit-every", type=int, default=500, metavar="N",
                   help="state database records per commit (default 500)")
    g.add_argument("--watch", type=float, metavar="SECONDS",
                   help="keep syncing source changes every SECONDS until interrupted")

    p = sub.add_parser("history", help="past syncs, newest first")
    p.add_argument("--pair", metavar="TEXT", help="only pairs whose source or target contains TEXT")
    p.add_argument("--source", "-s", metavar="CONFIG", help="only syncs from this project")
    p.add_argument("--target", "-t", metavar="CONFIG", help="only syncs into this project")
    p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("trash", help="list or restore what syncs moved into a target's trash")
    p.add_argument("action", choices=("list", "restore"))
    p.add_argument("batch", nargs="?", help="with restore: the sync id of the batch to restore")
    p.add_argument("--target", "-t", required=True, metavar="CONFIG", help="the project whose trash to use")
    p.add_argument("--path", metavar="GLOB", help="with restore: only files matching GLOB")
    p.add_argument("--replace", action="store_true",
                   help="with restore: swap with the file there now (which goes into the trash)")

    p = sub.add_parser("locks", help="show (and break stale) locks on a project's roots")
    p.add_argument("config", metavar="CONFIG", help="project config")
    p.add_argument("--break-stale", action="store_true", help="remove locks that are stale")
    return parser


def _setup_logging(path: str | None) -> str | None:
    if path is None:
        from synctui.storage.dirs import log_file

        path = log_file()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("synctui")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return path


def _interrupt_on_signals() -> None:
    """SIGTERM and SIGHUP cancel like Ctrl-C: files in flight finish, locks are released."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                signal.signal(sig, handler)
            except ValueError:  # not the main thread (embedded use)
                pass


def entry() -> int:
    """The process entry point (console script, ``python -m synctui``)."""
    try:
        code = main()
    except KeyboardInterrupt:  # landed after the command's own handling, before this line
        code = EXIT_CANCELLED
    _ignore_late_signals()
    _leave(code)
    return code


def _leave(code: int) -> None:
    """Exit now, without tearing the interpreter down object by object: after a sync of
    a big project that is a catalog of FileInfos per side (30-40 ms for 20,000 files,
    bench/sync_local.py).  Everything that must outlive the process is done by then:
    each sync's records are committed, its locks released, the stores closed; the log
    and the output are flushed here.  A Dask cluster or the app may still have exit
    work registered with atexit: then the normal exit runs it."""
    import logging
    import os

    if "distributed" in sys.modules or "textual" in sys.modules:
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(code)


def _ignore_late_signals() -> None:
    """The work is done and its exit code decided: a signal now (during interpreter
    shutdown) has nothing left to cancel, and must not turn the code into a death by signal."""
    import signal

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                signal.signal(sig, signal.SIG_IGN)
            except ValueError:  # not the main thread (embedded use)
                pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _interrupt_on_signals()
    log_path = _setup_logging(getattr(args, "sub_log", None) or args.log)
    try:
        from synctui.cli import commands

        if args.command is None:
            if not (args.source and args.target):
                parser.print_help()
                return EXIT_BAD_INPUT if (args.source or args.target) else EXIT_OK
            return commands.cmd_app(args)
        return getattr(commands, f"cmd_{args.command}")(args)
    except SyncTuiError as exc:
        log.debug("error", exc_info=True)
        print(f"synctui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("synctui: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - never a traceback on the terminal
        log.exception("internal error")
        where = f" (traceback in {log_path})" if log_path else ""
        print(f"synctui: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_INTERNAL
