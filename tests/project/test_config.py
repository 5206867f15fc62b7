"""copick configs: every key loads, every mistake is one line naming file, key and problem."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from synctui.errors import ConfigError
from synctui.project.config import ProjectConfig, load_config, save_config_dict
from synctui.storage.base import TEMP_PREFIX


def full_config(tmp_path: Path) -> dict[str, Any]:
    """A config using every key DESIGN.md section 2 lists, plus keys copick does not know."""
    return {
        "config_type": "filesystem",
        "name": "Demo project",
        "description": "every key",
        "version": "1.5.0",
        "x_lab_notes": {"keep": ["me", 1]},
        "pickable_objects": [
            {"name": "ribosome", "is_particle": True, "label": 1, "color": [0, 117, 220, 255],
             "emdb_id": "EMD-3883", "pdb_id": "7P6Z", "identifier": "GO:0022626",
             "map_threshold": 0.0374, "radius": 150, "metadata": {"source": "czii"},
             "x_custom": True},
            {"name": "membrane", "is_particle": False, "label": 2, "go_id": "GO:0016020"},
            {"name": "apo-ferritin", "is_particle": True},
        ],
        "user_id": "alice",
        "session_id": "0",
        "overlay_root": "local://" + str(tmp_path / "overlay"),
        "overlay_fs_args": {"auto_mkdir": True},
        "static_root": "ssh:///data/static",
        "static_fs_args": {"host": "cluster", "port": 2222, "username": "bob"},
        "runs": ["TS_001", "TS_002"],
        "voxel_spacings": [10.0],
        "tomograms": ["wbp"],
    }


def write(tmp_path: Path, data: Any, name: str = "copick_config.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def load_error(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")  # names the file
    return message


def test_full_config_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, full_config(tmp_path)))
    assert cfg.name == "Demo project" and cfg.label == "Demo project"
    assert cfg.user_id == "alice" and cfg.session_id == "0"
    assert cfg.object_names == ["ribosome", "membrane", "apo-ferritin"]
    ribo = cfg.object("ribosome")
    assert ribo is not None
    assert ribo.color == (0, 117, 220, 255) and ribo.pdb_id == "7P6Z" and ribo.emdb_id == "EMD-3883"
    assert ribo.identifier == "GO:0022626" and ribo.map_threshold == 0.0374 and ribo.radius == 150
    assert ribo.metadata == {"source": "czii"} and ribo.raw["x_custom"] is True
    membrane = cfg.object("membrane")
    assert membrane is not None and membrane.identifier == "GO:0016020"  # go_id alias
    ferritin = cfg.object("apo-ferritin")
    assert ferritin is not None and ferritin.label == 1 and ferritin.color is None
    assert cfg.object("nope") is None
    assert cfg.overlay.protocol == "local" and cfg.overlay.path == str(tmp_path / "overlay")
    assert cfg.static is not None
    assert (cfg.static.protocol, cfg.static.host, cfg.static.port, cfg.static.username,
            cfg.static.path) == ("ssh", "cluster", 2222, "bob", "/data/static")
    assert cfg.raw["runs"] == ["TS_001", "TS_002"]


def test_minimal_config_and_relative_roots(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, {"pickable_objects": [], "overlay_root": "overlay"}))
    assert cfg.objects == [] and cfg.static is None
    assert cfg.overlay.path == str(tmp_path / "overlay")  # relative to the config file
    assert cfg.label == "copick_config.json"


def test_config_from_dict_is_copied() -> None:
    data = {"pickable_objects": [], "overlay_root": "/data/overlay"}
    cfg = load_config(data)
    cfg.raw["name"] = "changed"
    assert "name" not in data and cfg.path is None


def test_copick_config_without_config_type(tmp_path: Path) -> None:
    data = full_config(tmp_path)
    del data["config_type"]
    assert load_config(write(tmp_path, data)).name == "Demo project"


# -- mistakes ------------------------------------------------------------------------

def test_malformed_json_gives_line_and_column(tmp_path: Path) -> None:
    message = load_error(tmp_path, '{\n  "name": "x",\n  "overlay_root": \n}')
    assert "malformed JSON at line 4 column 1" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=r"nope\.json: config file not found"):
        load_config(path)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b'{"name": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


@pytest.mark.parametrize(("data", "got"), [([1, 2], "list"), ("\"text\"", "str"), ("3", "int")])
def test_non_object_config(tmp_path: Path, data: Any, got: str) -> None:
    message = load_error(tmp_path, data if isinstance(data, str) else json.dumps(data))
    assert f"must be a JSON object, got {got}" in message


def _without(tmp_path: Path, key: str) -> dict[str, Any]:
    data = full_config(tmp_path)
    del data[key]
    return data


@pytest.mark.parametrize(("key", "words"), [
    ("overlay_root", "overlay_root: missing"),
    ("pickable_objects", "pickable_objects: missing"),
])
def test_missing_required_key(tmp_path: Path, key: str, words: str) -> None:
    assert words in load_error(tmp_path, _without(tmp_path, key))


def _with_object(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    data = full_config(tmp_path)
    data["pickable_objects"][1].update(changes)
    return data


@pytest.mark.parametrize(("name", "words"), [
    ("apo_ferritin", "'_'"),
    ("apo ferritin", "whitespace"),
    ("apo/ferritin", "forbidden"),
    ("", "empty"),
    (5, "must be a string"),
])
def test_invalid_object_name(tmp_path: Path, name: Any, words: str) -> None:
    message = load_error(tmp_path, _with_object(tmp_path, name=name))
    assert "pickable_objects[1].name: object name" in message
    assert words in message


@pytest.mark.parametrize(("key", "value", "words"), [
    ("user_id", "alice_b", "user_id: user id 'alice_b' contains '_'"),
    ("user_id", "alice b", "user_id: user id 'alice b' contains whitespace"),
    ("session_id", "a:b", "session_id: session id 'a:b' contains forbidden"),
    ("session_id", 7, "session_id: must be a string, got int"),
    ("name", ["x"], "name: must be a string"),
    ("config_type", "cryoet_data_portal", "dataset_ids: missing"),  # a portal config names its datasets
    ("config_type", "mlcroissant", "config_type: 'mlcroissant' is not supported"),
])
def test_invalid_top_level_values(tmp_path: Path, key: str, value: Any, words: str) -> None:
    data = full_config(tmp_path)
    data[key] = value
    assert words in load_error(tmp_path, data)


@pytest.mark.parametrize(("changes", "words"), [
    ({"label": 0}, "pickable_objects[1].label (membrane): 0 is invalid (0 is background"),
    ({"label": -3}, "label (membrane): -3 is invalid"),
    ({"label": "2"}, "label (membrane): must be an integer"),
    ({"label": True}, "label (membrane): must be an integer"),
    ({"is_particle": "yes"}, "pickable_objects[1].is_particle (membrane): must be true or false"),
    ({"color": [1, 2, 3]}, "color (membrane): must be four integers 0-255"),
    ({"color": [0, 0, 0, 256]}, "color (membrane): must be four integers 0-255"),
    ({"radius": "big"}, "radius (membrane): must be a number"),
    ({"map_threshold": [1]}, "map_threshold (membrane): must be a number"),
    ({"metadata": [1]}, "metadata (membrane): must be an object"),
    ({"name": "ribosome"}, "pickable_objects[1].name: duplicate object name 'ribosome' (also pickable_objects[0])"),
])
def test_invalid_objects(tmp_path: Path, changes: dict[str, Any], words: str) -> None:
    assert words in load_error(tmp_path, _with_object(tmp_path, **changes))


def test_object_missing_keys(tmp_path: Path) -> None:
    data = full_config(tmp_path)
    del data["pickable_objects"][0]["is_particle"]
    assert "pickable_objects[0] (ribosome): missing 'is_particle'" in load_error(tmp_path, data)
    data = full_config(tmp_path)
    del data["pickable_objects"][2]["name"]
    assert "pickable_objects[2]: missing 'name'" in load_error(tmp_path, data)
    data = full_config(tmp_path)
    data["pickable_objects"] = {"ribosome": {}}
    assert "pickable_objects: must be a list, got dict" in load_error(tmp_path, data)
    data["pickable_objects"] = ["ribosome"]
    assert "pickable_objects[0]: must be an object" in load_error(tmp_path, data)


@pytest.mark.parametrize(("key", "value", "fs_args", "words"), [
    ("overlay_root", "smb://server", None, "overlay_root: 'smb://server': no share"),
    ("overlay_root", "s3://b/project", {"key": "k"}, "overlay_root: 's3://b/project': 'b' is not an S3 bucket name"),
    ("static_root", "gs://bucket", None, "static_root: 'gs://bucket': unknown URL scheme 'gs'"),
    ("static_root", "ssh:///data", {}, "static_root: 'ssh:///data': no host"),
    ("overlay_root", "webdav://projects/a", {}, "overlay_root: 'webdav://projects/a': webdav:// roots need base_url"),
    ("overlay_root", "", None, "overlay_root: must be a non-empty path or URL"),
])
def test_bad_roots(tmp_path: Path, key: str, value: str, fs_args: dict | None, words: str) -> None:
    data = full_config(tmp_path)
    data[key] = value
    if fs_args is not None:
        data[key.replace("root", "fs_args")] = fs_args
    assert words in load_error(tmp_path, data)


def test_fs_args_must_be_an_object(tmp_path: Path) -> None:
    data = full_config(tmp_path)
    data["overlay_fs_args"] = "auto_mkdir"
    assert "overlay_fs_args: must be an object" in load_error(tmp_path, data)


# -- saving --------------------------------------------------------------------------

def key_order(value: Any) -> Any:
    """Every dict's keys in order, recursively, so order differences show up in ==."""
    if isinstance(value, dict):
        return [(k, key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [key_order(v) for v in value]
    return value


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_save_keeps_unknown_keys_and_order(tmp_path: Path) -> None:
    data = full_config(tmp_path)
    # an order no sorting would produce
    data = {"zzz_first": 1, **data, "aaa_last": {"b": 1, "a": 2}}
    path = write(tmp_path, data)
    cfg = load_config(path)
    out = tmp_path / "copy.json"
    cfg.save(str(out))
    assert key_order(json.loads(out.read_text())) == key_order(data)
    cfg.save()  # in place
    assert key_order(json.loads(path.read_text())) == key_order(data)
    assert temp_files(tmp_path) == []


def test_save_is_atomic_when_writing_fails(tmp_path: Path) -> None:
    path = write(tmp_path, full_config(tmp_path))
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_config_dict(str(path), {"name": "x", "bad": object()})  # fails halfway through
    assert path.read_bytes() == before
    assert temp_files(tmp_path) == []


def test_save_replaces_by_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"pickable_objects": [], "overlay_root": "o"})
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        renames.append((os.path.basename(src), os.path.basename(dst)))
        assert json.loads(Path(src).read_text())["name"] == "new"  # complete before it appears
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    save_config_dict(str(path), {"name": "new"})
    assert len(renames) == 1 and renames[0][0].startswith(TEMP_PREFIX)
    assert renames[0][1] == path.name


