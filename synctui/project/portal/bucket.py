"""The portal's public bucket, read anonymously: S3 ListObjectsV2 and GETs over HTTP(S).

Listings must come from the S3 endpoint (``{endpoint}/{bucket}?list-type=2``); GETs
go there too, or to the HTTPS mirror (``files_url``) when one is set.  Each key's
size, ETag and LastModified are its identity: a second pull with nothing changed
on the portal moves nothing.
"""

from __future__ import annotations

import calendar
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from synctui.errors import StoreError
from synctui.project.portal.http import PortalHTTP

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True, slots=True)
class Key:
    key: str
    size: int
    mtime_ns: int
    etag: str | None


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    if not uri.startswith("s3://"):
        raise StoreError(f"{uri!r} is not an s3:// path")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key.strip("/")


def parse_http_date(text: str | None) -> int:
    if not text:
        return 0
    from email.utils import parsedate_to_datetime

    try:
        return int(parsedate_to_datetime(text).timestamp()) * 1_000_000_000
    except (TypeError, ValueError):
        return 0


def parse_iso(text: str | None) -> int:
    """S3's ``2026-12-01T23:35:43.000Z`` as ns (whole seconds, as HTTP dates say it)."""
    if not text:
        return 0
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000
    except ValueError:
        return 0


class Bucket:
    def __init__(self, http: PortalHTTP, s3_endpoint: str, files_url: str | None) -> None:
        self.http = http
        self.s3 = s3_endpoint.rstrip("/")
        self.files = files_url.rstrip("/") if files_url else None

    def url(self, bucket: str, key: str) -> str:
        base = self.files if self.files else f"{self.s3}/{bucket}"
        return f"{base}/{quote(key)}"

    def list(self, bucket: str, prefix: str) -> list[Key]:
        """Every key under ``prefix/`` (paged by 1000)."""
        out: list[Key] = []
        token: str | None = None
        prefix = prefix.rstrip("/") + "/"
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            root = self.http.request(f"listing s3://{bucket}/{prefix}", "GET", f"{self.s3}/{bucket}",
                                     params=params, read=_xml)
            for c in root.iter(f"{_NS}Contents"):
                key = c.findtext(f"{_NS}Key") or ""
                if key.endswith("/"):
                    continue
                out.append(Key(key, int(c.findtext(f"{_NS}Size") or 0),
                               parse_iso(c.findtext(f"{_NS}LastModified")),
                               (c.findtext(f"{_NS}ETag") or "").strip('"') or None))
            token = root.findtext(f"{_NS}NextContinuationToken")
            if (root.findtext(f"{_NS}IsTruncated") or "false").lower() != "true" or not token:
                return out

    def get(self, bucket: str, key: str, *, etag: str | None = None) -> tuple[bytes | None, Key]:
        """The key's bytes and identity; with ``etag``, (None, ...) when it still has it (304)."""
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}

        def read(resp: Any) -> tuple[bytes | None, Key]:
            tag = (resp.headers.get("etag") or "").strip('"') or None
            body = None if resp.status_code == 304 else resp.content
            size = len(body) if body is not None else int(resp.headers.get("content-length") or 0)
            return body, Key(key, size, parse_http_date(resp.headers.get("last-modified")), tag or etag)

        return self.http.request(f"reading s3://{bucket}/{key}", "GET", self.url(bucket, key),
                                 headers=headers, ok=(200, 304), read=read)


def _xml(resp: Any) -> ET.Element:
    try:
        return ET.fromstring(resp.content)
    except ET.ParseError:
        raise StoreError("the bucket listing is not XML") from None
