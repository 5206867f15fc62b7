"""Plan statuses as the app shows them: a symbol, a word and a colour per action.

The symbol alone must tell the story (``NO_COLOR``, screen readers, colour
blindness); colour only helps.  ``build_view`` indexes a Plan and both catalogs
once, in the planning thread, so the UI thread only looks things up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.text import Text

from synctui.format import count, human_bytes
from synctui.project.catalog import Catalog, Entity
from synctui.project.layout import EntityRef
from synctui.sync.plan import Act, EntityPlan, Plan
from synctui.sync.rules import names_in


@dataclass(frozen=True, slots=True)
class Look:
    symbol: str
    word: str
    style: str


#: one look per plan action, plus the two states that are not actions; the words are the
#: plan's own (``Act`` values), as the CLI table, ``--json`` and the preview filter say them
LOOKS: dict[str, Look] = {
    Act.SKIP: Look("✓", Act.SKIP.value, "green"),
    Act.CREATE: Look("+", Act.CREATE.value, "bold cyan"),
    Act.UPDATE: Look("~", Act.UPDATE.value, "bold yellow"),
    Act.DELETE: Look("x", Act.DELETE.value, "bold red"),
    Act.CONFLICT: Look("!", Act.CONFLICT.value, "bold red"),
    Act.BLOCKED: Look("#", Act.BLOCKED.value, "bold magenta"),
    Act.EXISTS: Look("=", Act.EXISTS.value, "blue"),
    Act.EXCLUDED: Look("-", Act.EXCLUDED.value, "dim"),
    Act.ADD_OBJECT: Look("*", Act.ADD_OBJECT.value, "bold cyan"),
    "only": Look("·", "only here", "dim"),
    "unknown": Look("?", "not planned yet", "dim"),
    "other": Look("○", "not copick (never synced)", "dim italic"),
}

#: most consequential first: a folder shows the worst status inside it
SEVERITY: list[str] = [Act.CONFLICT, Act.BLOCKED, Act.DELETE, Act.UPDATE, Act.CREATE,
                       Act.ADD_OBJECT, Act.EXISTS, Act.EXCLUDED, Act.SKIP, "only", "unknown"]
_RANK = {key: i for i, key in enumerate(SEVERITY)}


def look(status: str) -> Look:
    return LOOKS.get(status, LOOKS["unknown"])


def badge(status: str) -> Text:
    """``"+ new"`` styled: the symbol and word, for tables and detail panes."""
    lk = look(status)
    return Text(f"{lk.symbol} {lk.word}", style=lk.style)


def worst(statuses: Counter[str] | dict[str, int]) -> str:
    present = [s for s, n in statuses.items() if n]
    return min(present, key=lambda s: _RANK.get(s, 99)) if present else "unknown"


#: a folder's symbol: the worst of what the sync does there; "same" outranks "excluded" so a
#: run of 8 same and 2 excluded entities reads ``✓ TS_002  ✓8 -2``, not ``-``
_FOLDER_RANK = {key: i for i, key in enumerate(
    [Act.CONFLICT, Act.BLOCKED, Act.DELETE, Act.UPDATE, Act.CREATE, Act.ADD_OBJECT, Act.EXISTS,
     Act.SKIP, Act.EXCLUDED, "only", "unknown"])}


def folder_status(statuses: Counter[str] | dict[str, int]) -> str:
    """The symbol of a run or folder (see ``_FOLDER_RANK``); its label shows the whole mix."""
    present = [s for s, n in statuses.items() if n]
    return min(present, key=lambda s: _FOLDER_RANK.get(s, 99)) if present else "unknown"


def counts_text(statuses: Counter[str] | dict[str, int], *, include_same: bool = False) -> Text:
    """``!1 +3 ✓8 -2`` in severity order, "same" before "excluded" (as the folder symbols
    rank them), each part in its colour."""
    out = Text()
    for key in _FOLDER_RANK:
        n = statuses.get(key, 0)
        if not n or (key in (Act.SKIP, "only", "unknown") and not include_same):
            continue
        if out:
            out.append(" ")
        lk = look(key)
        out.append(f"{lk.symbol}{count(n)}", style=lk.style)
    return out


def node_label(status: str, name: str, extra: Text | str | None = None) -> Text:
    """A tree label: status symbol, the name (never parsed as markup), extra in dim."""
    lk = look(status)
    label = Text()
    label.append(lk.symbol, style=lk.style)
    label.append(" ")
    label.append(name)
    if extra:
        label.append("  ")
        label.append(extra if isinstance(extra, Text) else Text(extra, style="dim"))
    return label


@dataclass(repr=False)
class SideIndex:
    """One project's entities grouped for the tree, with their statuses."""

    def __repr__(self) -> str:  # the default would print every entity of the project
        return f"SideIndex({self.catalog.config.label!r}, {len(self.status)} entities)"

    catalog: Catalog
    runs: list[str]
    by_run: dict[str | None, list[Entity]]
    status: dict[EntityRef, str]
    run_counts: dict[str | None, Counter[str]]

    @property
    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.run_counts.values():
            out.update(c)
        return out