def test_config_from_dict_cannot_save_without_a_path() -> None:
    cfg = load_config({"pickable_objects": [], "overlay_root": "/o"})
    with pytest.raises(ConfigError, match="no file to save to"):
        cfg.save()


def test_with_objects_added_keeps_everything_else(tmp_path: Path) -> None:
    data = full_config(tmp_path)
    cfg = load_config(write(tmp_path, data))
    new = [{"name": "proteasome", "is_particle": True, "label": 4}]
    added = cfg.with_objects_added(new)
    assert key_order({k: v for k, v in added.items() if k != "pickable_objects"}) == \
        key_order({k: v for k, v in data.items() if k != "pickable_objects"})
    assert added["pickable_objects"][:3] == data["pickable_objects"]
    assert added["pickable_objects"][3] == new[0]
    assert added["pickable_objects"][3] is not new[0]
    assert len(cfg.raw["pickable_objects"]) == 3  # the loaded config is untouched
    cfg.save(data=added)
    reloaded = load_config(cfg.path or "")
    assert reloaded.object_names == ["ribosome", "membrane", "apo-ferritin", "proteasome"]
    assert reloaded.raw["x_lab_notes"] == {"keep": ["me", 1]}


def test_with_objects_added_to_config_without_the_key() -> None:
    cfg = ProjectConfig(raw={"overlay_root": "/o"}, path=None, name="", objects=[],
                        overlay=load_config({"pickable_objects": [], "overlay_root": "/o"}).overlay,
                        static=None)
    assert cfg.with_objects_added([{"name": "a", "is_particle": True}])["pickable_objects"] == \
        [{"name": "a", "is_particle": True}]


