"""copick filesystem configs: load, validate, edit and save without losing keys.

copick rewrites configs from its model and drops keys it does not know; we keep
the parsed JSON (``raw``) as the source of truth and only touch what we change,
so unknown keys and key order survive a save.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import stat
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synctui.errors import ConfigError, LocationError, OptionError, SyncTuiError
from synctui.format import human_bytes
from synctui.project.names import name_problem
from synctui.storage.base import temp_name
from synctui.storage.options import SECRET_KEYS, describe, unknown_fs_args
from synctui.storage.url import Location, parse_location, redact_url

if TYPE_CHECKING:
    from synctui.project.portal.options import PortalSpec

log = logging.getLogger("synctui.config")

PORTAL_TYPE = "cryoet_data_portal"

_OBJECT_KEYS = ("name", "is_particle", "label", "color", "emdb_id", "pdb_id", "identifier",
                "map_threshold", "radius", "metadata")


@dataclass(frozen=True)
class PickableObject:
    name: str
    is_particle: bool
    label: int = 1
    color: tuple[int, int, int, int] | None = None
    emdb_id: str | None = None
    pdb_id: str | None = None
    identifier: str | None = None
    map_threshold: float | None = None
    radius: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def renamed(self, name: str, label: int | None = None) -> dict[str, Any]:
        """This object's JSON under a new name (and label), every other key kept."""
        data = copy.deepcopy(self.raw) if self.raw else {"name": self.name, "is_particle": self.is_particle}
        data["name"] = name
        if label is not None:
            data["label"] = label
        return data


@dataclass
class ProjectConfig:
    """A loaded config.  ``path`` is None for configs given as dicts."""

    raw: dict[str, Any]
    path: str | None
    name: str
    objects: list[PickableObject]
    overlay: Location
    static: Location | None
    user_id: str | None = None
    session_id: str | None = None
    #: one line each, for the user: fs_args no root reads (a typo such as ``insecrue``)
    warnings: list[str] = field(default_factory=list)
    #: a ``cryoet_data_portal`` config: its datasets and endpoints (``static`` is then the
    #: portal's read-only virtual root)
    portal: PortalSpec | None = None

    @property
    def go_map(self) -> dict[str, str]:
        """identifier -> object name: how copick matches portal annotations to objects."""
        return {o.identifier: o.name for o in self.objects if o.identifier is not None}

    @property
    def label(self) -> str:
        return self.name or (os.path.basename(self.path) if self.path else "project")

    def object(self, name: str) -> PickableObject | None:
        for obj in self.objects:
            if obj.name == name:
                return obj
        return None

    @property
    def object_names(self) -> list[str]:
        return [o.name for o in self.objects]

    def with_objects_added(self, new_objects: list[dict[str, Any]]) -> dict[str, Any]:
        """The raw config with ``new_objects`` appended, everything else untouched."""
        data = copy.deepcopy(self.raw)
        data.setdefault("pickable_objects", [])
        data["pickable_objects"].extend(copy.deepcopy(new_objects))
        return data

    def save(self, path: str | None = None, data: dict[str, Any] | None = None) -> None:
        target = path or self.path
        if not target:
            raise ConfigError("this config came from a dict and has no file to save to")
        data = data if data is not None else self.raw
        save_config_dict(target, data, private=holds_secret(data))


#: config and rules files larger than this are refused unread (a copick config is a few KiB)
MAX_INPUT_BYTES = 64 << 20
#: the largest label: a multilabel segmentation holds it in an unsigned 64-bit voxel at most
MAX_LABEL = (1 << 64) - 1
#: JSON nested deeper than this is refused: copick configs are a few levels deep, and a
#: deeper value would overflow the recursion of copying and saving it
MAX_DEPTH = 100


def save_config_dict(path: str, data: dict[str, Any], *, private: bool = False) -> None:
    """Write JSON atomically next to ``path`` (temp, fsync, rename; through a symlink).

    A file that exists keeps its mode, and its owner and group where we may set them.
    A new file gets the mode the umask gives, or 0600 when ``private`` (it holds a secret)."""
    target = os.path.realpath(path)
    try:
        before: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        before = None
    tmp = os.path.join(os.path.dirname(target), temp_name(os.path.basename(target), uuid.uuid4().hex[:12]))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o600 if private and before is None else 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if before is not None:
                _keep_owner_and_mode(fh.fileno(), before)
            json.dump(data, fh, indent=4)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _keep_owner_and_mode(fd: int, before: os.stat_result) -> None:
    now = os.fstat(fd)
    if (now.st_uid, now.st_gid) != (before.st_uid, before.st_gid):
        try:
            os.fchown(fd, before.st_uid, before.st_gid)
        except PermissionError:  # not root: the group, if we are in it
            try:
                os.fchown(fd, -1, before.st_gid)
            except PermissionError:
                pass
    os.fchmod(fd, stat.S_IMODE(before.st_mode))  # after chown, which may clear set-id bits


