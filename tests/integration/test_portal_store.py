"""The portal store on the loopback portal: its metadata cache, retries, refusals, and `plan`."""

from __future__ import annotations

import json

import pytest

from synctui.cli import main
from synctui.errors import StoreError
from synctui.project.catalog import open_project
from synctui.project.config import load_config


def _open(portal, tmp_path, **extra):
    (tmp_path / "ov").mkdir(exist_ok=True)
    return open_project(load_config(portal.config(str(tmp_path / "ov"), **extra)))


def _close(cat):
    for store in cat.stores.values():
        store.close()


def test_metadata_is_cached_in_the_state_dir_and_503s_are_retried(portal_env, tmp_path, state_dir,
                                                                   monkeypatch):
    portal = portal_env
    portal.graphql.fail_next[:] = [503, 503]  # two refusals, then answers: the retry policy rides them out
    before = len(portal.requests())
    cat = _open(portal, tmp_path)
    _close(cat)
    asked = len(portal.requests()) - before
    assert asked == 4 and not portal.graphql.fail_next  # 2 refused + datasets + one batch of runs
    assert list((state_dir / "portal-cache").glob("index-*.json"))
    again = _open(portal, tmp_path)  # a second process within the TTL asks nothing
    _close(again)
    assert len(portal.requests()) - before == asked
    assert sorted(again.entities) == sorted(cat.entities)
    monkeypatch.setenv("SYNCTUI_PORTAL_CACHE_TTL", "-1")  # never expires: still nothing asked
    _close(_open(portal, tmp_path))
    assert len(portal.requests()) - before == asked
    _close(_open(portal, tmp_path, portal_cache=False))  # copick's switch: the cache is bypassed
    assert len(portal.requests()) - before == asked + 2


def test_the_store_refuses_every_write(portal_env, tmp_path):
    cat = _open(portal_env, tmp_path)
    store = cat.stores["static"]
    try:
        path = next(e.path for e in cat.entities.values() if e.ref.kind.value == "picks")
        for write in (lambda: store.write_atomic(path, b"x"), lambda: store.remove(path),
                      lambda: store.rename(path, path + ".x"), lambda: store.makedirs("x"),
                      lambda: store.create_exclusive("x", b"")):
            with pytest.raises(StoreError, match="read-only"):
                write()
        assert all(e.read_only for e in cat.entities.values() if e.root == "static")
    finally:
        _close(cat)


def test_plan_opens_a_portal_config(portal_env, tmp_path, capsys):
    src, dst = tmp_path / "portal.json", tmp_path / "mine.json"
    (tmp_path / "ov").mkdir()
    (tmp_path / "mine").mkdir()
    src.write_text(json.dumps(portal_env.config(str(tmp_path / "ov"))))
    dst.write_text(json.dumps({"overlay_root": str(tmp_path / "mine"), "pickable_objects": []}))
    assert main(["plan", "--json", "--source", str(src), "--target", str(dst)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["counts"]["create"]["entities"] == 10
    assert main(["plan", "--source", str(src), "--source-dataset-ids", "10440", "--target", str(dst)]) == 2
    assert "name the source twice" in capsys.readouterr().err


def test_an_unknown_dataset_in_a_config_names_the_file(portal_env, tmp_path, capsys):
    src, dst = tmp_path / "portal.json", tmp_path / "mine.json"
    (tmp_path / "ov").mkdir()
    (tmp_path / "mine").mkdir()
    src.write_text(json.dumps(portal_env.config(str(tmp_path / "ov"), dataset_ids=[10440, 77777])))
    dst.write_text(json.dumps({"overlay_root": str(tmp_path / "mine"), "pickable_objects": []}))
    assert main(["plan", "--source", str(src), "--target", str(dst)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"synctui: error: {src}: dataset_ids: the CryoET Data Portal ({portal_env.graphql_url}) "
                   "has no dataset 77777; nothing was read")


def test_reads_through_the_https_mirror_give_the_same_bytes(portal_env, tmp_path):
    import portal_server

    mirror = f"{portal_env.s3.endpoint}/{portal_server.BUCKET}"  # path-style: the bucket as a plain prefix
    cat = _open(portal_env, tmp_path, portal_fs_args={"files_url": mirror})
    try:
        store = cat.stores["static"]
        assert store.bucket.url("any", "k/x") == f"{mirror}/k/x"
        ent = next(e for e in cat.entities.values() if e.ref.kind.value == "tomogram")
        for member in list(ent.files)[:3]:
            _, key = store.bucket_key(ent.file_path(member))
            assert store.read_bytes(ent.file_path(member)) == portal_env.fixture.files[key]
    finally:
        _close(cat)
