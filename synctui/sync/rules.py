"""Which entities to sync and under which names: filters and name mappings.

A RuleSet is plain data (so it saves to a versioned JSON rules file and the TUI
can edit it) with two questions answered fast: ``why_excluded(ref)`` and
``map_ref(ref)``.  ``check`` lists every problem at once, errors and warnings.
"""

from __future__ import annotations

import copy
import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from synctui.errors import RulesError
from synctui.project.layout import EntityRef, Kind, format_vs
from synctui.project.names import name_problem, run_name_problem
from synctui.storage.options import describe, kind_of

RULES_VERSION = 1
POLICIES = ("never", "if-changed", "always")

#: filter dimensions, in display order, with the label the UI and messages use
DIMENSIONS: dict[str, str] = {
    "kinds": "kind", "runs": "run", "objects": "object", "users": "user",
    "sessions": "session", "voxel_spacings": "voxel spacing", "tomo_types": "tomogram type",
    "seg_names": "segmentation name", "paths": "path",
}
#: mapping dimensions
MAP_DIMENSIONS: dict[str, str] = {
    "runs": "run", "objects": "object", "users": "user", "sessions": "session",
    "tomo_types": "tomogram type", "seg_names": "segmentation name",
}

_SEGS = frozenset({Kind.SEGMENTATION, Kind.MULTILABEL, Kind.INSTANCE, Kind.PANOPTIC})
#: names accepted in kind filters: groups users think in, plus every Kind value
KIND_GROUPS: dict[str, frozenset[Kind]] = {
    "tomograms": frozenset({Kind.TOMOGRAM}),
    "features": frozenset({Kind.FEATURES}),
    "picks": frozenset({Kind.PICKS}),
    "filaments": frozenset({Kind.FILAMENTS}),
    "meshes": frozenset({Kind.MESH}),
    "segmentations": _SEGS,
    "binary-segmentations": frozenset({Kind.SEGMENTATION}),
    "multilabel-segmentations": frozenset({Kind.MULTILABEL}),
    "instance-segmentations": frozenset({Kind.INSTANCE}),
    "panoptic-segmentations": frozenset({Kind.PANOPTIC}),
    "density-maps": frozenset({Kind.DENSITY_MAP}),
    "meta": frozenset({Kind.RUN_META, Kind.VS_META}),
    **{k.value: frozenset({k}) for k in Kind},
}


_ALL = frozenset(Kind)
_ANNOTATIONS = frozenset({Kind.PICKS, Kind.FILAMENTS, Kind.MESH})
#: the kinds a filter on each dimension looks at (``_values`` is not None); every other
#: kind passes that filter untouched, so an include-only filter does not hold it back
FILTER_KINDS: dict[str, frozenset[Kind]] = {
    "kinds": _ALL, "paths": _ALL, "runs": _ALL - {Kind.DENSITY_MAP},
    "objects": _ANNOTATIONS | {Kind.DENSITY_MAP, Kind.SEGMENTATION},
    "users": _ANNOTATIONS | _SEGS, "sessions": _ANNOTATIONS | _SEGS,
    "voxel_spacings": _SEGS | {Kind.VS_META, Kind.TOMOGRAM, Kind.FEATURES},
    "tomo_types": frozenset({Kind.TOMOGRAM, Kind.FEATURES}), "seg_names": _SEGS,
}


def filter_reach(dim: str) -> str | None:
    """Which kinds a filter on ``dim`` does not look at, in words; None when it sees all."""
    missed = [k for k in Kind if k not in FILTER_KINDS[dim]]
    if not missed:
        return None
    names = ", ".join(k.label for k in missed)
    return f"{_article(DIMENSIONS[dim])} {DIMENSIONS[dim]} filter does not apply to {names}: " \
        "those sync whatever it says"


