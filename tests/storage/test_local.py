"""The local store: listings, atomic writes, exclusive creates, and staying inside the root."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from synctui.errors import MissingPathError, PathEscapeError, StoreError
from synctui.storage.base import TEMP_PREFIX, FileInfo, Store, clean_relpath
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


def test_is_a_store(store: LocalStore) -> None:
    assert isinstance(store, Store)
    assert LocalStore(str(store.root)).root == store.root


# -- listing ---------------------------------------------------------------------------

def test_scan_lists_relative_paths_sizes_and_mtimes(root: Path, store: LocalStore) -> None:
    put(root, "a.txt", b"hello")
    put(root, "d/e/f.bin", b"123456789")
    os.utime(root / "a.txt", ns=(1_500_000_000_000_000_001, 1_500_000_000_000_000_001))
    files = {f.path: f for f in store.scan()}
    assert set(files) == {"a.txt", "d/e/f.bin"}
    assert files["a.txt"] == FileInfo("a.txt", 5, 1_500_000_000_000_000_001)
    assert files["d/e/f.bin"].size == 9 and files["d/e/f.bin"].kind == "file"


def test_scan_with_dirs(root: Path, store: LocalStore) -> None:
    put(root, "d/e/f.bin")
    (root / "empty").mkdir()
    listed = {(f.path, f.kind) for f in store.scan(dirs=True)}
    assert listed == {("d", "dir"), ("d/e", "dir"), ("empty", "dir"), ("d/e/f.bin", "file")}


def test_scan_prefix(root: Path, store: LocalStore) -> None:
    put(root, "a/x")
    put(root, "a/b/y")
    put(root, "c/z")
    assert sorted(f.path for f in store.scan("a")) == ["a/b/y", "a/x"]
    assert sorted(f.path for f in store.scan("a/b/")) == ["a/b/y"]
    assert list(store.scan("missing")) == []


def test_scan_of_missing_root_is_empty(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "nope"))
    assert list(store.scan()) == []
    with pytest.raises(StoreError, match="does not exist"):
        store.check_root()


def test_stat_and_exists(root: Path, store: LocalStore) -> None:
    put(root, "d/f", b"abc")
    info = store.stat("d/f")
    assert info is not None and info.size == 3 and info.kind == "file" and info.path == "d/f"
    folder = store.stat("d")
    assert folder is not None and folder.kind == "dir"
    assert store.stat("nope") is None and store.stat("d/f/under-a-file") is None
    assert store.exists("d/f") and not store.exists("d/g")


# -- reading and writing ---------------------------------------------------------------

def test_read(root: Path, store: LocalStore) -> None:
    put(root, "f", b"content")
    assert store.read_bytes("f") == b"content"
    with store.open_read("f") as fh:
        assert fh.read(3) == b"con"
    with pytest.raises(MissingPathError, match="no longer exists"):  # a type callers can test
        store.read_bytes("gone")


def test_write_atomic_creates_parents_sets_mtime_and_leaves_no_temp(root: Path,
                                                                   store: LocalStore) -> None:
    mtime = 1_600_000_000_123_456_789
    info = store.write_atomic("a/b/c.json", [b"{", b"}"], mtime_ns=mtime)
    assert (root / "a/b/c.json").read_bytes() == b"{}"
    assert info == FileInfo("a/b/c.json", 2, mtime)
    assert (root / "a/b/c.json").stat().st_mtime_ns == mtime
    assert leftovers(root) == []


def test_write_atomic_replaces_existing(root: Path, store: LocalStore) -> None:
    put(root, "f", b"old content, longer")
    store.write_atomic("f", b"new")
    assert (root / "f").read_bytes() == b"new"
    assert leftovers(root) == []


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


@pytest.mark.parametrize("size", [0, 18, 20, 100])
def test_write_of_another_size_than_promised_is_refused(root: Path, store: LocalStore, size: int) -> None:
    put(root, "f", b"old")
    with pytest.raises(StoreError, match="expected") as info:
        store.write_atomic("f", iter([b"partial new ", b"content"]), size=size)
    assert "\n" not in str(info.value)
    assert (root / "f").read_bytes() == b"old"
    assert leftovers(root) == []
    store.write_atomic("f", iter([b"partial new ", b"content"]), size=19)
    assert (root / "f").read_bytes() == b"partial new content"


def test_write_without_fsync(root: Path) -> None:
    store = LocalStore(str(root), fsync=False)
    store.write_atomic("f", b"x")
    assert (root / "f").read_bytes() == b"x"


def test_remove_rename_makedirs_remove_tree(root: Path, store: LocalStore) -> None:
    put(root, "a/f", b"1")
    store.rename("a/f", "b/c/g")  # creates the target's parents
    assert not (root / "a/f").exists() and (root / "b/c/g").read_bytes() == b"1"
    put(root, "b/other", b"2")
    store.rename("b/other", "b/c/g")  # replaces
    assert (root / "b/c/g").read_bytes() == b"2"
    store.remove("b/c/g")
    store.remove("b/c/g")  # already gone: fine
    assert not (root / "b/c/g").exists()
    store.makedirs("x/y/z")
    store.makedirs("x/y/z")
    assert (root / "x/y/z").is_dir()
    put(root, "t/u/v", b"3")
    store.remove_tree("t")
    store.remove_tree("t")
    assert not (root / "t").exists()
    put(root, "single", b"4")
    store.remove_tree("single")
    assert not (root / "single").exists()


# -- exclusive create ------------------------------------------------------------------

def test_create_exclusive(root: Path, store: LocalStore) -> None:
    assert store.create_exclusive("locks/lock.json", b"first") is True
    assert store.create_exclusive("locks/lock.json", b"second") is False
    assert (root / "locks/lock.json").read_bytes() == b"first"
    assert leftovers(root) == []


def race(store: LocalStore, path: str, n: int) -> dict[int, bool]:
    """``n`` threads released together, each trying to create ``path``."""
    barrier = threading.Barrier(n)
    results: dict[int, bool] = {}

    def contend(i: int) -> None:
        barrier.wait()
        results[i] = store.create_exclusive(path, f"owner {i}".encode())

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_create_exclusive_race_has_one_winner(root: Path, store: LocalStore) -> None:
    for attempt in range(5):
        results = race(store, f"lock{attempt}", 8)
        winners = [i for i, won in results.items() if won]
        assert len(results) == 8 and len(winners) == 1
        assert (root / f"lock{attempt}").read_bytes() == f"owner {winners[0]}".encode()
    assert leftovers(root) == []


# -- staying inside the root -----------------------------------------------------------

@pytest.mark.parametrize("bad", ["..", "../x", "a/../../x", "a/../b", "/etc/passwd", "\\\\server\\x",
                                 "C:/x", "a\x00b", ""])
def test_escaping_paths_are_refused(store: LocalStore, bad: str) -> None:
    with pytest.raises(PathEscapeError):
        store.write_atomic(bad, b"x")
    with pytest.raises(PathEscapeError):
        store.read_bytes(bad)
    with pytest.raises(PathEscapeError):
        store.remove_tree(bad)


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
