"""The SFTP store against a real OpenSSH server: what only it does (listing modes, remove_tree
and exclusive-create modes, tar/SFTP batches, pooling), host keys, auth and faults.  The Store
contract every store passes is tests/storage/test_store_contract.py."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from server_fixtures import Remote

from synctui.errors import ConnectionFailed, StoreError
from synctui.storage import sftp as sftp_mod
from synctui.storage.base import TEMP_PREFIX, FileInfo, Store
from synctui.storage.local import LocalStore
from synctui.storage.open import open_store
from synctui.storage.sftp import SFTPStore
from synctui.storage.ssh_connect import PromptRequest, fingerprint

MTIME = 1_700_000_123 * 1_000_000_000 + 456_789  # sub-second part is lost over SFTP v3
WHOLE = 1_700_000_123 * 1_000_000_000


def temps(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(f"{TEMP_PREFIX}*"))


def listing(store: Store, prefix: str = "", dirs: bool = True) -> list[FileInfo]:
    return sorted(store.scan(prefix, dirs=dirs), key=lambda i: i.path)


# -- opening, mtimes, remove_tree modes --------------------------------------------


def test_open_store_gives_an_sftp_store(remote: Remote) -> None:
    store = open_store(remote.location(), fsync=True)
    try:
        assert isinstance(store, SFTPStore) and isinstance(store, Store)
        assert store.features.set_mtime and store.features.mtime_resolution_ns == 1_000_000_000
        store.check_root()
    finally:
        store.close()


def test_write_without_mtime_reports_the_servers(remote: Remote) -> None:
    store = remote.store()
    info = store.write_atomic("f", b"x")
    assert info.mtime_ns == (remote.root / "f").stat().st_mtime_ns // 10**9 * 10**9


@pytest.mark.parametrize("shell", [True, False], ids=["rm", "sftp-walk"])
def test_remove_tree(remote: Remote, shell: bool) -> None:
    store = remote.store()
    for p in ("t/a/1", "t/a/b/2", "t/3", "keep/4"):
        store.write_atomic(p, b"x")
    os.symlink(remote.root / "keep", remote.root / "t/a/link")
    if not shell:
        store._shell_ok = False
    store.remove_tree("t")
    assert not (remote.root / "t").exists()
    assert (remote.root / "keep/4").read_bytes() == b"x"  # the link's target survives
    store.remove_tree("keep/4")  # a file
    store.remove_tree("nothing/here")  # missing: fine
    assert not (remote.root / "keep/4").exists()


# -- listing ----------------------------------------------------------------------


def _odd_tree(root: Path) -> None:
    names = ["plain.txt", "with space.json", "new\nline", "ünïcödé.zarr/.zarray", "tab\there",
             "deep/er/still/0/0/0", ".hidden/x", "a'quote\"s", "-dash", "star*?"]
    for i, name in enumerate(names):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * i)
        os.utime(p, ns=(MTIME, MTIME))
    (root / "empty dir").mkdir()
    os.symlink(root / "plain.txt", root / "link-to-file")
    os.symlink("/etc", root / "link-out")


def test_find_and_sftp_listings_are_identical_and_match_local(remote: Remote) -> None:
    _odd_tree(remote.root)
    by_find = remote.store()
    by_sftp = remote.store(listing="sftp")
    a, b = listing(by_find), listing(by_sftp)
    assert by_find.last_listing == "find" and by_sftp.last_listing == "sftp"
    assert a == b
    local = [FileInfo(i.path, i.size, i.mtime_ns // 10**9 * 10**9, kind=i.kind)
             for i in listing(LocalStore(str(remote.root)))
             if not i.path.startswith("link")]
    assert a == local
    assert {"new\nline", "with space.json", "ünïcödé.zarr/.zarray", "empty dir"} <= {i.path for i in a}
    assert sorted(by_find.skipped_links) == ["link-out", "link-to-file"]
    assert sorted(by_sftp.skipped_links) == ["link-out", "link-to-file"]
    files = [i for i in a if i.kind == "file"]
    assert all(i.mtime_ns == WHOLE for i in files)
    assert listing(by_find, dirs=False) == files == listing(by_sftp, dirs=False)


@pytest.mark.parametrize("mode", ["find", "sftp"])
def test_scan_prefix_and_missing_prefix(remote: Remote, mode: str) -> None:
    _odd_tree(remote.root)
    store = remote.store(listing=mode)
    assert [i.path for i in listing(store, "deep/er")] == [
        "deep/er/still", "deep/er/still/0", "deep/er/still/0/0", "deep/er/still/0/0/0"]
    assert listing(store, "no/such/prefix") == []
    assert listing(store, "plain.txt") == []  # a file is not a folder to list


def test_listing_falls_back_to_sftp_without_find_printf(remote: Remote,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _odd_tree(remote.root)
    expected = listing(remote.store(listing="sftp"))
    monkeypatch.setattr(sftp_mod, "FIND_PROBE", "false")  # as on busybox / BSD find
    store = remote.store()
    assert listing(store) == expected
    assert store.last_listing == "sftp"
    strict = remote.store(listing="find")
    with pytest.raises(StoreError, match="find"):
        listing(strict)


def test_listing_of_a_missing_root_is_empty_and_check_root_says_why(remote: Remote) -> None:
    store = remote.store("not/there")
    assert listing(store) == []
    with pytest.raises(StoreError, match="does not exist") as err:
        store.check_root()
    assert "\n" not in str(err.value) and "not/there" in str(err.value)
    (remote.root / "afile").write_bytes(b"x")
    with pytest.raises(StoreError, match="not a folder"):
        remote.store("afile").check_root()


def test_a_failed_listing_raises_instead_of_returning_part(remote: Remote) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every folder: no permission error to provoke")
    (remote.root / "ok").mkdir()
    locked = remote.root / "locked"
    locked.mkdir()
    (locked / "f").write_bytes(b"x")
    locked.chmod(0)
    try:
        with pytest.raises(StoreError):
            listing(remote.store())
    finally:
        locked.chmod(0o755)


# -- exclusive create -------------------------------------------------------------------


@pytest.mark.parametrize("hardlink", [True, False], ids=["hardlink", "excl-open"])
def test_create_exclusive_is_exclusive(remote: Remote, hardlink: bool) -> None:
    stores = [remote.store() for _ in range(6)]
    if not hardlink:
        for s in stores:
            s._ext["hardlink"] = False
    assert stores[0].create_exclusive(".synctui-lock/first.json", b"one")
    assert not stores[1].create_exclusive(".synctui-lock/first.json", b"two")
    assert (remote.root / ".synctui-lock/first.json").read_bytes() == b"one"
    barrier = threading.Barrier(len(stores))
    wins: list[int] = []

    def race(i: int) -> None:
        barrier.wait()
        if stores[i].create_exclusive(".synctui-lock/write.json", f"owner {i}".encode()):
            wins.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert (remote.root / ".synctui-lock/write.json").read_bytes() == f"owner {wins[0]}".encode()
    assert temps(remote.root) == []


def test_locks_work_on_an_ssh_root(remote: Remote) -> None:
    from synctui.errors import LockHeldError
    from synctui.sync.locks import Lock, list_locks

    a, b = remote.store(), remote.store()
    with Lock(a, "write", sync_id="one"):
        with pytest.raises(LockHeldError, match="one"):
            Lock(b, "read", sync_id="two").acquire()
        assert [lk.sync_id for lk in list_locks(b)] == ["one"]
    assert list_locks(b) == []
    with Lock(a, "read"), Lock(b, "read"):
        assert len(list_locks(a)) == 2


# -- batches and pooling ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["tar", "sftp", "auto"])
def test_write_many_and_read_many(remote: Remote, method: str) -> None:
    store = remote.store()
    store.write_atomic("blocker", b"file in the way")
    store.write_atomic("batch/0/0.bin", b"old content, replaced")
    items = [(f"batch/{i % 7}/{i}.bin", os.urandom(i * 100), MTIME) for i in range(150)]
    items += [("batch/ü n i c o d e\nname", b"odd", MTIME), ("no-mtime", b"now", None),
              (f"long/{'x' * 120}/{'y' * 150}.bin", b"long name", MTIME)]
    items.append(("blocker/child", b"x", None))
    results = store.write_many(items, method=method)
    assert all(isinstance(r, FileInfo) for r in results[:-1]), [r for r in results if not isinstance(r, FileInfo)]
    assert isinstance(results[-1], StoreError) and not results[-1].transient
    assert "blocker/child" in str(results[-1])
    for (path, data, mtime), info in zip(items[:-1], results[:-1], strict=True):
        assert info.path == path and info.size == len(data)
        assert (remote.root / path).read_bytes() == data
        assert (remote.root / path).stat().st_mtime_ns // 10**9 * 10**9 == info.mtime_ns
        if mtime is not None:
            assert info.mtime_ns == WHOLE
    got = list(store.read_many([p for p, _, _ in items[:-1]] + ["missing"], method=method))
    assert [p for p, _ in got] == [p for p, _, _ in items[:-1]] + ["missing"]
    assert all(data == d for (_, data), (_, d, _) in zip(got, items[:-1], strict=False))
    assert isinstance(got[-1][1], StoreError) and "no longer exists" in str(got[-1][1])
    assert temps(remote.root) == []


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "compressed"])
def test_one_tar_loop_serves_every_batch_of_a_connection(remote: Remote, compression: bool) -> None:
    """One login shell per connection, not per batch; a batch tar fails on (a file where
    a folder must be) is still reported file by file, and the next batch starts a fresh loop."""
    from synctui.storage import ssh_tar

    store = remote.store(fs_args={"compression": compression})
    sinks = []
    for k in range(3):
        items = [(f"loop/{k}/{i}", os.urandom(i * 50), MTIME) for i in range(20)]
        assert all(isinstance(r, FileInfo) for r in store.write_many(items, method="tar"))
        conn = store._pool.get()
        sinks.append(conn.tar_sink)
        assert conn.transport.local_compression == ("zlib@openssh.com" if compression else "none")
        store._pool.put(conn)
    assert isinstance(sinks[0], ssh_tar.TarSink) and sinks == [sinks[0]] * 3
    (remote.root / "loop/blocker").write_bytes(b"a file in the way")
    bad = [(f"loop/ok/{i}", b"%d" % i, MTIME) for i in range(20)] + [("loop/blocker/child", b"x", MTIME)]
    results = store.write_many(bad, method="tar")
    assert all(isinstance(r, FileInfo) for r in results[:-1]) and isinstance(results[-1], StoreError)
    items = [(f"loop/after/{i}", b"%d" % i, MTIME) for i in range(20)]
    assert all(isinstance(r, FileInfo) for r in store.write_many(items, method="tar"))
    assert {p: (remote.root / p).read_bytes() for p, _, _ in items} == {p: d for p, d, _ in items}
    assert temps(remote.root) == []


def test_batches_without_a_shell_use_sftp(remote: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    from synctui.storage import ssh_tar

    monkeypatch.setattr(ssh_tar, "open_exec", lambda *a, **kw: None)  # the server refuses exec
    store = remote.store()
    items = [(f"b/{i}", b"%d" % i, MTIME) for i in range(40)]
    assert all(isinstance(r, FileInfo) for r in store.write_many(items))
    assert store._tar_ok is False
    assert dict(store.read_many([p for p, _, _ in items])) == {p: d for p, d, _ in items}
    with pytest.raises(StoreError, match="tar"):
        store.write_many(items, method="tar")
    assert temps(remote.root) == []


def test_parallel_callers_get_their_own_connections(remote: Remote) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = remote.store()
    barrier = threading.Barrier(4)

    def work(i: int) -> FileInfo:
        barrier.wait()
        return store.write_atomic(f"p/{i}", os.urandom(2_000_000))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert 2 <= store.connections_opened <= 4
    store.close()
    assert store.stat("p/0") is not None  # a closed store dials again


# -- faults -------------------------------------------------------------------------------


def test_dropped_connection_mid_write_is_transient_and_leaves_nothing(remote: Remote) -> None:
    store = remote.store()
    store.write_atomic("warm", b"up")

    def data():
        yield os.urandom(1 << 20)
        assert remote.server.kill_sessions() > 0
        yield os.urandom(1 << 20)
        yield os.urandom(1 << 20)

    with pytest.raises(StoreError) as err:
        store.write_atomic("victim.bin", data())
    assert err.value.transient
    assert "\n" not in str(err.value)
    assert not (remote.root / "victim.bin").exists()
    # the next call reconnects by itself, and sweeps the temp file the drop left
    assert store.write_atomic("after.bin", b"fine").size == 4
    assert temps(remote.root) == []


def test_idempotent_calls_survive_a_dropped_connection(remote: Remote) -> None:
    store = remote.store()
    store.write_atomic("f", b"data")
    remote.server.kill_sessions()
    assert store.read_bytes("f") == b"data"
    remote.server.kill_sessions()
    assert store.stat("f") is not None
    remote.server.kill_sessions()
    assert [i.path for i in store.scan()] == ["f"]


def test_dropped_connection_while_streaming_a_read(remote: Remote) -> None:
    store = remote.store()
    (remote.root / "big").write_bytes(os.urandom(20 << 20))
    fh = store.open_read("big")
    fh.read(1 << 20)
    remote.server.kill_sessions()
    with pytest.raises(StoreError) as err:
        while fh.read(1 << 20):
            pass
    assert err.value.transient
    fh.close()
    assert len(store.read_bytes("big")) == 20 << 20


def test_unreachable_host_is_one_line(remote: Remote) -> None:
    from sshd_server import free_port

    store = remote.store(fs_args={"port": free_port()})
    with pytest.raises(ConnectionFailed, match="connection refused") as err:
        store.check_root()
    assert "\n" not in str(err.value)
    bad = SFTPStore(remote.location(host="no-such-host.invalid", timeout=5))
    with pytest.raises(ConnectionFailed, match="unknown host|cannot reach|did not answer"):
        bad.check_root()


# -- host keys ----------------------------------------------------------------------------


def _unknown(remote: Remote, tmp_path: Path) -> Path:
    kh = tmp_path / "empty_known_hosts"
    kh.write_text("")
    return kh


def test_unknown_host_is_refused_with_its_fingerprint(remote: Remote, tmp_path: Path) -> None:
    import paramiko

    kh = _unknown(remote, tmp_path)
    store = remote.store(fs_args={"known_hosts": str(kh)})
    with pytest.raises(ConnectionFailed) as err:
        store.check_root()
    msg = str(err.value)
    key = paramiko.PKey.from_path(str(remote.server.host_key))
    assert fingerprint(key) in msg and "ssh-ed25519" in msg
    assert "accept_new_host_key" in msg and "SYNCTUI_SSH_ACCEPT_NEW" in msg
    assert "\n" not in msg
    assert kh.read_text() == ""


@pytest.mark.parametrize("how", ["fs_args", "env"])
def test_accepting_a_new_host_writes_known_hosts(remote: Remote, tmp_path: Path, how: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    kh = _unknown(remote, tmp_path)
    extra = {"known_hosts": str(kh)}
    if how == "fs_args":
        extra["accept_new_host_key"] = True
    else:
        monkeypatch.setenv("SYNCTUI_SSH_ACCEPT_NEW", "1")
    remote.store(fs_args=extra).check_root()
    assert kh.read_text() == remote.server.known_hosts_line
    monkeypatch.delenv("SYNCTUI_SSH_ACCEPT_NEW", raising=False)
    remote.store(fs_args={"known_hosts": str(kh)}).check_root()  # now trusted without the flag
    assert kh.read_text() == remote.server.known_hosts_line  # not written twice


def test_default_known_hosts_is_read_and_written(remote: Remote, ssh_env: Path) -> None:
    args = remote.fs_args()
    del args["known_hosts"]
    from synctui.storage.url import parse_location

    loc = parse_location(f"ssh://{remote.root}", dict(args, accept_new_host_key=True))
    SFTPStore(loc).check_root()
    assert (ssh_env / ".ssh/known_hosts").read_text() == remote.server.known_hosts_line
    SFTPStore(parse_location(f"ssh://{remote.root}", args)).check_root()


def test_a_changed_host_key_is_refused_loudly_with_no_override(remote: Remote, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from sshd_server import keygen

    other = keygen(tmp_path / "other_host_key")
    kh = tmp_path / "kh_changed"
    kh.write_text(f"[127.0.0.1]:{remote.server.port} " + " ".join(
        other.with_suffix(".pub").read_text().split()[:2]) + "\n")
    asked: list[PromptRequest] = []
    monkeypatch.setenv("SYNCTUI_SSH_ACCEPT_NEW", "1")
    store = remote.store(fs_args={"known_hosts": str(kh), "accept_new_host_key": True},
                         prompt=lambda req: asked.append(req) or True)
    with pytest.raises(ConnectionFailed, match="HOST KEY CHANGED") as err:
        store.check_root()
    assert "ssh-keygen -R" in str(err.value) and "\n" not in str(err.value)
    assert asked == []  # never offered to the user
    assert len(kh.read_text().splitlines()) == 1


def test_hashed_known_hosts_entries_are_understood(remote: Remote, tmp_path: Path) -> None:
    kh = tmp_path / "hashed"
    kh.write_text(remote.server.known_hosts_line)
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "|1|" in kh.read_text()
    remote.store(fs_args={"known_hosts": str(kh)}).check_root()


@pytest.mark.parametrize("answer", [True, False])
def test_the_prompt_callback_decides_about_an_unknown_host(remote: Remote, tmp_path: Path,
                                                          answer: bool) -> None:
    kh = _unknown(remote, tmp_path)
    asked: list[PromptRequest] = []

    def prompt(req: PromptRequest) -> bool:
        asked.append(req)
        return answer

    store = remote.store(fs_args={"known_hosts": str(kh)}, prompt=prompt)
    if answer:
        store.check_root()
        assert kh.read_text() == remote.server.known_hosts_line
    else:
        with pytest.raises(ConnectionFailed, match="not trusted"):
            store.check_root()
        assert kh.read_text() == ""
    (req,) = asked
    assert req.kind == "host-key" and req.key_type == "ssh-ed25519"
    assert req.fingerprint and req.fingerprint.startswith("SHA256:")
    assert req.known_hosts_path == str(kh)


# -- authentication -------------------------------------------------------------------------


def _enc_only(remote: Remote, **extra) -> dict:
    return {"client_keys": [str(remote.server.enc_key)], "look_for_keys": False,
            "allow_agent": False, **extra}


def test_encrypted_key_with_passphrase_from_env(remote: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCTUI_SSH_PASSPHRASE", remote.server.enc_passphrase)
    remote.store(fs_args=_enc_only(remote)).check_root()


def test_encrypted_key_with_passphrase_from_the_prompt(remote: Remote) -> None:
    asked: list[PromptRequest] = []

    def prompt(req: PromptRequest) -> str:
        asked.append(req)
        return remote.server.enc_passphrase if len(asked) > 1 else "wrong guess"

    store = remote.store(fs_args=_enc_only(remote), prompt=prompt)
    store.check_root()
    assert [r.kind for r in asked] == ["passphrase", "passphrase"]
    assert asked[0].key_path == str(remote.server.enc_key)
    # the pool's further connections reuse the key: no more questions
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(3)

    def work(i: int) -> None:
        barrier.wait()
        store.write_atomic(f"x{i}", os.urandom(1_000_000))

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(work, range(3)))
    assert len(asked) == 2 and store.connections_opened >= 2


def test_no_passphrase_is_asked_when_a_plain_key_works(remote: Remote) -> None:
    asked: list[PromptRequest] = []
    store = remote.store(fs_args={"client_keys": [str(remote.server.enc_key), str(remote.server.user_key)],
                                  "look_for_keys": False, "allow_agent": False},
                         prompt=lambda req: asked.append(req) or None)
    store.check_root()
    assert asked == []


def test_encrypted_key_headless_fails_clearly(remote: Remote) -> None:
    store = remote.store(fs_args=_enc_only(remote))
    with pytest.raises(ConnectionFailed, match="authentication failed") as err:
        store.check_root()
    assert "SYNCTUI_SSH_PASSWORD" in str(err.value) and "\n" not in str(err.value)
    assert "SYNCTUI_SSH_PASSPHRASE" in str(err.value) and "user_encrypted" in str(err.value)


def test_wrong_password_fails_and_never_shows_the_secret(remote: Remote, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    secret = "hunter2-very-secret"
    caplog.set_level(logging.DEBUG)
    store = remote.store(fs_args={"client_keys": [], "look_for_keys": False, "allow_agent": False,
                                  "password": secret})
    with pytest.raises(ConnectionFailed, match="authentication failed") as err:
        store.check_root()
    assert secret not in str(err.value) and secret not in caplog.text
    assert secret not in repr(store.location) and secret not in repr(store._connector.settings)
    # SYNCTUI_SSH_PASSWORD and an SSH_ASKPASS program are tried too
    marker = tmp_path / "askpass-called"
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho \"$1\" > {marker}\necho {secret}\n")
    askpass.chmod(0o755)
    monkeypatch.setenv("SSH_ASKPASS", str(askpass))
    plain = remote.store(fs_args={"client_keys": [], "look_for_keys": False, "allow_agent": False})
    with pytest.raises(ConnectionFailed, match="authentication failed") as err:
        plain.check_root()
    assert "Password for" in marker.read_text()
    assert secret not in str(err.value) and secret not in caplog.text


def test_ssh_agent_keys(remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not shutil.which("ssh-agent") or not shutil.which("ssh-add"):
        pytest.skip("no ssh-agent")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            threading.Event().wait(0.05)
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", str(remote.server.user_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        remote.store(fs_args={"client_keys": [], "look_for_keys": False}).check_root()
    finally:
        agent.terminate()
        agent.wait(5)


def test_ssh_config_alias_and_proxy_jump(remote: Remote, ssh_env: Path) -> None:
    srv = remote.server
    (ssh_env / ".ssh/config").write_text(
        f"Host jumpbox\n  HostName 127.0.0.1\n  Port {srv.port}\n  User {srv.user}\n"
        f"  IdentityFile {srv.user_key}\n  UserKnownHostsFile {remote.known_hosts}\n\n"
        f"Host cluster\n  HostName 127.0.0.1\n  Port {srv.port}\n  User {srv.user}\n"
        f"  IdentityFile {srv.user_key}\n  UserKnownHostsFile {remote.known_hosts}\n\n"
        f"Host behind\n  HostName 127.0.0.1\n  Port {srv.port}\n  ProxyJump jumpbox\n"
        f"  IdentityFile {srv.user_key}\n  UserKnownHostsFile {remote.known_hosts}\n")
    (remote.root / "hello").write_bytes(b"world")
    direct = SFTPStore(f"ssh://cluster{remote.root}")
    try:
        assert direct.read_bytes("hello") == b"world"
        assert direct.location.display.startswith("ssh://cluster/")
    finally:
        direct.close()
    jumped = SFTPStore(f"ssh://behind{remote.root}")
    try:
        assert jumped.read_bytes("hello") == b"world"
        conn = jumped._pool.get()
        assert len(conn.chain) == 1  # went through the jump host
        jumped._pool.put(conn)
    finally:
        jumped.close()


# -- password logins (needs a system user: root in a throwaway container) ------------------


def test_password_login_from_config_env_prompt_and_askpass(system_user, remote: Remote, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    name, password, home = system_user
    caplog.set_level(logging.DEBUG)
    (home / "data").mkdir()
    shutil.chown(home / "data", name)
    base = {"username": name, "client_keys": [], "look_for_keys": False, "allow_agent": False}

    def store(**kw):
        from synctui.storage.url import parse_location

        args = dict(remote.fs_args(), **base, **kw.pop("fs", {}))
        s = SFTPStore(parse_location(f"ssh://{home}/data", args), **kw)
        remote._stores.append(s)
        return s

    store(fs={"password": password}).write_atomic("one", b"1")
    assert (home / "data/one").owner() == name
    monkeypatch.setenv("SYNCTUI_SSH_PASSWORD", password)
    store().check_root()
    monkeypatch.delenv("SYNCTUI_SSH_PASSWORD")
    asked: list[PromptRequest] = []
    store(prompt=lambda req: asked.append(req) or password).check_root()
    assert [r.kind for r in asked] == ["password"] and name in asked[0].target
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{password}'\n")
    askpass.chmod(0o755)
    monkeypatch.setenv("SSH_ASKPASS", str(askpass))
    store().check_root()
    assert password not in caplog.text
    # a user who may not write there gets a one-line "permission denied"
    (remote.root / "theirs").mkdir()
    os.chmod(remote.root, 0o755)
    denied = SFTPStore(remote.location("theirs", **base, password=password))
    remote._stores.append(denied)
    with pytest.raises(StoreError, match="permission denied") as err:
        denied.write_atomic("x", b"x")
    assert "\n" not in str(err.value)
    assert stat.S_ISDIR((remote.root / "theirs").stat().st_mode)
