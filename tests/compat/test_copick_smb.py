"""copick 1.31 (with its smb extra: fsspec's SMBFileSystem over smbprotocol) reads what
synctui wrote to an SMB share, through the ``smb://`` config itself (not the server's disk).

The demo source (zarr v2, as copick 1.x reads it) is synced with the run, object and
user maps of test_copick_compat.py into an empty folder of the loopback Samba share;
copick must list exactly the mapped names there and read every entity back equal to
the source (points, orientations, scores, every pyramid level voxel for voxel, meshes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_copick_compat import MAPS, _mapped_objects, _required, _run, assert_reads_back_mapped
from venvs import RELEASES, Unavailable, ensure

from synctui.project.demo import SOURCE_OBJECTS, write_demo

PROBE = Path(__file__).with_name("copick_smb_probe.py")

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def copick1() -> Path:
    try:
        return ensure(RELEASES[1])
    except Unavailable as exc:
        if _required():
            pytest.fail(f"{exc} (CI=true or SYNCTUI_REQUIRE_SERVERS=1: copick is required)")
        pytest.skip(str(exc))


def test_copick_reads_the_smb_target_equal_to_the_source(copick1: Path, smb, tmp_path: Path) -> None:
    from synctui.sync.api import SyncJob
    from synctui.sync.rules import RuleSet

    paths = write_demo(str(tmp_path / "demo"), copick=1)
    target = smb.config(tmp_path / "smb-target.json", smb.disk / "overlay", name="smb target")
    cfg = json.loads(target.read_text())
    cfg.update(config_type="filesystem", description="tests/compat", version="1.0.0",
               pickable_objects=_mapped_objects(SOURCE_OBJECTS))
    target.write_text(json.dumps(cfg, indent=4))
    job = SyncJob(paths.source_config, str(target), RuleSet(maps=MAPS))
    plan = job.plan()
    try:
        summary = job.run(plan)
    finally:
        for side in (job.source, job.target):
            for store in side.stores.values():
                store.close()
    assert summary.errors == [] and summary.status == "ok", summary
    # copick opens the smb:// root with the same copick-style fs_args synctui used
    # (host, port, username, password, temppath, auto_mkdir)
    out = json.loads(_run(copick1, PROBE, paths.source_config, str(target)))
    source, remote = out[paths.source_config], out[str(target)]
    assert remote["config"]["name"] == "smb target"
    compared = assert_reads_back_mapped(source, remote, plan.to_dict(), "smb, copick 1.31.0")
    assert compared == 21  # 6 volumes, 4 segmentations, 8 picks, 1 filaments, 2 meshes
    assert remote["runs"] == ["TS_002", "TS_003", "exp1"]
    assert "picks:exp1:robert:1:ribosome" in remote["entities"]
