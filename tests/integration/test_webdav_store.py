"""WebDAVStore against real servers: wsgidav and nginx + dav_ext (every ``dav`` test runs on both):
what only WebDAV does (capabilities, listings, uploads on the wire, faults, auth, TLS).  The
Store contract every store passes is tests/storage/test_store_contract.py.

A server that cannot start skips here and fails in CI (see webdav_servers.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from webdav_servers import Dav, FailFirstPuts, free_port, self_signed_cert  # noqa: E402

from synctui.errors import ConnectionFailed, RootError, StoreError
from synctui.storage import webdav as webdav_mod
from synctui.storage.base import is_temp_path, read_stream
from synctui.storage.open import open_store
from synctui.storage.retry import RetryPolicy
from synctui.storage.url import parse_location
from synctui.storage.webdav import Capabilities, WebDAVStore, hidden_candidates
from synctui.storage.webdav_auth import Credentials, set_auth_prompt

pytestmark = pytest.mark.integration

NS = 1_000_000_000


def disk_files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def leftovers(root: Path) -> list[str]:
    return sorted(rel for p in root.rglob("*synctui-tmp-*") if is_temp_path(rel := p.relative_to(root).as_posix()))


@pytest.fixture
def store(dav: Dav) -> Iterator[WebDAVStore]:
    st = dav.store()
    yield st
    st.close()


class Recorder(httpx.BaseTransport):
    """Wraps a real transport and remembers every request (method, url, headers, body)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "PROPFIND":
            self.bodies.append(request.read())
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


# -- connect and capabilities ---------------------------------------------------------------


def test_capabilities_differ_as_design_says(store: WebDAVStore, dav: Dav) -> None:
    cap = store.capabilities
    assert isinstance(cap, Capabilities)
    assert cap.writable is None  # the write probe waits for the first write or lock
    store.probe()
    assert cap.root_exists and cap.writable and cap.move
    line = cap.describe()
    assert "\n" not in line and len(line) < 240
    if dav.kind == "wsgidav":
        assert cap.depth_infinity is True and cap.etag is True and cap.lock is True
        assert cap.lists_dotfiles is True and cap.set_mtime is False and cap.if_none_match is True
        assert cap.etag_after_move is True
        assert "listing depth∞" in line and "etags" in line
    else:
        assert cap.depth_infinity is False and cap.etag is False and cap.lock is False
        assert cap.lists_dotfiles is False and cap.if_none_match is False
        assert cap.set_mtime is True  # nginx's dav module takes the mtime from the request's Date
        assert "parallel depth 1" in line and "no etags" in line and "hides dotfiles" in line
    assert cap.checksums is False
    assert store.features.set_mtime is bool(cap.set_mtime)
    assert store.features.mtime_resolution_ns == NS
    assert leftovers(dav.disk) == []  # the probe cleaned up after itself


def test_open_store_gives_a_webdav_store(dav: Dav) -> None:
    st = open_store(dav.location(), fsync=True)
    try:
        assert isinstance(st, WebDAVStore) and st.location.protocol == "webdav"
    finally:
        st.close()


def test_webdav_scheme_with_base_url_path(dav: Dav) -> None:
    """copick's form: webdav://rel/path with base_url carrying a path of its own."""
    (dav.disk / "proj" / "overlay" / "Objects").mkdir(parents=True)
    (dav.disk / "proj" / "overlay" / "Objects" / "x.json").write_bytes(b"{}")
    loc = parse_location("webdav://proj/overlay", {"base_url": dav.url + "/"})
    with WebDAVStore(loc) as st:
        assert [(i.path, i.size) for i in st.scan()] == [("Objects/x.json", 2)]
        assert st.display == dav.url + "/proj/overlay"


def test_missing_root_is_created_by_the_first_write(dav: Dav) -> None:
    with dav.store("new/root") as st:
        assert st.capabilities.root_exists is False
        assert list(st.scan(dirs=True)) == []
        with pytest.raises(StoreError, match="does not exist"):
            st.check_root()
        st.write_atomic("a/b.txt", b"hello")
        st.check_root()
        assert st.capabilities.root_exists is True and st.capabilities.writable is True
    assert (dav.disk / "new/root/a/b.txt").read_bytes() == b"hello"
    assert leftovers(dav.disk) == []


def test_root_that_is_a_file(dav: Dav) -> None:
    (dav.disk / "plain").write_bytes(b"x")
    with pytest.raises(RootError, match="is a file") as info:  # bad input (exit 2), not a network fault
        dav.store("plain")
    assert info.value.problem == RootError.NOT_A_FOLDER


