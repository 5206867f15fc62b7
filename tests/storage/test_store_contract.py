"""The one Store contract, run on every store over real servers (rclone's ``fstests``).

Each test takes ``subject``: a fresh, empty store root and the same root as a folder on
this disk (on loopback sshd, wsgidav and nginx serve this filesystem; for S3 a
pathlib-like view of the bucket, ``s3_servers.S3Path``), so a test can check what the
server really did.  Stores: local disk, SSH (OpenSSH sshd), WebDAV on wsgidav and on
nginx + dav_ext, S3 on moto and on SeaweedFS.  A server that cannot start skips its runs locally and
fails them in CI (server_fixtures.py, webdav_servers.py).

**A new store joins by adding one entry to ``STORES``**: a name and a function
``(request) -> (store, disk folder of its root)``; mark it ``integration`` if it needs a
server.  What is specific to one store (its listing modes, auth, faults, protocol
details) stays in that store's own test module.

The contract: listing (``scan`` with and without dirs, prefixes), ``stat``/``exists``,
reads (``read_bytes``, streamed ``open_read``), atomic writes (nothing partial at the
final path, temp names ``is_temp_path`` knows, none left over), size promises,
``create_exclusive``, rename, remove, remove_tree, makedirs, confinement
(PathEscapeError), missing paths (MissingPathError), permanent errors not flagged
transient, the batch methods, and a ``features`` record that tells the truth.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from synctui.errors import MissingPathError, PathEscapeError, RootError, StoreError
from synctui.storage.base import BaseStore, FileInfo, Store, StoreFeatures, is_temp_path
from synctui.storage.local import LocalStore

#: a whole second plus a sub-second part: which part survives is the store's resolution
MTIME = 1_700_000_123 * 10**9 + 456_789_123
#: long ago (2001): a store that cannot set mtimes shows "now" instead
OLD_MTIME = 1_000_000_000 * 10**9


Opener = Callable[[pytest.FixtureRequest], tuple[Path, Callable[[], Store]]]


def _local(request: pytest.FixtureRequest) -> tuple[Path, Callable[[], Store]]:
    root = request.getfixturevalue("tmp_path") / "root"
    root.mkdir()
    return root, lambda: LocalStore(str(root))  # fsync on, as users get it


def _ssh(request: pytest.FixtureRequest) -> tuple[Path, Callable[[], Store]]:
    remote = request.getfixturevalue("remote")  # closes the stores it opened at the end
    return remote.root, remote.store


def _dav(kind: str) -> Opener:
    def make(request: pytest.FixtureRequest) -> tuple[Path, Callable[[], Store]]:
        dav = request.getfixturevalue(f"{kind}_dav")

        def open_store() -> Store:
            store = dav.store()
            request.addfinalizer(store.close)
            return store
        return dav.disk, open_store
    return make


def _s3(server: str) -> Opener:
    """A fresh bucket; ``disk`` is s3_servers.S3Path, the part of pathlib the tests use."""
    def make(request: pytest.FixtureRequest) -> tuple[Path, Callable[[], Store]]:
        from s3_servers import s3_root

        root = s3_root(request, server)

        def open_store() -> Store:
            store = root.store("root")
            request.addfinalizer(store.close)
            return store
        return root.path("root"), open_store  # type: ignore[return-value]
    return make
def _smb(request: pytest.FixtureRequest) -> tuple[Path, Callable[[], Store]]:
    share = request.getfixturevalue("smb")  # a folder in the Samba share; closes its stores
    return share.disk, share.store


#: name -> (its fresh, empty root on this disk, how to open the store there): see the module doc
STORES: dict[str, Opener] = {
    "local": _local,
    "ssh": _ssh,
    "wsgidav": _dav("wsgidav"),
    "nginx": _dav("nginx"),
    "s3-moto": _s3("moto"),
    "s3-seaweedfs": _s3("seaweedfs"),
    "smb": _smb,
}


class Subject:
    """One store under test and its root on this disk.  The store opens on first use, so
    files a test puts there first are what it finds on connect (WebDAV lists then)."""

    def __init__(self, name: str, request: pytest.FixtureRequest) -> None:
        self.name = name
        self.disk, self._open = STORES[name](request)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self._open()
        return self._store

    def put(self, rel: str, data: bytes = b"x") -> None:
        """A file made behind the store's back (as another program would)."""
        path = self.disk / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def temps(self) -> list[str]:
        return sorted(p.relative_to(self.disk).as_posix() for p in self.disk.rglob("*")
                      if is_temp_path(p.relative_to(self.disk).as_posix()))

    def names(self, folder: str = "") -> set[str]:
        return {p.name for p in (self.disk / folder).iterdir()}


