"""Mapped picks/filaments: exactly the four name fields change, every other byte of meaning stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planproj import RUNS, SEC, T0, Proj, apply_plan, by_source, by_target, picks_json, plan

from synctui.errors import StoreError
from synctui.project.layout import EntityRef, Kind
from synctui.sync.plan import Act
from synctui.sync.rules import RuleSet
from synctui.sync.transform import needs_transform, transform_annotation

SRC = EntityRef(Kind.PICKS, run="run1", user="alice", session="1", name="ribosome")
DST = EntityRef(Kind.PICKS, run="exp1", user="al", session="7", name="ribo")

# copick's own spelling (indent 4), with fields copick's sync drops and an unknown key
PICKS_TEXT = """{
    "pickable_object_name": "ribosome",
    "user_id": "alice",
    "session_id": "1",
    "run_name": "run1",
    "voxel_spacing": 10.000,
    "unit": "nanometer",
    "trust_orientation": false,
    "lab_notebook": {"page": 12, "note": "caf\u00e9 \u2013 ok"},
    "points": [
        {
            "location": {"x": 1.50, "y": 2e3, "z": -0.0},
            "transformation_": [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
            "instance_id": 3,
            "score": 0.12345678901234567890
        }
    ]
}
"""


def _without_names(data: dict) -> dict:
    return {k: v for k, v in data.items()
            if k not in ("run_name", "pickable_object_name", "user_id", "session_id")}


def test_rewrites_exactly_the_four_name_fields() -> None:
    out = transform_annotation(PICKS_TEXT.encode(), SRC, DST)
    data = json.loads(out)
    assert (data["run_name"], data["pickable_object_name"], data["user_id"], data["session_id"]) == \
        ("exp1", "ribo", "al", "7")
    assert _without_names(data) == _without_names(json.loads(PICKS_TEXT))
    assert data["unit"] == "nanometer" and data["trust_orientation"] is False
    assert data["voxel_spacing"] == 10.0


def test_keeps_key_order_float_spellings_indent_and_trailing_newline() -> None:
    out = transform_annotation(PICKS_TEXT.encode(), SRC, DST).decode()
    expected = (PICKS_TEXT.replace('"ribosome"', '"ribo"').replace('"alice"', '"al"')
                .replace('"session_id": "1"', '"session_id": "7"').replace('"run1"', '"exp1"'))
    # re-indented by json, so compare the parts that matter: every number's text, key order, layout
    for spelling in ("10.000", "1.50", "2e3", "-0.0", "0.12345678901234567890", '"instance_id": 3'):
        assert spelling in out, spelling
    assert list(json.loads(out)) == list(json.loads(expected))
    assert out.endswith("}\n")
    assert out.splitlines()[1] == '    "pickable_object_name": "ribo",'
    assert "café – ok" in out  # no \\u escapes introduced


def test_unchanged_names_give_identical_bytes_for_copick_style_json() -> None:
    text = json.dumps(json.loads(PICKS_TEXT), indent=4)  # what copick itself writes
    out = transform_annotation(text.encode(), SRC, SRC.with_(run="exp1"))
    assert out == text.replace('"run1"', '"exp1"').encode()


def test_only_mapped_fields_change() -> None:
    """A file whose content disagrees with its name keeps the fields nobody mapped."""
    text = json.dumps({"pickable_object_name": "Ribosome-80S", "user_id": "alice", "session_id": "1",
                       "run_name": "run1", "points": []})
    out = json.loads(transform_annotation(text.encode(), SRC, SRC.with_(user="al")))
    assert out == {"pickable_object_name": "Ribosome-80S", "user_id": "al", "session_id": "1",
                   "run_name": "run1", "points": []}


def test_null_run_name_stays_null() -> None:
    text = json.dumps({"pickable_object_name": "ribosome", "user_id": "alice", "session_id": "1",
                       "run_name": None, "points": []})
    out = json.loads(transform_annotation(text.encode(), SRC, DST))
    assert out["run_name"] is None and out["user_id"] == "al"


def test_compact_json_stays_compact() -> None:
    text = '{"pickable_object_name": "ribosome", "user_id": "alice", "session_id": "1", "run_name": "run1", "points": [{"location": {"x": 1.50}}]}'
    out = transform_annotation(text.encode(), SRC, DST)
    assert b"\n" not in out and b'"x": 1.50' in out
    assert out == text.replace('"ribosome"', '"ribo"').replace('"alice"', '"al"').replace(
        '"session_id": "1"', '"session_id": "7"').replace('"run1"', '"exp1"').encode()


def test_filaments_keep_their_filaments_and_version() -> None:
    src = SRC.with_(kind=Kind.FILAMENTS, name="actin")
    dst = src.with_(name="f-actin", run="exp1")
    text = json.dumps({"pickable_object_name": "actin", "user_id": "alice", "session_id": "1",
                       "run_name": "run1", "version": "1.0", "unit": "angstrom",
                       "filaments": [{"points": [[1.25, 2.5, 3.75]], "id": 0}]}, indent=2) + "\n"
    out = transform_annotation(text.encode(), src, dst)
    data = json.loads(out)
    assert data["pickable_object_name"] == "f-actin" and data["run_name"] == "exp1"
    assert data["version"] == "1.0" and data["filaments"] == [{"points": [[1.25, 2.5, 3.75]], "id": 0}]
    assert out.decode().splitlines()[1].startswith('  "pickable_object_name"')


@pytest.mark.parametrize(("raw", "needle"), [
    (b'{"pickable_object_name": "ribosome", ', "not valid JSON"),
    (b"\xff\xfe not text", "not valid JSON"),
    (b"[1, 2, 3]", "the JSON is not an object"),
    (b'"just a string"', "the JSON is not an object"),
])
def test_invalid_json_is_a_clear_store_error(raw: bytes, needle: str) -> None:
    with pytest.raises(StoreError) as info:
        transform_annotation(raw, SRC, DST, "ExperimentRuns/run1/Picks/alice_1_ribosome.json")
    message = str(info.value)
    assert message.startswith("cannot map ExperimentRuns/run1/Picks/alice_1_ribosome.json:")
    assert needle in message and "\n" not in message


def test_needs_transform_only_for_mapped_json_annotations() -> None:
    assert needs_transform(SRC, DST)
    assert not needs_transform(SRC, SRC)
    mesh = SRC.with_(kind=Kind.MESH)
    assert not needs_transform(mesh, mesh.with_(run="exp1"))  # glb files are copied byte for byte
    seg = EntityRef(Kind.SEGMENTATION, run="run1", voxel_spacing=10.0, user="a", session="1", name="m")
    assert not needs_transform(seg, seg.with_(run="exp1"))


# -- in a plan ---------------------------------------------------------------------------------

PICKS = f"{RUNS}/run1/Picks/alice_1_ribosome.json"
MAPPED = f"{RUNS}/exp1/Picks/al_1_ribo.json"
RULES = RuleSet(maps={"runs": {"run1": "exp1"}, "objects": {"ribosome": "ribo"}, "users": {"alice": "al"}})


@pytest.fixture
def projects(tmp_path: Path) -> tuple[Proj, Proj]:
    src = Proj(tmp_path / "src")
    dst = Proj(tmp_path / "dst", objects=[{"name": "ribo", "is_particle": True, "label": 1}])
    src.write({PICKS: PICKS_TEXT})
    return src, dst


def test_a_mapped_picks_file_is_created_with_rewritten_size(projects: tuple[Proj, Proj]) -> None:
    src, dst = projects
    ent = by_source(plan(src, dst, RULES))[PICKS]
    assert ent.action is Act.CREATE and ent.transform and ent.target_path == MAPPED
    expected = transform_annotation(PICKS_TEXT.encode(), SRC, DST.with_(session="1"))
    (fa,) = ent.files
    assert fa.size == ent.bytes == len(expected)
    assert fa.src_size == len(PICKS_TEXT.encode()) and fa.source_path == PICKS
    assert "names rewritten" in ent.reason


def test_transformed_file_compares_by_its_transformed_content(projects: tuple[Proj, Proj]) -> None:
    src, dst = projects
    p = plan(src, dst, RULES)
    apply_plan(p, src.open(), dst.open())
    written = (dst.overlay / MAPPED).read_bytes()
    assert written == transform_annotation(PICKS_TEXT.encode(), SRC, DST.with_(session="1"))
    again = by_target(plan(src, dst, RULES))[MAPPED]
    assert (again.action, again.reason) == (Act.SKIP, "unchanged (after rewriting names)")
    # a later mtime alone does not make it different: the content decides
    dst.touch(MAPPED, T0 - 3600 * SEC)
    assert by_target(plan(src, dst, RULES))[MAPPED].action is Act.SKIP
    # nor would the raw (unmapped) source bytes ever be "the same"
    assert written != PICKS_TEXT.encode()


def test_transformed_target_with_other_content(projects: tuple[Proj, Proj]) -> None:
    src, dst = projects
    dst.write({MAPPED: picks_json(obj="ribo", user="al", run="exp1", n=7)}, mtime_ns=T0 - SEC)
    ent = by_target(plan(src, dst, RULES))[MAPPED]
    assert (ent.action, ent.reason) == (Act.UPDATE, "content differs after rewriting names")
    (fa,) = ent.files
    assert fa.dst_size == len(picks_json(obj="ribo", user="al", run="exp1", n=7))
    # the same, but the target was edited after the source: a conflict
    dst.touch(MAPPED, T0 + 60 * SEC)
    ent = by_target(plan(src, dst, RULES))[MAPPED]
    assert ent.action is Act.CONFLICT
    assert by_target(plan(src, dst, RULES, overwrite_conflicts=True))[MAPPED].action is Act.UPDATE
    assert by_target(plan(src, dst, RuleSet(maps=RULES.maps, overwrite="never")))[MAPPED].action is Act.EXISTS


def test_always_policy_rewrites_an_identical_transformed_file(projects: tuple[Proj, Proj]) -> None:
    src, dst = projects
    apply_plan(plan(src, dst, RULES), src.open(), dst.open())
    rules = RuleSet(maps=RULES.maps, overwrite="always")
    ent = by_target(plan(src, dst, rules))[MAPPED]
    assert (ent.action, ent.reason) == (Act.UPDATE, "overwrite policy 'always'")


def test_a_source_file_that_cannot_be_rewritten_blocks_only_itself(tmp_path: Path) -> None:
    src = Proj(tmp_path / "src")
    dst = Proj(tmp_path / "dst")
    bad = f"{RUNS}/run1/Picks/alice_1_membrane.json"
    src.write({PICKS: PICKS_TEXT, bad: "{ not json"})
    ents = by_source(plan(src, dst, RuleSet(maps={"runs": {"run1": "exp1"}})))
    assert ents[bad].action is Act.BLOCKED
    assert ents[bad].reason.startswith("cannot rewrite names: cannot map") and "not valid JSON" in ents[bad].reason
    assert ents[PICKS].action is Act.CREATE
    # unmapped, the same broken file is just copied byte for byte
    assert by_source(plan(src, dst))[bad].action is Act.CREATE
