"""What synctui writes opens in copick itself: copick 1.31.0 and copick 2.0.0a6.

copick is not a dependency of synctui; each release lives in its own virtual
environment (``venvs.py``; ``bash scripts/test.sh`` builds both first).  Without a
network a venv cannot be made and these tests skip, except in CI (``CI=true``) or
with ``SYNCTUI_REQUIRE_SERVERS=1``, where they fail.

Each test runs once per release, on the demo flavour that release reads
(``write_demo(copick=1)``: zarr v2; ``copick=2``: zarr v3, as copick 2 writes it):

* the demo is synced into the demo target with the real CLI and its rules (every
  plan action), and ``copick_probe.py`` reports, as JSON, everything copick lists
  and reads in the source and the target; the tests compare that with the plan and
  with synctui's own scan;
* the demo source is synced with a run map, an object map and a user map into an
  empty target on local disk, on an SSH server and on a WebDAV server, and copick
  must list exactly the mapped names and read every entity back equal (points,
  orientations, scores, every pyramid level voxel for voxel, meshes);
* with copick 2, a project copick 2 wrote itself (``copick2_writer.py``) goes the
  same way.

copick reads what synctui wrote to a remote store from the server's own disk (on
loopback the sshd and the WebDAV server serve folders of this machine), through a
``local://`` config: the bytes there are exactly what synctui's SFTP and WebDAV
writes left on the server.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from venvs import RELEASES, Release, Unavailable, clean_env, ensure

from synctui.project.demo import SOURCE_OBJECTS, SOURCE_STRAY, TARGET_STRAY, DemoPaths, write_demo

# the first run installs copick (minutes on a slow network): more than the default 300 s
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PROBE = Path(__file__).with_name("copick_probe.py")
WRITER = Path(__file__).with_name("copick2_writer.py")
REPO = Path(__file__).resolve().parents[2]

SYNCED = {"create", "update", "skip"}  # the target holds the source's content afterwards
VOLUME_FIELDS = ("format", "levels", "level_sha256", "dtype", "shape", "sha256", "values")
SAME_FIELDS = {
    "tomogram": VOLUME_FIELDS, "features": VOLUME_FIELDS, "density-map": VOLUME_FIELDS,
    "segmentation": VOLUME_FIELDS, "multilabel-segmentation": VOLUME_FIELDS,
    "instance-segmentation": VOLUME_FIELDS, "panoptic-segmentation": VOLUME_FIELDS,
    "picks": ("n_points", "points_sha256", "transforms_sha256", "scores_sha256", "instance_ids",
              "trust_orientation", "unit", "voxel_spacing"),
    "filaments": ("n_filaments", "n_points", "points_sha256", "unit", "version"),
    "mesh": ("type", "n_geometries", "n_vertices", "n_faces", "vertices_sha256"),
}
#: the maps of the mapped syncs: one run, one object and one user renamed
MAPS = {"runs": {"TS_001": "exp1"}, "objects": {"apoferritin": "ferritin"},
        "users": {"bob": "robert"}}
MAPPED_TARGETS = ("local", "ssh-target", "dav-target")


# ---------------------------------------------------------------------------
# the copick virtual environments


def _required() -> bool:
    return (os.environ.get("CI", "").lower() == "true"
            or os.environ.get("SYNCTUI_REQUIRE_SERVERS") == "1")


@dataclass(frozen=True)
class Copick:
    """One tested copick release: its number (1 or 2), release and venv python."""

    major: int
    release: Release
    python: Path


@pytest.fixture(scope="module", params=sorted(RELEASES), ids=lambda m: f"copick{RELEASES[m].version}")
def copick(request: pytest.FixtureRequest) -> Copick:
    release = RELEASES[request.param]
    try:
        python = ensure(release)
    except Unavailable as exc:
        if _required():
            pytest.fail(f"{exc} (CI=true or SYNCTUI_REQUIRE_SERVERS=1: copick is required)")
        pytest.skip(str(exc))
    return Copick(request.param, release, python)


# ---------------------------------------------------------------------------
# the demo, synced with the real CLI, then probed with copick


@dataclass
class Synced:
    copick: Copick
    paths: DemoPaths
    plan: dict[str, Any]  # `synctui plan --json`, made just before the sync
    sync_rc: int
    sync_output: str
    target_config_before: dict[str, Any]
    source: dict[str, Any]  # what copick reports about the source
    target: dict[str, Any]  # ... about the target right after the sync
    tree_before_probes: dict[str, tuple[int, int]]
    tree_after_probes: dict[str, tuple[int, int]]
    target_unrecognised: list[str]  # synctui's scan of the target right after the sync


def _synctui(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SYNCTUI_STATE_DIR=str(state), NO_COLOR="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH"))
                                          if p))
    return subprocess.run([sys.executable, "-m", "synctui", *args], capture_output=True,
                          text=True, timeout=240, env=env, cwd=REPO)


def _run(python: Path, script: Path, *args: str, timeout: float = 300) -> str:
    """Run a script with a copick venv's python; its stdout (fails the test on an error)."""
    try:
        done = subprocess.run([str(python), str(script), *args], capture_output=True, text=True,
                              env=clean_env(), cwd=script.parent, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script.name} {' '.join(args)} timed out\n{(exc.stderr or '')[-3000:]}")
    if done.returncode != 0:
        pytest.fail(f"{script.name} {' '.join(args)} exited {done.returncode}\n{done.stderr[-3000:]}")
    return done.stdout