@pytest.fixture(params=[pytest.param(name, id=name, marks=[] if name == "local" else [pytest.mark.integration])
                        for name in STORES])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    yield Subject(request.param, request)


def listing(store: Store, prefix: str = "", *, dirs: bool = False) -> dict[str, FileInfo]:
    return {f.path: f for f in store.scan(prefix, dirs=dirs)}


def blocks(data: bytes, piece: int = 700_001) -> Iterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


# -- shape -------------------------------------------------------------------------------

def test_is_a_store_with_one_features_record(subject: Subject) -> None:
    store = subject.store
    assert isinstance(store, Store) and isinstance(store, BaseStore)
    assert isinstance(store.features, StoreFeatures)
    assert store.features.mtime_resolution_ns >= 1
    if store.features.folders_are_prefixes:  # S3: a prefix with nothing under it is no root yet
        with pytest.raises(RootError) as missing:
            store.check_root()
        assert missing.value.problem == RootError.MISSING
        subject.put("f")
    store.check_root()


# -- listing -----------------------------------------------------------------------------

def test_scan_lists_relative_paths_sizes_and_kinds(subject: Subject) -> None:
    subject.put("a.txt", b"hello")
    subject.put("d/e/f.bin", b"123456789")
    (subject.disk / "empty").mkdir()
    files = listing(subject.store)
    assert set(files) == {"a.txt", "d/e/f.bin"}
    assert files["a.txt"].size == 5 and files["d/e/f.bin"].size == 9
    assert {f.kind for f in files.values()} == {"file"}
    with_dirs = {(f.path, f.kind) for f in subject.store.scan(dirs=True)}
    expected = {("a.txt", "file"), ("d", "dir"), ("d/e", "dir"), ("empty", "dir"), ("d/e/f.bin", "file")}
    if subject.store.features.folders_are_prefixes:  # S3: an empty folder does not exist
        expected.discard(("empty", "dir"))
    assert with_dirs == expected


def expand_bundled(store) -> tuple[dict[str, tuple[int, int, str]], int]:
    """A bundled listing with its bundles parsed: path -> (size, mtime, kind), and how
    many bundles there were."""
    from synctui.storage.bundle import FileBundle

    out, bundles = {}, 0
    for item in store.scan_bundled(".zarr"):
        bundles += isinstance(item, FileBundle)
        infos = [fi for _, fi in item.members()] if isinstance(item, FileBundle) else [item]
        for fi in infos:
            assert fi.path not in out, f"listed twice: {fi.path}"
            out[fi.path] = (fi.size, fi.mtime_ns, fi.kind)
    return out, bundles