def test_unreachable_server_is_a_one_line_connection_error() -> None:
    port = free_port()
    with pytest.raises(ConnectionFailed) as info:
        WebDAVStore(parse_location(f"http://127.0.0.1:{port}/x"))
    msg = str(info.value)
    assert "\n" not in msg and f"127.0.0.1:{port}" in msg and "cannot reach" in msg


# -- listing -------------------------------------------------------------------------------

NAMES = {
    "ExperimentRuns/TS 1/.meta": b"meta",
    "ExperimentRuns/TS 1/VoxelSpacing10.000/.meta": b"meta",
    "ExperimentRuns/TS 1/VoxelSpacing10.000/wbp.zarr/.zattrs": b"{}",
    "ExperimentRuns/TS 1/VoxelSpacing10.000/wbp.zarr/.zgroup": b'{"zarr_format": 2}',
    "ExperimentRuns/TS 1/VoxelSpacing10.000/wbp.zarr/0/.zarray": b"{}",
    "ExperimentRuns/TS 1/VoxelSpacing10.000/wbp.zarr/0/0/0/0": b"\x00" * 100,
    "ExperimentRuns/TS 1/Picks/ünï_1_ribo#some%20.json": b"[1]",
    "ExperimentRuns/TS 1/Picks/a+b&c=d;e@f_1_x.json": b"[2]",
    "Objects/x.zarr/.zgroup": b"{}",
}


@pytest.mark.parametrize("depth", ["auto", "parallel depth 1"])
def test_scan_sees_every_name(dav: Dav, depth: str) -> None:
    for rel, data in NAMES.items():
        p = dav.disk / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    with dav.store() as st:
        if depth != "auto":
            st.capabilities.depth_infinity = False
            st._prefetch = None
        files = {i.path: i for i in st.scan()}
        assert set(files) == set(NAMES)  # zarr's and copick's dotfiles too, even on nginx
        for rel, info in files.items():
            assert info.size == len(NAMES[rel]) and info.kind == "file"
            assert info.mtime_ns == int(os.stat(dav.disk / rel).st_mtime) * NS
        with_dirs = {i.path: i.kind for i in st.scan(dirs=True)}
        assert with_dirs["ExperimentRuns/TS 1/VoxelSpacing10.000/wbp.zarr/0/0"] == "dir"
        assert with_dirs["Objects"] == "dir"
        sub = sorted(i.path for i in st.scan("ExperimentRuns/TS 1/Picks"))
        assert sub == sorted(r for r in NAMES if "/Picks/" in r)
        assert list(st.scan("no/such/folder")) == []
        assert list(st.scan("Objects/x.zarr/.zgroup")) == []  # a file is not a folder


def test_prefetched_listing_is_used_once(dav: Dav) -> None:
    (dav.disk / "a.txt").write_bytes(b"1")
    with dav.store() as st:
        first = [i.path for i in st.scan()]
        (dav.disk / "b.txt").write_bytes(b"2")
        second = sorted(i.path for i in st.scan())
    assert first == ["a.txt"] and second == ["a.txt", "b.txt"]


def test_listing_asks_only_four_properties(dav: Dav) -> None:
    (dav.disk / "d").mkdir()
    (dav.disk / "d" / "f").write_bytes(b"x")
    rec = Recorder()
    with WebDAVStore(dav.location(), transport=rec, probe_writes=False) as st:
        list(st.scan())
        st.stat("d/f")
    assert rec.bodies
    for body in rec.bodies:
        for prop in (b"getlastmodified", b"getcontentlength", b"getetag", b"resourcetype"):
            assert prop in body
        assert body.count(b"/>") == 4 and b"allprop" not in body
    depths = {r.headers.get("depth") for r in rec.requests if r.method == "PROPFIND"}
    assert ("infinity" in depths) if dav.kind == "wsgidav" else ("1" in depths)


def test_hidden_candidates() -> None:
    assert hidden_candidates("") == (".meta",)
    assert hidden_candidates("ExperimentRuns/TS_1") == (".meta",)
    assert ".zgroup" in hidden_candidates("ExperimentRuns/TS_1/VoxelSpacing10.000/wbp.zarr")
    assert ".zarray" in hidden_candidates("Objects/x.zarr/0")
    assert hidden_candidates("Objects/x.zarr/0/1") == ()


# -- reading and writing -----------------------------------------------------------------------


