"""Moving in the two trees together: where a node's counterpart is, and what `/` searches.

Pure functions over the plan's view and the rules, so the browse screen only moves cursors.
"""

from __future__ import annotations

from textual.widgets.tree import TreeNode

from synctui.sync.rules import RuleSet
from synctui.tui.status import PlanView, SideIndex
from synctui.tui.widgets.project_tree import NodeData


def counterpart_keys(view: PlanView, rules: RuleSet, node: TreeNode[NodeData]) -> list[str | None]:
    """Keys of the node's counterpart in the other tree, best first: the same entity or
    folder through the mappings (None when it has none), then its parent's counterparts,
    down to the project."""
    data = node.data
    if data is None or data.kind == "project":
        return ["project"]
    parent = counterpart_keys(view, rules, node.parent) if node.parent is not None else ["project"]
    to_target = data.side == "source"
    maps = rules if to_target else rules.inverse()
    run = maps.map_name("runs", data.run) if data.run else None
    key: str | None = None
    if data.kind == "entity" and data.ref is not None:
        other = view.counterpart(data.side, data.ref)
        key = f"ent:{other.path}" if other is not None else None
    elif data.kind == "run":
        key = f"run:{run}"
    elif data.kind in ("vs", "group"):
        key = f"{data.key.split(':', 1)[0]}:{run or ''}:{data.key.rsplit(':', 1)[-1]}"
    elif data.kind == "other" and data.path is not None and data.run and run:
        key = "other:" + data.path.replace(f"ExperimentRuns/{data.run}/", f"ExperimentRuns/{run}/", 1)
    return [key] + [k for k in parent if k is not None]


def search_keys(side: SideIndex) -> list[tuple[str, str]]:
    """(node key, searchable text) of every run, entity and not-copick path of one side,
    in tree order (a run, then its entities)."""
    out: list[tuple[str, str]] = []
    for run in side.runs:
        out.append((f"run:{run}", run))
        out += [(f"ent:{e.path}", e.path) for e in side.by_run.get(run, [])]
    out += [(f"ent:{e.path}", e.path) for e in side.by_run.get(None, [])]
    out += [(f"other:{u.path}", u.path) for u in side.catalog.unrecognised]
    return out
