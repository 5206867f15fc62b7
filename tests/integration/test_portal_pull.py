"""Pulling portal datasets into a filesystem project: `--source-dataset-ids` and a portal
config as `--source`, against the loopback portal (tests/integration/portal_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synctui.cli import main


def _target(tmp_path: Path, objects: list[dict] | None = None) -> Path:
    (tmp_path / "target").mkdir(exist_ok=True)
    cfg = tmp_path / "target.json"
    cfg.write_text(json.dumps({"name": "mine", "overlay_root": str(tmp_path / "target"),
                               "pickable_objects": objects or [], "my_key": "kept"}))
    return cfg


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _json_sync(capsys, *args: str) -> tuple[int, dict]:
    code = main(["sync", "--json", "--no-fsync", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_pull_by_dataset_ids_copies_the_portal_as_copick_names_it(portal_env, tmp_path, capsys):
    portal = portal_env
    target = _target(tmp_path)
    code, summary = _json_sync(capsys, "--source-dataset-ids", "10440, 10441", "--target", str(target))
    assert code == 0, summary
    got = _files(tmp_path / "target")
    runs = sorted({p.split("/")[1] for p in got})
    assert runs == ["1001", "1002", "1003"]  # copick names portal runs by id
    stores = sorted({p.split(".zarr/")[0] + ".zarr" for p in got if ".zarr/" in p})
    assert "ExperimentRuns/1001/VoxelSpacing10.012/wbp-denoised-denoiset-ctfdeconv.zarr" in stores
    assert "ExperimentRuns/1001/VoxelSpacing4.990/wbp-raw.zarr" in stores
    assert "ExperimentRuns/1003/VoxelSpacing10.012/fourierSpace-denoised.zarr" in stores
    assert "ExperimentRuns/1001/Segmentations/10.012_data-portal_6003_membrane.zarr" in stores
    assert "ExperimentRuns/1003/InstanceSegmentations/10.012_data-portal_6005_cytosolic-ribosome.zarr" in stores
    # zarr stores are the bucket's bytes, key for key (the mrc copy of the mask is not a copick entity)
    fx = portal.fixture
    prefix = "10440/TS_100_4/Reconstructions/VoxelSpacing10.012/Tomograms/100/TS_100_4.zarr/"
    tomo = {k[len(prefix):]: v for k, v in fx.files.items() if k.startswith(prefix)}
    base = "ExperimentRuns/1001/VoxelSpacing10.012/wbp-denoised-denoiset-ctfdeconv.zarr/"
    assert {k[len(base):]: v for k, v in got.items() if k.startswith(base)} == tomo
    assert not any(p.endswith(".mrc") for p in got)
    # point annotations became copick picks (every object the datasets annotate: microtubule too)
    picks = {p: json.loads(v) for p, v in got.items() if "/Picks/" in p}
    assert sorted(picks) == ["ExperimentRuns/1001/Picks/data-portal_6001_cytosolic-ribosome.json",
                             "ExperimentRuns/1001/Picks/data-portal_6006_microtubule.json",
                             "ExperimentRuns/1001/Picks/data-portal_6007_cytosolic-ribosome.json",
                             "ExperimentRuns/1002/Picks/data-portal_6002_ferritin-complex.json"]
    oriented = picks["ExperimentRuns/1001/Picks/data-portal_6001_cytosolic-ribosome.json"]
    key = "10440/TS_100_4/Reconstructions/VoxelSpacing10.012/Annotations/100/cytosolic_ribosome-1.0_orientedpoint.ndjson"
    lines = [json.loads(line) for line in fx.files[key].decode().splitlines()]
    assert len(oriented["points"]) == len(lines)
    for point, line in zip(oriented["points"], lines, strict=True):
        assert point["location"] == {k: line["location"][k] * 10.012 for k in "xyz"}  # Å, exactly
        rot = np.array(point["transformation_"])
        assert rot[:3, :3].tolist() == line["xyz_rotation_matrix"] and rot[3].tolist() == [0, 0, 0, 1]
        assert rot[:3, 3].tolist() == [0, 0, 0]
        assert point["instance_id"] == 0 and point["score"] == 1.0
    assert oriented["user_id"] == "data-portal" and oriented["session_id"] == "6001"
    assert oriented["trust_orientation"] is True
    plain = picks["ExperimentRuns/1002/Picks/data-portal_6002_ferritin-complex.json"]
    assert plain["trust_orientation"] is False
    assert all(p["transformation_"] == np.eye(4).tolist() for p in plain["points"])
    # the target config gained the portal's objects, matched by identifier; unknown keys kept
    cfg = json.loads((tmp_path / "target.json").read_text())
    assert cfg["my_key"] == "kept"
    assert {o["name"]: o["identifier"] for o in cfg["pickable_objects"]} == {
        "cytosolic-ribosome": "GO:0022626", "ferritin-complex": "UniProtKB:P02794",
        "membrane": "GO:0016020", "microtubule": "GO:0005874"}
    # a second pull moves nothing
    code, summary = _json_sync(capsys, "--source-dataset-ids", "10440,10441", "--target", str(target))
    assert code == 0
    assert summary["files_written"] == 0 and summary["bytes"] == 0, summary
    assert _files(tmp_path / "target") == got


def test_a_portal_config_as_source_with_filters_and_maps(portal_env, tmp_path, capsys, loopback_portal):
    src = tmp_path / "portal.json"
    src.write_text(json.dumps(loopback_portal.config(str(tmp_path / "laptop"))))
    (tmp_path / "laptop").mkdir()
    target = _target(tmp_path)
    code, summary = _json_sync(capsys, "--source", str(src), "--target", str(target),
                               "--source-runs", "1001", "--target-runs", "1001:TS_100_4",
                               "--source-tomo-types", "wbp-raw", "--target-tomo-types", "wbp-raw:wbp",
                               "--kinds", "tomograms,picks", "--target-objects", "ribosome:ribo")
    assert code == 0, summary
    got = _files(tmp_path / "target")
    assert {p.split("/")[1] for p in got} == {"TS_100_4"}
    assert {p.rsplit(".zarr/", 1)[0] for p in got if ".zarr/" in p} == {
        "ExperimentRuns/TS_100_4/VoxelSpacing4.990/wbp"}
    picks = sorted(p for p in got if "/Picks/" in p)
    assert picks == ["ExperimentRuns/TS_100_4/Picks/data-portal_6001_ribo.json",
                     "ExperimentRuns/TS_100_4/Picks/data-portal_6007_ribo.json"]
    doc = json.loads(got[picks[0]])
    assert doc["pickable_object_name"] == "ribo" and doc["run_name"] == "TS_100_4"


def test_the_portal_is_read_only_and_static(portal_env, tmp_path, loopback_portal):
    """A sync into a portal config writes its overlay only; what the portal holds is blocked."""
    from synctui.sync.api import SyncJob

    a, b = tmp_path / "a", tmp_path / "b"
    (a / "ExperimentRuns/1001/Picks").mkdir(parents=True)
    (a / "ExperimentRuns/1001/Picks/data-portal_6001_ribosome.json").write_text("{}")
    (a / "ExperimentRuns/1001/Picks/alice_1_ribosome.json").write_text(
        json.dumps({"pickable_object_name": "ribosome", "user_id": "alice", "session_id": "1", "points": []}))
    b.mkdir()
    job = SyncJob({"overlay_root": str(a), "pickable_objects": loopback_portal.config("x")["pickable_objects"]},
                  loopback_portal.config(str(b)))
    plan = job.plan()
    acts = {e.target.display: e.action.value for e in plan.entities}
    assert acts["data-portal_6001_ribosome"] == "blocked"
    assert acts["alice_1_ribosome"] == "create"
    job.run()
    assert sorted(str(p.relative_to(b)) for p in b.rglob("*.json")) == ["ExperimentRuns/1001/Picks/alice_1_ribosome.json"]


@pytest.mark.parametrize("case", ["unknown", "unreachable", "rate-limited", "bad-flag"])
def test_errors_are_one_line(case, portal_env, loopback_portal, tmp_path, monkeypatch, capsys):
    target = _target(tmp_path)
    ids, expect = "10440,99999", 2
    if case == "unreachable":
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("SYNCTUI_PORTAL_GRAPHQL_URL", f"http://127.0.0.1:{port}/graphql")
        ids, expect = "10440", 6
    elif case == "rate-limited":
        loopback_portal.graphql.fail_next[:] = [429] * 4
        ids, expect = "10440", 6
    elif case == "bad-flag":
        ids = "10440,ten"
    try:
        code = main(["sync", "--source-dataset-ids", ids, "--target", str(target)])
    finally:
        loopback_portal.graphql.fail_next.clear()
    err = capsys.readouterr().err
    assert code == expect, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synctui: error: "), err
    word = {"unknown": "99999", "unreachable": "cannot reach", "rate-limited": "rate limiting",
            "bad-flag": "'ten'"}[case]
    assert word in lines[0]
    assert _files(tmp_path / "target") == {}