def test_a_bundled_scan_lists_what_scan_lists(subject: Subject) -> None:
    """Bundles parsed, ``scan_bundled`` gives every file ``scan(dirs=True)`` gives, to the
    ns, and the same folders except those below a ``.zarr`` one; a store that declares
    ``bundled_scan`` gives bundles (enough runs for local's find to be worth it)."""
    for run in range(4):
        z = f"ExperimentRuns/TS_{run}/VoxelSpacing10.000/wbp.zarr"
        for rel in (f"{z}/0/0/0", f"{z}/0/1/0", f"{z}/.zattrs", f"{z}/0/.zarray", f"ExperimentRuns/TS_{run}/Picks/a.json"):
            subject.put(rel, rel.encode())
    subject.put("x.zarr/1", b"1")
    plain = {f.path: (f.size, f.mtime_ns, f.kind) for f in subject.store.scan(dirs=True)}
    bundled, bundles = expand_bundled(subject.store)
    inner = {p for p, (_, _, kind) in plain.items() if kind == "dir" and ".zarr/" in p}
    assert {p: v for p, v in plain.items() if p not in inner} == {p: v for p, v in bundled.items() if p not in inner}
    assert set(bundled) <= set(plain)
    assert (bundles > 0) == subject.store.features.bundled_scan


def test_scan_prefix_and_a_missing_prefix(subject: Subject) -> None:
    for rel in ("a/x", "a/b/y", "c/z"):
        subject.put(rel)
    assert sorted(listing(subject.store, "a")) == ["a/b/y", "a/x"]
    assert sorted(listing(subject.store, "a/b/")) == ["a/b/y"]
    assert list(subject.store.scan("missing")) == []


def test_stat_and_exists(subject: Subject) -> None:
    subject.put("d/f", b"abc")
    info = subject.store.stat("d/f")
    assert info is not None and (info.path, info.size, info.kind) == ("d/f", 3, "file")
    folder = subject.store.stat("d")
    assert folder is not None and folder.kind == "dir"
    assert subject.store.stat("nope") is None and subject.store.stat("d/f/under-a-file") is None
    assert subject.store.exists("d/f") and subject.store.exists("d") and not subject.store.exists("d/g")


# -- reading -----------------------------------------------------------------------------

def test_read_bytes_and_streamed_open_read(subject: Subject) -> None:
    data = os.urandom(3 * 1024 * 1024 + 12345)
    subject.put("big/file.bin", data)
    subject.put("empty")
    (subject.disk / "empty").write_bytes(b"")
    assert subject.store.read_bytes("big/file.bin") == data
    with subject.store.open_read("big/file.bin") as fh:
        head = fh.read(1000)
        rest = b""
        while block := fh.read(1 << 20):
            rest += block
        assert fh.read(10) == b""
    assert head + rest == data
    assert subject.store.read_bytes("empty") == b""
    with subject.store.open_read("empty") as fh:
        assert fh.read() == b""


def test_missing_paths(subject: Subject) -> None:
    store = subject.store
    for read in (store.read_bytes, store.open_read):
        with pytest.raises(MissingPathError, match="no longer exists") as info:
            read("missing.json")
        assert not info.value.transient
    assert store.stat("missing.json") is None and not store.exists("missing.json")
    store.remove("missing.json")  # already gone: fine
    store.remove_tree("nothing/here")
    with pytest.raises(StoreError) as failed:
        store.rename("no/such", "x")
    assert not failed.value.transient


# -- writing -----------------------------------------------------------------------------

def test_write_atomic_makes_parents_and_returns_what_stat_and_scan_show(subject: Subject) -> None:
    store = subject.store
    info = store.write_atomic("a/b/c.json", [b'{"x"', b": 1}"], mtime_ns=MTIME)
    assert (subject.disk / "a/b/c.json").read_bytes() == b'{"x": 1}'
    assert (info.path, info.size, info.kind) == ("a/b/c.json", 8, "file")
    plain = store.write_atomic("no-mtime", b"now")
    res = store.features.mtime_resolution_ns
    for written in (info, plain):
        for seen in (store.stat(written.path), listing(store)[written.path]):
            assert seen is not None and seen.size == written.size
            # the planner trusts the record of a write: etags equal, or mtimes within resolution
            assert (written.etag is not None and seen.etag == written.etag) or \
                abs(seen.mtime_ns - written.mtime_ns) <= res
    assert subject.temps() == []


