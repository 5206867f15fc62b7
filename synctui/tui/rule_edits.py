"""Rule edits the screens offer, as pure functions on RuleSet copies.

Kept out of the widgets so the browse and preview screens share one meaning of
"exclude this", and so tests can check the edits without a terminal.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass

from synctui.errors import RulesError
from synctui.project.layout import EntityRef, Kind, entity_path, format_vs
from synctui.project.names import name_problem, run_name_problem
from synctui.sync.rules import DIMENSIONS, MAP_DIMENSIONS, RuleSet, kinds_for

_KIND_FILTER = {
    Kind.TOMOGRAM: "tomograms", Kind.FEATURES: "features", Kind.PICKS: "picks",
    Kind.FILAMENTS: "filaments", Kind.MESH: "meshes", Kind.SEGMENTATION: "segmentations",
    Kind.MULTILABEL: "segmentations", Kind.INSTANCE: "segmentations",
    Kind.PANOPTIC: "segmentations", Kind.DENSITY_MAP: "density-maps", Kind.RUN_META: "meta",
    Kind.VS_META: "meta",
}


@dataclass(frozen=True)
class Scope:
    """One filter a user can pick for a highlighted item: dimension and value."""

    dim: str
    value: str

    @property
    def label(self) -> str:
        return f"{DIMENSIONS[self.dim]} {self.value}"


def scopes_for(ref: EntityRef | None, *, run: str | None = None, path: str | None = None) -> list[Scope]:
    """The filters that make sense for an entity (or a run / folder), most specific first."""
    out: list[Scope] = []
    if ref is not None:
        out.append(Scope("paths", ref.path))
        if ref.name is not None and not ref.kind.is_meta:
            if ref.kind.is_segmentation:
                out.append(Scope("seg_names", ref.name))
                if ref.kind is Kind.SEGMENTATION:
                    out.append(Scope("objects", ref.name))
            else:
                out.append(Scope("objects", ref.name))
        if ref.tomo_type is not None:
            out.append(Scope("tomo_types", ref.tomo_type))
        if ref.user is not None:
            out.append(Scope("users", ref.user))
        if ref.session is not None:
            out.append(Scope("sessions", ref.session))
        if ref.voxel_spacing is not None:
            out.append(Scope("voxel_spacings", format_vs(ref.voxel_spacing)))
        out.append(Scope("kinds", _KIND_FILTER[ref.kind]))
        run = ref.run if run is None else run
    elif path is not None:
        out.append(Scope("paths", path))
    if run is not None:
        out.append(Scope("runs", run))
    return out


def toggle_exclude_path(rules: RuleSet, path: str) -> tuple[RuleSet, str]:
    """Exclude ``path`` (an entity or a folder), or lift that exact exclusion."""
    new = rules.copy()
    if path in new.exclude.get("paths", []):
        new.remove_filter("exclude", "paths", path)
        return new, f"included again: {path}"
    new.add_filter("exclude", "paths", path)
    return new, f"excluded: {path}"


def lift_exclusion(rules: RuleSet, ref: EntityRef | None = None, *, run: str | None = None,
                   path: str | None = None) -> tuple[RuleSet, str] | None:
    """Undo what keeps an item out: remove the exclude rules that name it, add it to the
    include-only lists it fails.  None when nothing excludes it."""
    found = rules.excluded_by(ref, run=run, path=path)
    if not found:
        return None
    new = rules.copy()
    said: list[str] = []
    for ex in found:
        if ex.side == "exclude":
            new.remove_filter("exclude", ex.dim, ex.pattern)
            said.append(f"removed exclude {DIMENSIONS[ex.dim]} {ex.pattern}")
        else:
            value = _KIND_FILTER.get(ref.kind, ex.pattern) if ex.dim == "kinds" and ref else ex.pattern
            new.add_filter("include", ex.dim, value)
            said.append(f"added {value} to include-only {DIMENSIONS[ex.dim]}s")
    message = "included again: " + "; ".join(said)
    if ref is not None and (why := new.why_excluded(ref)):
        message += f" (still excluded: {why})"
    return new, message


def add_filter(rules: RuleSet, side: str, scope: Scope) -> tuple[RuleSet, str]:
    new = rules.copy()
    new.add_filter(side, scope.dim, scope.value)
    verb = "excluded" if side == "exclude" else "included only"
    return new, f"{verb}: {scope.label}"


def map_choices(ref: EntityRef | None, run: str | None) -> list[tuple[str, str]]:
    """(mapping dimension, current source name) a highlighted item can be renamed by."""
    out: list[tuple[str, str]] = []
    if ref is not None:
        if ref.name is not None and not ref.kind.is_meta:
            if ref.kind.is_segmentation:
                out.append(("seg_names", ref.name))
                if ref.kind is Kind.SEGMENTATION:
                    out.append(("objects", ref.name))
            else:
                out.append(("objects", ref.name))
        if ref.tomo_type is not None:
            out.append(("tomo_types", ref.tomo_type))
        if ref.user is not None:
            out.append(("users", ref.user))
        if ref.session is not None:
            out.append(("sessions", ref.session))
        run = ref.run
    if run is not None:
        out.append(("runs", run))
    return out


def mapping_problem(rules: RuleSet, dim: str, source: str, dest: str,
                    source_names: dict[str, set[str]] | None = None,
                    target_names: dict[str, set[str]] | None = None,
                    replacing: str | None = None,
                    source_refs: Iterable[EntityRef] | None = None,
                    target_refs: Container[EntityRef] | None = None) -> str | None:
    """Why ``source -> dest`` cannot be a mapping (copick names, collisions), or None.

    ``dest`` empty or equal to ``source`` means "remove the mapping" and is fine.
    ``replacing`` is the source name of the mapping being edited, if any.
    """
    label = MAP_DIMENSIONS.get(dim, dim)
    if not source:
        return f"the source {label} name is empty"
    if not dest or dest == source:
        return None
    problem = run_name_problem(dest) if dim == "runs" else name_problem(dest, f"{label} name")
    if problem:
        return problem
    trial = rules.copy()
    if replacing is not None and replacing != source:
        trial.set_mapping(dim, replacing, None)
    trial.set_mapping(dim, source, dest)
    errors = [p.message for p in trial.check(source_names, target_names) if p.level == "error"]
    if errors:
        return errors[0]
    only_target = dest in (target_names or {}).get(dim, set()) and dest not in (source_names or {}).get(dim, set())
    if only_target and source_refs is not None and target_refs is not None \
            and rules.maps.get(dim, {}).get(source) != dest:
        return _lands_on_target(rules, trial, dim, source, dest, source_refs, target_refs)
    return None


def _lands_on_target(rules: RuleSet, trial: RuleSet, dim: str, source: str, dest: str,
                     source_refs: Iterable[EntityRef], target_refs: Container[EntityRef]) -> str | None:
    """A name only the target has: would a source entity, renamed, land on one of the target's?"""
    for ref in source_refs:
        if source not in (ref.run, ref.user, ref.session, ref.tomo_type, ref.name):
            continue
        new = trial.map_ref(ref)
        if new != rules.map_ref(ref) and new in target_refs:
            label = MAP_DIMENSIONS.get(dim, dim)
            return (f"the target already has {entity_path(new)} ({label} {dest} is only in the target): "
                    f"{source}'s would land on it")
    return None


def set_mapping(rules: RuleSet, dim: str, source: str, dest: str,
                replacing: str | None = None) -> tuple[RuleSet, str]:
    new = rules.copy()
    if replacing is not None and replacing != source:
        new.set_mapping(dim, replacing, None)
    new.set_mapping(dim, source, dest or None)
    label = MAP_DIMENSIONS[dim]
    if not dest or dest == source:
        return new, f"{label} {source} keeps its name"
    return new, f"{label} {source} -> {dest}"


def filter_problem(dim: str, pattern: str) -> str | None:
    """Why a filter pattern would be refused, or None."""
    if not pattern.strip():
        return "the pattern is empty"
    if dim == "kinds":
        try:
            kinds_for(pattern)
        except RulesError as exc:
            return str(exc)
    if dim == "voxel_spacings":
        try:
            float(pattern)
        except ValueError:
            return f"{pattern!r} is not a number"
    return None
