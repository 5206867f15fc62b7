"""Portal configs, names and the picks conversion, without a server."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctui.errors import ConfigError
from synctui.project.config import load_config
from synctui.project.layout import parse_path
from synctui.project.portal.names import camel, sanitize_name, tomo_type
from synctui.project.portal.options import GRAPHQL_URL, S3_ENDPOINT, parse_dataset_ids
from synctui.project.portal.picks import picks_json
from synctui.project.portal.tree import build_tree

OBJECTS = [{"name": "ribosome", "is_particle": True, "identifier": "GO:0022626"},
           {"name": "membrane", "is_particle": False, "go_id": "GO:0016020"}]


def _portal(**extra):
    return {"config_type": "cryoet_data_portal", "dataset_ids": [10440], "overlay_root": "/tmp/ov",
            "pickable_objects": OBJECTS, **extra}


def test_every_key_copick_accepts_opens(monkeypatch):
    for var in ("SYNCTUI_PORTAL_GRAPHQL_URL", "SYNCTUI_PORTAL_S3_ENDPOINT", "SYNCTUI_PORTAL_FILES_URL",
                "SYNCTUI_PORTAL_CACHE_TTL"):
        monkeypatch.delenv(var, raising=False)
    cfg = load_config(_portal(name="p", description="d", version="1.31.0", user_id="bob", session_id="1",
                              overlay_fs_args={"auto_mkdir": True}, runs=None, voxel_spacings=None,
                              tomograms={}, portal_cache=False, portal_cache_ttl_seconds=60,
                              portal_cache_dir="/tmp/c", portal_cache_lock_timeout_seconds=5,
                              dataset_ids=[10440, "10441", 10440]))
    assert cfg.portal is not None and cfg.portal.dataset_ids == (10440, 10441)
    assert (cfg.portal.cache, cfg.portal.cache_ttl) == (False, 60)
    assert cfg.portal.options.graphql_url == GRAPHQL_URL and cfg.portal.options.s3_endpoint == S3_ENDPOINT
    assert cfg.go_map == {"GO:0022626": "ribosome", "GO:0016020": "membrane"}  # go_id is identifier's alias
    assert cfg.static is not None and cfg.static.protocol == "portal"
    assert "10440,10441" in cfg.static.display
    assert cfg.warnings == []


def test_endpoints_come_from_fs_args_over_env(monkeypatch):
    monkeypatch.setenv("SYNCTUI_PORTAL_GRAPHQL_URL", "http://env/graphql")
    monkeypatch.setenv("SYNCTUI_PORTAL_S3_ENDPOINT", "http://env-s3")
    cfg = load_config(_portal(portal_fs_args={"graphql_url": "http://mine/graphql", "typo": 1}))
    assert cfg.portal.options.graphql_url == "http://mine/graphql"
    assert cfg.portal.options.s3_endpoint == "http://env-s3"
    assert any("'typo'" in w for w in cfg.warnings)


@pytest.mark.parametrize("change, words", [
    ({"dataset_ids": None}, "dataset_ids: missing"),
    ({"dataset_ids": []}, "non-empty list"),
    ({"dataset_ids": [10440, "ten"]}, "dataset_ids[1]: 'ten' is not a dataset id"),
    ({"dataset_ids": [True]}, "dataset_ids[0]"),
    ({"portal_cache": "maybe"}, "portal_cache: 'maybe' is not true or false"),
    ({"portal_cache_ttl_seconds": 1.5}, "portal_cache_ttl_seconds"),
    ({"portal_fs_args": {"graphql_url": "ftp://x"}}, "portal_fs_args.graphql_url: 'ftp://x' is not an http(s) URL"),
    ({"config_type": "mlcroissant"}, "only 'filesystem' and 'cryoet_data_portal'"),
])
def test_bad_portal_configs_are_one_line(change, words):
    data = _portal(**change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        load_config(data)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_dataset_ids_flag():
    assert parse_dataset_ids("10440, 10441,10440") == [10440, 10441]
    for bad in ("", "10440,x", "-1", "1.5"):
        with pytest.raises(ConfigError):
            parse_dataset_ids(bad)


@pytest.mark.parametrize("tomo, name", [
    ({"reconstructionMethod": "WBP", "processing": "denoised", "processingSoftware": "DenoisET",
      "ctfCorrected": True}, "wbp-denoised-denoiset-ctfdeconv"),
    ({"reconstructionMethod": "Fourier_Space", "processing": "filtered_even"}, "fourierSpace-filteredEven"),
    ({"reconstructionMethod": "SART", "processing": "raw", "processingSoftware": "AreTomo3",
      "ctfCorrected": False}, "sart-raw-aretomo3"),
])
def test_tomogram_types_as_copick_names_them(tomo, name):
    assert tomo_type(tomo) == name


def _copick_camel(s: str) -> str:  # copick 1.31 impl/cryoet_data_portal.py, verbatim
    import re

    s = re.sub(r"([_\-])+", " ", s).title().replace(" ", "")
    return "".join([s[0].lower(), s[1:]])


@given(st.text(alphabet=st.sampled_from("abcXYZ_-09 "), min_size=1, max_size=12).filter(
    lambda s: s.strip(" _-")))
def test_camel_is_copicks(text):
    assert camel(text) == _copick_camel(text)


@given(st.text(min_size=1, max_size=30))
def test_sanitized_names_are_valid_copick_names(text):
    from synctui.project.names import name_problem

    try:
        name = sanitize_name(text)
    except ValueError:
        return
    assert name_problem(name, "object name") is None or not name.isprintable()


def test_points_become_picks_as_copick_converts_them():
    lines = [{"type": "orientedPoint", "location": {"x": 1, "y": 2.5, "z": 3},
              "xyz_rotation_matrix": [[0, -1, 0], [1, 0, 0], [0, 0, 1]]}]
    raw = "\n".join(json.dumps(x) for x in lines).encode() + b"\n"
    doc = json.loads(picks_json(raw, shape_type="OrientedPoint", voxel_spacing=10.012, object_name="ribosome",
                                user_id="data-portal", session_id="7", run_name="1001"))
    assert doc["points"] == [{"location": {"x": 10.012, "y": 2.5 * 10.012, "z": 3 * 10.012},
                              "transformation_": [[0.0, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                                                  [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
                              "instance_id": 0, "score": 1.0}]
    assert doc["trust_orientation"] is True and doc["unit"] == "angstrom"
    assert list(doc) == ["pickable_object_name", "user_id", "session_id", "run_name", "voxel_spacing",
                         "unit", "points", "trust_orientation"]  # CopickPicksFile's field order


def test_the_tree_names_entities_as_copick_and_parses_back():
    index = {
        "runs": [{"id": 7, "name": "TS_1", "datasetId": 10440}],
        "tomogramVoxelSpacings": [{"id": 1, "runId": 7, "voxelSpacing": 4.99}],
        "tomograms": [
            {"id": 3, "tomogramVoxelSpacingId": 1, "reconstructionMethod": "WBP", "processing": "raw",
             "s3OmezarrDir": "s3://b/10440/TS_1/t/3/TS_1.zarr"},
            {"id": 2, "tomogramVoxelSpacingId": 1, "reconstructionMethod": "WBP", "processing": "raw",
             "s3OmezarrDir": "s3://b/10440/TS_1/t/2/TS_1.zarr"}],
        "annotationFiles": [
            {"id": 11, "annotationShapeId": 21, "tomogramVoxelSpacingId": 1, "format": "ndjson",
             "s3Path": "s3://b/a/11.ndjson"},
            {"id": 12, "annotationShapeId": 22, "tomogramVoxelSpacingId": 1, "format": "zarr",
             "s3Path": "s3://b/a/12.zarr"},
            {"id": 13, "annotationShapeId": 22, "tomogramVoxelSpacingId": 1, "format": "mrc",
             "s3Path": "s3://b/a/13.mrc"}],
        "annotationShapes": [{"id": 21, "annotationId": 31, "shapeType": "Point"},
                             {"id": 22, "annotationId": 32, "shapeType": "SegmentationMask"}],
        "annotations": [{"id": 31, "runId": 7, "objectId": "GO:0022626", "objectName": "ribosome"},
                        {"id": 32, "runId": 7, "objectId": "GO:0016020", "objectName": "membrane"}],
    }
    tree = build_tree(index, {"GO:0022626": "ribo", "GO:0016020": "mem"})
    assert tree.runs == ["7"]
    assert [m.path for m in tree.mounts] == ["ExperimentRuns/7/VoxelSpacing4.990/wbp-raw.zarr",
                                             "ExperimentRuns/7/Segmentations/4.990_data-portal_12_mem.zarr"]
    assert tree.mounts[0].prefix == "10440/TS_1/t/2/TS_1.zarr"  # two of one name: the lowest id
    assert tree.skipped == [("tomogram 3", "copick names it like 2 (ExperimentRuns/7/VoxelSpacing4.990/wbp-raw.zarr)")]
    assert [p.path for p in tree.picks] == ["ExperimentRuns/7/Picks/data-portal_11_ribo.json"]
    for path in [m.path + "/.zattrs" for m in tree.mounts] + [p.path for p in tree.picks]:
        parsed = parse_path(path)
        assert isinstance(parsed, tuple), (path, parsed)
