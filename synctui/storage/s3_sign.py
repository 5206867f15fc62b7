"""AWS Signature V4 for the few S3 calls obstore does not offer.

obstore (object_store) has no ListMultipartUploads, and its errors carry no status
code: the connect check (HEAD bucket) and the sweep of uploads a killed sync left
(ListMultipartUploads, AbortMultipartUpload) are sent with httpx, signed here.
Bodiless requests only (the payload hash is that of the empty string).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SAFE = "-_.~"


def quote_key(key: str) -> str:
    """An object key as it goes in a URL path (each byte but ``/`` and unreserved ones escaped)."""
    return quote(key, safe="/" + _SAFE)


def sign(method: str, url: str, *, region: str, key: str, secret: str, token: str | None = None,
         now: datetime | None = None, service: str = "s3") -> dict[str, str]:
    """The headers that sign this bodiless request (``url`` already escaped)."""
    parts = urlsplit(url)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    canonical_query = "&".join(f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in query)
    headers = {"host": parts.netloc, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": stamp}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join([method, parts.path or "/", canonical_query,
                           "".join(f"{n}:{headers[n].strip()}\n" for n in names), signed, EMPTY_SHA256])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {n: headers[n] for n in names if n != "host"}
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, "
                            f"Signature={signature}")
    return out
