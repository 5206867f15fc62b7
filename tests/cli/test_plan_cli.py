"""`synctui plan`: the table, --itemize, --json, --save-plan, bad flags, copick's own flags, the demo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from planproj import RUNS, SEC, T0, Proj, picks_json, zarr

from synctui.cli import main
from synctui.project.layout import Kind
from synctui.sync.plan import Act, Plan


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``synctui ARGV`` in-process: (exit code, stdout, stderr); argparse exits count too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def plan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run_cli(capsys, "plan", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


# -- a small pair of projects with a bit of everything ----------------------------------------

TOMO1 = f"{RUNS}/run1/VoxelSpacing10.000/wbp.zarr"
PICKS1 = f"{RUNS}/run1/Picks/alice_1_ribosome.json"
MESH1 = f"{RUNS}/run1/Meshes/alice_1_membrane.glb"
PICKS2 = f"{RUNS}/run2/Picks/alice_1_ribosome.json"


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Proj, Proj]:
    src = Proj(tmp_path / "src")
    dst = Proj(tmp_path / "dst")
    src.write({
        f"{RUNS}/run1/.meta": "meta",
        **zarr(TOMO1, {"0/0/0/0": b"a" * 100, "0/0/0/1": b"b" * 100}),
        PICKS1: picks_json(), MESH1: b"glTF mesh",
        PICKS2: picks_json(run="run2", n=4),
    })
    dst.write({
        **zarr(TOMO1, {"0/0/0/0": b"a" * 100, "0/0/0/1": b"B" * 90, "0/0/0/9": b"stale"}),
        PICKS1: picks_json(),
        PICKS2: picks_json(run="run2", n=1),
    })
    return src, dst


def st_args(pair: tuple[Proj, Proj]) -> list[str]:
    src, dst = pair
    return ["--source", str(src.config), "--target", str(dst.config)]


def test_table_is_grouped_by_run_with_totals(pair, capsys) -> None:
    code, out, err = run_cli(capsys, "plan", *st_args(pair))
    assert code == 0, err
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert any(line.strip().startswith("run1") for line in lines)
    assert any(line.strip().startswith("run2") for line in lines)
    assert any(line.strip().startswith("total") for line in lines)
    for word in ("create", "update", "skip"):
        assert word in out
    # run1's rows come before run2's, and the totals last
    first = {name: next(i for i, line in enumerate(lines) if line.strip().startswith(name))
             for name in ("run1", "run2", "total")}
    assert first["run1"] < first["run2"] < first["total"]
    assert "Would transfer" in out


def test_nothing_to_do_says_so(pair, capsys) -> None:
    src, _ = pair
    code, out, _ = run_cli(capsys, "plan", "--source", str(src.config), "--target", str(src.config))
    # the same project on both sides is refused as bad input, never planned
    assert code == 2
    src2 = Proj(src.base.parent / "copy")
    for path in src.overlay.rglob("*"):
        if path.is_file():
            rel = path.relative_to(src.overlay).as_posix()
            src2.write({rel: path.read_bytes()}, mtime_ns=path.stat().st_mtime_ns)
    code, out, err = run_cli(capsys, "plan", "--source", str(src.config), "--target", str(src2.config))
    assert code == 0, err
    assert "Nothing to do" in out


def test_itemize_prints_one_line_per_file(pair, capsys) -> None:
    code, out, err = run_cli(capsys, "plan", *st_args(pair), "--itemize")
    assert code == 0, err
    lines = out.splitlines()

    def line_for(path: str) -> str:
        (hit,) = [line for line in lines if f" {path}  (" in line]
        return hit

    assert line_for(f"{TOMO1}/0/0/0/1").startswith("update")
    assert "size differs (source 100, target 90)" in line_for(f"{TOMO1}/0/0/0/1")
    assert line_for(f"{TOMO1}/0/0/0/9").startswith("delete")
    assert "stale key" in line_for(f"{TOMO1}/0/0/0/9")
    assert line_for(MESH1).startswith("create")
    assert line_for(f"{RUNS}/run1/.meta").startswith("create")
    assert line_for(PICKS2).startswith("update")
    # an unchanged chunk is not listed; unchanged entities only with --all
    assert not [line for line in lines if f"{TOMO1}/0/0/0/0" in line]
    assert not [line for line in lines if f" {PICKS1}  (" in line]
    _, out_all, _ = run_cli(capsys, "plan", *st_args(pair), "--itemize", "--all")
    assert [line for line in out_all.splitlines() if f" {PICKS1}  (" in line][0].startswith("skip")


def test_json_is_parseable_with_counts(pair, capsys) -> None:
    data = plan_json(capsys, *st_args(pair))
    assert data["synctui_plan"] == 1
    counts = data["counts"]
    assert set(counts) == {a.value for a in Act}
    assert counts["create"] == {"entities": 2, "files": 2, "bytes": len("meta") + len(b"glTF mesh")}
    assert counts["update"]["entities"] == 2  # the tomogram store and run2's picks
    assert counts["update"]["files"] == 2 and counts["delete"]["files"] == 1
    assert counts["skip"]["entities"] == 1
    loaded = Plan.from_dict(data)
    assert {e.target_path: e.action for e in loaded.entities}[TOMO1] is Act.UPDATE


def test_save_plan_writes_a_loadable_plan(pair, capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "saved.plan.json"
    code, out, err = run_cli(capsys, "plan", *st_args(pair), "--save-plan", str(out_file))
    assert code == 0, err
    assert "plan saved to" in out
    saved = Plan.load(str(out_file))
    again = Plan.from_dict(plan_json(capsys, *st_args(pair)))
    assert [(e.action, e.target_path, e.reason, e.files) for e in saved.entities] == [
        (e.action, e.target_path, e.reason, e.files) for e in again.entities]
    src, dst = pair
    assert (saved.source_config, saved.target_config) == (str(src.config), str(dst.config))


def test_flags_become_rules(pair, capsys) -> None:
    data = plan_json(capsys, *st_args(pair), "--kinds", "picks", "--exclude", "run=run2",
                     "--target-users", "alice:al")
    acts = {e["source"]["run"] + ":" + e["kind"]: (e["action"], e["reason"]) for e in data["entities"]}
    assert acts["run1:picks"][0] == "create"  # renamed user: a new file in the target
    assert acts["run2:picks"] == ("excluded", "run 'run2' matches exclude 'run2'")
    assert acts["run1:tomogram"][0] == "excluded" and "not in include kinds" in acts["run1:tomogram"][1]
    targets = {e["target"].get("user") for e in data["entities"] if e["action"] == "create"}
    assert targets == {"al"}


def test_overwrite_and_conflict_flags(pair, capsys) -> None:
    _, dst = pair
    dst.touch(PICKS2, T0 + 60 * SEC)
    by = {e["target"]["run"] + ":" + e["kind"]: e["action"]
          for e in plan_json(capsys, *st_args(pair))["entities"] if e["target"].get("run")}
    assert by["run2:picks"] == "conflict"
    by = {e["target"]["run"] + ":" + e["kind"]: e["action"]
          for e in plan_json(capsys, *st_args(pair), "--overwrite-conflicts")["entities"] if e["target"].get("run")}
    assert by["run2:picks"] == "update"
    by = {e["target"]["run"] + ":" + e["kind"]: e["action"]
          for e in plan_json(capsys, *st_args(pair), "--overwrite", "never")["entities"] if e["target"].get("run")}
    assert by["run2:picks"] == "exists" and by["run1:tomogram"] == "exists" and by["run1:mesh"] == "create"


# -- bad input: exit 2, one line, no traceback ------------------------------------------------------

@pytest.mark.parametrize(("flags", "needle"), [
    (["--target-runs", "a:"], "--target-runs: 'a:' is not 'source:target'"),
    (["--target-objects", "ribosome:ribo:x"], "--target-objects:"),
    (["--target-runs", "a:b,a:c"], "mapped twice"),
    (["--kinds", "picks,holograms"], "unknown entity kind 'holograms'"),
    (["--voxel-spacings", "ten"], "--voxel-spacings: 'ten' is not a number"),
    (["--modify-window", "-1"], "--modify-window: -1.0 is not from 0"),
    (["--modify-window", "nan"], "--modify-window: nan is not a number of seconds"),
    (["--modify-window", "inf"], "--modify-window: inf is not a number of seconds"),
    (["--modify-window", "1e300"], "--modify-window: 1e+300 is not from 0"),
    (["--target-runs", "run1:exp1,run2:exp1"], "both mapped onto 'exp1'"),
    (["--target-users", "alice:a_b"], "'_'"),
    (["--exclude", "colour=red"], None),  # not a dimension: a path glob, which is fine
])
def test_bad_rule_flags_exit_2_with_one_line(pair, capsys, flags: list[str], needle: str | None) -> None:
    code, out, err = run_cli(capsys, "plan", *st_args(pair), *flags)
    if needle is None:
        assert code == 0, err
        return
    assert code == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synctui: error: "), err
    assert needle in lines[0]


def test_bad_choice_is_an_argparse_error(pair, capsys) -> None:
    code, out, err = run_cli(capsys, "plan", *st_args(pair), "--overwrite", "bogus")
    assert code == 2
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(
        "argument --overwrite: invalid choice: 'bogus' (choose from 'never', 'if-changed', 'always')")


def test_missing_and_broken_configs_exit_2(pair, capsys, tmp_path: Path) -> None:
    src, _ = pair
    code, _, err = run_cli(capsys, "plan", "--source", str(src.config), "--target", str(tmp_path / "nope.json"))
    assert code == 2 and err.strip() == f"synctui: error: {tmp_path / 'nope.json'}: config file not found"
    broken = tmp_path / "broken.json"
    broken.write_text('{"overlay_root": ')
    code, _, err = run_cli(capsys, "plan", "--source", str(broken), "--target", str(src.config))
    assert code == 2 and "malformed JSON" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "plan", "--source", str(src.config))
    assert code == 2 and "Traceback" not in err


def test_bad_rules_file_exits_2(pair, capsys, tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"synctui_rules": 7}))
    code, _, err = run_cli(capsys, "plan", *st_args(pair), "--rules", str(rules))
    assert code == 2 and "version 7 is not supported" in err and len(err.strip().splitlines()) == 1


# -- copick's documented mapping ------------------------------------------------------------------

COPICK_OBJECTS = [
    {"name": "ribosome", "is_particle": True, "label": 1, "pdb_id": "7P6Z", "radius": 150.0},
    {"name": "membrane", "is_particle": False, "label": 2},
    {"name": "proteasome", "is_particle": True, "label": 3},
]


@pytest.fixture
def copick_pair(tmp_path: Path) -> tuple[Proj, Proj]:
    src = Proj(tmp_path / "copick-src", objects=COPICK_OBJECTS)
    dst = Proj(tmp_path / "copick-dst", objects=[])
    files: dict[str, bytes | str] = {}
    for run in ("run1", "run2", "run3"):
        base = f"{RUNS}/{run}"
        files[f"{base}/.meta"] = "meta"
        files[f"{base}/VoxelSpacing10.000/.meta"] = "meta"
        files.update(zarr(f"{base}/VoxelSpacing10.000/wbp.zarr", {"0/0/0/0": b"t" * 64}))
        files.update(zarr(f"{base}/VoxelSpacing10.000/wbp_cellcanvas_features.zarr", {"0/0/0/0/0": b"f" * 32}))
        files[f"{base}/Filaments/alice_1_membrane.json"] = json.dumps({
            "pickable_object_name": "membrane", "user_id": "alice", "session_id": "1", "run_name": run,
            "version": "1.0", "filaments": [{"points": [[1.5, 2.5, 3.5]]}]}, indent=4)
        for obj in ("ribosome", "membrane", "proteasome"):
            files[f"{base}/Picks/alice_1_{obj}.json"] = picks_json(obj=obj, run=run, unit="nanometer")
            files[f"{base}/Meshes/alice_1_{obj}.glb"] = b"glTF" + obj.encode()
            files.update(zarr(f"{base}/Segmentations/10.000_alice_1_{obj}.zarr", {"0/0/0": b"\x01" * 8}))
    src.write(files)
    return src, dst


COPICK_FLAGS = ["--source-runs", "run1,run2", "--target-runs", "run1:exp1,run2:exp2",
                "--source-objects", "ribosome,membrane", "--target-objects", "ribosome:ribo"]


def test_copick_documented_mapping_plans_exactly_copicks_copies_plus_what_it_forgets(copick_pair, capsys) -> None:
    src, dst = copick_pair
    data = plan_json(capsys, "--source", str(src.config), "--target", str(dst.config), *COPICK_FLAGS)
    writes = {(e["source"]["run"], e["kind"], e.get("source", {}).get("name")): e["target"]
              for e in data["entities"] if e["action"] == "create"}
    pairs = {(s, t["run"], t.get("name")) for (s, _, _), t in writes.items()}
    # what copick's sync_picks / sync_meshes / sync_segmentations would copy: listed runs renamed,
    # listed objects only, ribosome renamed to ribo, membrane keeping its name
    created = {(run, kind, name) for (run, kind, name) in writes}
    for run, new_run in (("run1", "exp1"), ("run2", "exp2")):
        for kind in ("picks", "mesh", "segmentation"):
            assert (run, kind, "ribosome") in created and writes[(run, kind, "ribosome")]["name"] == "ribo"
            assert (run, kind, "membrane") in created and writes[(run, kind, "membrane")]["name"] == "membrane"
            assert (run, kind, "proteasome") not in created
            for name in ("ribosome", "membrane"):
                assert writes[(run, kind, name)]["run"] == new_run
        # and what copick forgets: filaments, features, .meta (and tomograms, all voxel spacings)
        for kind in ("filaments", "features", "run-meta", "vs-meta", "tomogram"):
            assert any(r == run and k == kind for r, k, _ in created), (run, kind)
    assert not any(r == "run3" for r, _, _ in created)
    assert {t for _, t, _ in pairs} == {"exp1", "exp2"}
    # nothing else is written, and everything left out says why
    kinds_written = sorted({k for _, k, _ in created})
    assert kinds_written == sorted(["features", "filaments", "mesh", "picks", "run-meta", "segmentation",
                                    "tomogram", "vs-meta"])
    assert len(created) == 2 * (3 * 2 + 5)
    for e in data["entities"]:
        if e["action"] == "excluded":
            assert e["source"]["run"] == "run3" or e["source"].get("name") == "proteasome"
            assert "not in include" in e["reason"]
    # the target config gets the objects the copies need, ribosome's definition under its new name
    adds = {o["name"]: o for o in data["objects"]}
    assert set(adds) == {"ribo", "membrane"}
    assert adds["ribo"]["definition"]["pdb_id"] == "7P6Z" and adds["ribo"]["source_name"] == "ribosome"


def test_copick_mapping_sync_keeps_every_picks_field(copick_pair, capsys) -> None:
    src, dst = copick_pair
    code, out, err = run_cli(capsys, "sync", "--source", str(src.config), "--target", str(dst.config),
                             *COPICK_FLAGS, "--no-progress")
    assert code == 0, out + err
    written = json.loads((dst.overlay / f"{RUNS}/exp1/Picks/alice_1_ribo.json").read_text())
    original = json.loads((src.overlay / f"{RUNS}/run1/Picks/alice_1_ribosome.json").read_text())
    assert written["run_name"] == "exp1" and written["pickable_object_name"] == "ribo"
    assert written["trust_orientation"] is False and written["unit"] == "nanometer"
    assert written["voxel_spacing"] == 10.0
    assert {k: v for k, v in written.items() if k not in ("run_name", "pickable_object_name")} == {
        k: v for k, v in original.items() if k not in ("run_name", "pickable_object_name")}
    membrane = json.loads((dst.overlay / f"{RUNS}/exp2/Picks/alice_1_membrane.json").read_text())
    assert membrane["pickable_object_name"] == "membrane" and membrane["run_name"] == "exp2"
    fil = json.loads((dst.overlay / f"{RUNS}/exp1/Filaments/alice_1_membrane.json").read_text())
    assert fil["run_name"] == "exp1" and fil["filaments"] == [{"points": [[1.5, 2.5, 3.5]]}]
    assert (dst.overlay / f"{RUNS}/exp1/.meta").read_text() == "meta"
    # meshes byte for byte, under the mapped name
    assert (dst.overlay / f"{RUNS}/exp2/Meshes/alice_1_ribo.glb").read_bytes() == b"glTFribosome"
    assert not (dst.overlay / f"{RUNS}/run3").exists()
    assert not (dst.overlay / f"{RUNS}/exp1/Picks/alice_1_proteasome.json").exists()
    names = [o["name"] for o in dst.config_data()["pickable_objects"]]
    assert sorted(names) == ["membrane", "ribo"]
    # a second run is a no-op (copick would copy everything again)
    data = plan_json(capsys, "--source", str(src.config), "--target", str(dst.config), *COPICK_FLAGS)
    assert not [e for e in data["entities"] if e["action"] in ("create", "update", "delete")]
    assert data["objects"] == []


# -- the demo shows every action ------------------------------------------------------------------

def test_demo_plan_shows_every_action(tmp_path: Path, capsys) -> None:
    demo = pytest.importorskip("synctui.project.demo")
    paths = demo.write_demo(str(tmp_path / "demo"))
    argv = ["plan", "--source", paths.source_config, "--target", paths.target_config, "--rules", paths.rules_file]
    data = plan_json(capsys, *argv[1:])
    loaded = Plan.from_dict(data)
    present = loaded.actions_present()
    expected = {Act.CREATE, Act.UPDATE, Act.SKIP, Act.EXCLUDED, Act.EXISTS, Act.CONFLICT, Act.BLOCKED,
                Act.DELETE, Act.ADD_OBJECT}
    assert expected <= present, expected - present
    # the delete is a stale key inside an updated zarr store
    stale = [fa for e in loaded.entities if e.action is Act.UPDATE and e.kind.is_zarr
             for fa in e.files if fa.action is Act.DELETE]
    assert stale and all("stale key" in fa.reason for fa in stale)
    for act in expected - {Act.ADD_OBJECT, Act.DELETE}:
        assert data["counts"][act.value]["entities"] >= 1, act
    assert data["counts"]["delete"]["files"] >= 1
    assert data["objects"] and data["counts"]["add-object"]["entities"] == len(data["objects"])
    # the table shows the same words, and the itemized list names the stale key
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    for act in expected - {Act.ADD_OBJECT}:
        assert act.value in out, act
    assert "add-object" in out
    code, out, err = run_cli(capsys, *argv, "--itemize")
    assert code == 0, err
    assert any(line.startswith("delete") and stale[0].target_path in line for line in out.splitlines())
    assert any(line.startswith("add-object") for line in out.splitlines())
    assert Kind.PICKS.value in {e.kind.value for e in loaded.entities}
    assert os.path.exists(paths.rules_file)


def test_save_plan_to_an_impossible_place_exits_2(pair, capsys, tmp_path: Path) -> None:
    where = tmp_path / "no" / "such" / "folder" / "plan.json"
    code, out, err = run_cli(capsys, "plan", *st_args(pair), "--save-plan", str(where))
    assert code == 2, err
    assert err.strip() == f"synctui: error: {where}: cannot write the plan file (No such file or directory)"