def test_overwrite_replaces_the_whole_file(subject: Subject) -> None:
    subject.put("f", b"old content, longer" * 1000)
    info = subject.store.write_atomic("f", b"new")
    assert (subject.disk / "f").read_bytes() == b"new" and info.size == 3
    assert subject.store.write_atomic("empty", iter([])).size == 0
    assert subject.store.write_atomic("empty2", b"").size == 0
    assert (subject.disk / "empty").read_bytes() == (subject.disk / "empty2").read_bytes() == b""
    assert subject.temps() == []


def test_no_partial_file_at_the_final_path(subject: Subject) -> None:
    """While a write runs the final path shows the old file, and whatever else appears is a
    temp ``is_temp_path`` recognises; a body that fails leaves the old file and no temp."""
    subject.put("d/f", b"old")
    seen: list[set[str]] = []

    def body() -> Iterator[bytes]:
        yield b"a" * 100_000
        seen.append(subject.names("d"))
        assert (subject.disk / "d/f").read_bytes() == b"old"
        yield b"b" * 100_000

    subject.store.write_atomic("d/f", body())
    assert (subject.disk / "d/f").read_bytes() == b"a" * 100_000 + b"b" * 100_000
    assert seen and all(is_temp_path(f"d/{n}") for n in seen[0] - {"f"})
    if isinstance(subject.store, LocalStore) or subject.name == "ssh":
        assert seen[0] - {"f"}, "the write goes to a temp name first"

    def broken() -> Iterator[bytes]:
        yield b"partial new content"
        raise StoreError("the source vanished")

    with pytest.raises(StoreError, match="vanished"):
        subject.store.write_atomic("d/f", broken())
    with pytest.raises(StoreError, match="vanished"):
        subject.store.write_atomic("d/new", broken())
    assert (subject.disk / "d/f").read_bytes() == b"a" * 100_000 + b"b" * 100_000
    assert not (subject.disk / "d/new").exists()
    assert subject.temps() == []


@pytest.mark.parametrize("delta", [-1, +1], ids=["short", "long"])
def test_a_body_of_another_size_than_promised_is_refused(subject: Subject, delta: int) -> None:
    data = os.urandom(1 << 20)
    subject.put("keep.bin", b"old content")
    for path in ("keep.bin", "new/file.bin"):
        with pytest.raises(StoreError, match="expected") as info:
            subject.store.write_atomic(path, blocks(data), size=len(data) - delta)
        assert "\n" not in str(info.value) and "did the source change" in str(info.value)
        assert not info.value.transient
    assert (subject.disk / "keep.bin").read_bytes() == b"old content"
    assert not (subject.disk / "new/file.bin").exists()
    assert subject.temps() == []
    subject.store.write_atomic("new/file.bin", blocks(data), size=len(data))  # still usable
    assert (subject.disk / "new/file.bin").read_bytes() == data


def test_a_path_under_a_file_fails_for_good(subject: Subject) -> None:
    subject.put("file", b"x")
    with pytest.raises(StoreError, match="file") as info:
        subject.store.write_atomic("file/child", b"y")
    assert not info.value.transient and not isinstance(info.value, PathEscapeError)
    assert (subject.disk / "file").read_bytes() == b"x"


# -- exclusive create --------------------------------------------------------------------

def test_create_exclusive_has_one_winner(subject: Subject) -> None:
    """``features.exclusive_create`` is what makes locks safe: then a race has one winner."""
    store = subject.store
    assert store.create_exclusive(".synctui-lock/write.json", b"first") is True
    assert store.create_exclusive(".synctui-lock/write.json", b"second") is False
    assert (subject.disk / ".synctui-lock/write.json").read_bytes() == b"first"
    if not store.features.exclusive_create:
        return
    barrier = threading.Barrier(8)
    wins: list[int] = []

    def contend(i: int) -> None:
        barrier.wait()
        if store.create_exclusive("race.json", f"owner {i}".encode()):
            wins.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert (subject.disk / "race.json").read_bytes() == f"owner {wins[0]}".encode()
    assert subject.temps() == []


