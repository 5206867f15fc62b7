"""A project's content as entities made of files, from one scan of each root.

The overlay and static roots are scanned separately; runs are the union by name
and an entity present in the static root is read-only (``root == "static"``)
and shadows any overlay copy, as copick reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from synctui.errors import ConnectionFailed, RootError, StoreError
from synctui.project.config import ProjectConfig
from synctui.project.layout import RUNS_DIR, EntityRef, Unrecognised, entity_path, parse_path
from synctui.storage.base import TEMP_PREFIX, VISIBLE_TEMP_PREFIX, FileInfo, Store, is_temp_path
from synctui.storage.bundle import FileBundle


@dataclass
class Entity:
    """One copick entity and its member files (member path -> FileInfo).

    Single-file entities have one member, ``""``; a zarr store has one member per key.
    A store listed by a bundling scan keeps most of its keys in ``bundle``, unparsed
    until ``files`` is first read (storage/bundle.py); ``listed`` holds the others.
    """

    ref: EntityRef
    root: str  # "overlay" or "static"
    listed: dict[str, FileInfo] = field(default_factory=dict)
    bundle: FileBundle | None = None
    _files: dict[str, FileInfo] | None = field(default=None, repr=False, compare=False)

    @property
    def files(self) -> dict[str, FileInfo]:
        if self.bundle is None:
            return self.listed
        if self._files is None:
            self._files = dict(self.bundle.members())
            self._files.update(self.listed)
        return self._files

    @property
    def file_count(self) -> int:
        return len(self.listed) + (len(self.bundle) if self.bundle is not None else 0)

    @property
    def path(self) -> str:
        return entity_path(self.ref)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files.values())

    @property
    def mtime_ns(self) -> int:
        return max((f.mtime_ns for f in self.files.values()), default=0)

    @property
    def read_only(self) -> bool:
        return self.root == "static"

    def file_path(self, member: str) -> str:
        return f"{self.path}/{member}" if member else self.path


@dataclass
class Catalog:
    """Everything one project holds, keyed by entity."""

    config: ProjectConfig
    entities: dict[EntityRef, Entity] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)
    unrecognised: list[Unrecognised] = field(default_factory=list)
    stores: dict[str, Store] = field(default_factory=dict, repr=False)
    #: entities the overlay holds but copick hides behind a static copy
    shadowed: list[EntityRef] = field(default_factory=list)
    #: temp files an interrupted sync left in the overlay (never at final paths)
    temp_files: list[str] = field(default_factory=list)

    @property
    def file_count(self) -> int:
        return sum(e.file_count for e in self.entities.values())

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entities.values())

    def by_run(self) -> dict[str | None, list[Entity]]:
        out: dict[str | None, list[Entity]] = {}
        for ref, ent in sorted(self.entities.items(), key=lambda kv: _sort_key(kv[0])):
            out.setdefault(ref.run, []).append(ent)
        return out

    def store_for(self, entity: Entity) -> Store:
        return self.stores[entity.root]


def _sort_key(ref: EntityRef) -> tuple:
    return (ref.run or "", ref.kind.value, ref.voxel_spacing or 0.0, ref.tomo_type or "",
            ref.feature_type or "", ref.user or "", ref.session or "", ref.name or "")


def build_entities(files: Iterable[FileInfo | FileBundle], root: str, temp_files: list[str] | None = None,
                   ) -> tuple[dict[EntityRef, Entity], set[str], list[Unrecognised]]:
    """Group a root's file listing into entities; pure, so it is cheap to test.

    A FileBundle (a zarr store's plain keys, from ``Store.scan_bundled``) joins the
    entity its first key parses to, when the bundle's folder is that entity's store;
    else its files are taken one by one, as any listing's."""
    entities: dict[EntityRef, Entity] = {}
    runs: set[str] = set()
    unknown: dict[str, Unrecognised] = {}
    stores: dict[str, Entity] = {}  # "<...>/X.zarr" -> its entity, so chunks skip parse_path
    for info in files:
        if isinstance(info, FileBundle):
            ent = _bundle_entity(info, entities, stores, runs, root)
            if ent is None:
                _take_files((fi for _, fi in info.members()), root, entities, runs, unknown, stores, temp_files)
            continue
        _take_files((info,), root, entities, runs, unknown, stores, temp_files)
    return entities, runs, list(unknown.values())


def _bundle_entity(bundle: FileBundle, entities: dict[EntityRef, Entity], stores: dict[str, Entity],
                   runs: set[str], root: str) -> Entity | None:
    """The entity ``bundle`` belongs to whole (now holding it), or None."""
    parsed = parse_path(bundle.records[0].rsplit("\t", 3)[0])
    if parsed is None or isinstance(parsed, Unrecognised):
        return None
    ref = parsed[0]
    if not ref.kind.is_zarr or entity_path(ref) != bundle.path:
        return None
    ent = entities.get(ref)
    if ent is None:
        ent = entities[ref] = Entity(ref, root)
        if ref.run:
            runs.add(ref.run)
    if ent.bundle is not None:
        return None
    ent.bundle = bundle
    stores[ent.path] = ent
    return ent


def _take_files(files: Iterable[FileInfo], root: str, entities: dict[EntityRef, Entity], runs: set[str],
                unknown: dict[str, Unrecognised], stores: dict[str, Entity],
                temp_files: list[str] | None) -> None:
    for info in files:
        path = info.path
        if info.kind == "dir":
            parts = path.split("/")
            if len(parts) == 2 and parts[0] == RUNS_DIR and not parts[1].startswith("."):
                runs.add(parts[1])
            continue
        if VISIBLE_TEMP_PREFIX in path and is_temp_path(path):  # before a zarr store claims it
            if temp_files is not None:
                temp_files.append(path)
            continue
        cut = path.find(".zarr/")
        if cut > 0:  # a zarr member: its store was parsed once already
            ent = stores.get(path[:cut + 5])
            member = path[cut + 6:]
            if ent is not None and not member.startswith(".") and "/." not in member:
                ent.listed[member] = info
                continue
        parsed = parse_path(path)
        if parsed is None:
            if temp_files is not None and TEMP_PREFIX in path:
                temp_files.append(path)
            continue
        if isinstance(parsed, Unrecognised):
            unknown.setdefault(parsed.path, parsed)
            continue
        ref, member = parsed
        ent = entities.get(ref)
        if ent is None:
            ent = entities[ref] = Entity(ref, root)
        ent.listed[member] = info
        if ref.kind.is_zarr:
            stores[ent.path] = ent
        if ref.run:
            runs.add(ref.run)


def scan_project(config: ProjectConfig, stores: dict[str, Store], *,
                 require_overlay: bool = False) -> Catalog:
    """Scan the config's roots (``stores`` maps "overlay"/"static" to open stores).

    Each root is checked first: one that is not a folder, or cannot be listed, is a
    RootError; so is a missing one, except an overlay that is allowed to be new
    (``require_overlay`` is False: a target the first write creates)."""
    cat = Catalog(config=config, stores=stores)
    for root in ("static", "overlay"):
        store = stores.get(root)
        if store is None:
            continue
        if not _root_exists(config, root, store, may_be_missing=root == "overlay" and not require_overlay):
            continue
        try:
            ents, runs, unknown = build_entities(store.scan_bundled(".zarr"), root,
                                                 cat.temp_files if root == "overlay" else None)
        except (RootError, ConnectionFailed):
            raise
        except StoreError as exc:  # a listing we cannot trust in full is no listing
            raise _root_error(config, root, RootError.UNREADABLE, str(exc)) from exc
        cat.runs |= runs
        cat.unrecognised.extend(unknown)
        for ref, ent in ents.items():
            if ref in cat.entities:  # static wins; the overlay copy is invisible to copick
                cat.shadowed.append(ref)
                continue
            cat.entities[ref] = ent
    return cat


def _root_exists(config: ProjectConfig, root: str, store: Store, *, may_be_missing: bool) -> bool:
    """Whether to list ``root``; raises a RootError naming the config key and the path."""
    try:
        store.check_root()
    except RootError as exc:
        if exc.problem == RootError.MISSING and may_be_missing:
            return False
        raise _root_error(config, root, exc.problem, str(exc)) from exc
    return True


def _root_error(config: ProjectConfig, root: str, problem: str, cause: str) -> RootError:
    what = {RootError.MISSING: "does not exist (not mounted, or a typo?)",
            RootError.NOT_A_FOLDER: "is not a folder"}.get(problem, f"cannot be listed ({cause})")
    location = config.overlay if root == "overlay" else config.static
    assert location is not None
    return RootError(f"{config.path or config.label}: {root}_root {location.display} {what}; "
                     "nothing was written", problem=problem)


def open_project(config: ProjectConfig | str | dict, *, require_overlay: bool = False,
                 **store_options: object) -> Catalog:
    """Load (if needed), open the stores of, and scan a project (see ``scan_project``)."""
    from synctui.project.config import load_config
    from synctui.storage.open import open_store

    cfg = config if isinstance(config, ProjectConfig) else load_config(config)
    stores: dict[str, Store] = {}
    try:
        for root, location in (("overlay", cfg.overlay), ("static", cfg.static)):
            if location is None:
                continue
            try:
                if root == "static" and cfg.portal is not None:
                    from synctui.project.portal.store import PortalStore

                    stores[root] = PortalStore(cfg.portal, cfg.go_map, location, cfg.path or "")
                    continue
                stores[root] = open_store(location, **store_options)
            except RootError as exc:  # a remote store that looks at its root on connect
                raise _root_error(cfg, root, exc.problem, str(exc)) from exc
        return scan_project(cfg, stores, require_overlay=require_overlay)
    except BaseException:
        for store in stores.values():  # nobody else holds them: hang up
            try:
                store.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        raise