def test_write_returns_what_the_next_scan_shows(store: WebDAVStore) -> None:
    written = {p: store.write_atomic(p, os.urandom(100 + i), mtime_ns=1_650_000_000 * NS)
               for i, p in enumerate(["a/1", "a/2", "b/c/3", ".meta", "z.zarr/.zattrs"])}
    scanned = {i.path: i for i in store.scan()}
    for path, info in written.items():
        s = scanned[path]
        assert (s.size, s.etag) == (info.size, info.etag)
        # the planner trusts our record: an etag match, or the mtime within a second
        assert (s.etag is not None and s.etag == info.etag) or abs(s.mtime_ns - info.mtime_ns) <= NS


@pytest.mark.parametrize("sized", [False, True])
def test_streamed_upload_and_download(store: WebDAVStore, dav: Dav, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, sized: bool) -> None:
    monkeypatch.setattr(webdav_mod, "GATHER_LIMIT", 1 << 20)  # stream (chunked) above 1 MiB
    src = tmp_path / "big.bin"
    data = os.urandom(3 << 20)
    src.write_bytes(data)
    info = store.write_atomic("vol/big.bin", read_stream(open(src, "rb"), 1 << 20),
                              size=len(data) if sized else None)
    assert info.size == len(data)
    assert (dav.disk / "vol/big.bin").read_bytes() == data
    got = b"".join(read_stream(store.open_read("vol/big.bin"), 1 << 20))
    assert got == data
    assert leftovers(dav.disk) == []


def _blocks(data: bytes, piece: int = 1 << 20) -> Iterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


def test_sized_stream_over_16_mib_goes_with_a_content_length(dav: Dav) -> None:
    """A streamed body of known size is never chunked, however large (issue #8)."""
    data = os.urandom(webdav_mod.GATHER_LIMIT + (1 << 20) + 123)
    rec = Recorder()
    with WebDAVStore(dav.location(), transport=rec) as st:
        info = st.write_atomic("vol/sized.bin", _blocks(data), size=len(data))
        unsized = st.write_atomic("vol/unsized.bin", _blocks(data))
    assert info.size == unsized.size == len(data)
    assert (dav.disk / "vol/sized.bin").read_bytes() == data
    assert (dav.disk / "vol/unsized.bin").read_bytes() == data
    puts = [r for r in rec.requests if r.method == "PUT"]
    sized = next(r for r in puts if is_temp_path(r.url.path) and "sized.bin" in r.url.path
                 and "unsized" not in r.url.path)
    chunked = next(r for r in puts if is_temp_path(r.url.path) and "unsized.bin" in r.url.path)
    assert sized.headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in sized.headers
    assert chunked.headers.get("transfer-encoding") == "chunked"  # unknown size, too big to gather
    assert leftovers(dav.disk) == []


def test_small_sized_stream_is_checked_before_sending(dav: Dav) -> None:
    rec = Recorder()
    with WebDAVStore(dav.location(), transport=rec) as st:
        before = len(rec.requests)
        for size in (0, 5, 7):
            with pytest.raises(StoreError, match="expected"):
                st.write_atomic("s.txt", iter([b"abc", b"def"]), size=size)
        assert len(rec.requests) == before  # refused before any request
        st.write_atomic("s.txt", iter([b"abc", b"def"]), size=6)
        st.write_atomic("e.txt", iter([]), size=0)
        with pytest.raises(StoreError, match="expected"):
            st.write_atomic("b.txt", b"abcdef", size=5)
    assert (dav.disk / "s.txt").read_bytes() == b"abcdef" and (dav.disk / "e.txt").read_bytes() == b""
    assert not (dav.disk / "b.txt").exists()
    put = [r for r in rec.requests if r.method == "PUT" and "s.txt" in r.url.path][-1]
    assert put.headers["content-length"] == "6" and "transfer-encoding" not in put.headers


def test_never_a_ranged_put_and_always_temp_then_move(dav: Dav) -> None:
    rec = Recorder()
    with WebDAVStore(dav.location(), transport=rec) as st:
        st.write_atomic("x/y.bin", b"abc")
        st.write_atomic("x/y.bin", iter([b"a" * 10, b"b" * 10]))
    puts = [r for r in rec.requests if r.method == "PUT"]
    assert puts and all("content-range" not in r.headers for r in puts)
    assert all(is_temp_path(r.url.path) for r in puts)
    moves = [r for r in rec.requests if r.method == "MOVE" and "y.bin" in r.headers["destination"]]
    assert len(moves) == 2 and all(r.headers["overwrite"] == "T" for r in moves)
    assert (dav.disk / "x/y.bin").read_bytes() == b"a" * 10 + b"b" * 10


