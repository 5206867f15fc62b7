"""Random JSON in every config key, fs_arg and rules field: never a crash (issue #12, item 8).

A random value may happen to be valid, so a run may succeed (exit 0).  When it is refused
(exit 2) the refusal is one line without a traceback, and neither the target tree nor the
state folder changed.  ``sync`` runs in this process (``run_main``) to keep the examples fast.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from safety_helpers import run_main
from sync_helpers import Pair, assert_no_traceback, basic_source

from synctui.errors import EXIT_BAD_INPUT, EXIT_CONNECTION, EXIT_OK
from synctui.storage.options import FS_ARGS
from synctui.sync.rules import DIMENSIONS, MAP_DIMENSIONS

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

WORDS = ["true", "false", "maybe", "0", "1", "-1", "abc", "nan", "inf", "1e999", "", " ", "yes",
         "picks", "never", "always", "TS_001", "exp1", "a_b", "ssh://h:notaport/x", "https://[::1/x",
         "local:///", "ribosome", "*", "[", "\u0000", "\udc80"]
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10 ** 30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | st.sampled_from(WORDS))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6) | st.sampled_from(WORDS), inner, max_size=3),
                           max_leaves=6)

CONFIG_KEYS = ["config_type", "name", "description", "version", "user_id", "session_id", "overlay_root",
               "static_root", "overlay_fs_args", "static_fs_args", "pickable_objects", "runs",
               "voxel_spacings", "tomograms"]
OBJECT_KEYS = ["name", "is_particle", "label", "color", "emdb_id", "pdb_id", "identifier", "go_id",
               "map_threshold", "radius", "metadata"]
ROOT_KEYS = ("overlay_root", "static_root")


def snapshot(*roots: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    out[os.path.join(dirpath, name)] = fh.read()
    return out


BAD_ROOTS = ["", " ", "ssh://h:notaport/x", "https://[::1/x", "ssh://u:pw@h:99999/x", "ftp://h/x",
             "webdav://x", "file://host/x", "ssh://h/x\u0000", "\udc80", "http:///p"]


def root_value(value: Any) -> bool:
    """Roots are random too, but a string is one of the known-bad ones: a valid string would
    point the sync at this machine's folders or at hosts, and a missing root is not bad input
    in this sense (another part of issue #12 decides how that one ends)."""
    return not isinstance(value, str) or value in BAD_ROOTS


def run_sync(capsys, pair: Pair, *extra: str, allowed: set[int]) -> int:
    """``sync`` of ``pair`` with a state folder of its own (examples share the test's);
    checks the promises of a refusal, returns the exit code."""
    state_dir = pair.base / "state"
    state_dir.mkdir()
    before = snapshot(pair.dst_root, state_dir)
    saved = os.environ["SYNCTUI_STATE_DIR"]
    os.environ["SYNCTUI_STATE_DIR"] = str(state_dir)
    try:
        code, out, err = run_main(capsys, "--log", str(pair.base / "debug.log"), "sync", "--no-progress",
                                  "-s", pair.src, "-t", pair.dst, *extra)
    finally:
        os.environ["SYNCTUI_STATE_DIR"] = saved
    assert_no_traceback(out + err)
    assert code in allowed, (code, out, err)
    if code != EXIT_OK:
        lines = [ln for ln in err.strip().splitlines() if not ln.startswith("synctui: warning: ")]
        assert len(lines) == 1 and lines[0].startswith("synctui: error: "), err
        assert "internal error" not in err
        assert snapshot(pair.dst_root, state_dir) == before
    return code


def edit(path: str, change) -> None:
    data = json.loads(Path(path).read_text())
    change(data)
    Path(path).write_text(json.dumps(data))


@SETTINGS
@given(side=st.sampled_from(["source", "target"]), key=st.sampled_from(CONFIG_KEYS),
       value=json_values | st.sampled_from(BAD_ROOTS))
def test_random_values_in_config_keys(capsys, side: str, key: str, value: Any) -> None:
    assume(key not in ROOT_KEYS or root_value(value))
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp), basic_source(("TS_001",)))
        edit(pair.src if side == "source" else pair.dst, lambda d: d.__setitem__(key, value))
        run_sync(capsys, pair, allowed={EXIT_OK, EXIT_BAD_INPUT})


@SETTINGS
@given(side=st.sampled_from(["source", "target"]), key=st.sampled_from(OBJECT_KEYS), value=json_values,
       which=st.integers(0, 1))
def test_random_values_in_pickable_objects(capsys, side: str, key: str, value: Any,
                                           which: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp), basic_source(("TS_001",)))
        edit(pair.src if side == "source" else pair.dst,
             lambda d: d["pickable_objects"][which].__setitem__(key, value))
        run_sync(capsys, pair, allowed={EXIT_OK, EXIT_BAD_INPUT})


def closed_port() -> int:
    """A loopback port nothing listens on: a connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: values that would make a run reach out to other hosts or wait on them
NETWORK_KEYS = {"host", "proxy_jump", "base_url"}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(protocol=st.sampled_from(sorted(FS_ARGS)), data=st.data(), value=json_values)
def test_random_values_in_fs_args(capsys, protocol: str, data, value: Any) -> None:
    """The target is a server that refuses connections, so a valid value ends in exit 6."""
    key = data.draw(st.sampled_from(sorted(FS_ARGS[protocol]) + ["unknown_key"]))
    assume(not (key in NETWORK_KEYS and isinstance(value, str)))
    scheme = "ssh" if protocol == "ssh" else "https"
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp), basic_source(("TS_001",)))

        def point(d: dict) -> None:
            d["overlay_root"] = f"{scheme}://127.0.0.1:{closed_port()}/x"
            d["overlay_fs_args"] = {key: value, "timeout": 5} if key != "timeout" else {key: value}

        edit(pair.dst, point)
        run_sync(capsys, pair, allowed={EXIT_BAD_INPUT, EXIT_CONNECTION})


RULE_FIELDS = (["synctui_rules", "include", "exclude", "kinds", "map", "overwrite", "overwrite_by_kind"]
               + [f"include.{d}" for d in DIMENSIONS] + [f"exclude.{d}" for d in DIMENSIONS]
               + [f"map.{d}" for d in MAP_DIMENSIONS] + ["overwrite_by_kind.picks", "overwrite_by_kind.x"])


@SETTINGS
@given(field=st.sampled_from(RULE_FIELDS), value=json_values)
def test_random_values_in_rules_fields(capsys, field: str, value: Any) -> None:
    rules: dict[str, Any] = {"synctui_rules": 1}
    top, _, sub = field.partition(".")
    if sub:
        rules[top] = {sub: value}
    else:
        rules[top] = value
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp), basic_source(("TS_001",)))
        path = Path(tmp) / "rules.json"
        path.write_text(json.dumps(rules))
        run_sync(capsys, pair, "--rules", str(path), allowed={EXIT_OK, EXIT_BAD_INPUT})
