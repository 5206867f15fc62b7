"""The WebDAV multistatus parser and small helpers, without a server."""

from __future__ import annotations

import pytest

from synctui.storage.webdav_auth import Credentials, coerce, from_env, from_fs_args
from synctui.storage.webdav_xml import (
    PROPFIND_LISTING,
    MultistatusError,
    format_http_date,
    href_path,
    http_date,
    norm_etag,
    parse_multistatus,
)

BODY = b"""<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns">
 <D:response>
  <D:href>http://dav.example.org/remote/proj/</D:href>
  <D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>
   <D:getlastmodified>Sun, 06 Nov 1994 08:49:37 GMT</D:getlastmodified></D:prop>
   <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  <D:propstat><D:prop><D:getcontentlength/><D:getetag/></D:prop>
   <D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
 </D:response>
 <D:response>
  <D:href>/remote/proj/a%20b/%C3%A9t%C3%A9%23.json</D:href>
  <D:propstat><D:prop><D:resourcetype/><D:getcontentlength>42</D:getcontentlength>
   <D:getetag>W/"abc-1"</D:getetag>
   <D:getlastmodified>Sun, 06 Nov 1994 08:49:38 GMT</D:getlastmodified>
   <oc:checksums><oc:checksum>SHA1:00ff</oc:checksum></oc:checksums></D:prop>
   <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
 </D:response>
 <D:response><D:href>/remote/proj/gone</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
</D:multistatus>"""


def test_parse_streams_in_small_pieces() -> None:
    pieces = [BODY[i:i + 7] for i in range(0, len(BODY), 7)]
    entries = list(parse_multistatus(pieces))
    assert [e.path for e in entries] == ["/remote/proj", "/remote/proj/a b/été#.json"]
    root, f = entries
    assert root.is_dir and root.size == 0 and root.etag is None and root.mtime == 784111777
    assert not f.is_dir and f.size == 42 and f.etag == "abc-1" and f.mtime == 784111778
    assert f.checksums == "SHA1:00ff"


@pytest.mark.parametrize("body", [b"", b"<not-xml", b"<?xml version='1.0'?><html><body/></html>"])
def test_malformed_bodies_raise(body: bytes) -> None:
    with pytest.raises(MultistatusError):
        list(parse_multistatus([body]))


@pytest.mark.parametrize(("href", "path"), [
    ("http://h:8080/a%20b/c/", "/a b/c"),
    ("/a//b///c", "/a/b/c"),
    ("/", "/"),
    ("https://h/x%2Fy", "/x/y"),
    ("rel/path", "/rel/path"),
])
def test_href_path(href: str, path: str) -> None:
    assert href_path(href) == path


def test_dates_and_etags() -> None:
    assert http_date(format_http_date(1_700_000_000)) == 1_700_000_000
    assert http_date("2023-11-14T22:13:20Z") == 1_700_000_000
    assert http_date("garbage") == 0
    assert norm_etag('W/"x"') == norm_etag('"x"') == norm_etag("x") == "x"
    assert norm_etag("") is None and norm_etag(None) is None


def test_listing_asks_for_exactly_four_properties() -> None:
    text = PROPFIND_LISTING.decode()
    for prop in ("getlastmodified", "getcontentlength", "getetag", "resourcetype"):
        assert f"<D:{prop}/>" in text
    assert text.count("/>") == 4 and "allprop" not in text


def test_credentials_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    assert from_fs_args({"auth": ["alice", "pw"]}) == Credentials("alice", "pw", source="fs_args")
    c = from_fs_args({"auth": {"username": "bob", "password": "x", "type": "digest"}})
    assert c is not None and c.scheme == "digest" and c.username == "bob"
    t = from_fs_args({"auth": {"token": "tok"}})
    assert t is not None and t.token == "tok" and t.scheme == "bearer"
    assert from_fs_args({}) is None
    monkeypatch.setenv("SYNCTUI_WEBDAV_USER", "carol")
    monkeypatch.setenv("SYNCTUI_WEBDAV_PASSWORD", "sesame")
    env = from_env()
    assert env is not None and env.username == "carol" and env.source == "environment"
    monkeypatch.setenv("SYNCTUI_WEBDAV_TOKEN", "t0k")
    env = from_env()
    assert env is not None and env.token == "t0k"


def test_credentials_never_print_secrets() -> None:
    c = coerce(["alice", "hunter2"], source="fs_args")
    t = coerce({"token": "hunter3"}, source="fs_args")
    for value in (c, t):
        assert "hunter" not in repr(value) and "hunter" not in str(value)
        assert "hunter" not in value.describe()  # type: ignore[union-attr]