def probe(python: Path, *configs: str) -> list[dict[str, Any]]:
    """What copick reports about each config (one interpreter: copick imports once)."""
    out = json.loads(_run(python, PROBE, *configs))
    return [out] if len(configs) == 1 else [out[c] for c in configs]


def _tree(*roots: str) -> dict[str, tuple[int, int]]:
    """Every file below ``roots``: (size, mtime_ns); to see that copick wrote nothing."""
    out = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                st = os.stat(path)
                out[path] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def synced(copick: Copick, tmp_path_factory: pytest.TempPathFactory) -> Synced:
    """The demo flavour ``copick`` reads, synced into the demo target with the real CLI."""
    base = tmp_path_factory.mktemp(f"compat{copick.major}")
    state = base / "state"
    state.mkdir()
    paths = write_demo(str(base / "demo"), copick=copick.major)
    with open(paths.target_config, encoding="utf-8") as fh:
        target_config_before = json.load(fh)
    project = ("--source", paths.source_config, "--target", paths.target_config,
               "--rules", paths.rules_file)
    planned = _synctui("plan", *project, "--json", state=state)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    done = _synctui("sync", *project, "--no-progress", state=state)
    # 5: the demo leaves one conflict on purpose
    assert done.returncode in (0, 5), f"sync exited {done.returncode}\n{done.stdout}\n{done.stderr}"

    roots = (paths.source_root, paths.target_root)
    tree_before = _tree(*roots)
    source, target = probe(copick.python, paths.source_config, paths.target_config)
    tree_after = _tree(*roots)
    _, target_unrecognised = _synctui_ids(paths.target_config)
    return Synced(copick, paths, plan, done.returncode, done.stdout + done.stderr,
                  target_config_before, source, target, tree_before, tree_after,
                  target_unrecognised)


# ---------------------------------------------------------------------------
# ids shared with copick_probe.py


def ref_id(ref: Any) -> str:
    """The probe's id of a synctui entity ref (an EntityRef or a plan's ref dict)."""
    get = ref.get if isinstance(ref, dict) else (lambda key: getattr(ref, key))
    kind = str(get("kind"))
    run = get("run")
    vs = f"{float(get('voxel_spacing')):.3f}" if get("voxel_spacing") is not None else None
    if kind == "run-meta":
        return f"run:{run}"
    if kind == "vs-meta":
        return f"voxel-spacing:{run}:{vs}"
    if kind == "tomogram":
        return f"tomogram:{run}:{vs}:{get('tomo_type')}"
    if kind == "features":
        return f"features:{run}:{vs}:{get('tomo_type')}:{get('feature_type')}"
    if kind in ("picks", "filaments", "mesh"):
        return f"{kind}:{run}:{get('user')}:{get('session')}:{get('name')}"
    if kind.endswith("segmentation"):
        return f"{kind}:{run}:{vs}:{get('user')}:{get('session')}:{get('name')}"
    if kind == "density-map":
        return f"density-map:{get('name')}"
    raise AssertionError(f"unknown kind {kind}")


def _kind(eid: str) -> str:
    return eid.split(":", 1)[0]