def test_lock_files_are_listed(store: WebDAVStore) -> None:
    from synctui.sync.locks import Lock, list_locks

    with Lock(store, "read", ttl=30):
        locks = list_locks(store)
        assert [lk.mode for lk in locks] == ["read"]
    assert list_locks(store) == []


# -- faults -----------------------------------------------------------------------------------


def test_5xx_on_put_is_retried(dav_factory) -> None:
    mw: list[FailFirstPuts] = []
    _, dav = dav_factory(middleware=lambda app: mw.append(FailFirstPuts(app, 0)) or mw[0])
    with dav.store() as st:
        mw[0].remaining = 2
        info = st.write_atomic("a.bin", b"data")
        assert info.size == 4 and mw[0].failed == 2
        mw[0].remaining = 100
        with pytest.raises(StoreError) as err:
            st.write_atomic("b.bin", b"data")
    assert err.value.transient and "503" in str(err.value) and "\n" not in str(err.value)
    assert leftovers(dav.disk) == []


def test_507_says_out_of_space(dav_factory) -> None:
    mw: list[FailFirstPuts] = []
    _, dav = dav_factory(middleware=lambda app: mw.append(FailFirstPuts(app, 0, "507 Insufficient Storage"))
                         or mw[0])
    with dav.store() as st:
        st.probe()
        mw[0].remaining = 1
        with pytest.raises(StoreError) as err:
            st.write_atomic("x/a.bin", b"data")
    assert not err.value.transient
    assert "x/a.bin" in str(err.value) and "out of space" in str(err.value)


def test_connection_dropped_mid_listing_is_transient(dav: Dav) -> None:
    (dav.disk / "f").write_bytes(b"x")

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with dav.store() as st:
        st._prefetch = None
        st._client._transport = httpx.MockTransport(boom)
        st.retry_policy = RetryPolicy(backoff=0.01)
        with pytest.raises(StoreError) as err:
            list(st.scan())
        assert err.value.transient and "connection dropped" in str(err.value)


# -- auth and TLS -----------------------------------------------------------------------------