# -- folders, renames, removes -----------------------------------------------------------

def test_makedirs_rename_remove_remove_tree(subject: Subject) -> None:
    store, disk = subject.store, subject.disk
    store.makedirs("x/y/z")
    store.makedirs("x/y/z")  # exists: fine
    assert (disk / "x/y/z").is_dir() is not store.features.folders_are_prefixes
    subject.put("a/f", b"1")
    store.rename("a/f", "b/c/g")  # makes the target's parents
    assert not (disk / "a/f").exists() and (disk / "b/c/g").read_bytes() == b"1"
    subject.put("b/other", b"2")
    store.rename("b/other", "b/c/g")  # replaces
    assert (disk / "b/c/g").read_bytes() == b"2"
    store.rename("b/c/g", ".synctui-trash/s1/b/c/g")  # into a hidden folder, as deletes do
    assert (disk / ".synctui-trash/s1/b/c/g").read_bytes() == b"2" and not (disk / "b/c/g").exists()
    store.rename(".synctui-trash/s1/b/c/g", "b/c/g")
    store.rename("b/c", "moved/c")  # a folder
    assert (disk / "moved/c/g").read_bytes() == b"2"
    store.remove("moved/c/g")
    assert not (disk / "moved/c/g").exists()
    store.write_atomic("moved/c/again", b"3")  # whatever the store remembers of folders copes
    for rel in ("t/u/v", "t/w", "keep/k"):
        subject.put(rel)
    store.remove_tree("t")
    store.remove_tree("t")
    assert not (disk / "t").exists() and (disk / "keep/k").exists()
    store.remove_tree("keep/k")  # a file
    assert not (disk / "keep/k").exists()
    store.remove_tree("moved")
    store.write_atomic("moved/c/after", b"4")  # ... and with deleted ones
    assert (disk / "moved/c/after").read_bytes() == b"4"


# -- confinement -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["..", "../x", "a/../../x", "a/../b", "/etc/passwd", "\\\\server\\x",
                                 "C:/x", "a\x00b"])
def test_paths_cannot_leave_the_root(subject: Subject, bad: str) -> None:
    store = subject.store
    calls: list[Callable[[], Any]] = [
        lambda: store.write_atomic(bad, b"x"), lambda: store.read_bytes(bad),
        lambda: store.open_read(bad), lambda: store.stat(bad), lambda: store.remove(bad),
        lambda: store.remove_tree(bad), lambda: store.makedirs(bad),
        lambda: store.create_exclusive(bad, b"x"), lambda: store.rename("ok", bad),
        lambda: store.rename(bad, "ok"),
    ]
    for call in calls:
        with pytest.raises(PathEscapeError):
            call()


def test_the_root_itself_is_no_file_path(subject: Subject) -> None:
    for call in (lambda: subject.store.write_atomic("", b"x"), lambda: subject.store.remove_tree(""),
                 lambda: subject.store.read_bytes("")):
        with pytest.raises(PathEscapeError):
            call()


# -- batches -----------------------------------------------------------------------------