def _synctui_ids(config: str) -> tuple[set[str], list[str]]:
    """synctui's own scan of a project, as probe ids, plus its unrecognised paths."""
    from synctui.project.catalog import open_project

    cat = open_project(config)
    ids = {ref_id(ref) for ref in cat.entities} | {f"run:{run}" for run in cat.runs}
    return ids, sorted(u.path for u in cat.unrecognised)


def _readable(entity: dict[str, Any]) -> bool:
    return "unreadable" not in entity


# ---------------------------------------------------------------------------
# the tests


def test_copick_opens_both_projects(synced: Synced) -> None:
    for report in (synced.source, synced.target):
        assert report["copick"] == synced.copick.release.reported
        assert report["zarr"].startswith(synced.copick.release.zarr_major + ".")
        assert report["runs"] == ["TS_001", "TS_002", "TS_003"]
        assert report["listing_errors"] == []
        assert report["duplicates"] == [], "copick lists an entity twice (overlay shadowing static?)"


def test_copick_lists_what_synctui_sees(synced: Synced) -> None:
    """copick and synctui's scanner agree on every entity of both projects."""
    for config, report in ((synced.paths.source_config, synced.source),
                           (synced.paths.target_config, synced.target)):
        ours, _ = _synctui_ids(config)
        theirs = set(report["entities"])
        assert sorted(theirs - ours) == [], f"copick lists, synctui does not ({config})"
        assert sorted(ours - theirs) == [], f"synctui lists, copick does not ({config})"


def test_target_holds_what_the_plan_says(synced: Synced) -> None:
    target = synced.target["entities"]
    entities = synced.plan["entities"]
    assert entities, "the plan is empty"
    for ent in entities:
        tid = ref_id(ent["target"])
        if ent["action"] == "excluded":
            assert tid not in target, f"excluded {tid} reached the target"
        else:
            assert tid in target, f"plan: {ent['action']} {tid} ({ent['reason']}); copick: missing"
    # the mapping shows in copick's own listing
    assert "picks:TS_002:alice:1:ferritin" in target
    assert not any(eid.endswith(":apoferritin") for eid in target)
    # what only the target had is still there
    assert "picks:TS_001:carol:1:ribosome" in target


def test_synced_entities_read_back_identical(synced: Synced) -> None:
    """Through copick, every synced entity reads the same in the target as in the source."""
    source, target = synced.source["entities"], synced.target["entities"]
    compared = 0
    for ent in synced.plan["entities"]:
        if ent["action"] not in SYNCED:
            continue
        sid, tid = ref_id(ent["source"]), ref_id(ent["target"])
        mine, theirs = source[sid], target[tid]
        if not (_readable(mine) and _readable(theirs)):
            pytest.fail(f"{sid} -> {tid}: copick cannot read it: {mine} vs {theirs}")
        fields = SAME_FIELDS.get(_kind(tid), ())
        for field in fields:
            assert mine.get(field) == theirs.get(field), f"{sid} -> {tid}: {field} differs"
        compared += bool(fields)
    assert compared == 17, f"{compared} entities compared; the demo has 17 with content (filaments included)"
    # the update that also had a stale chunk removed reads like the source
    wbp = "tomogram:TS_002:10.000:wbp"
    assert target[wbp]["sha256"] == source[wbp]["sha256"]
    assert target[wbp]["levels"] == {"0": [64, 96, 96], "1": [32, 48, 48], "2": [16, 24, 24]}
    # picks counts, spelled out
    for eid, n in (("picks:TS_001:bob:1:ribosome", 8), ("picks:TS_003:alice:1:ribosome", 12),
                   ("picks:TS_002:alice:1:proteasome", 5)):
        assert source[eid]["n_points"] == target[eid]["n_points"] == n


def test_what_the_sync_left_alone_reads_as_before(synced: Synced) -> None:
    source, target = synced.source["entities"], synced.target["entities"]
    by_action = {ent["action"]: ent for ent in synced.plan["entities"]}
    # conflict: the target's own edit (one score) is kept
    conflict = ref_id(by_action["conflict"]["target"])
    assert target[conflict]["points_sha256"] == source[conflict]["points_sha256"]
    assert target[conflict]["scores_sha256"] != source[conflict]["scores_sha256"]
    # exists (meshes are overwrite "never"): the target's coarser mesh is kept, and loads
    kept = ref_id(by_action["exists"]["target"])
    assert 0 < target[kept]["n_vertices"] < source[kept]["n_vertices"]
    # blocked: still only the static copy, no overlay copy beside it, and not the source's
    blocked = ref_id(by_action["blocked"]["target"])
    assert target[blocked]["read_only"] is True
    assert target[blocked]["sha256"] != source[blocked]["sha256"]