def holds_secret(data: Any) -> bool:
    """Whether a config holds a secret: a password, passphrase, token or auth in its fs_args,
    or a password in a root URL or base_url.  Such a config is written 0600 when new;
    rules and plan files hold names, globs and sizes, never a secret."""
    if not isinstance(data, dict):
        return False
    for which in ("overlay", "static"):
        args = data.get(f"{which}_fs_args")
        urls = [data.get(f"{which}_root")]
        if isinstance(args, dict):
            if any(args.get(key) for key in SECRET_KEYS):
                return True
            urls.append(args.get("base_url"))
        if any(isinstance(url, str) and redact_url(url) != url for url in urls):
            return True
    return False


def read_json_file(path: str, error: type[SyncTuiError], what: str, *,
                   max_bytes: int = MAX_INPUT_BYTES) -> Any:
    """Parse a JSON file the user named, or raise ``error`` with a one-line reason.

    Anything but a regular file (a device such as /dev/zero, a FIFO, a folder) and files
    over ``max_bytes`` are refused before a byte is read, as is JSON nested deeper than
    MAX_DEPTH or holding a number too long to convert."""
    text = _read_text(path, error, what, max_bytes)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise error(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise error(f"{path}: {_huge_number(text)}") from None
    deep = _too_deep(data)
    if deep is not None:
        raise error(f"{path}: {deep}nested deeper than {MAX_DEPTH} levels")
    return data


def _read_text(path: str, error: type[SyncTuiError], what: str, max_bytes: int) -> str:
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: not a regular file (a device, FIFO or socket), so not a {what}")
        if st.st_size > max_bytes:
            raise error(f"{path}: {human_bytes(st.st_size)} is too large for a {what} "
                        f"(at most {human_bytes(max_bytes)})")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes and (chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise error(f"{path}: grew past {human_bytes(max_bytes)} while read: too large for a {what}")
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not UTF-8 text") from None


def _huge_number(text: str) -> str:
    """Where the over-long number is, and under which key, for the message."""
    m = _LONG_NUMBER.search(text)
    if m is None:
        return "a number too long to read"
    key = f"{m.group('key')}: " if m.group("key") else ""
    line = text.count("\n", 0, m.start("num")) + 1
    return f"{key}a number of {len(m.group('num').lstrip('-'))} digits (line {line}) is too long to read"


_LONG_NUMBER = re.compile(r'(?:"(?P<key>(?:[^"\\]|\\.){1,80})"\s*:\s*)?(?P<num>-?\d{4000,})')


def _too_deep(data: Any, limit: int = MAX_DEPTH) -> str | None:
    """``"key: "`` (or ``""``) when ``data`` nests deeper than ``limit`` below that top-level key."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, top = stack.pop()
        if depth > limit:
            return top
        if isinstance(value, dict):
            stack.extend((v, depth + 1, top or f"{str(k)[:80]}: ") for k, v in value.items()
                         if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1, top) for v in value if isinstance(v, (dict, list)))
    return None


def write_json_file(path: str, data: Any, error: type[SyncTuiError], what: str) -> None:
    """Atomic JSON write with a one-line ``error`` instead of an OSError."""
    try:
        save_config_dict(path, data)
    except OSError as exc:
        raise error(f"{path}: cannot write the {what} ({exc.strerror or exc})") from None


def load_config(source: str | os.PathLike[str] | dict[str, Any]) -> ProjectConfig:
    """Load and validate a config file (or dict), raising one-line ConfigErrors."""
    if isinstance(source, dict):
        deep = _too_deep(source)
        if deep is not None:
            raise ConfigError(f"config: {deep}nested deeper than {MAX_DEPTH} levels")
        return parse_config(copy.deepcopy(source), None)
    path = os.fspath(source)
    return parse_config(read_json_file(path, ConfigError, "config file"), path)


def parse_config(data: Any, path: str | None) -> ProjectConfig:
    where = path or "config"

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {problem}")

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the config must be a JSON object, got {type(data).__name__}")
    ctype = data.get("config_type", "filesystem")
    if ctype not in (None, "filesystem", PORTAL_TYPE):
        raise fail("config_type", f"{describe(ctype)} is not supported (only 'filesystem' and "
                                  f"'{PORTAL_TYPE}' configs)")
    for key in ("name", "description", "version", "user_id", "session_id"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise fail(key, f"must be a string, got {type(data[key]).__name__}")
    for key in ("user_id", "session_id"):
        if data.get(key) is not None and (p := name_problem(data[key], key.replace("_", " "))):
            raise fail(key, p)
    if "overlay_root" not in data:
        raise fail("overlay_root", "missing (copick needs a writable overlay root)")
    if "pickable_objects" not in data:
        raise fail("pickable_objects", "missing (use [] for a project without objects)")
    objects = _parse_objects(data["pickable_objects"], fail)
    base_dir = os.path.dirname(os.path.abspath(path)) if path else None
    overlay = _location(data, "overlay", base_dir, fail)
    portal = None
    portal_warnings: list[str] = []
    if ctype == PORTAL_TYPE:  # copick reads no static_root here: the portal is the static side
        from synctui.project.portal.options import parse_portal
        from synctui.project.portal.store import portal_location

        portal, portal_warnings = parse_portal(data, fail)
        portal_warnings = [f"{where}: {w}" for w in portal_warnings]
        if data.get("static_root"):
            portal_warnings.append(f"{where}: static_root is ignored in a {PORTAL_TYPE} config "
                                   "(copick reads the portal there)")
        static = portal_location(portal)
    else:
        static = _location(data, "static", base_dir, fail) if data.get("static_root") else None
    roots = [("overlay", overlay)] + ([("static", static)] if static is not None and portal is None else [])
    warnings = [w for which, loc in roots
                for w in unknown_fs_args(loc.protocol, data.get(f"{which}_fs_args") or {},
                                         f"{where}: {which}_fs_args")] + portal_warnings
    for warning in warnings:
        log.warning("%s", warning)
    return ProjectConfig(raw=data, path=path, name=str(data.get("name") or ""), objects=objects,
                         overlay=overlay, static=static, user_id=data.get("user_id"),
                         session_id=data.get("session_id"), warnings=warnings, portal=portal)


def _location(data: dict[str, Any], which: str, base_dir: str | None, fail) -> Location:
    key = f"{which}_root"
    args = data.get(f"{which}_fs_args") or {}
    if not isinstance(args, dict):
        raise fail(f"{which}_fs_args", "must be an object")
    try:
        return parse_location(data[key], args, base_dir=base_dir, what=key)
    except OptionError as exc:
        raise fail(f"{which}_fs_args.{exc.key}", exc.problem) from None
    except LocationError as exc:
        raise fail(key, str(exc).removeprefix(f"{key} ")) from None


def _parse_objects(items: Any, fail) -> list[PickableObject]:
    if not isinstance(items, list):
        raise fail("pickable_objects", f"must be a list, got {type(items).__name__}")
    objects: list[PickableObject] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        key = f"pickable_objects[{i}]"
        if not isinstance(item, dict):
            raise fail(key, "must be an object")
        name = item.get("name")
        if name is None:
            raise fail(key, "missing 'name'")
        if (p := name_problem(name, "object name")):
            raise fail(f"{key}.name", p)
        if name in seen:
            raise fail(f"{key}.name", f"duplicate object name {name!r} (also pickable_objects[{seen[name]}])")
        seen[name] = i
        if "is_particle" not in item:
            raise fail(f"{key} ({name})", "missing 'is_particle'")
        if not isinstance(item["is_particle"], bool):
            raise fail(f"{key}.is_particle ({name})", "must be true or false")
        label = item.get("label", 1)
        if label is None:
            label = 1
        if isinstance(label, bool) or not isinstance(label, int):
            raise fail(f"{key}.label ({name})", f"must be an integer, got {describe(label)}")
        if label <= 0:
            raise fail(f"{key}.label ({name})", f"{describe(label)} is invalid (0 is background; labels start at 1)")
        if label > MAX_LABEL:  # a multilabel segmentation stores it in an unsigned voxel
            raise fail(f"{key}.label ({name})", f"{describe(label)} is too large (at most {MAX_LABEL})")
        color = item.get("color")
        if color is not None:
            if (not isinstance(color, (list, tuple)) or len(color) != 4
                    or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)):
                raise fail(f"{key}.color ({name})", "must be four integers 0-255 (RGBA)")
            color = tuple(color)
        for num in ("radius", "map_threshold"):
            v = item.get(num)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise fail(f"{key}.{num} ({name})", "must be a number")
            if v is not None and not math.isfinite(v):
                raise fail(f"{key}.{num} ({name})", f"must be a finite number, not {v}")
        for text in ("emdb_id", "pdb_id", "identifier", "go_id"):
            if item.get(text) is not None and not isinstance(item[text], str):
                raise fail(f"{key}.{text} ({name})", f"must be a string, got {describe(item[text])}")
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise fail(f"{key}.metadata ({name})", "must be an object")
        objects.append(PickableObject(
            name=name, is_particle=item["is_particle"], label=label, color=color,
            emdb_id=item.get("emdb_id"), pdb_id=item.get("pdb_id"),
            identifier=item.get("identifier", item.get("go_id")),
            map_threshold=item.get("map_threshold"), radius=item.get("radius"),
            metadata=metadata, raw=item))
    return objects