def test_write_many_and_read_many_give_per_file_results(subject: Subject) -> None:
    """Enough files for the SSH store's tar stream; one bad file fails alone."""
    store = subject.store
    subject.put("blocker", b"file in the way")
    subject.put("batch/0/0.bin", b"old content, replaced")
    items: list[tuple[str, bytes, int | None]] = [
        (f"batch/{i % 7}/{i}.bin", os.urandom(i * 100), MTIME) for i in range(40)]
    items += [("batch/ü n i c o d e", b"odd", MTIME), ("no-mtime", b"now", None),
              ("blocker/child", b"x", None)]
    results = store.write_many(items)
    assert len(results) == len(items)
    assert all(isinstance(r, FileInfo) for r in results[:-1]), [r for r in results if not isinstance(r, FileInfo)]
    assert isinstance(results[-1], StoreError) and not results[-1].transient
    for (path, data, _), info in zip(items[:-1], results[:-1], strict=True):
        assert isinstance(info, FileInfo) and (info.path, info.size) == (path, len(data))
        assert (subject.disk / path).read_bytes() == data
    paths = [p for p, _, _ in items[:-1]] + ["missing"]
    got = list(store.read_many(paths))
    assert [p for p, _ in got] == paths
    assert [d for _, d in got[:-1]] == [d for _, d, _ in items[:-1]]
    assert isinstance(got[-1][1], MissingPathError)
    assert subject.temps() == []


# -- the features record tells the truth -------------------------------------------------

def test_set_mtime_and_its_resolution_are_true(subject: Subject) -> None:
    store = subject.store
    info = store.write_atomic("f", b"x", mtime_ns=MTIME)  # a first write: WebDAV probes first
    old = store.write_atomic("old", b"x", mtime_ns=OLD_MTIME)
    feats, res = store.features, store.features.mtime_resolution_ns
    batch = store.write_many([("batched", b"x", MTIME)])[0]
    for path, mtime, written in (("f", MTIME, info), ("old", OLD_MTIME, old), ("batched", MTIME, batch)):
        seen = store.stat(path)
        assert seen is not None and isinstance(written, FileInfo)
        if feats.set_mtime:
            assert seen.mtime_ns == mtime // res * res, path  # kept, cut to the resolution
            assert written.mtime_ns == seen.mtime_ns == listing(store)[path].mtime_ns
        else:
            assert abs(seen.mtime_ns - mtime) > res, path  # the store says so: it cannot keep it
    if not feats.set_mtime:
        assert store.stat("old").mtime_ns > OLD_MTIME + 10**9


def test_etag_feature_is_true(subject: Subject) -> None:
    store = subject.store
    store.write_atomic("e.bin", b"one")
    first, listed = store.stat("e.bin"), listing(store)["e.bin"]
    assert first is not None
    if not store.features.etag:
        assert first.etag is None and listed.etag is None
        return
    assert first.etag and listed.etag == first.etag
    store.write_atomic("e.bin", b"two, longer")
    again = store.stat("e.bin")
    assert again is not None and again.etag and again.etag != first.etag
    assert listing(store)["e.bin"].etag == again.etag


def test_hides_dotfiles_feature_is_true(subject: Subject) -> None:
    store = subject.store
    store.write_atomic("dir/.dotted-name", b"hidden?")
    store.write_atomic("dir/visible", b"shown")
    listed = set(listing(store))
    assert "dir/visible" in listed
    assert ("dir/.dotted-name" in listed) is not store.features.hides_dotfiles
    assert store.read_bytes("dir/.dotted-name") == b"hidden?"  # hidden from listings only


def test_batch_and_copy_features_match_the_methods(subject: Subject, tmp_path: Path) -> None:
    """A store that claims a native batch or server copy overrides the base's defaults;
    one that does not keeps them (so the engine's choice from ``features`` is the truth)."""
    store, feats = subject.store, subject.store.features
    cls = type(store)
    assert (cls.read_many is not BaseStore.read_many) is feats.batch_read
    assert (cls.write_many is not BaseStore.write_many) is feats.batch_write
    assert (cls.copy_from is not BaseStore.copy_from) is feats.server_copy
    other = tmp_path / "other"
    other.mkdir()
    (other / "src").write_bytes(b"copied")
    copied = store.copy_from(LocalStore(str(other)), "src", "dst", mtime_ns=MTIME)
    if feats.server_copy and isinstance(store, LocalStore):
        assert copied is not None and (subject.disk / "dst").read_bytes() == b"copied"
    elif not feats.server_copy:
        assert copied is None and not (subject.disk / "dst").exists()