def test_mapped_picks_carry_the_new_names(synced: Synced) -> None:
    source, target = synced.source["entities"], synced.target["entities"]
    mapped = [ent for ent in synced.plan["entities"]
              if ent["kind"] == "picks" and ent["source"]["name"] != ent["target"]["name"]]
    assert {(e["target"]["run"], e["action"]) for e in mapped} == {("TS_001", "skip"),
                                                                  ("TS_002", "create")}
    for ent in mapped:
        sid, tid = ref_id(ent["source"]), ref_id(ent["target"])
        assert source[sid]["json_object"] == "apoferritin"
        picks = target[tid]
        assert picks["json_object"] == ent["target"]["name"] == "ferritin"
        assert (picks["json_user"], picks["json_session"], picks["json_run"]) == (
            ent["target"]["user"], ent["target"]["session"], ent["target"]["run"])
        assert picks["n_points"] == source[sid]["n_points"] == 8
        assert picks["trust_orientation"] is True
        assert (picks["unit"], picks["voxel_spacing"]) == ("angstrom", 10.0)
    # every picks file names, inside, the object its file name says; and copick knows it
    objects = {o["name"] for o in synced.target["objects"]}
    for eid, ent in target.items():
        if eid.startswith("picks:") and _readable(ent):
            assert eid.rsplit(":", 1)[1] == ent["json_object"] and ent["json_object"] in objects


def test_target_config(synced: Synced) -> None:
    with open(synced.paths.target_config, encoding="utf-8") as fh:
        after = json.load(fh)
    before = synced.target_config_before
    # the unknown key and everything else survive the rewrite; objects are only appended
    assert after["lab_notes"] == before["lab_notes"]
    for key, value in before.items():
        if key != "pickable_objects":
            assert after[key] == value, key
    n = len(before["pickable_objects"])
    assert after["pickable_objects"][:n] == before["pickable_objects"]
    # copick loads it, with the objects the sync added
    report = synced.target
    assert report["config"]["name"] == before["name"]
    assert report["config"]["object_names"] == [o["name"] for o in after["pickable_objects"]]
    copick_objects = {o["name"]: o for o in report["objects"]}
    added = synced.plan["objects"]
    assert [o["name"] for o in added] == ["proteasome"]
    for obj in added:
        seen, wanted = copick_objects[obj["name"]], obj["definition"]
        for field in ("label", "is_particle", "color", "radius", "pdb_id", "identifier"):
            assert seen[field] == wanted.get(field), f"{obj['name']}.{field}"
    labels = [o["label"] for o in report["objects"]]
    assert len(labels) == len(set(labels)), f"duplicate labels {labels}"
    # multilabel voxels still name objects the target knows
    for eid, ent in synced.target["entities"].items():
        if eid.startswith("multilabel-segmentation:") and _readable(ent):
            assert set(ent["values"]) - {0} <= set(labels), eid


def test_copick_reads_every_entity(synced: Synced) -> None:
    """The acceptance: copick reads every entity of both demo projects without an error,
    and every store is the format of this copick (v2 for 1.31, v3 for 2)."""
    fmt = "zarr v2" if synced.copick.major == 1 else "zarr v3"
    for report in (synced.source, synced.target):
        assert report["unreadable"] == [] and report["listing_errors"] == []
        formats = {e["format"] for e in report["entities"].values() if "format" in e}
        assert formats == {fmt}


def test_copick_reads_demo_filaments(synced: Synced) -> None:
    for report in (synced.source, synced.target):
        fil = report["entities"]["filaments:TS_001:alice:1:microtubule"]
        assert _readable(fil), fil["unreadable"]
        assert fil["n_filaments"] == 2
    assert (synced.source["entities"]["filaments:TS_001:alice:1:microtubule"]["points_sha256"]
            == synced.target["entities"]["filaments:TS_001:alice:1:microtubule"]["points_sha256"])