def test_renamed_object_keeps_other_keys(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, full_config(tmp_path)))
    ribo = cfg.object("ribosome")
    assert ribo is not None
    renamed = ribo.renamed("ribo80S", label=9)
    assert renamed["name"] == "ribo80S" and renamed["label"] == 9
    assert renamed["x_custom"] is True and renamed["pdb_id"] == "7P6Z"
    assert ribo.raw["name"] == "ribosome"
    assert list(renamed) == list(ribo.raw)


# -- file modes (issue #12, item 14) ----------------------------------------------------------

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path | str) -> int:
    return os.stat(path).st_mode & 0o7777


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o664])
def test_adding_an_object_keeps_the_configs_mode(tmp_path: Path, umask_022, mode: int) -> None:
    path = write(tmp_path, full_config(tmp_path))
    os.chmod(path, mode)
    cfg = load_config(path)
    cfg.save(data=cfg.with_objects_added([{"name": "proteasome", "is_particle": True, "label": 4}]))
    assert mode_of(path) == mode
    assert "proteasome" in load_config(path).object_names
    assert temp_files(tmp_path) == []


def test_a_sync_that_adds_an_object_keeps_the_target_configs_mode(tmp_path: Path, umask_022) -> None:
    from sync_helpers import Pair

    from synctui.sync.api import SyncJob

    pair = Pair(tmp_path, target_objects=[])
    os.chmod(pair.dst, 0o644)
    summary = SyncJob(pair.src, pair.dst).run()
    assert summary.objects_added == 2 and summary.errors == []
    assert mode_of(pair.dst) == 0o644


