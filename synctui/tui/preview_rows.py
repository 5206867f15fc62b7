"""The dry-run table as rows: runs, their entities, an entity's files; filtered and paged.

Pure Python over the Plan so 100k files cost a list comprehension, and only
one page (``PAGE_SIZE`` rows) ever reaches the DataTable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from synctui.format import count
from synctui.sync.plan import ACT_ORDER, Act, EntityPlan, FileAction, Plan
from synctui.tui.status import worst

PAGE_SIZE = 200
#: what the action filter cycles through
ACTION_FILTERS: list[str] = ["all", "changes", *[a.value for a in ACT_ORDER]]
_CHANGES = frozenset({Act.CREATE, Act.UPDATE, Act.DELETE, Act.CONFLICT, Act.BLOCKED, Act.ADD_OBJECT})
CONFIG_GROUP = "(target config)"
PROJECT_GROUP = "(project)"


@dataclass(slots=True)
class Row:
    key: str
    level: int  # 0 run, 1 entity (or object), 2 file
    status: str
    item: str
    size: int | None
    reason: str
    entity: EntityPlan | None = None
    run: str | None = None
    file: FileAction | None = None
    expandable: bool = False


def entity_key(index: int) -> str:
    return f"e{index}"


def _matches(ep: EntityPlan, action: str, text: str) -> bool:
    if action == "changes":
        if ep.action not in _CHANGES:
            return False
    elif action != "all":
        if ep.action.value != action and not (
                ep.action is Act.UPDATE and any(fa.action.value == action for fa in ep.files)):
            return False
    if text:
        hay = f"{ep.target_path}\n{ep.source_path or ''}\n{ep.reason}\n{ep.kind.label}".lower()
        if text not in hay:
            return False
    return True


def _entity_item(ep: EntityPlan) -> str:
    name = ep.source_path or ep.target_path
    short = name.split("/", 2)[-1] if name.startswith("ExperimentRuns/") else name
    if ep.source is not None and ep.target != ep.source and ep.action is not Act.EXCLUDED:
        return f"{short} → {ep.target_path.rsplit('/', 1)[-1]}"
    return short


def build_rows(plan: Plan, *, action: str = "all", text: str = "",
               collapsed: set[str] | frozenset[str] = frozenset(),
               expanded: set[str] | frozenset[str] = frozenset()) -> list[Row]:
    """Every visible row: a run row, then (unless collapsed) its entities and open files."""
    text = text.strip().lower()
    groups: dict[str, list[tuple[int, EntityPlan]]] = {}
    for i, ep in enumerate(plan.entities):
        if _matches(ep, action, text):
            groups.setdefault(ep.run or PROJECT_GROUP, []).append((i, ep))
    rows: list[Row] = []
    objects = [o for o in plan.objects
               if action in ("all", "changes", Act.ADD_OBJECT.value)
               and (not text or text in f"{o.name}\n{o.reason}".lower())]
    if objects:
        rows.append(Row(f"r:{CONFIG_GROUP}", 0, str(Act.ADD_OBJECT), CONFIG_GROUP, None,
                        f"{len(objects)} object(s) to add", run=CONFIG_GROUP, expandable=True))
        if f"r:{CONFIG_GROUP}" not in collapsed:
            rows += [Row(f"o:{o.name}", 1, str(Act.ADD_OBJECT), f"object {o.name}", None, o.reason)
                     for o in objects]
    for run in sorted(groups, key=lambda r: (r == PROJECT_GROUP, r)):
        members = groups[run]
        counts = Counter(str(ep.action) for _, ep in members)
        size = sum(ep.bytes for _, ep in members if ep.action.writes)
        summary = ", ".join(f"{count(n)} {act}" for act, n in sorted(counts.items(),
                                                               key=lambda kv: -kv[1]))
        rkey = f"r:{run}"
        rows.append(Row(rkey, 0, worst(counts), run, size, summary, run=run, expandable=True))
        if rkey in collapsed:
            continue
        for i, ep in members:
            ekey = entity_key(i)
            rows.append(Row(ekey, 1, str(ep.action), _entity_item(ep), ep.bytes, ep.reason,
                            entity=ep, run=run, expandable=bool(ep.files)))
            if ekey in expanded:
                base = ep.target_path + "/"
                for j, fa in enumerate(ep.files):
                    member = fa.target_path[len(base):] if fa.target_path.startswith(base) else \
                        fa.target_path.rsplit("/", 1)[-1]
                    rows.append(Row(f"{ekey}.{j}", 2, str(fa.action), member or ".", fa.size,
                                    fa.reason, entity=ep, run=run, file=fa))
    return rows


def page_count(n_rows: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, (n_rows + page_size - 1) // page_size)


def page_of(rows: list[Row], page: int, page_size: int = PAGE_SIZE) -> list[Row]:
    return rows[page * page_size:(page + 1) * page_size]
