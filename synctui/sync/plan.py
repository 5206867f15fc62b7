"""The dry run: what a sync would do to every entity and file, and why.

``make_plan`` diffs a source catalog against a target catalog under a RuleSet.
Decisions are taken per entity (a zarr store is updated whole or not at all, so
a conflict in one chunk holds back the store) and listed per file.  Every
action carries its reason and the precondition (sizes, mtimes) it was decided
on, so a saved plan can later be executed exactly as previewed.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from synctui.errors import PlanError, PruneRefused, SyncTuiError
from synctui.project.catalog import Catalog, Entity
from synctui.project.layout import EntityRef, Kind, entity_path, ref_problem
from synctui.storage.base import FileInfo
from synctui.sync.rules import RuleSet
from synctui.sync.transform import needs_transform, transform_annotation

log = logging.getLogger("synctui.plan")

PLAN_VERSION = 1
#: saved plans larger than this are refused unread (one of a million files is about 400 MB)
MAX_PLAN_BYTES = 512 << 20


class Act(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    CONFLICT = "conflict"
    BLOCKED = "blocked"
    EXISTS = "exists"
    EXCLUDED = "excluded"
    SKIP = "skip"
    ADD_OBJECT = "add-object"

    @property
    def writes(self) -> bool:
        return self in (Act.CREATE, Act.UPDATE, Act.DELETE)


#: display order, most consequential first
ACT_ORDER = [Act.CREATE, Act.UPDATE, Act.DELETE, Act.ADD_OBJECT, Act.CONFLICT, Act.BLOCKED,
             Act.EXISTS, Act.EXCLUDED, Act.SKIP]


@dataclass(slots=True)
class FileAction:
    """One file the engine creates, updates or deletes, with its precondition."""

    action: Act
    target_path: str
    source_path: str | None
    size: int
    reason: str
    src_size: int | None = None
    src_mtime_ns: int | None = None
    dst_size: int | None = None
    dst_mtime_ns: int | None = None
    dst_etag: str | None = None
    #: the target's version is not what synctui last wrote (or synctui never wrote it):
    #: the engine moves it into the trash before replacing it, so no edit is lost
    keep_old: bool = False


@dataclass(slots=True)
class EntityPlan:
    """The decision for one entity; ``files`` lists only files that change."""

    action: Act
    kind: Kind
    source: EntityRef | None
    target: EntityRef
    reason: str
    source_root: str | None = None
    files: list[FileAction] = field(default_factory=list)
    n_files: int = 0
    bytes: int = 0
    transform: bool = False
    #: a resolved conflict: keep the target's version beside the new one (``.conflict``)
    keep_both: bool = False
    #: the user's decision on what was a conflict (one of ``CONFLICT_CHOICES``), else None
    resolution: str | None = None
    #: blocked by a fault of the entity itself (a source file that cannot be read or
    #: rewritten), not by a rule: the sync reports it as a failed item
    failed: bool = False

    @property
    def run(self) -> str | None:
        return self.target.run

    @property
    def target_path(self) -> str:
        return entity_path(self.target)

    @property
    def source_path(self) -> str | None:
        return entity_path(self.source) if self.source else None


@dataclass
class ObjectAddition:
    """A pickable object the target config needs before the copies make sense."""

    name: str
    source_name: str | None
    definition: dict[str, Any]
    reason: str


@dataclass
class PlanOptions:
    overwrite_conflicts: bool = False
    checksum: bool = False
    #: mtimes closer than this are equal (stores with coarse clocks widen it)
    mtime_tolerance_ns: int = 0
    prune: bool = False
    #: with prune: destroy instead of moving into the target's trash
    prune_destroy: bool = False
    #: only entities changed after this time (ns since the epoch) are considered
    since_ns: int | None = None


@dataclass
class Counts:
    entities: int = 0
    files: int = 0
    bytes: int = 0


@dataclass
class Plan:
    source_label: str
    target_label: str
    source_config: str | None
    target_config: str | None
    options: PlanOptions
    rules: dict[str, Any]
    entities: list[EntityPlan] = field(default_factory=list)
    objects: list[ObjectAddition] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    scanned_files: int = 0
    #: entities the source listing had, and the target entities a prune could remove
    #: (None in plan files saved before these were kept): what the prune guard weighs
    source_entities: int | None = None
    target_entities: int | None = None
    #: target files found identical to the source by content although unrecorded
    #: (a crash lost their record): (target path, source file, target file), to record
    adopted: list[tuple[str, FileInfo, FileInfo]] = field(default_factory=list)

    def counts(self) -> dict[Act, Counts]:
        out = {act: Counts() for act in ACT_ORDER}
        for ent in self.entities:
            c = out[ent.action]
            c.entities += 1
            if ent.action is Act.UPDATE:
                # an update is made of file creates, updates and stale-key deletes
                for fa in ent.files:
                    fc = out[fa.action]
                    fc.files += 1
                    fc.bytes += fa.size
                continue
            c.files += ent.n_files
            c.bytes += ent.bytes
        out[Act.ADD_OBJECT].entities = len(self.objects)
        return out

    def file_actions(self) -> Iterator[tuple[EntityPlan, FileAction]]:
        """Every file the engine will write or delete, in execution order."""
        for ent in self.entities:
            if ent.action.writes:
                for fa in ent.files:
                    yield ent, fa

    @property
    def transfer_bytes(self) -> int:
        return sum(fa.size for _, fa in self.file_actions() if fa.action is not Act.DELETE)

    @property
    def transfer_files(self) -> int:
        return sum(1 for _ in self.file_actions())

    @property
    def pruned(self) -> int:
        """Whole target entities the plan removes (stale zarr keys of updates not counted)."""
        return sum(1 for e in self.entities if e.action is Act.DELETE)

    @property
    def is_noop(self) -> bool:
        return not self.objects and not any(e.action.writes for e in self.entities)

    @property
    def up_to_date(self) -> bool:
        """Nothing to write and nothing held back: a conflict leaves the target behind
        (a store it holds back may even mix two versions), so it is never "up to date"."""
        return self.is_noop and not any(e.action is Act.CONFLICT for e in self.entities)

    def actions_present(self) -> set[Act]:
        acts = {e.action for e in self.entities}
        acts |= {fa.action for e in self.entities if e.action is Act.UPDATE for fa in e.files}
        if self.objects:
            acts.add(Act.ADD_OBJECT)
        return acts

    # -- persistence --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "synctui_plan": PLAN_VERSION,
            "created_at": self.created_at,
            "source": {"label": self.source_label, "config": self.source_config},
            "target": {"label": self.target_label, "config": self.target_config},
            "options": asdict(self.options),
            "rules": self.rules,
            "warnings": self.warnings,
            "source_entities": self.source_entities,
            "target_entities": self.target_entities,
            "objects": [asdict(o) for o in self.objects],
            "entities": [_entity_to_dict(e) for e in self.entities],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "plan") -> Plan:
        if not isinstance(data, dict) or data.get("synctui_plan") != PLAN_VERSION:
            raise PlanError(f"{where}: not a synctui plan file of version {PLAN_VERSION}")
        try:
            return cls(
                source_label=data["source"]["label"], target_label=data["target"]["label"],
                source_config=data["source"]["config"], target_config=data["target"]["config"],
                options=PlanOptions(**data["options"]), rules=data["rules"],
                entities=[_entity_from_dict(e) for e in data["entities"]],
                objects=[ObjectAddition(**o) for o in data["objects"]],
                warnings=list(data.get("warnings", [])), created_at=data["created_at"],
                source_entities=_count(data.get("source_entities")),
                target_entities=_count(data.get("target_entities")))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{where}: damaged plan file ({type(exc).__name__}: {exc})") from None

    def save(self, path: str) -> None:
        from synctui.project.config import write_json_file

        write_json_file(path, self.to_dict(), PlanError, "plan file")

    @classmethod
    def load(cls, path: str) -> Plan:
        from synctui.project.config import read_json_file

        return cls.from_dict(read_json_file(path, PlanError, "plan file", max_bytes=MAX_PLAN_BYTES), path)


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"entity count {value!r} is not a number")
    return value


@dataclass(frozen=True)
class PruneGuard:
    """When a prune is refused, before anything is written.

    By default a prune may remove at most half of the target's entities, and none at
    all after a source listing with no entities (an unmounted or emptied source).
    ``max_delete`` replaces the half rule by that many entities; ``prune_all`` lifts
    the half rule and the empty-source rule.  Given both, ``max_delete`` still caps."""

    max_delete: int | None = None
    prune_all: bool = False

    def check(self, plan: Plan) -> None:
        """Raise PruneRefused, naming the override that would let it through."""
        refused = self.refusal(plan)
        if refused is not None:
            raise refused

    def refusal(self, plan: Plan) -> PruneRefused | None:
        """Why the prune of ``plan`` is refused (None: it is not)."""
        pruned, total = plan.pruned, plan.target_entities or 0
        if not pruned:
            return None
        if self.max_delete is not None and pruned > self.max_delete:
            return PruneRefused(f"the plan would prune {pruned} entities, more than --max-delete "
                               f"{self.max_delete}",
                               why=PruneRefused.OVER_MAX_DELETE, pruned=pruned, target_entities=total)
        if self.prune_all:
            return None
        if plan.source_entities == 0:
            return PruneRefused(f"refusing to prune {pruned} of the target's {total} entities: the source "
                               "listing has no entities (unmounted or emptied?); pass --prune-all to "
                               "prune anyway",
                               why=PruneRefused.EMPTY_SOURCE, pruned=pruned, target_entities=total)
        if self.max_delete is None and pruned * 2 > total:
            return PruneRefused(f"refusing to prune {pruned} of the target's {total} entities (more than "
                               f"half); pass --max-delete {pruned} or --prune-all to prune anyway",
                               why=PruneRefused.OVER_HALF, pruned=pruned, target_entities=total)
        return None


def _ref_to_dict(ref: EntityRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {k: v for k, v in asdict(ref).items() if v is not None}


def _ref_from_dict(data: dict[str, Any] | None) -> EntityRef | None:
    if data is None:
        return None
    data = dict(data)
    data["kind"] = Kind(data["kind"])
    return EntityRef(**data)


def _entity_to_dict(e: EntityPlan) -> dict[str, Any]:
    return {
        "action": e.action.value, "kind": e.kind.value, "source": _ref_to_dict(e.source),
        "target": _ref_to_dict(e.target), "reason": e.reason, "source_root": e.source_root,
        "n_files": e.n_files, "bytes": e.bytes, "transform": e.transform, "keep_both": e.keep_both,
        **({"resolution": e.resolution} if e.resolution else {}),
        "failed": e.failed,
        "files": [[fa.action.value, fa.target_path, fa.source_path, fa.size, fa.reason,
                   fa.src_size, fa.src_mtime_ns, fa.dst_size, fa.dst_mtime_ns, fa.dst_etag,
                   *([True] if fa.keep_old else [])]
                  for fa in e.files],
    }


def _entity_from_dict(d: dict[str, Any]) -> EntityPlan:
    files = [FileAction(Act(f[0]), *f[1:]) for f in d["files"]]
    return EntityPlan(action=Act(d["action"]), kind=Kind(d["kind"]), source=_ref_from_dict(d["source"]),
                      target=_ref_from_dict(d["target"]),  # type: ignore[arg-type]
                      reason=d["reason"], source_root=d["source_root"], files=files,
                      n_files=d["n_files"], bytes=d["bytes"], transform=d["transform"],
                      keep_both=d.get("keep_both", False), resolution=d.get("resolution"),
                      failed=d.get("failed", False))


# ---------------------------------------------------------------------------
# planning

#: zarr metadata keys are written last so a half-synced store never looks complete
_METADATA_KEYS = frozenset({".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"})


def is_zarr_metadata(path: str) -> bool:
    return path.rsplit("/", 1)[-1] in _METADATA_KEYS


def _to_compare(sent: Entity, tent: Entity) -> tuple[dict[str, FileInfo], dict[str, FileInfo]]:
    """The members of both entities the quick check still has to look at one by one.

    Two bundles of the same records (storage/bundle.py) hold the same keys, at the
    same paths, with the same sizes and mtimes: each of those passes the quick check,
    and none is stale, so only the keys listed outside the bundles are left; the
    bundles stay unparsed.  (A mapped entity's paths differ: it is compared key by key.)"""
    sb, tb = sent.bundle, tent.bundle
    if sb is not None and tb is not None and sb.same_files(tb):
        return sent.listed, tent.listed
    return sent.files, tent.files


def _member_order(member: str) -> tuple[int, str]:
    return (1 if is_zarr_metadata(member) else 0, member)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the last sync recorded for a target file (from the state database)."""

    src_size: int
    src_mtime_ns: int
    dst_size: int
    dst_mtime_ns: int | None
    dst_etag: str | None = None
    src_hash: str | None = None


class _Planner:
    def __init__(self, source: Catalog, target: Catalog, rules: RuleSet, options: PlanOptions,
                 baseline: Mapping[str, Baseline] | None, reconcile: bool = False) -> None:
        self.source, self.target, self.rules, self.options = source, target, rules, options
        # not ``baseline or {}``: truth-testing a lazy Manifest counts it, which loads it whole
        self.baseline = baseline if baseline is not None else {}
        self.reconcile = reconcile
        resolutions = [st.features.mtime_resolution_ns
                       for cat in (source, target) for st in cat.stores.values()]
        self.tol = max([options.mtime_tolerance_ns, *resolutions])
        self.warnings: list[str] = []
        self.adopted: list[tuple[str, FileInfo, FileInfo]] = []

    # -- file comparison ---------------------------------------------------------
    def _hash(self, catalog: Catalog, entity: Entity, member: str) -> str:
        store = catalog.store_for(entity)
        h = hashlib.blake2b(digest_size=16)
        with store.open_read(entity.file_path(member)) as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        return h.hexdigest()

    def _as_written(self, base: Baseline, t: FileInfo) -> bool:
        """Is the target file still what the last sync wrote (and recorded in ``base``)?

        The etag decides when both the record and the listing have one (a WebDAV
        server's mtime is its own, whole seconds); else size and mtime, within the
        planner's tolerance.
        """
        if base.dst_size != t.size:
            return False
        if t.etag is not None and base.dst_etag is not None:
            return t.etag == base.dst_etag
        return base.dst_mtime_ns is not None and abs(t.mtime_ns - base.dst_mtime_ns) <= self.tol

    def _not_ours(self, target_path: str, t: FileInfo) -> bool:
        """Would replacing this target file lose a version synctui did not write?"""
        base = self.baseline.get(target_path)
        return base is None or not self._as_written(base, t)

    def _differs(self, sent: Entity, tent: Entity, member: str, s: FileInfo, t: FileInfo,
                 target_path: str) -> tuple[str | None, bool]:
        """(reason the file must be copied or None, whether the target changed on its own)."""
        if s.size == t.size and not self.options.checksum and abs(s.mtime_ns - t.mtime_ns) <= self.tol:
            return None, False  # the quick check: no need to ask the state database
        base = self.baseline.get(target_path)
        if base is not None and self._as_written(base, t):
            # the target is exactly what we wrote last time: only the source can have moved
            if s.size == base.src_size and abs(s.mtime_ns - base.src_mtime_ns) <= self.tol:
                return None, False
            if s.size != base.src_size:
                return f"size differs (source {s.size}, last synced {base.src_size})", False
            return "source changed since the last sync", False
        target_edited = base is not None  # we wrote it once and it is no longer what we wrote
        if s.size != t.size:
            reason = f"size differs (source {s.size}, target {t.size})"
        elif self.options.checksum:
            if self._hash(self.source, sent, member) == self._hash(self.target, tent, member):
                return None, False
            reason = "checksum differs"
        elif abs(s.mtime_ns - t.mtime_ns) <= self.tol:
            return None, False
        elif self._unrecorded_twin(sent, tent, member, t, target_path, s):
            return None, False
        elif s.mtime_ns > t.mtime_ns:
            reason = "source newer"
        else:
            return "target newer than source", True
        if base is None and t.mtime_ns - s.mtime_ns > self.tol:
            # the content differs and the target was written after the source: someone
            # edited the target, so copying would silently drop that edit
            return f"{reason}; target newer than source", True
        return reason, target_edited

    def _unrecorded_twin(self, sent: Entity, tent: Entity, member: str, t: FileInfo,
                         target_path: str, s: FileInfo) -> bool:
        """Same size as the source, on a target that cannot keep our mtimes (WebDAV), and
        no record of this version (none at all, or one of an older write: its etag no
        longer matches): the file may be one we wrote whose record a crash lost, as a
        sync killed part-way through an update leaves most of them.  Compare the contents
        (only such files, so the cost is bounded) rather than call it a conflict."""
        store = self.target.store_for(tent)
        if store.features.set_mtime:
            return False
        try:
            same = self._hash(self.source, sent, member) == self._hash(self.target, tent, member)
        except SyncTuiError as exc:
            log.info("cannot compare %s by content (%s)", target_path, exc)
            return False
        if same:
            self.adopted.append((target_path, s, t))
        return same

    def _reconcile(self, target_path: str, s: FileInfo, t: FileInfo) -> None:
        """After a sync died: a file the quick check finds equal to the source may be one it
        wrote without committing the record, so the record (if any) is of an older write.
        Left so, the next source change would look like a target edit (a false conflict)."""
        base = self.baseline.get(target_path)
        if base is None or base.src_size != s.size or abs(base.src_mtime_ns - s.mtime_ns) > self.tol \
                or not self._as_written(base, t):
            self.adopted.append((target_path, s, t))

    # -- per entity ----------------------------------------------------------------
    def plan_entity(self, sent: Entity, tref: EntityRef, tent: Entity | None) -> EntityPlan:
        ref = sent.ref
        ep = EntityPlan(Act.SKIP, ref.kind, ref, tref, "", source_root=sent.root,
                        n_files=sent.file_count, transform=needs_transform(ref, tref))
        since = self.options.since_ns
        if since is not None and tent is not None and sent.mtime_ns < since:
            ep.reason = "not changed since the --since date"
            return ep
        if ep.transform:
            return self._plan_transformed(ep, sent, tent)
        tpath = entity_path(tref)
        if tent is None:
            ep.action, ep.reason = Act.CREATE, "not in target"
            ep.files = [FileAction(Act.CREATE, _join(tpath, m), sent.file_path(m), s.size, "new",
                                   s.size, s.mtime_ns)
                        for m, s in sorted(sent.files.items(), key=lambda kv: _member_order(kv[0]))]
            ep.bytes = sent.size
            return ep
        changed: list[FileAction] = []
        edited = False
        always = self.rules.policy_for(ref.kind) == "always"
        quick = not self.options.checksum and not always
        tol = self.tol
        sfiles, tfiles = _to_compare(sent, tent) if quick and not self.reconcile else (sent.files, tent.files)
        for member, s in sfiles.items():
            t = tfiles.get(member)
            if quick and t is not None and s.size == t.size and -tol <= s.mtime_ns - t.mtime_ns <= tol:
                if self.reconcile:
                    self._reconcile(_join(tpath, member), s, t)
                continue  # the common case, unchanged: decided without a call (100k files in ~0.1 s)
            path = _join(tpath, member)
            if t is None:
                changed.append(FileAction(Act.CREATE, path, sent.file_path(member), s.size,
                                          "new in store", s.size, s.mtime_ns))
                continue
            reason, target_edited = self._differs(sent, tent, member, s, t, path)
            # a version that differs from the source and that synctui did not write is kept
            # (in the trash); one the quick check finds equal to the source loses nothing
            keep_old = reason is not None and self._not_ours(path, t)
            if reason is None and always:
                reason = "overwrite policy 'always'"
            if reason is not None:
                edited |= target_edited
                changed.append(FileAction(Act.UPDATE, path, sent.file_path(member), s.size, reason,
                                          s.size, s.mtime_ns, t.size, t.mtime_ns, t.etag,
                                          keep_old=keep_old))
        stale = [FileAction(Act.DELETE, _join(tpath, m), None, 0, "stale key: not in the source store",
                            dst_size=t.size, dst_mtime_ns=t.mtime_ns, dst_etag=t.etag)
                 for m, t in sorted(tfiles.items()) if m not in sfiles] if ref.kind.is_zarr else []
        return self._decide(ep, tent, changed, stale, edited)

    def _decide(self, ep: EntityPlan, tent: Entity, changed: list[FileAction],
                stale: list[FileAction], edited: bool) -> EntityPlan:
        """Turn the file differences of an existing target entity into one decision."""
        # in key order, so the reason named first never hangs on the order of a listing
        changed.sort(key=lambda f: _member_order(f.target_path.rsplit(".zarr/", 1)[-1]))
        if not changed and not stale:
            ep.reason = "unchanged" if not tent.read_only else "unchanged (target's static root)"
            ep.bytes = 0
            return ep
        if tent.read_only:
            ep.action = Act.BLOCKED
            ep.reason = "the target has it in its read-only static root: " + _first_reason(changed, stale)
            ep.bytes = sum(f.size for f in changed)
            return ep
        policy = self.rules.policy_for(ep.kind)
        if policy == "never":
            ep.action, ep.reason = Act.EXISTS, "exists in target and overwrite policy is 'never' (" + \
                _first_reason(changed, stale) + ")"
            ep.bytes = sum(f.size for f in changed)
            return ep
        if edited and not self.options.overwrite_conflicts:
            ep.action = Act.CONFLICT
            base_hit = any(f.target_path in self.baseline for f in changed)
            ep.reason = ("target changed since the last sync" if base_hit else "target newer than source")
            ep.files = changed + stale  # what "take the source" would do
            ep.bytes = sum(f.size for f in changed)
            return ep
        ep.action = Act.UPDATE
        ep.reason = _first_reason(changed, stale) + (" (conflict overwritten)" if edited else "")
        ep.files = changed + stale
        ep.bytes = sum(f.size for f in changed)
        return ep

    def _plan_transformed(self, ep: EntityPlan, sent: Entity, tent: Entity | None) -> EntityPlan:
        """A mapped picks/filaments file: compare the target with the rewritten content."""
        s = sent.files[""]
        spath = sent.file_path("")
        tpath = entity_path(ep.target)
        try:
            raw = self.source.store_for(sent).read_bytes(spath)
            new = transform_annotation(raw, sent.ref, ep.target, spath)
        except Exception as exc:  # noqa: BLE001 - a bad file blocks itself, not the plan
            ep.action, ep.reason, ep.failed = Act.BLOCKED, f"cannot rewrite names: {exc}", True
            return ep
        if tent is None:
            ep.action, ep.reason, ep.bytes = Act.CREATE, "not in target (names rewritten)", len(new)
            ep.files = [FileAction(Act.CREATE, tpath, spath, len(new), "new, names rewritten",
                                   s.size, s.mtime_ns)]
            return ep
        t = tent.files[""]
        same = t.size == len(new) and self.target.store_for(tent).read_bytes(tpath) == new
        base = self.baseline.get(tpath)
        if same and (base is None or not self._as_written(base, t) or base.src_size != s.size
                     or abs(base.src_mtime_ns - s.mtime_ns) > self.tol):
            self.adopted.append((tpath, s, t))  # proven ours by content: its record was lost
        if same and self.rules.policy_for(ep.kind) != "always":
            ep.reason = "unchanged (after rewriting names)"
            return ep
        edited = (base is not None and not self._as_written(base, t)) \
            or (base is None and t.mtime_ns > s.mtime_ns + self.tol)
        reason = "overwrite policy 'always'" if same else "content differs after rewriting names"
        fa = FileAction(Act.UPDATE, tpath, spath, len(new), reason, s.size, s.mtime_ns, t.size,
                        t.mtime_ns, t.etag, keep_old=not same and (base is None or not self._as_written(base, t)))
        return self._decide(ep, tent, [fa], [], edited and not same)

    # -- whole plan ------------------------------------------------------------------
    def run(self) -> Plan:
        src, dst, rules = self.source, self.target, self.rules
        plan = Plan(source_label=src.config.label, target_label=dst.config.label,
                    source_config=src.config.path, target_config=dst.config.path,
                    options=self.options, rules=rules.to_dict(),
                    scanned_files=src.file_count + dst.file_count, source_entities=len(src.entities),
                    target_entities=sum(1 for e in dst.entities.values() if not e.read_only))
        claimed: dict[EntityRef, EntityRef] = {}
        for ref in sorted(src.entities, key=lambda r: entity_path(r)):
            sent = src.entities[ref]
            why = rules.why_excluded(ref)
            if why is not None:
                plan.entities.append(EntityPlan(Act.EXCLUDED, ref.kind, ref, ref, why, sent.root,
                                                n_files=sent.file_count, bytes=sent.size))
                continue
            tref = rules.map_ref(ref)
            problem = ref_problem(tref) if tref != ref else None
            if problem is None and tref in claimed:
                problem = f"{entity_path(claimed[tref])} maps onto the same target"
            if problem is not None:
                plan.entities.append(EntityPlan(Act.BLOCKED, ref.kind, ref, tref, f"cannot map: {problem}",
                                                sent.root, n_files=sent.file_count, bytes=sent.size))
                continue
            claimed[tref] = ref
            plan.entities.append(self.plan_entity(sent, tref, dst.entities.get(tref)))
        if self.options.prune:
            plan.entities.extend(self._prune(claimed))
        plan.objects = self._objects(plan)
        plan.warnings = self.warnings
        plan.adopted = self.adopted
        return plan

    def _prune(self, claimed: Mapping[EntityRef, EntityRef]) -> list[EntityPlan]:
        """Whole target entities the source no longer has (only those the filters cover)."""
        inverse = self.rules.inverse()
        out = []
        for tref, tent in sorted(self.target.entities.items(), key=lambda kv: entity_path(kv[0])):
            if tref in claimed or tent.read_only:
                continue
            sref = inverse.map_ref(tref)
            if self.rules.map_ref(sref) != tref:
                continue  # no source name maps onto it (e.g. run1 is synced as exp1): not ours
            if self.rules.why_excluded(sref) is not None:
                continue
            files = [FileAction(Act.DELETE, tent.file_path(m), None, 0, "not in source (prune)",
                                dst_size=t.size, dst_mtime_ns=t.mtime_ns, dst_etag=t.etag)
                     for m, t in sorted(tent.files.items())]
            out.append(EntityPlan(Act.DELETE, tref.kind, None, tref, "not in source (prune asked for)",
                                  None, files, len(files), tent.size))
        return out

    def _objects(self, plan: Plan) -> list[ObjectAddition]:
        """Objects the written entities name that the target config does not define."""
        tcfg, scfg = self.target.config, self.source.config
        have = set(tcfg.object_names)
        labels = {o.label for o in tcfg.objects}
        added: list[ObjectAddition] = []
        for ent in plan.entities:
            if ent.action not in (Act.CREATE, Act.UPDATE) or ent.source is None:
                continue
            if not _names_object(ent.kind, ent.source, scfg.object_names):
                continue
            name = ent.target.name
            if name is None or name in have:
                continue
            have.add(name)
            src_obj = scfg.object(ent.source.name or "")
            label = src_obj.label if src_obj else 1
            while label in labels:
                label += 1
            labels.add(label)
            if src_obj is not None:
                definition = src_obj.renamed(name, label)
                reason = f"{ent.kind.label} needs object {name!r}" + (
                    f" (source {src_obj.name!r})" if src_obj.name != name else "")
                if src_obj.label != label:
                    reason += f"; label {src_obj.label} is taken in the target, using {label}"
            else:
                definition = {"name": name, "is_particle": ent.kind in (Kind.PICKS, Kind.MESH), "label": label}
                reason = f"{ent.kind.label} needs object {name!r}, which the source config does not define either"
                self.warnings.append(reason)
            added.append(ObjectAddition(name, ent.source.name, definition, reason))
        return added


CONFLICT_CHOICES = ("keep-target", "take-source", "keep-both")


def resolve_conflict(ep: EntityPlan, choice: str) -> None:
    """Apply the user's decision on a conflict: keep the target, take the source,
    or take the source and keep the target's version beside it (``.conflict``)."""
    if ep.action is not Act.CONFLICT and ep.resolution is None:
        raise PlanError(f"{ep.target_path} is not a conflict")
    if choice not in CONFLICT_CHOICES:
        raise PlanError(f"unknown conflict choice {choice!r} (one of: {', '.join(CONFLICT_CHOICES)})")
    if choice == "keep-both" and ep.kind.is_zarr:
        raise PlanError(f"{ep.target_path}: keep both works for files, not zarr stores; keep or take one")
    ep.keep_both = choice == "keep-both"
    ep.resolution = choice
    if choice == "keep-target":
        ep.action, ep.reason = Act.EXISTS, "conflict: keeping the target (your choice)"
    else:
        ep.action = Act.UPDATE
        ep.reason = "conflict: taking the source" + (", target kept as .conflict" if ep.keep_both else "") + \
            " (your choice)"


def _names_object(kind: Kind, ref: EntityRef, source_objects: list[str]) -> bool:
    if kind.is_annotation or kind is Kind.DENSITY_MAP:
        return True
    return kind is Kind.SEGMENTATION and ref.name in source_objects


def _join(path: str, member: str) -> str:
    return f"{path}/{member}" if member else path


def _first_reason(changed: list[FileAction], stale: list[FileAction]) -> str:
    if changed:
        extra = f" (+{len(changed) - 1} more files)" if len(changed) > 1 else ""
        return changed[0].reason + extra
    return f"{len(stale)} stale key(s) to remove"


def make_plan(source: Catalog, target: Catalog, rules: RuleSet | None = None,
              options: PlanOptions | None = None, *,
              baseline: Mapping[str, Baseline] | None = None, reconcile: bool = False) -> Plan:
    """Diff ``source`` against ``target`` under ``rules``; reads nothing but
    transformed annotations (and both sides' files with ``checksum``).

    ``reconcile`` (a sync of this pair died; ``baseline`` should be preloaded): every
    file the quick check finds equal whose record is missing or stale goes to
    ``Plan.adopted``, so the records match the target again."""
    return _Planner(source, target, rules or RuleSet(), options or PlanOptions(), baseline,
                    reconcile).run()

