"""Content rewrites for mapped annotations.

A picks or filaments file names its run, object, user and session inside the
JSON; when the rules map any of them, the copy must say the new names.  Every
other field (points, unit, voxel_spacing, trust_orientation, unknown keys) is
kept exactly, in its order, and numbers keep their text.
"""

from __future__ import annotations

import json
from typing import Any

from synctui.errors import StoreError
from synctui.project.layout import EntityRef, Kind

_FIELDS = (("run_name", "run"), ("pickable_object_name", "name"), ("user_id", "user"),
           ("session_id", "session"))


def needs_transform(source: EntityRef, target: EntityRef) -> bool:
    """Only JSON annotations carry their names inside; zarr and glb never change."""
    return source.kind in (Kind.PICKS, Kind.FILAMENTS) and source != target


class _RawFloat(float):
    """A float that remembers its original spelling, so a rewrite keeps it."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> _RawFloat:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj

    def __repr__(self) -> str:
        return self.text


def _indent_of(raw: bytes) -> int | None:
    """copick writes indented JSON; keep whatever indentation the source used."""
    text = raw[:200].decode("utf-8", "replace")
    nl = text.find("\n")
    if nl < 0:
        return None
    rest = text[nl + 1:]
    return len(rest) - len(rest.lstrip(" ")) or None


def transform_annotation(raw: bytes, source: EntityRef, target: EntityRef, path: str = "") -> bytes:
    """Rewrite the names in a picks/filaments JSON from ``source`` to ``target``."""
    try:
        data = json.loads(raw, parse_float=_RawFloat)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot map {path or source.display}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise StoreError(f"cannot map {path or source.display}: the JSON is not an object")
    for key, attr in _FIELDS:
        old, new = getattr(source, attr), getattr(target, attr)
        if old == new or (key == "run_name" and data.get(key, "") is None):
            continue  # unmapped, or a run-less file copick wrote with run_name null
        data[key] = new
    # an all-ASCII file spelled its non-ASCII characters as \u escapes (json's default,
    # so copick's): keep spelling them that way
    text = _dumps(data, _indent_of(raw), ascii_only=raw.isascii())
    return text.encode("utf-8") + (b"\n" if raw.endswith(b"\n") else b"")


def _dumps(data: Any, indent: int | None, ascii_only: bool = False) -> str:
    # json's C encoder calls float.__repr__ directly; the Python encoder calls repr()
    # through its floatstr hook, which we steer to keep the original spelling.
    encoder = json.JSONEncoder(indent=indent, ensure_ascii=ascii_only,
                               separators=(",", ": ") if indent else (", ", ": "))
    return "".join(_iterencode(encoder, data))


def _iterencode(encoder: json.JSONEncoder, data: Any):
    from json import encoder as enc

    def floatstr(o: float, allow_nan: bool = True, _repr=float.__repr__, _inf=float("inf")) -> str:
        if isinstance(o, _RawFloat):
            return o.text
        if o != o:
            return "NaN"
        if o == _inf:
            return "Infinity"
        if o == -_inf:
            return "-Infinity"
        return _repr(o)

    markers: dict[int, Any] = {}
    it = enc._make_iterencode(
        markers, encoder.default, enc.py_encode_basestring if not encoder.ensure_ascii
        else enc.py_encode_basestring_ascii, encoder.indent, floatstr, encoder.key_separator,
        encoder.item_separator, encoder.sort_keys, encoder.skipkeys, True)
    return it(data, 0)