def kinds_for(name: str) -> frozenset[Kind]:
    key = name.strip().lower().replace("_", "-")
    if key in KIND_GROUPS:
        return KIND_GROUPS[key]
    if key.rstrip("s") in KIND_GROUPS:
        return KIND_GROUPS[key.rstrip("s")]
    raise RulesError(f"unknown entity kind {name!r} (one of: {', '.join(sorted(k for k in KIND_GROUPS if not k.endswith('-meta')))})")


def _values(ref: EntityRef, dim: str) -> tuple[str, ...] | None:
    """The values of ``ref`` a filter on ``dim`` looks at; None: does not apply."""
    k = ref.kind
    if dim == "runs":
        return (ref.run,) if ref.run is not None else None
    if dim == "objects":
        if k.is_annotation or k in (Kind.DENSITY_MAP, Kind.SEGMENTATION):
            return (ref.name,)  # type: ignore[return-value]
        return None
    if dim in ("users", "sessions"):
        value = ref.user if dim == "users" else ref.session
        return (value,) if value is not None else None
    if dim == "voxel_spacings":
        return (format_vs(ref.voxel_spacing),) if ref.voxel_spacing is not None else None
    if dim == "tomo_types":
        return (ref.tomo_type,) if ref.tomo_type is not None else None
    if dim == "seg_names":
        return (ref.name,) if k in _SEGS else None  # type: ignore[return-value]
    if dim == "paths":
        return (ref.path,)
    raise KeyError(dim)


def _match(value: str, pattern: str, dim: str) -> bool:
    if dim == "voxel_spacings":
        try:
            return abs(float(value) - float(pattern)) < 5e-4
        except ValueError:
            pass
    if dim == "paths":
        return fnmatch.fnmatchcase(value, pattern) or fnmatch.fnmatchcase(value, pattern.rstrip("/") + "/*")
    return fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class Exclusion:
    """One rule keeping something out: ``exclude`` (dim, pattern), or ``include`` (dim) that
    ``pattern`` (the item's own value) is missing from."""

    side: str
    dim: str
    pattern: str

    @property
    def label(self) -> str:
        if self.side == "exclude":
            return f"exclude {DIMENSIONS[self.dim]} {self.pattern}"
        return f"include-only {DIMENSIONS[self.dim]}s (without {self.pattern})"


@dataclass
class RuleProblem:
    level: str  # "error" or "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