def test_the_strays_are_skipped_by_copick_and_shown_by_synctui(synced: Synced) -> None:
    """The demo's "not copick" paths are ones copick itself skips without failing."""
    assert TARGET_STRAY in synced.target_unrecognised
    _, unrecognised = _synctui_ids(synced.paths.source_config)
    assert SOURCE_STRAY in unrecognised  # notes.txt: copick lists only *.json picks
    for report in (synced.source, synced.target):
        assert report["listing_errors"] == []
    assert not any("membrane-draft" in eid for eid in synced.target["entities"])


def test_copick_wrote_nothing(synced: Synced) -> None:
    assert synced.tree_after_probes == synced.tree_before_probes


# ---------------------------------------------------------------------------
# mapped syncs into empty targets: local disk, SSH, WebDAV


def _mapped_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The target's pickable objects: the source's, under their mapped names."""
    out = copy.deepcopy(objects)
    for obj in out:
        obj["name"] = MAPS["objects"].get(obj["name"], obj["name"])
    return out


def mapped_syncs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, base: Path,
                 source_config: str, objects: list[dict[str, Any]]
                 ) -> list[tuple[str, dict[str, Any], str]]:
    """Sync ``source_config`` with ``MAPS`` into an empty target per ``MAPPED_TARGETS``.

    Returns (transport, plan, config): the config copick reads is a ``local://`` one of
    the folder the server keeps the target in, i.e. exactly what synctui wrote there.
    """
    from transports import make_transport

    from synctui.sync.api import SyncJob
    from synctui.sync.rules import RuleSet

    out = []
    for name in MAPPED_TARGETS:
        t = make_transport(request, name)
        if not t.is_local:
            t.close_remote_stores(monkeypatch)
        request.addfinalizer(t.close)
        home = base / name
        home.mkdir(parents=True)
        overlay = t.root(home, "dst")
        overlay.mkdir(parents=True)
        cfg = {"config_type": "filesystem", "name": f"mapped target ({name})",
               "description": "tests/compat", "version": "1.0.0",
               "pickable_objects": _mapped_objects(objects), "overlay_root": f"local://{overlay}",
               "overlay_fs_args": {"auto_mkdir": True}}
        target = home / "target.json"
        target.write_text(json.dumps(cfg, indent=4))
        t.point(target, "dst", overlay)
        job = SyncJob(source_config, str(target), RuleSet(maps=MAPS))
        plan = job.plan()
        summary = job.run(plan)
        assert summary.errors == [], f"{name}: {summary.errors}"
        assert summary.status == "ok", f"{name}: {summary.status}"
        on_disk = home / "on-disk.json"
        cfg["pickable_objects"] = json.loads(target.read_text())["pickable_objects"]
        on_disk.write_text(json.dumps(cfg, indent=4))
        out.append((name, plan.to_dict(), str(on_disk)))
    return out


def assert_reads_back_mapped(source: dict[str, Any], target: dict[str, Any],
                             plan: dict[str, Any], where: str) -> int:
    """copick lists exactly the mapped names in ``target`` and reads each entity as in
    ``source``; returns how many entities had content to compare."""
    assert target["unreadable"] == [] and target["listing_errors"] == [], where
    assert target["duplicates"] == [], where
    pairs = {ref_id(e["target"]): ref_id(e["source"]) for e in plan["entities"]}
    assert {e["action"] for e in plan["entities"]} == {"create"}, where
    assert set(target["entities"]) == set(pairs), where
    assert set(source["entities"]) == set(pairs.values()), f"{where}: the plan missed some"
    old = {*MAPS["runs"], *MAPS["objects"], *MAPS["users"]}
    assert not [eid for eid in target["entities"] if old & set(eid.split(":"))], where
    compared = 0
    for tid, sid in sorted(pairs.items()):
        mine, theirs = source["entities"][sid], target["entities"][tid]
        fields = SAME_FIELDS.get(_kind(tid), ())
        for name in fields:
            assert mine.get(name) == theirs.get(name), f"{where}: {sid} -> {tid}: {name} differs"
        compared += bool(fields)
        if _kind(tid) in ("picks", "filaments"):  # the JSON names the mapped names
            _, run, user, _session, obj = tid.split(":")
            assert (theirs["json_object"], theirs["json_run"]) == (obj, run), f"{where}: {tid}"
            if _kind(tid) == "picks":
                assert theirs["json_user"] == user, f"{where}: {tid}"
    return compared


@pytest.fixture(scope="module")
def demo_source(synced: Synced) -> tuple[str, dict[str, Any]]:
    """The demo source (never written by a sync) and copick's report of it."""
    return synced.paths.source_config, synced.source


