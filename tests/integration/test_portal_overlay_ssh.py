"""Two configs of the same portal datasets, one overlay on the laptop and one on an SSH
cluster: their overlays sync with everything a sync does (plan, state, conflicts, prune,
locks), and the portal side is never copied."""

from __future__ import annotations

import json
import time
from pathlib import Path

from synctui.cli import main


def _pick(user: str, session: str, obj: str, n: int) -> str:
    return json.dumps({"pickable_object_name": obj, "user_id": user, "session_id": session,
                       "run_name": "1001", "points": [{"location": {"x": float(i), "y": 1.0, "z": 2.0}}
                                                     for i in range(n)]})


def _sync(capsys, *args: str) -> tuple[int, dict]:
    code = main(["sync", "--json", "--no-progress", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_portal_overlays_sync_laptop_to_ssh_and_back(portal_env, remote, tmp_path: Path, capsys) -> None:
    portal = portal_env
    laptop = tmp_path / "laptop"
    (laptop / "ExperimentRuns/1001/Picks").mkdir(parents=True)
    (laptop / "ExperimentRuns/1001/Picks/alice_1_ribosome.json").write_text(_pick("alice", "1", "ribosome", 3))
    seg = laptop / "ExperimentRuns/1002/Segmentations/10.012_alice_1_membrane.zarr"
    seg.mkdir(parents=True)
    (seg / ".zgroup").write_text('{"zarr_format": 2}')
    a_cfg, b_cfg = tmp_path / "laptop.json", tmp_path / "cluster.json"
    a_cfg.write_text(json.dumps(portal.config(str(laptop))))
    cluster = remote.root / "overlay"
    b = portal.config(f"ssh://{cluster}")
    b["overlay_fs_args"] = remote.fs_args()
    b_cfg.write_text(json.dumps(b))

    code, summary = _sync(capsys, "--source", str(a_cfg), "--target", str(b_cfg))
    assert code == 0, summary
    remote_files = sorted(str(p.relative_to(cluster)) for p in cluster.rglob("*") if p.is_file())
    assert remote_files == ["ExperimentRuns/1001/Picks/alice_1_ribosome.json",
                            "ExperimentRuns/1002/Segmentations/10.012_alice_1_membrane.zarr/.zgroup"]
    # nothing of the portal was copied: it is the static side of both configs
    assert not any("data-portal" in f or ".zarr/0/" in f for f in remote_files)
    code, summary = _sync(capsys, "--source", str(a_cfg), "--target", str(b_cfg))
    assert code == 0 and summary["files_written"] == 0, summary

    # the cluster adds picks; back to the laptop; an edit on both sides is a conflict
    (cluster / "ExperimentRuns/1001/Picks/bob_2_ribosome.json").write_text(_pick("bob", "2", "ribosome", 2))
    code, summary = _sync(capsys, "--source", str(b_cfg), "--target", str(a_cfg))
    assert code == 0 and (laptop / "ExperimentRuns/1001/Picks/bob_2_ribosome.json").exists(), summary
    time.sleep(0.01)
    (laptop / "ExperimentRuns/1001/Picks/alice_1_ribosome.json").write_text(_pick("alice", "1", "ribosome", 4))
    (cluster / "ExperimentRuns/1001/Picks/alice_1_ribosome.json").write_text(_pick("alice", "1", "ribosome", 5))
    code, summary = _sync(capsys, "--source", str(a_cfg), "--target", str(b_cfg))
    assert code == 0 and summary["conflicts"] == 1, summary
    assert len(json.loads((cluster / "ExperimentRuns/1001/Picks/alice_1_ribosome.json").read_text())["points"]) == 5

    # prune: bob's picks gone from the laptop go into the cluster's trash
    (laptop / "ExperimentRuns/1001/Picks/bob_2_ribosome.json").unlink()
    code, summary = _sync(capsys, "--source", str(a_cfg), "--target", str(b_cfg), "--prune", "--prune-all",
                          "--source-users", "bob", "--kinds", "picks")
    assert code == 0, summary
    assert not (cluster / "ExperimentRuns/1001/Picks/bob_2_ribosome.json").exists()
    assert list((cluster / ".synctui-trash").rglob("bob_2_ribosome.json"))