@dataclass(repr=False)
class PlanView:
    """A plan indexed for the UI: per-entity decisions, both sides, name sets."""

    def __repr__(self) -> str:  # the default would print the whole plan (100k files: seconds)
        return f"PlanView({len(self.plan.entities)} entities, {self.source!r} -> {self.target!r})"

    plan: Plan
    source: SideIndex
    target: SideIndex
    by_source: dict[EntityRef, EntityPlan]
    by_target: dict[EntityRef, EntityPlan]
    source_names: dict[str, set[str]] = field(default_factory=dict)
    target_names: dict[str, set[str]] = field(default_factory=dict)
    #: the plan bar's line, made with the view (it walks every file: 0.1 s at 100k files)
    summary: Text = field(default_factory=Text)

    def side(self, name: str) -> SideIndex:
        return self.source if name == "source" else self.target

    def entity_plan(self, side: str, ref: EntityRef) -> EntityPlan | None:
        return (self.by_source if side == "source" else self.by_target).get(ref)

    def counterpart(self, side: str, ref: EntityRef) -> EntityRef | None:
        """The same entity on the other side (through the mappings), if it exists."""
        ep = self.entity_plan(side, ref)
        if ep is None:
            return None
        other = ep.target if side == "source" else ep.source
        if other is None:
            return None
        cat = self.target.catalog if side == "source" else self.source.catalog
        return other if other in cat.entities else None


def _status_of(ep: EntityPlan | None) -> str:
    return "only" if ep is None else str(ep.action)


def _side(catalog: Catalog, plans: dict[EntityRef, EntityPlan]) -> SideIndex:
    by_run = catalog.by_run()
    status: dict[EntityRef, str] = {}
    run_counts: dict[str | None, Counter[str]] = {}
    for run, ents in by_run.items():
        counts: Counter[str] = Counter()
        for ent in ents:
            st = _status_of(plans.get(ent.ref))
            status[ent.ref] = st
            counts[st] += 1
        run_counts[run] = counts
    runs = sorted(r for r in catalog.runs if r is not None)
    for run in runs:
        by_run.setdefault(run, [])
        run_counts.setdefault(run, Counter())
    return SideIndex(catalog, runs, by_run, status, run_counts)


def build_view(plan: Plan, source: Catalog, target: Catalog) -> PlanView:
    """Index ``plan`` for the UI (run this off the UI thread: it walks every entity)."""
    by_source: dict[EntityRef, EntityPlan] = {}
    by_target: dict[EntityRef, EntityPlan] = {}
    for ep in plan.entities:
        if ep.source is not None:
            by_source[ep.source] = ep
        if ep.target in target.entities:
            # an excluded source entity still tells what happens to its namesake
            prev = by_target.get(ep.target)
            if prev is None or ep.action is not Act.EXCLUDED:
                by_target[ep.target] = ep
    return PlanView(
        plan=plan, source=_side(source, by_source), target=_side(target, by_target),
        by_source=by_source, by_target=by_target,
        source_names=names_in(source.entities, source.runs),
        target_names=names_in(target.entities, target.runs), summary=plan_summary(plan))


def plan_summary(plan: Plan) -> Text:
    """One line: what would move (or that nothing would), then every action's count."""
    out = Text()
    if plan.is_noop:
        out.append("✓ nothing to do", style="bold green")
    else:
        files = plan.transfer_files
        out.append(f"{count(files)} file{'s' if files != 1 else ''}, {human_bytes(plan.transfer_bytes)} to move",
                   style="bold")
    for act, c in plan.counts().items():
        n = c.entities or c.files
        if not n:
            continue
        lk = look(act)
        out.append("  ")
        out.append(f"{lk.symbol} {count(n)} {lk.word}", style=lk.style)
    return out


def plan_line(ep: EntityPlan | None, *, side: str = "source") -> Text:
    """``+ new  not in target  → ExperimentRuns/...`` for the detail panes."""
    if ep is None:
        out = badge("only")
        out.append("  ")
        out.append("only in the target: no rule touches it" if side == "target"
                   else "not part of this plan", style="dim")
        return out
    out = badge(str(ep.action))
    out.append("  ")
    out.append(ep.reason)
    if ep.source is not None and ep.target != ep.source and ep.action is not Act.EXCLUDED:
        out.append("  → ", style="dim")
        out.append(ep.target_path, style="italic")
    return out
