"""Root URLs in every form copick configs use, and what a user sees for each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synctui.errors import LocationError, SyncTuiError
from synctui.storage.open import open_store
from synctui.storage.url import Location, parse_location, redact_url


def where(loc: Location) -> tuple:
    return (loc.protocol, loc.path, loc.host, loc.port, loc.username, loc.base_url)


def test_plain_absolute_path() -> None:
    assert where(parse_location("/data/project/")) == ("local", "/data/project", None, None, None, None)


def test_plain_relative_path_is_relative_to_base_dir(tmp_path: Path) -> None:
    loc = parse_location("overlay/../overlay2", base_dir=str(tmp_path))
    assert where(loc) == ("local", str(tmp_path / "overlay2"), None, None, None, None)


def test_plain_relative_path_without_base_dir_uses_cwd(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_location("proj").path == os.path.join(os.getcwd(), "proj")


def test_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_location("~/copick/overlay").path == str(tmp_path / "copick" / "overlay")


@pytest.mark.parametrize("url", ["local:///data/project", "file:///data/project",
                                 "file://localhost/data/project", "LOCAL:///data/project/"])
def test_local_urls(url: str) -> None:
    loc = parse_location(url, {"auto_mkdir": True})
    assert where(loc) == ("local", "/data/project", None, None, None, None)
    assert loc.fs_args == {"auto_mkdir": True} and loc.original == url
    assert loc.display == "/data/project"


def test_local_url_with_percent_escapes() -> None:
    assert parse_location("local:///data/my%20project").path == "/data/my project"


@pytest.mark.parametrize("scheme", ["ssh", "sftp"])
def test_ssh_with_fs_args(scheme: str) -> None:
    loc = parse_location(f"{scheme}:///scratch/copick", {"host": "cluster.example.org", "port": 2222,
                                                         "username": "alice"})
    assert where(loc) == ("ssh", "/scratch/copick", "cluster.example.org", 2222, "alice", None)
    assert loc.display == "ssh://alice@cluster.example.org:2222/scratch/copick"


def test_ssh_port_as_string_and_default() -> None:
    assert parse_location("ssh:///p", {"host": "h", "port": "2200"}).port == 2200
    loc = parse_location("ssh:///p", {"host": "h"})
    assert loc.port == 22 and loc.username is None and loc.display == "ssh://h/p"


@pytest.mark.parametrize("scheme", ["ssh", "sftp"])
def test_ssh_inline(scheme: str) -> None:
    loc = parse_location(f"{scheme}://bob@hpc:2200/data/proj", {"host": "ignored", "username": "x"})
    assert where(loc) == ("ssh", "/data/proj", "hpc", 2200, "bob", None)
    assert loc.display == "ssh://bob@hpc:2200/data/proj"


def test_ssh_ipv6_host_is_bracketed_in_display() -> None:
    loc = parse_location("ssh://u@[::1]:2222/p")
    assert loc.host == "::1" and loc.display == "ssh://u@[::1]:2222/p"


def test_webdav_relative_with_base_url() -> None:
    loc = parse_location("webdav://projects/demo", {"base_url": "https://dav.example.org/remote/"})
    assert where(loc) == ("webdav", "/projects/demo", None, None, None, "https://dav.example.org/remote")
    assert loc.display == "https://dav.example.org/remote/projects/demo"


@pytest.mark.parametrize(("url", "base", "path"), [
    ("http://127.0.0.1:8080/dav/proj", "http://127.0.0.1:8080", "/dav/proj"),
    ("https://dav.example.org/remote.php/webdav/p", "https://dav.example.org", "/remote.php/webdav/p"),
    ("https://dav.example.org", "https://dav.example.org", "/"),
])
def test_http_urls_are_webdav(url: str, base: str, path: str) -> None:
    loc = parse_location(url)
    assert where(loc) == ("webdav", path, None, None, None, base)
    assert loc.display.rstrip("/") == url.rstrip("/")


def test_http_credentials_go_to_auth() -> None:
    loc = parse_location("http://alice:s3cret%21@dav.local:8080/p")
    assert loc.fs_args["auth"] == ["alice", "s3cret!"]
    assert loc.base_url == "http://dav.local:8080"
    # credentials from fs_args win over the URL's
    loc = parse_location("http://alice:pw@dav.local/p", {"auth": ["bob", "other"]})
    assert loc.fs_args["auth"] == ["bob", "other"]


@pytest.mark.parametrize(("url", "fs_args"), [
    ("http://alice:hunter2@dav.local:8080/p", None),
    ("https://alice:hunter2@dav.local/p", None),
    ("webdav://p", {"base_url": "http://dav.local", "auth": ["alice", "hunter2"]}),
    ("ssh://alice:hunter2@hpc/data", None),
    ("sftp:///data", {"host": "hpc", "username": "alice", "password": "hunter2"}),
])
def test_password_is_never_displayed(url: str, fs_args: dict | None) -> None:
    loc = parse_location(url, fs_args)
    assert "hunter2" not in loc.display
    assert "hunter2" not in loc.key
    assert "hunter2" not in repr(loc)
    assert "hunter2" not in str(loc)


@pytest.mark.parametrize(("url", "fs_args", "shown"), [
    ("smb://nas/share/proj", None, "smb://nas/share/proj"),
    ("smb:///share/proj/", {"host": "nas", "port": "4455", "username": "u", "password": "pw"},
     "smb://u@nas:4455/share/proj"),
    ("smb://u:pw@nas:445/share", None, "smb://u@nas/share"),
])
def test_smb_roots_in_both_copick_forms(url: str, fs_args: dict | None, shown: str) -> None:
    loc = parse_location(url, fs_args)
    assert loc.protocol == "smb" and loc.display == shown and "pw" not in repr(loc)
    assert loc.fs_args.get("password") == ("pw" if "pw" in url or fs_args else None)


def test_ssh_password_in_url_goes_to_fs_args() -> None:
    assert parse_location("ssh://alice:hunter2@hpc/data").fs_args["password"] == "hunter2"


@pytest.mark.parametrize(("url", "fs_args", "words"), [
    ("ssh:///data", None, "no host"),
    ("sftp:///data", {"port": 22}, "no host"),
    ("ssh://hpc", None, "must be absolute"),
    ("ssh://hpc:abc/data", None, "bad port"),
    ("webdav://projects/a", None, "need base_url"),
    ("http:///p", None, "no host"),
    ("s3://Bad_Bucket!/key", None, "is not an S3 bucket name"),
    ("s3://user:pw@bucket/key", None, "credentials go in fs_args"),
    ("s3://bucket/../key", None, "must not contain '..'"),
    ("s3://bucket/key", {"endpoint_url": "ftp://host"}, "is not an http:// or https:// URL"),
    ("smb://server", None, "no share"),
    ("smb:///share/p", None, "no host"),
    ("smb://server/share/../up", None, "climbs out"),
    ("file://server/share", None, "must name a local path"),
    ("", None, "non-empty"),
    ("   ", None, "non-empty"),
])
def test_bad_urls_say_why(url: str, fs_args: dict | None, words: str) -> None:
    with pytest.raises(LocationError) as info:
        parse_location(url, fs_args, what="overlay_root")
    message = str(info.value)
    assert words in message and "\n" not in message
    assert message.startswith("overlay_root")


SECRET = "S3cr3t-PW"

#: every way a URL with a password in it can fail to parse (issue #12, items 6 and 8)
BAD_SECRET_URLS = [
    (f"ssh://root:{SECRET}@127.0.0.1:99999/x", None, "bad port '99999'"),
    (f"ssh://root:{SECRET}@h:notaport/x", None, "bad port 'notaport'"),
    (f"ssh://root:{SECRET}@h:0/x", None, "bad port '0'"),
    (f"ssh://root:{SECRET}@h:-1/x", None, "bad port"),
    (f"ssh://root:{SECRET}@[::1/x", None, "malformed host"),
    (f"https://root:{SECRET}@[zz]/x", None, "malformed host"),
    (f"http://root:{SECRET}@[::1/x", None, "malformed host"),
    (f"ssh://root:{SECRET}@/x", None, "no host"),
    (f"sftp://root:{SECRET}@h", None, "must be absolute"),
    (f"http://root:{SECRET}@/p", None, "no host"),
    (f"s3://root:{SECRET}@bucket/key", None, "credentials go in fs_args"),
    (f"file://root:{SECRET}@server/share", None, "must name a local path"),
    (f"webdav://root:{SECRET}@x/y", None, "need base_url"),
    ("webdav://x/y", {"base_url": f"https://root:{SECRET}@[::1/"}, "malformed host"),
    (f"ssh://root:{SECRET}@h/x", {"port": "abc"}, "port"),
    (f"https://root:{SECRET}@h/x", {"timeout": "abc"}, "timeout"),
    (f"ssh://root:{SECRET}@h/x\0", None, "NUL"),
    (f"ssh://root:p@ss:{SECRET}@h:bad/x", None, "bad port"),  # an @ in the password
]


@pytest.mark.parametrize(("url", "fs_args", "words"), BAD_SECRET_URLS)
def test_a_password_never_appears_in_a_url_error(url: str, fs_args: dict | None, words: str) -> None:
    with pytest.raises(SyncTuiError) as info:
        parse_location(url, fs_args, what="overlay_root")
    message = str(info.value)
    assert words in message and "\n" not in message
    assert SECRET not in message and "p@ss" not in message


def test_redact_url() -> None:
    assert redact_url(f"ssh://root:{SECRET}@h:1/x") == "ssh://root:***@h:1/x"
    assert redact_url(f"https://u:{SECRET}@[zz/x") == "https://u:***@[zz/x"
    assert redact_url("ssh://alice@hpc/data@2") == "ssh://alice@hpc/data@2"  # no password: as is
    assert redact_url("/plain/path:with@signs") == "/plain/path:with@signs"


def test_non_string_url() -> None:
    with pytest.raises(LocationError, match="must be a non-empty path or URL"):
        parse_location(None)  # type: ignore[arg-type]


def test_equality_ignores_how_it_was_written() -> None:
    a = parse_location("ssh://alice@hpc:22/data")
    b = parse_location("sftp:///data/", {"host": "hpc", "username": "alice", "password": "x"})
    assert a == b and a.key == b.key


def test_join() -> None:
    loc = parse_location("ssh://alice@hpc/data").join("/sub/dir/")
    assert loc.path == "/data/sub/dir" and loc.host == "hpc"


def test_open_store_local(tmp_path: Path) -> None:
    store = open_store(parse_location(str(tmp_path)))
    assert store.location.path == str(tmp_path)


def test_open_store_unknown_protocol() -> None:
    with pytest.raises(LocationError, match="unknown protocol 'ftp'"):
        open_store(Location("ftp", "/share"))
