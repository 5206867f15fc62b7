"""Bad input ends in one line and exit 2, never an internal error, a hang or a leaked secret
(issue #12, items 6, 8 and 12).

Every case runs ``sync`` so a mistake would have a chance to write: the target tree and the
state folder must be exactly as before.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from safety_helpers import run_main
from sync_helpers import Pair, assert_no_traceback, run_cli

from synctui.errors import EXIT_BAD_INPUT

SECRET = "S3cr3t-PW"


def snapshot(*roots: Path) -> dict[str, bytes]:
    """Every file below ``roots`` (path -> bytes), to show that nothing was written."""
    out: dict[str, bytes] = {}
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                full = os.path.join(dirpath, name)
                with open(full, "rb") as fh:
                    out[full] = fh.read()
    return out


def one_error_line(code: int, out: str, err: str) -> str:
    assert code == EXIT_BAD_INPUT, (out, err)
    assert_no_traceback(out + err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synctui: error: "), err
    return lines[0]


def set_target(pair: Pair, **changes: object) -> None:
    data = json.loads(Path(pair.dst).read_text())
    data.update(changes)
    Path(pair.dst).write_text(json.dumps(data))


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    return Pair(tmp_path)


def bad_sync(capsys, pair: Pair, state_dir: Path, log: Path, *extra: str) -> str:
    """``sync`` that must fail: its one error line; the target and the state untouched."""
    before = snapshot(pair.dst_root, state_dir)
    code, out, err = run_main(capsys, "--log", str(log), "sync", "--no-progress", "-s", pair.src,
                              "-t", pair.dst, *extra)
    line = one_error_line(code, out, err)
    assert snapshot(pair.dst_root, state_dir) == before
    return line


# -- item 6: passwords in root URLs ----------------------------------------------------------

@pytest.mark.parametrize("url, fs_args", [
    (f"ssh://root:{SECRET}@127.0.0.1:99999/x", None),
    (f"ssh://root:{SECRET}@host:notaport/x", None),
    (f"ssh://root:{SECRET}@[::1/x", None),
    (f"https://root:{SECRET}@[zz]/x", None),
    (f"ssh://root:{SECRET}@/x", None),
    (f"sftp://root:{SECRET}@host", None),
    (f"ftp://root:{SECRET}@host/x", None),
    (f"file://root:{SECRET}@host/x", None),
    (f"webdav://root:{SECRET}@x/y", None),
    ("webdav://x/y", {"base_url": f"https://root:{SECRET}@[::1/"}),
    (f"ssh://root:{SECRET}@host/x", {"timeout": "abc"}),
    (f"https://root:{SECRET}@host/x", {"insecure": "maybe"}),
    ("ssh://host/x", {"password": [SECRET]}),
])
def test_a_password_reaches_neither_stderr_nor_the_log_nor_the_state(
        capsys, pair: Pair, state_dir: Path, tmp_path: Path, url: str, fs_args: dict | None) -> None:
    set_target(pair, overlay_root=url, **({"overlay_fs_args": fs_args} if fs_args else {}))
    log = tmp_path / "debug.log"
    line = bad_sync(capsys, pair, state_dir, log)
    assert SECRET not in line and "overlay_" in line
    assert log.exists() and SECRET not in log.read_text()
    for content in snapshot(state_dir).values():
        assert SECRET.encode() not in content


# -- item 8: what used to end in "internal error" ---------------------------------------------

@pytest.mark.parametrize("changes, needle", [
    ({"overlay_root": "ssh://h:notaport/x"}, "overlay_root: 'ssh://h:notaport/x': bad port 'notaport'"),
    ({"overlay_root": "ssh:///x", "overlay_fs_args": {"host": "h", "port": [22]}}, "overlay_fs_args.port: "),
    ({"overlay_root": "ssh://[::1/x"}, "overlay_root: 'ssh://[::1/x': malformed host"),
    ({"overlay_root": "https://[fe80::1/x"}, "malformed host"),
    ({"overlay_root": "https://h/x", "overlay_fs_args": {"timeout": "abc"}}, "overlay_fs_args.timeout: 'abc'"),
    ({"overlay_root": "ssh://h/x", "overlay_fs_args": {"timeout": -5}}, "overlay_fs_args.timeout: -5"),
    ({"static_root": "https://h/s", "static_fs_args": {"max_connections": "lots"}},
     "static_fs_args.max_connections: 'lots'"),
    ({"overlay_root": "ssh://h/x", "overlay_fs_args": {"accept_new_host_key": "sure"}},
     "overlay_fs_args.accept_new_host_key: 'sure' is not true or false"),
    ({"overlay_root": "ssh://h/x\u0000"}, "NUL"),
    ({"pickable_objects": [{"name": "a", "is_particle": True, "radius": float("inf")}]},
     "pickable_objects[0].radius (a): must be a finite number"),
    ({"pickable_objects": [{"name": "a", "is_particle": True, "label": 1 << 70}]},
     "pickable_objects[0].label (a): "),
    ({"pickable_objects": [{"name": "a", "is_particle": True, "pdb_id": 7}]}, "pickable_objects[0].pdb_id (a)"),
    ({"config_type": list(range(10_000))}, "config_type: a list is not supported"),
])
def test_bad_values_are_one_line_naming_the_file_and_key(capsys, pair: Pair, state_dir: Path,
                                                         tmp_path: Path, changes: dict, needle: str) -> None:
    set_target(pair, **changes)
    line = bad_sync(capsys, pair, state_dir, tmp_path / "log")
    assert line.startswith(f"synctui: error: {pair.dst}: ") and needle in line, line
    assert len(line) < 400


def test_a_config_nested_100k_levels_deep(capsys, pair: Pair, state_dir: Path, tmp_path: Path) -> None:
    text = Path(pair.dst).read_text().rstrip().rstrip("}")
    Path(pair.dst).write_text(text + ', "lab_notes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    line = bad_sync(capsys, pair, state_dir, tmp_path / "log")
    assert line == f"synctui: error: {pair.dst}: nested deeper than 100 levels"
    Path(pair.dst).write_text(text + ', "lab_notes": ' + "[" * 300 + "]" * 300 + "}")
    line = bad_sync(capsys, pair, state_dir, tmp_path / "log")
    assert line == f"synctui: error: {pair.dst}: lab_notes: nested deeper than 100 levels"


def test_a_label_of_5000_digits(capsys, pair: Pair, state_dir: Path, tmp_path: Path) -> None:
    data = json.loads(Path(pair.dst).read_text())
    data["pickable_objects"][0]["label"] = 0
    Path(pair.dst).write_text(json.dumps(data).replace('"label": 0', '"label": ' + "7" * 5000))
    line = bad_sync(capsys, pair, state_dir, tmp_path / "log")
    assert line.startswith(f"synctui: error: {pair.dst}: label: a number of 5000 digits"), line


@pytest.mark.parametrize("flags, needle", [
    (["--modify-window", "nan"], "--modify-window: nan"),
    (["--modify-window", "inf"], "--modify-window: inf"),
    (["--modify-window", "-0.5"], "--modify-window: -0.5"),
    (["--watch", "nan"], "--watch: nan"),
    (["--watch", "inf"], "--watch: inf"),
    (["--since", "9" * 400 + "d"], "--since"),
])
def test_bad_numbers_in_flags(capsys, pair: Pair, state_dir: Path, tmp_path: Path, flags: list[str],
                              needle: str) -> None:
    line = bad_sync(capsys, pair, state_dir, tmp_path / "log", *flags)
    assert line.startswith(f"synctui: error: {needle}"), line


@pytest.mark.parametrize("rules, needle", [
    ({"include": "x"}, "include must be an object, not a string"),
    ({"exclude": ["runs"]}, "exclude must be an object, not a list"),
    ({"include": {"runs": 5}}, "include.runs must be a list of strings"),
    ({"exclude": {"users": [None]}}, "exclude.users must be a list of strings"),
    ({"kinds": {"picks": 1}}, "kinds must be a list of strings"),
    ({"map": "runs"}, "map must be an object"),
    ({"map": {"runs": {"TS_001": 1}}}, "map.runs must be an object of name: name"),
    ({"overwrite": ["always"]}, "overwrite must be one of"),
    ({"overwrite_by_kind": "never"}, "overwrite_by_kind must be an object"),
    ({"overwrite_by_kind": {"picks": 0}}, "overwrite_by_kind.picks must be one of"),
    ({"synctui_rules": True}, "version True is not supported"),
    ({"synctui_rules": 1.5}, "version 1.5 is not supported"),
])
def test_wrong_types_in_a_rules_file(capsys, pair: Pair, state_dir: Path, tmp_path: Path, rules: dict,
                                     needle: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"synctui_rules": 1, **rules}))
    line = bad_sync(capsys, pair, state_dir, tmp_path / "log", "--rules", str(path))
    assert line.startswith(f"synctui: error: {path}: ") and needle in line, line


# -- item 12: files that are no files, or too big ---------------------------------------------

def _special(kind: str, tmp_path: Path, size: int) -> str:
    if kind == "dev-zero":
        return "/dev/zero"
    path = tmp_path / f"special-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:  # sparse: costs no disk
        with open(path, "wb") as fh:
            fh.truncate(size)
    return str(path)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "folder", "sparse"])
@pytest.mark.parametrize("role", ["source", "target", "rules", "plan"])
def test_special_and_huge_files_are_refused_unread(tmp_path: Path, pair: Pair, kind: str, role: str) -> None:
    if kind == "dev-zero" and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    from synctui.project.config import MAX_INPUT_BYTES
    from synctui.sync.plan import MAX_PLAN_BYTES

    bad = _special(kind, tmp_path, (MAX_PLAN_BYTES if role == "plan" else MAX_INPUT_BYTES) + 1)
    args = {"source": ["plan", "-s", bad, "-t", pair.dst], "target": ["plan", "-s", pair.src, "-t", bad],
            "rules": ["plan", "-s", pair.src, "-t", pair.dst, "--rules", bad],
            "plan": ["sync", "--plan", bad]}[role]
    before = snapshot(pair.dst_root)
    # a real process with a timeout: reading /dev/zero or waiting on a FIFO would hang it
    res = run_cli(*args, timeout=60)
    line = one_error_line(res.returncode, res.stdout, res.stderr)
    assert line.startswith(f"synctui: error: {bad}: "), line
    want = {"folder": "is a folder", "sparse": "too large", "fifo": "not a regular file",
            "dev-zero": "not a regular file"}[kind]
    assert want in line
    assert snapshot(pair.dst_root) == before
    if kind == "fifo":
        assert stat.S_ISFIFO(os.stat(bad).st_mode)
