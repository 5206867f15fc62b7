"""PROPFIND bodies and a streaming parser for WebDAV multistatus responses.

The parser is fed the response body chunk by chunk (``xml.etree`` pull parser)
and yields one ``DavEntry`` per ``<D:response>`` as soon as it is complete, so a
listing of a million entries never becomes one DOM.  Only properties reported
with a 2xx ``propstat`` status count; hrefs are returned as decoded URL paths
(absolute URLs and absolute paths alike), the store makes them relative.
"""

from __future__ import annotations

import calendar
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_tz
from urllib.parse import unquote, urlsplit

DAV = "{DAV:}"
OC = "{http://owncloud.org/ns}"

_RESPONSE = DAV + "response"
_HREF = DAV + "href"
_PROPSTAT = DAV + "propstat"
_PROP = DAV + "prop"
_STATUS = DAV + "status"
_LASTMOD = DAV + "getlastmodified"
_LENGTH = DAV + "getcontentlength"
_ETAG = DAV + "getetag"
_RTYPE = DAV + "resourcetype"
_COLLECTION = DAV + "collection"
_CHECKSUMS = OC + "checksums"
_CHECKSUM = OC + "checksum"

#: exactly the four properties a listing needs (DESIGN §7): never allprop
PROPFIND_LISTING = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:getlastmodified/><D:getcontentlength/><D:getetag/><D:resourcetype/>"
    b"</D:prop></D:propfind>"
)

#: the capability probe also asks for ownCloud/Nextcloud checksums
PROPFIND_PROBE = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop>'
    b"<D:getlastmodified/><D:getcontentlength/><D:getetag/><D:resourcetype/><oc:checksums/>"
    b"</D:prop></D:propfind>"
)


class MultistatusError(ValueError):
    """A body that is not a well-formed multistatus document."""


@dataclass(frozen=True, slots=True)
class DavEntry:
    """One resource from a multistatus response."""

    path: str  # decoded URL path, e.g. "/dav/project/Objects/a b.zarr"
    is_dir: bool
    size: int
    mtime: int  # seconds since the epoch (0 when the server did not say)
    etag: str | None
    checksums: str | None = None


def href_path(href: str) -> str:
    """The decoded path of an href, whether absolute URL or absolute path.

    ``//`` runs collapse and a trailing ``/`` is dropped (except for ``/``).
    """
    text = href.strip()
    if "://" in text[:12]:
        text = urlsplit(text).path
    path = unquote(text)
    if "//" in path:
        path = re.sub("/{2,}", "/", path)
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path


@functools.lru_cache(maxsize=8192)
def http_date(text: str) -> int:
    """Seconds since the epoch for an RFC 1123 date (ISO 8601 accepted too); 0 if unparsable."""
    parsed = parsedate_tz(text)
    if parsed is not None:
        offset = parsed[9] or 0
        return calendar.timegm(parsed[:6] + (0, 0, 0)) - offset
    from datetime import datetime

    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int(dt.timestamp())


def format_http_date(seconds: int) -> str:
    """An RFC 1123 date (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return formatdate(seconds, usegmt=True)


def norm_etag(value: str | None) -> str | None:
    """One spelling for an entity tag: no ``W/``, no quotes (servers differ between
    the ETag header and getetag)."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"').strip()
    return text or None


def _status_ok(el: ET.Element | None) -> bool:
    if el is None or not el.text:
        return True  # no status: take the properties at their word
    parts = el.text.split(None, 2)
    return len(parts) >= 2 and parts[1].startswith("2")


def _entry(resp: ET.Element) -> DavEntry | None:
    href_el = resp.find(_HREF)
    if href_el is None or not href_el.text:
        return None
    is_dir = False
    size = 0
    mtime = 0
    etag: str | None = None
    checksums: str | None = None
    seen = False
    for propstat in resp.iterfind(_PROPSTAT):
        if not _status_ok(propstat.find(_STATUS)):
            continue
        prop = propstat.find(_PROP)
        if prop is None:
            continue
        seen = True
        for el in prop:
            tag = el.tag
            if tag == _RTYPE:
                is_dir = el.find(_COLLECTION) is not None
            elif tag == _LENGTH:
                try:
                    size = int((el.text or "0").strip())
                except ValueError:
                    size = 0
            elif tag == _LASTMOD:
                mtime = http_date(el.text.strip()) if el.text else 0
            elif tag == _ETAG:
                etag = norm_etag(el.text)
            elif tag == _CHECKSUMS:
                values = [c.text.strip() for c in el.iter(_CHECKSUM) if c.text and c.text.strip()]
                if not values and el.text and el.text.strip():
                    values = [el.text.strip()]
                checksums = " ".join(values) or None
    if not seen:
        return None  # e.g. a <D:status>404</D:status> response without properties
    return DavEntry(href_path(href_el.text), is_dir, 0 if is_dir else size, mtime, etag, checksums)


def parse_multistatus(chunks: Iterable[bytes]) -> Iterator[DavEntry]:
    """Yield each resource of a multistatus body as its ``</D:response>`` arrives."""
    parser = ET.XMLPullParser(events=("start", "end"))
    root: ET.Element | None = None
    depth = 0
    try:
        for chunk in chunks:
            parser.feed(chunk)
            for event, el in parser.read_events():
                if event == "start":
                    if root is None:
                        root = el
                    depth += 1
                    continue
                depth -= 1
                if el.tag == _RESPONSE and depth == 1:
                    entry = _entry(el)
                    if root is not None:
                        root.clear()  # drop what we have read: memory stays flat
                    if entry is not None:
                        yield entry
        parser.close()
        for event, el in parser.read_events():
            if event == "end" and el.tag == _RESPONSE:
                entry = _entry(el)
                if entry is not None:
                    yield entry
    except ET.ParseError as exc:
        raise MultistatusError(f"malformed multistatus XML ({exc})") from None
    if root is None:
        raise MultistatusError("empty multistatus body")
    if root.tag != DAV + "multistatus":
        raise MultistatusError(f"expected a DAV:multistatus document, got <{root.tag}>")