def test_basic_auth_sources(dav_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, dav = dav_factory(users={"alice": "s3cret"})
    ok = [
        dict(fs_args={"auth": ["alice", "s3cret"]}),
        dict(fs_args={"auth": {"username": "alice", "password": "s3cret"}}),
        dict(auth=Credentials("alice", "s3cret")),
    ]
    for kwargs in ok:
        with dav.store(**kwargs) as st:
            st.probe()
            assert st.capabilities.auth == "basic" and st.capabilities.writable
    with WebDAVStore(parse_location(srv.url.replace("://", "://alice:s3cret@") + "/p")) as st:
        st.probe()
        assert st.capabilities.writable
    monkeypatch.setenv("SYNCTUI_WEBDAV_USER", "alice")
    monkeypatch.setenv("SYNCTUI_WEBDAV_PASSWORD", "s3cret")
    with dav.store() as st:
        assert st.capabilities.auth == "basic"


@pytest.mark.parametrize("creds", [None, ["alice", "wrong-hunter2"]])
def test_bad_credentials_are_one_line_without_secrets(dav_factory, creds) -> None:
    _, dav = dav_factory(users={"alice": "s3cret"})
    with pytest.raises(ConnectionFailed) as info:
        dav.store(fs_args={"auth": creds} if creds else {})
    msg = str(info.value)
    assert "401" in msg and "\n" not in msg and "hunter2" not in msg and "s3cret" not in msg
    assert "SYNCTUI_WEBDAV_USER" in msg
    assert info.value.exit_code == 6


def test_prompt_hook_supplies_credentials(dav_factory) -> None:
    _, dav = dav_factory(users={"alice": "s3cret"})
    asked = []

    def prompt(url: str, realm: str | None, why: str):
        asked.append((url, why))
        return ("alice", "s3cret")

    with dav.store(prompt=prompt) as st:
        st.probe()
        assert st.capabilities.writable
    assert asked == [(dav.url, "credentials needed")]
    set_auth_prompt(lambda url, realm, why: None)  # the app-wide hook; None = cancelled
    try:
        with pytest.raises(ConnectionFailed, match="none was given"):
            dav.store()
    finally:
        set_auth_prompt(None)


def test_digest_only_server(dav_factory) -> None:
    _, dav = dav_factory(users={"alice": "s3cret"}, digest=True)
    with dav.store(fs_args={"auth": ["alice", "s3cret"]}) as st:
        assert st.capabilities.auth == "digest"
        st.write_atomic("d.txt", b"digest")
        assert st.read_bytes("d.txt") == b"digest"


def test_bearer_token_is_sent() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.method == "PROPFIND":
            return httpx.Response(404)
        return httpx.Response(200, headers={"DAV": "1"})

    loc = parse_location("https://dav.example.org/p", {"auth": {"token": "tok-hunter2"}})
    with WebDAVStore(loc, transport=httpx.MockTransport(handler)) as st:
        assert st.capabilities.auth == "bearer"
        assert "hunter2" not in repr(st) and "hunter2" not in st.capabilities.describe()
    assert seen and all(h == "Bearer tok-hunter2" for h in seen)


def test_tls_verified_custom_ca_and_insecure(dav_factory, tmp_path: Path, caplog) -> None:
    cert, key = self_signed_cert(str(tmp_path))
    srv, dav = dav_factory(tls=(cert, key))
    assert dav.url.startswith("https://")
    with pytest.raises(ConnectionFailed) as info:
        dav.store()
    assert "not trusted" in str(info.value) and "ca_bundle" in str(info.value)
    with dav.store(fs_args={"ca_bundle": cert}) as st:
        st.probe()
        assert st.capabilities.tls == "custom CA" and st.capabilities.writable
    with caplog.at_level("WARNING", logger="synctui.webdav"):
        with dav.store(insecure=True) as st:
            assert st.capabilities.tls == "INSECURE" and st.warnings
    assert "TLS certificate checks are OFF" in caplog.text
    with pytest.raises(ConnectionFailed, match="CA bundle"):
        dav.store(fs_args={"ca_bundle": str(tmp_path / "missing.pem")})


def test_mtime_header_honoured(dav_factory) -> None:
    _, dav = dav_factory(honor_mtime=True)
    with dav.store() as st:
        st.probe()
        assert st.features.set_mtime and st.capabilities.set_mtime
        info = st.write_atomic("m.txt", b"x", mtime_ns=1_500_000_000 * NS + 5)
        assert info.mtime_ns == 1_500_000_000 * NS
        assert st.stat("m.txt").mtime_ns == 1_500_000_000 * NS  # type: ignore[union-attr]
    assert int((dav.disk / "m.txt").stat().st_mtime) == 1_500_000_000


def test_apache_like_server_finite_depth_and_slash_redirects() -> None:
    """Apache mod_dav (DESIGN §7): 403 on Depth infinity, 301 for a collection without its slash."""

    def ms(*entries: tuple[str, bool, int]) -> bytes:
        parts = []
        for href, is_dir, size in entries:
            rt = "<D:resourcetype><D:collection/></D:resourcetype>" if is_dir else "<D:resourcetype/>"
            parts.append(f"<D:response><D:href>{href}</D:href><D:propstat><D:prop>{rt}"
                         f"<D:getcontentlength>{size}</D:getcontentlength>"
                         "<D:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</D:getlastmodified>"
                         '<D:getetag>"e1"</D:getetag></D:prop>'
                         "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>")
        return ('<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">' + "".join(parts)
                + "</D:multistatus>").encode()

    def handler(request: httpx.Request) -> httpx.Response:
        path, depth = request.url.path, request.headers.get("depth")
        if request.method == "OPTIONS":
            return httpx.Response(200, headers={"DAV": "1,2", "Server": "Apache/2.4"})
        assert request.method == "PROPFIND"
        if depth == "infinity":
            return httpx.Response(403, text="propfind-finite-depth")
        if path == "/dav/p/a":
            return httpx.Response(301, headers={"Location": "http://h/dav/p/a/"})
        if path == "/dav/p/":
            body = ms(("/dav/p/", True, 0)) if depth == "0" else \
                ms(("/dav/p/", True, 0), ("/dav/p/a/", True, 0), ("http://h/dav/p/top%20file", False, 3))
            return httpx.Response(207, content=body)
        if path == "/dav/p/a/":
            body = ms(("/dav/p/a/", True, 0)) if depth == "0" else ms(("/dav/p/a/", True, 0), ("/dav/p/a/x", False, 5))
            return httpx.Response(207, content=body)
        return httpx.Response(404)

    loc = parse_location("webdav://p", {"base_url": "http://h/dav"})
    with WebDAVStore(loc, transport=httpx.MockTransport(handler), probe_writes=False) as st:
        assert st.capabilities.depth_infinity is False and st.capabilities.lock is True
        got = {(i.path, i.kind, i.size, i.etag) for i in st.scan(dirs=True)}
        assert got == {("a", "dir", 0, "e1"), ("top file", "file", 3, "e1"), ("a/x", "file", 5, "e1")}
        info = st.stat("a")
        assert info is not None and info.kind == "dir"
