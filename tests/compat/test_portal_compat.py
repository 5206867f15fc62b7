"""copick 1.31 and copick 2 (in their venvs) read the loopback portal and what synctui pulled
from it with `--source-dataset-ids`: the same runs, tomogram types, picks (locations in Å,
orientations, scores, instance ids) and segmentations, voxel for voxel."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from venvs import RELEASES, Unavailable, clean_env, ensure

from synctui.cli import main

PROBE = Path(__file__).with_name("portal_probe.py")


@pytest.fixture(scope="module")
def pulled(loopback_portal, tmp_path_factory) -> dict[str, Path]:
    """One pull into a filesystem project, and a copick portal config with its objects."""
    base = tmp_path_factory.mktemp("portal-compat")
    env = {**loopback_portal.env, "SYNCTUI_STATE_DIR": str(base / "state")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        (base / "target").mkdir()
        target = base / "target.json"
        target.write_text(json.dumps({"overlay_root": f"local://{base / 'target'}", "pickable_objects": []}))
        assert main(["sync", "--no-progress", "--source-dataset-ids", "10440,10441", "--target", str(target)]) == 0
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    objects = json.loads(target.read_text())["pickable_objects"]
    (base / "overlay").mkdir()
    portal = base / "portal.json"
    portal.write_text(json.dumps({"config_type": "cryoet_data_portal", "dataset_ids": [10440, 10441],
                                  "overlay_root": f"local://{base / 'overlay'}", "pickable_objects": objects}))
    return {"target": target, "portal": portal}


@pytest.fixture(scope="module", params=sorted(RELEASES), ids=lambda m: f"copick{RELEASES[m].version}")
def copick_python(request) -> Path:
    try:
        return ensure(RELEASES[request.param])
    except Unavailable as exc:
        if os.environ.get("CI") == "true" or os.environ.get("SYNCTUI_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{exc} (copick is required here)")
        pytest.skip(str(exc))


def _probe(python: Path, portal, out: Path, *configs: Path) -> dict[str, Any]:
    env = clean_env(PORTAL_GRAPHQL_URL=portal.graphql_url, AWS_ENDPOINT_URL=portal.s3.endpoint,
                    AWS_ACCESS_KEY_ID="anonymous", AWS_SECRET_ACCESS_KEY="anonymous",
                    AWS_DEFAULT_REGION="us-west-2", COPICK_PORTAL_CACHE="0")
    done = subprocess.run([str(python), str(PROBE), str(out), *map(str, configs)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=PROBE.parent)
    if done.returncode != 0:
        pytest.fail(f"portal_probe exited {done.returncode}\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())


def test_copick_reads_the_pull_as_it_reads_the_portal(copick_python, pulled, loopback_portal, tmp_path):
    out = _probe(copick_python, loopback_portal, tmp_path / "seen.json", pulled["portal"], pulled["target"])
    portal, target = out[str(pulled["portal"])], out[str(pulled["target"])]
    assert portal["runs"] == target["runs"] == ["1001", "1002", "1003"]
    assert portal["objects"] == target["objects"]
    assert sorted(portal["entities"]) == sorted(target["entities"])
    for eid, seen in portal["entities"].items():  # picks: copick's own conversion, value for value
        assert target["entities"][eid] == seen, eid
    kinds = {eid.split(":")[0] for eid in portal["entities"]}
    assert kinds == {"tomogram", "picks", "segmentation", "instance-segmentation"}
    assert len([e for e in portal["entities"] if e.startswith("tomogram:")]) == 5