@dataclass
class RuleSet:
    """Filters (include/exclude globs per dimension), mappings, overwrite policy."""

    include: dict[str, list[str]] = field(default_factory=dict)
    exclude: dict[str, list[str]] = field(default_factory=dict)
    maps: dict[str, dict[str, str]] = field(default_factory=dict)
    overwrite: str = "if-changed"
    overwrite_by_kind: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._kind_cache: dict[tuple[str, str], frozenset[Kind]] = {}
        for side in (self.include, self.exclude):
            for dim in side:
                if dim not in DIMENSIONS:
                    raise RulesError(f"unknown filter {dim!r} (one of: {', '.join(DIMENSIONS)})")
            for pattern in side.get("kinds", []):
                kinds_for(pattern)
        for dim in self.maps:
            if dim not in MAP_DIMENSIONS:
                raise RulesError(f"unknown mapping {dim!r} (one of: {', '.join(MAP_DIMENSIONS)})")
        for policy in (self.overwrite, *self.overwrite_by_kind.values()):
            if policy not in POLICIES:
                raise RulesError(f"unknown overwrite policy {policy!r} (one of: {', '.join(POLICIES)})")
        self._policy_kinds = {k: p for name, p in self.overwrite_by_kind.items() for k in kinds_for(name)}

    # -- filters -------------------------------------------------------------
    def why_excluded(self, ref: EntityRef) -> str | None:
        """The rule that keeps ``ref`` out of the sync, or None if it is in."""
        for pattern in self.exclude.get("kinds", []):
            if ref.kind in kinds_for(pattern):
                return f"kind {ref.kind.label!r} is excluded (exclude kinds {pattern!r})"
        inc_kinds = self.include.get("kinds", [])
        if inc_kinds and not any(ref.kind in kinds_for(p) for p in inc_kinds):
            return f"kind {ref.kind.label!r} is not in include kinds {inc_kinds}"
        for dim, patterns in self.exclude.items():
            if dim == "kinds" or not patterns:
                continue
            values = _values(ref, dim)
            if values is None:
                continue
            for value in values:
                for pattern in patterns:
                    if _match(value, pattern, dim):
                        return f"{DIMENSIONS[dim]} {value!r} matches exclude {pattern!r}"
        for dim, patterns in self.include.items():
            if dim == "kinds" or not patterns:
                continue
            values = _values(ref, dim)
            if values is None:
                continue
            if not any(_match(v, p, dim) for v in values for p in patterns):
                return f"{DIMENSIONS[dim]} {values[0]!r} is not in include {DIMENSIONS[dim]}s {patterns}"
        return None

    def excluded_by(self, ref: EntityRef | None = None, *, run: str | None = None,
                    path: str | None = None) -> list[Exclusion]:
        """Every rule that keeps an entity (or a run / folder: ``run``, ``path``) out.

        An exclude filter is named as it is; an include-only filter the item fails is
        named by the value that would let it in (``Exclusion.pattern``)."""
        out: list[Exclusion] = []
        if ref is not None:
            for pattern in self.exclude.get("kinds", []):
                if ref.kind in kinds_for(pattern):
                    out.append(Exclusion("exclude", "kinds", pattern))
            inc_kinds = self.include.get("kinds", [])
            if inc_kinds and not any(ref.kind in kinds_for(p) for p in inc_kinds):
                out.append(Exclusion("include", "kinds", ref.kind.value))
            values = {dim: _values(ref, dim) for dim in DIMENSIONS if dim != "kinds"}
        else:
            values = {"runs": (run,) if run is not None else None, "paths": (path,) if path else None}
        for dim, patterns in self.exclude.items():
            vals = values.get(dim)
            if dim == "kinds" or not vals:
                continue
            out += [Exclusion("exclude", dim, p) for p in patterns if any(_match(v, p, dim) for v in vals)]
        for dim, patterns in self.include.items():
            vals = values.get(dim)
            if dim == "kinds" or not patterns or not vals:
                continue
            if not any(_match(v, p, dim) for v in vals for p in patterns):
                out.append(Exclusion("include", dim, vals[0]))
        return out

    # -- mapping -------------------------------------------------------------
    def map_name(self, dim: str, name: str) -> str:
        return self.maps.get(dim, {}).get(name, name)

    def map_ref(self, ref: EntityRef) -> EntityRef:
        """The target identity of a source entity (unmapped parts keep their names)."""
        if not self.maps:
            return ref
        changes: dict[str, Any] = {}
        if ref.run is not None:
            changes["run"] = self.map_name("runs", ref.run)
        if ref.user is not None:
            changes["user"] = self.map_name("users", ref.user)
        if ref.session is not None:
            changes["session"] = self.map_name("sessions", ref.session)
        if ref.tomo_type is not None:
            changes["tomo_type"] = self.map_name("tomo_types", ref.tomo_type)
        if ref.name is not None:
            k = ref.kind
            if k in _SEGS:
                seg_map = self.maps.get("seg_names", {})
                if ref.name in seg_map:
                    changes["name"] = seg_map[ref.name]
                elif k is Kind.SEGMENTATION:  # a binary segmentation is named after its object
                    changes["name"] = self.map_name("objects", ref.name)
            else:
                changes["name"] = self.map_name("objects", ref.name)
        return ref.with_(**changes)

    def inverse(self) -> RuleSet:
        """Mappings reversed (only meaningful where they are one-to-one)."""
        maps = {dim: {v: k for k, v in m.items()} for dim, m in self.maps.items()}
        return RuleSet(maps=maps, overwrite=self.overwrite,
                       overwrite_by_kind=dict(self.overwrite_by_kind))

    def policy_for(self, kind: Kind) -> str:
        return self._policy_kinds.get(kind, self.overwrite)

    # -- editing (used by the CLI flags and the TUI) ---------------------------
    def add_filter(self, side: str, dim: str, pattern: str) -> None:
        if dim not in DIMENSIONS:
            raise RulesError(f"unknown filter {dim!r}")
        if dim == "kinds":
            kinds_for(pattern)
        target = self.include if side == "include" else self.exclude
        patterns = target.setdefault(dim, [])
        if pattern not in patterns:
            patterns.append(pattern)

    def remove_filter(self, side: str, dim: str, pattern: str) -> None:
        target = self.include if side == "include" else self.exclude
        if pattern in target.get(dim, []):
            target[dim].remove(pattern)
            if not target[dim]:
                del target[dim]

    def set_mapping(self, dim: str, source: str, dest: str | None) -> None:
        if dim not in MAP_DIMENSIONS:
            raise RulesError(f"unknown mapping {dim!r}")
        m = self.maps.setdefault(dim, {})
        if dest is None or dest == source:
            m.pop(source, None)
        else:
            m[source] = dest
        if not m:
            del self.maps[dim]

    # -- checking --------------------------------------------------------------
    def check(self, source_names: dict[str, set[str]] | None = None,
              target_names: dict[str, set[str]] | None = None) -> list[RuleProblem]:
        """Every problem at once: collisions and invalid names are errors, a
        mapping for a name no project has is a warning.

        ``source_names``/``target_names`` map a mapping dimension to the names a
        project holds (see ``names_in``); without them only the map itself is checked.
        """
        problems: list[RuleProblem] = []
        for dim, mapping in sorted(self.maps.items()):
            label = MAP_DIMENSIONS[dim]
            seen: dict[str, str] = {}
            for src, dst in mapping.items():
                if dim == "runs":
                    problem = run_name_problem(dst)
                else:
                    problem = name_problem(dst, f"target {label} name")
                if problem:
                    problems.append(RuleProblem("error", f"map {label} {src!r} -> {dst!r}: {problem}"))
                if dst in seen:
                    problems.append(RuleProblem(
                        "error", f"map {label}: {seen[dst]!r} and {src!r} are both mapped onto {dst!r}"))
                seen.setdefault(dst, src)
            if source_names is not None:
                present = source_names.get(dim, set())
                for src, dst in mapping.items():
                    if dst in present and dst not in mapping and src != dst:
                        problems.append(RuleProblem(
                            "error", f"map {label} {src!r} -> {dst!r}: the source also has a {label} "
                                     f"{dst!r} that keeps its name, so both would land on {dst!r}"))
                known = present | (target_names or {}).get(dim, set())
                for src in mapping:
                    if src not in known:
                        problems.append(RuleProblem(
                            "warning", f"map {label} {src!r}: no project has {_article(label)} {label} named {src!r}"))
        return problems

    def raise_on_errors(self, problems: Iterable[RuleProblem]) -> list[RuleProblem]:
        problems = list(problems)
        errors = [p.message for p in problems if p.level == "error"]
        if errors:
            raise RulesError("; ".join(errors))
        return [p for p in problems if p.level == "warning"]

    # -- persistence -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "synctui_rules": RULES_VERSION,
            "include": copy.deepcopy({k: v for k, v in self.include.items() if k != "kinds"}),
            "exclude": copy.deepcopy(self.exclude),
            "kinds": list(self.include.get("kinds", [])),
            "map": copy.deepcopy(self.maps),
            "overwrite": self.overwrite,
            "overwrite_by_kind": dict(self.overwrite_by_kind),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "rules") -> RuleSet:
        """Rules from their JSON, every field type-checked: a wrong type is a RulesError
        naming ``where`` and the field, never a crash or a silently empty filter."""
        if not isinstance(data, dict) or "synctui_rules" not in data:
            raise RulesError(f"{where}: not a synctui rules file (no 'synctui_rules' version key)")
        version = data["synctui_rules"]
        if isinstance(version, bool) or version != RULES_VERSION:
            raise RulesError(f"{where}: rules file version {describe(version)} is not supported "
                             f"(expected {RULES_VERSION})")
        try:
            include = {k: _str_list(v, f"include.{k}") for k, v in _object(data, "include").items()}
            exclude = {k: _str_list(v, f"exclude.{k}") for k, v in _object(data, "exclude").items()}
            if data.get("kinds") is not None and (kinds := _str_list(data["kinds"], "kinds")):
                include["kinds"] = kinds
            maps = {}
            for dim, mapping in _object(data, "map").items():
                if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                    raise RulesError(f"map.{dim} must be an object of name: name")
                maps[dim] = dict(mapping)
            overwrite = data.get("overwrite")
            by_kind = _object(data, "overwrite_by_kind")
            for key, policy in (("overwrite", overwrite), *((f"overwrite_by_kind.{k}", v) for k, v in by_kind.items())):
                if policy is not None and not isinstance(policy, str):
                    raise RulesError(f"{key} must be one of {', '.join(POLICIES)}, not {describe(policy)}")
            return cls(include=include, exclude=exclude, maps=maps,
                       overwrite=overwrite if overwrite is not None else "if-changed",
                       overwrite_by_kind=dict(by_kind))
        except RulesError as exc:
            raise RulesError(f"{where}: {exc}") from None

    def save(self, path: str) -> None:
        from synctui.project.config import write_json_file

        write_json_file(path, self.to_dict(), RulesError, "rules file")

    @classmethod
    def load(cls, path: str) -> RuleSet:
        from synctui.project.config import read_json_file

        return cls.from_dict(read_json_file(os.fspath(path), RulesError, "rules file"), os.fspath(path))

    def copy(self) -> RuleSet:
        return RuleSet.from_dict(self.to_dict())

    @property
    def is_empty(self) -> bool:
        return not (self.include or self.exclude or self.maps)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _str_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesError(f"{key} must be a list of strings")
    return list(value)


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    """A field that holds an object (absent or null: empty)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RulesError(f"{key} must be an object, not {kind_of(value)}")
    return value


def parse_copick_list(text: str | None) -> list[str]:
    """copick's comma-separated lists: ``"run1, run2"``."""
    if not text:
        return []
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_copick_mapping(text: str | dict[str, str] | None, what: str = "mapping") -> dict[str, str]:
    """copick's mapping syntax ``"run1:exp1,run2:exp2"``; a bare item maps to itself."""
    if not text:
        return {}
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    out: dict[str, str] = {}
    for item in parse_copick_list(text):
        src, sep, dst = item.partition(":")
        src, dst = src.strip(), dst.strip()
        if not src or (sep and not dst) or ":" in dst:
            raise RulesError(f"{what}: {item!r} is not 'source:target'")
        if src in out and out[src] != (dst or src):
            raise RulesError(f"{what}: {src!r} is mapped twice ({out[src]!r} and {dst!r})")
        out[src] = dst if sep else src
    return out


def names_in(refs: Iterable[EntityRef], runs: Iterable[str] = ()) -> dict[str, set[str]]:
    """Names per mapping dimension found in a catalog's entities (for ``check``)."""
    out: dict[str, set[str]] = {dim: set() for dim in MAP_DIMENSIONS}
    out["runs"].update(runs)
    for ref in refs:
        if ref.run is not None:
            out["runs"].add(ref.run)
        if ref.user is not None:
            out["users"].add(ref.user)
        if ref.session is not None:
            out["sessions"].add(ref.session)
        if ref.tomo_type is not None:
            out["tomo_types"].add(ref.tomo_type)
        if ref.name is not None:
            if ref.kind in _SEGS:
                out["seg_names"].add(ref.name)
                if ref.kind is Kind.SEGMENTATION:
                    out["objects"].add(ref.name)
            else:
                out["objects"].add(ref.name)
    return out