def test_a_rewrite_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = write(tmp_path, full_config(tmp_path))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    cfg = load_config(link)
    cfg.save(data=cfg.with_objects_added([{"name": "proteasome", "is_particle": True}]))
    assert link.is_symlink() and "proteasome" in load_config(real).object_names


def test_new_files_follow_the_umask_unless_they_hold_a_secret(tmp_path: Path, umask_022) -> None:
    from synctui.sync.rules import RuleSet

    RuleSet(exclude={"users": ["bot"]}).save(str(tmp_path / "rules.json"))
    assert mode_of(tmp_path / "rules.json") == 0o644
    plain = load_config(write(tmp_path, full_config(tmp_path)))
    plain.save(str(tmp_path / "copy.json"))
    assert mode_of(tmp_path / "copy.json") == 0o644
    secrets = [
        {"static_fs_args": {"host": "cluster", "password": "hunter2"}},
        {"static_fs_args": {"host": "cluster", "passphrase": "hunter2"}},
        {"static_root": "ssh://bob:hunter2@cluster/data"},
        {"static_root": "https://dav.example.org/p", "static_fs_args": {"auth": ["bob", "hunter2"]}},
        {"static_root": "webdav://p", "static_fs_args": {"base_url": "https://bob:hunter2@dav.example.org"}},
    ]
    for i, change in enumerate(secrets):
        cfg = load_config({**full_config(tmp_path), **change})
        out = tmp_path / f"secret{i}.json"
        cfg.save(str(out))
        assert mode_of(out) == 0o600, change


def test_umask_is_honoured_as_it_is(tmp_path: Path) -> None:
    from synctui.sync.rules import RuleSet

    old = os.umask(0o077)
    try:
        RuleSet().save(str(tmp_path / "rules.json"))
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "rules.json") == 0o600
