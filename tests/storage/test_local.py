"""What only the local store does: a missing root, failures of a body, fsync off, symlinks
and OS errors.  The Store contract every store passes is tests/storage/test_store_contract.py."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from synctui.errors import PathEscapeError, StoreError, SyncTuiError
from synctui.storage import local_scan
from synctui.storage.base import TEMP_PREFIX, clean_relpath
from synctui.storage.local import LocalStore, os_error
from synctui.storage.url import parse_location


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def store(root: Path) -> LocalStore:
    return LocalStore(parse_location(str(root)))


def put(root: Path, rel: str, data: bytes = b"x") -> Path:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def leftovers(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


# -- listing ---------------------------------------------------------------------------

def test_scan_of_missing_root_is_empty(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "nope"))
    assert list(store.scan()) == []
    with pytest.raises(StoreError, match="does not exist"):
        store.check_root()


def _listing(root: Path, mode: str, *, dirs: bool) -> tuple[list[tuple], list[str], str | None]:
    store = LocalStore(parse_location(str(root)), listing=mode)
    got = sorted((f.path, f.size, f.mtime_ns, f.kind) for f in store.scan(dirs=dirs))
    return got, sorted(store.skipped_links), store.last_listing


@pytest.mark.parametrize("dirs", [False, True], ids=["files", "dirs"])
def test_find_and_scandir_list_the_same(root: Path, outside: Path, dirs: bool) -> None:
    """GNU find (the default on Linux) and the scandir walk: the same entries, to the ns."""
    put(root, "a/b/c.zarr/0/0/0", b"x" * 10)
    put(root, "tab\there/new\nline", b"12")
    put(root, os.fsdecode(b"bad-\xff-utf8"), b"3")
    put(root, "old", b"4")
    os.utime(root / "old", ns=(1, 123_456_789))  # 0.123456789 s: a fraction find pads
    (root / "inner").symlink_to(root / "a", target_is_directory=True)
    (root / "file-link").symlink_to("old")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    os.mkfifo(root / "fifo")
    by_find = _listing(root, "find" if local_scan.find_program() else "auto", dirs=dirs)
    by_scandir = _listing(root, "scandir", dirs=dirs)
    assert by_find[:2] == by_scandir[:2]
    assert by_scandir[2] == "scandir"
    assert by_find[1] == ["escape"]
    assert ("old", 1, 123_456_789, "file") in by_find[0]
    assert "inner/b/c.zarr/0/0/0" in [p for p, *_ in by_find[0]]
    if local_scan.find_program() is not None:
        assert by_find[2] == "find"


@pytest.mark.skipif(local_scan.find_program() is None, reason="no GNU find: nothing is bundled")
def test_a_bundle_holds_only_plain_files_and_parses_back_exactly(root: Path) -> None:
    """A store's plain keys come as one FileBundle; a hidden key, a temp, a link, a
    fifo, an odd mtime and a name with a tab in it are listed one by one, and the
    bundle parses back to what the scandir walk sees."""
    from synctui.storage.bundle import FileBundle

    z = "ExperimentRuns/TS_1/VoxelSpacing10.000/wbp.zarr"
    for rel in ("0/0/0", "0/0/1", "1/0/0", "nested.zarr/0", ".zattrs", "0/.zarray", ".hid/x",
                "synctui-tmp-0.0123456789ab", "tab\t-x", "new\nline"):
        put(root, f"{z}/{rel}", rel.encode())
    os.utime(root / z / "1/0/0", ns=(1, 123_456_789))  # 0.123456789 s: find pads the fraction
    os.utime(root / z / "0/0/1", ns=(1, -2_500_000_000))  # before 1970
    (root / z / "link").symlink_to("0/0/0")
    os.mkfifo(root / z / "fifo")
    store = LocalStore(parse_location(str(root)), listing="find")
    items = list(store.scan_bundled(".zarr"))
    bundles = [b for b in items if isinstance(b, FileBundle)]
    assert [b.path for b in bundles] == [z]
    members = dict(bundles[0].members())
    assert sorted(members) == ["0/0/0", "1/0/0", "nested.zarr/0", "new\nline"]
    loose = {f.path for f in items if not isinstance(f, FileBundle)}
    for rel in (".zattrs", "0/.zarray", ".hid/x", "synctui-tmp-0.0123456789ab", "tab\t-x", "0/0/1", "link"):
        assert f"{z}/{rel}" in loose
    assert not any(p.startswith(z + "/") and (root / p).is_dir() for p in loose), "no folders below it"
    walk = {f.path: f for f in LocalStore(parse_location(str(root)), listing="scandir").scan()}
    for member, info in members.items():
        assert info == walk[f"{z}/{member}"]
    assert members["1/0/0"].mtime_ns == 123_456_789


def test_two_bundles_are_equal_in_any_order_and_differ_by_one_ns() -> None:
    from sync_helpers import find_record

    from synctui.storage.base import FileInfo
    from synctui.storage.bundle import FileBundle

    infos = [FileInfo(f"s.zarr/{i}", i, 1_700_000_000_123_456_789 + i) for i in range(5)]
    recs = [find_record(f) for f in infos]
    a, b = FileBundle("s.zarr", recs), FileBundle("s.zarr", recs[::-1])
    assert a.same_files(b)
    assert list(a.members()) == [(str(i), f) for i, f in enumerate(infos)]
    later = [find_record(FileInfo(f.path, f.size, f.mtime_ns + (f.size == 3))) for f in infos]
    assert not a.same_files(FileBundle("s.zarr", later))
    assert not a.same_files(FileBundle("s.zarr", recs[:4]))
    elsewhere = [find_record(FileInfo("t.zarr" + f.path[6:], f.size, f.mtime_ns)) for f in infos]
    assert not a.same_files(FileBundle("t.zarr", elsewhere)), "another folder's files are other files"


def test_listing_option_is_strict(root: Path) -> None:
    with pytest.raises(SyncTuiError, match="listing"):
        LocalStore(parse_location(str(root)), listing="fast")


# -- reading and writing ---------------------------------------------------------------

@pytest.mark.parametrize(("error", "raised"), [
    (RuntimeError("bug in the source"), RuntimeError),
    (ConnectionResetError(errno.ECONNRESET, "source went away"), StoreError),
])
def test_failed_write_keeps_old_file_and_no_temp(root: Path, store: LocalStore,
                                                 error: Exception, raised: type) -> None:
    put(root, "f", b"old")

    def broken() -> Iterator[bytes]:
        yield b"partial new content"
        raise error

    with pytest.raises(raised):
        store.write_atomic("f", broken())
    assert (root / "f").read_bytes() == b"old"
    assert leftovers(root) == []


def test_write_without_fsync(root: Path) -> None:
    store = LocalStore(str(root), fsync=False)
    store.write_atomic("f", b"x")
    assert (root / "f").read_bytes() == b"x"


# -- staying inside the root -----------------------------------------------------------

def test_clean_relpath() -> None:
    assert clean_relpath("a//b/./c/") == "a/b/c"
    assert clean_relpath("a\\b") == "a/b"
    assert clean_relpath("", allow_root=True) == ""
    with pytest.raises(PathEscapeError, match="climbs out"):
        clean_relpath("a/../..")
    with pytest.raises(PathEscapeError, match="absolute"):
        clean_relpath("/a")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_bytes(b"secret")
    return path


def test_symlinks_pointing_outside_are_refused(root: Path, store: LocalStore, outside: Path) -> None:
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "leak").symlink_to(outside / "secret")
    with pytest.raises(PathEscapeError, match="outside the project root"):
        store.read_bytes("escape/secret")
    with pytest.raises(PathEscapeError):
        store.read_bytes("leak")
    with pytest.raises(PathEscapeError):
        store.write_atomic("escape/new", b"x")
    with pytest.raises(PathEscapeError):
        store.write_atomic("escape/deeper/new", b"x")
    with pytest.raises(PathEscapeError):
        store.create_exclusive("escape/lock", b"x")
    with pytest.raises(PathEscapeError):
        store.remove("leak")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"


def test_scan_skips_outward_symlinks(root: Path, store: LocalStore, outside: Path) -> None:
    put(root, "real/file", b"1")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "real/leak").symlink_to(outside / "secret")
    assert [f.path for f in store.scan()] == ["real/file"]
    assert sorted(store.skipped_links) == ["escape", "real/leak"]


def test_inward_symlinks_work(root: Path, store: LocalStore) -> None:
    put(root, "real/file", b"data")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "link").symlink_to("real/file")
    assert store.read_bytes("alias/file") == b"data"
    assert store.read_bytes("link") == b"data"
    store.write_atomic("alias/new", b"n")
    assert (root / "real/new").read_bytes() == b"n"
    assert {f.path for f in store.scan()} >= {"real/file", "alias/file", "link"}
    assert store.skipped_links == []


def test_root_itself_may_be_a_symlink(tmp_path: Path, root: Path) -> None:
    put(root, "f", b"1")
    link = tmp_path / "link-to-root"
    link.symlink_to(root, target_is_directory=True)
    store = LocalStore(str(link))
    assert store.read_bytes("f") == b"1"
    assert [f.path for f in store.scan()] == ["f"]


# -- errors a user can act on ----------------------------------------------------------

@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_says_permission_denied(root: Path, store: LocalStore) -> None:
    (root / "ro").mkdir()
    (root / "ro").chmod(0o555)
    try:
        with pytest.raises(StoreError) as info:
            store.write_atomic("ro/f", b"x")
        assert "permission denied" in str(info.value) and "ro/f" in str(info.value)
        assert not info.value.transient
    finally:
        (root / "ro").chmod(0o755)


def test_permission_error_on_write_is_a_store_error(root: Path, store: LocalStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path as the read-only folder test, for machines that run tests as root."""
    put(root, "f", b"old")

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(StoreError, match=r"^cannot write f: permission denied$"):
        store.write_atomic("f", b"new")
    monkeypatch.undo()
    assert (root / "f").read_bytes() == b"old"
    assert leftovers(root) == []


@pytest.mark.parametrize(("code", "words", "transient"), [
    (errno.EACCES, "permission denied", False),
    (errno.EPERM, "permission denied", False),
    (errno.ENOSPC, "no space left on device", False),
    (errno.EROFS, "read-only file system", False),
    (errno.EAGAIN, os.strerror(errno.EAGAIN), True),
    (errno.EIO, os.strerror(errno.EIO), False),
])
def test_os_errors_become_one_line_store_errors(code: int, words: str, transient: bool) -> None:
    err = os_error(OSError(code, os.strerror(code)), "write", "a/b")
    assert isinstance(err, StoreError)
    assert str(err) == f"cannot write a/b: {words}"
    assert err.transient is transient