def test_mapped_demo_reads_back_equal_on_every_target(
        copick: Copick, demo_source: tuple[str, dict[str, Any]], request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config, source = demo_source
    synced = mapped_syncs(request, monkeypatch, tmp_path, config, SOURCE_OBJECTS)
    reports = probe(copick.python, *(cfg for _, _, cfg in synced))
    for (name, plan, _), target in zip(synced, reports, strict=True):
        compared = assert_reads_back_mapped(source, target, plan, f"{name}, copick {copick.release.version}")
        assert compared == 21, name  # 6 volumes, 4 segmentations, 8 picks, 1 filaments, 2 meshes
        assert target["runs"] == ["TS_002", "TS_003", "exp1"]
        assert "picks:exp1:robert:1:ribosome" in target["entities"]
        assert "picks:TS_002:alice:1:ferritin" in target["entities"]


def test_a_project_copick_2_wrote_syncs_and_reads_back_equal(
        copick: Copick, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    if copick.major != 2:
        pytest.skip("copick 1.31 (zarr 2) cannot read what copick 2 writes (zarr v3)")
    config = _run(copick.python, WRITER, str(tmp_path / "written")).strip().splitlines()[-1]
    with open(config, encoding="utf-8") as fh:
        objects = json.load(fh)["pickable_objects"]
    synced = mapped_syncs(request, monkeypatch, tmp_path / "targets", config, objects)
    source, *targets = probe(copick.python, config, *(cfg for _, _, cfg in synced))
    assert source["unreadable"] == [] and source["listing_errors"] == []
    kinds = {_kind(eid) for eid in source["entities"]}
    assert {"tomogram", "features", "segmentation", "multilabel-segmentation",
            "instance-segmentation", "panoptic-segmentation", "picks", "mesh",
            "filaments"} <= kinds
    for (name, plan, _), target in zip(synced, targets, strict=True):
        compared = assert_reads_back_mapped(source, target, plan, f"{name}, copick-2-written")
        assert compared == 22, name
        assert target["entities"]["tomogram:exp1:10.000:wbp"]["levels"] == {
            "0": [48, 64, 64], "1": [24, 32, 32], "2": [12, 16, 16]}


@pytest.mark.integration
@pytest.mark.parametrize("server", ["moto", "seaweedfs"])
def test_copick_reads_the_s3_target_through_its_own_s3fs(
        copick: Copick, demo_source: tuple[str, dict[str, Any]], request: pytest.FixtureRequest,
        tmp_path: Path, server: str) -> None:
    """The mapped demo synced to ``s3://bucket/proj``; copick opens that config itself (its
    fsspec/s3fs, with the copick-style fs_args ``endpoint_url``/``key``/``secret`` pointed at
    the loopback server) and reads every entity equal to the source."""
    if copick.major != 1:
        pytest.skip("copick 1.31 is the release whose venv carries s3fs")
    from s3_servers import s3_root

    from synctui.sync.api import SyncJob
    from synctui.sync.rules import RuleSet

    config, source = demo_source
    bucket = s3_root(request, server)
    target = tmp_path / "s3-target.json"
    target.write_text(json.dumps({
        "config_type": "filesystem", "name": f"S3 target ({server})", "version": "1.0.0",
        "pickable_objects": _mapped_objects(SOURCE_OBJECTS), "overlay_root": bucket.url("proj/overlay"),
        "overlay_fs_args": bucket.fs_args()}, indent=4))
    job = SyncJob(config, str(target), RuleSet(maps=MAPS))
    try:
        plan = job.plan()
        summary = job.run(plan)
    finally:
        job.close_stores()
    assert summary.errors == [] and summary.status == "ok", summary.errors
    [report] = probe(copick.python, str(target))
    compared = assert_reads_back_mapped(source, report, plan.to_dict(), f"{server}, copick {copick.release.version}")
    assert compared == 21
    assert report["runs"] == ["TS_002", "TS_003", "exp1"]
