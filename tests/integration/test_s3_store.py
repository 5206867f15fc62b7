"""What is specific to the S3 store (the shared contract is in tests/storage): multipart
uploads (streamed, verified, aborted when they fail, swept when a killed sync left one),
folder markers other tools make, the conditional-create probe, and where credentials
come from.  On moto and SeaweedFS (``s3``), the probe also behind a proxy that strips
``If-None-Match``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from s3_servers import S3Root, S3Server

from synctui.errors import ConnectionFailed, StoreError, UnguardedWrites
from synctui.storage.s3 import UPLOADS_DIR, S3Store
from synctui.storage.url import parse_location

pytestmark = pytest.mark.integration
PART = 5 << 20


def blocks(data: bytes, piece: int = 1 << 20):
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


def test_a_large_stream_goes_up_in_verified_parts(s3: S3Root) -> None:
    data = os.urandom(2 * PART + 12345)
    store = s3.store(part_size=PART)
    info = store.write_atomic("big/file.bin", blocks(data), size=len(data))
    digests = [hashlib.md5(data[i:i + PART]).digest() for i in range(0, len(data), PART)]
    assert info.etag == f"{hashlib.md5(b''.join(digests)).hexdigest()}-3"  # checked against what we sent
    assert store.capabilities.etag_md5 is True
    assert store.stat("big/file.bin").etag == info.etag == {f.path: f for f in store.scan()}["big/file.bin"].etag
    assert s3.path("root/big/file.bin").read_bytes() == data
    assert s3.uploads() == [] and not s3.path(f"root/{UPLOADS_DIR}").keys()
    with store.open_read("big/file.bin") as fh:
        assert fh.read(10) == data[:10] and fh.read() == data[10:]
    store.close()


def test_a_failed_multipart_upload_is_aborted_and_leaves_nothing(s3: S3Root) -> None:
    store = s3.store(part_size=PART)
    s3.path("root/keep.bin").write_bytes(b"old")

    def broken():
        yield os.urandom(3 * PART)
        raise OSError(5, "Input/output error")

    for path in ("keep.bin", "new.bin"):
        with pytest.raises(StoreError, match="reading its data failed"):
            store.write_atomic(path, broken())
    data = os.urandom(PART + 1)
    with pytest.raises(StoreError, match="expected"):
        store.write_atomic("new.bin", blocks(data), size=len(data) + 1)
    assert s3.path("root/keep.bin").read_bytes() == b"old" and not s3.path("root/new.bin").exists()
    assert s3.uploads() == []
    assert not s3.path(f"root/{UPLOADS_DIR}").keys()
    store.close()


_SLOW_WRITER = """
import sys, time, json
from synctui.storage.url import parse_location
from synctui.storage.s3 import S3Store
loc = parse_location(sys.argv[1], json.loads(sys.argv[2]))
store = S3Store(loc, part_size=5 << 20)
def slow():
    for i in range(200):
        yield b"x" * (1 << 20)
        if i > 12:
            time.sleep(0.2)
store.write_atomic("ExperimentRuns/big.bin", slow())
"""


def test_uploads_a_killed_sync_left_are_aborted_by_the_next_write(s3: S3Root, tmp_path: Path) -> None:
    import json

    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, s3.url("root"), json.dumps(s3.fs_args())],
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    deadline = time.monotonic() + 60
    while not s3.uploads() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert s3.uploads() == ["root/ExperimentRuns/big.bin"], "the writer never started its upload"
    for key in ("root/theirs.bin", "elsewhere/theirs.bin"):  # no marker of ours: not ours to abort
        s3.server.client().create_multipart_upload(Bucket=s3.bucket, Key=key)
    store = s3.store()
    from synctui.sync.locks import Lock

    with Lock(store, "read"):  # a reader (lock and heartbeat are writes) never aborts an upload
        pass
    assert "root/ExperimentRuns/big.bin" in s3.uploads()
    store.write_atomic("x", b"1")  # a file's first write: under the engine's write lock
    assert sorted(s3.uploads()) == ["elsewhere/theirs.bin", "root/theirs.bin"]
    assert not s3.path(f"root/{UPLOADS_DIR}").keys()
    assert any("aborted 1 multipart upload" in w for w in store.warnings)
    store.close()


def test_folder_markers_of_other_tools_are_folders(s3: S3Root) -> None:
    client = s3.server.client()
    for key in ("root/ExperimentRuns/", "root/ExperimentRuns/TS_1/", "root/ExperimentRuns/TS_1/.meta"):
        client.put_object(Bucket=s3.bucket, Key=key, Body=b"meta" if key.endswith(".meta") else b"")
    store = s3.store()
    assert {(f.path, f.kind) for f in store.scan(dirs=True)} == {
        ("ExperimentRuns", "dir"), ("ExperimentRuns/TS_1", "dir"), ("ExperimentRuns/TS_1/.meta", "file")}
    assert store.stat("ExperimentRuns").kind == "dir"
    store.close()


def test_a_server_that_ignores_if_none_match_gets_no_write(stripping_s3: S3Server, moto_s3: S3Server,
                                                           aws_env: Path) -> None:
    root = S3Root(stripping_s3, moto_s3.new_bucket())
    store = root.store()
    assert store.scan() is not None and list(store.scan()) == []  # reading is fine
    with pytest.raises(UnguardedWrites) as refused:
        store.write_atomic("f", b"x")
    err = refused.value
    assert err.server.endswith(f"127.0.0.1:{stripping_s3.port}") and "second create" in err.reason
    assert "\n" not in str(err) and not store.features.exclusive_create
    for call in (lambda: store.create_exclusive(".synctui-lock/write.json", b"me"),
                 lambda: store.remove("f"), lambda: store.rename("a", "b"), lambda: store.remove_tree("d")):
        with pytest.raises(UnguardedWrites):
            call()
    assert root.path("root").keys() == []  # the probe's key is gone too
    accepted = root.store(allow_unguarded_writes=True)
    assert accepted.create_exclusive(".synctui-lock/write.json", b"me") is True
    assert accepted.create_exclusive(".synctui-lock/write.json", b"you") is False  # a HEAD first
    assert "IGNORED" in accepted.capabilities.describe()
    store.close()
    accepted.close()


def test_credentials_from_the_environment_and_none_at_all(s3: S3Root, aws_env: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    loc = parse_location(s3.url("root"), {"endpoint_url": s3.server.endpoint})
    with pytest.raises(ConnectionFailed, match="no S3 credentials"):
        S3Store(loc)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.server.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.server.secret)
    store = S3Store(loc)
    assert store.settings.credentials.source == "environment"
    store.write_atomic("f", b"x")
    assert s3.path("root/f").read_bytes() == b"x"
    store.close()


def test_the_location_names_bucket_prefix_and_endpoint() -> None:
    loc = parse_location("s3://my-bucket/proj/overlay/", {"endpoint_url": "http://127.0.0.1:9000",
                                                          "key": "AKIA", "secret": "hidden-value"})
    assert (loc.protocol, loc.host, loc.path, loc.base_url) == ("s3", "my-bucket", "/proj/overlay",
                                                                 "http://127.0.0.1:9000")
    assert loc.display == "s3://my-bucket/proj/overlay"
    assert loc.key == "s3://my-bucket/proj/overlay at http://127.0.0.1:9000"
    assert "hidden-value" not in repr(loc)
    aws = parse_location("s3://my-bucket/p", {"client_kwargs": {"region_name": "eu-west-1"}})
    assert aws.key == "s3://my-bucket/p" and aws.base_url is None
