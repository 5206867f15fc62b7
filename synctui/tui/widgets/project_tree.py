"""One project as a lazy tree: project -> runs -> voxel spacings / groups -> entities.

Runs are added in chunks (yielding to the event loop between chunks) so a
project of thousands of runs opens at once; a run's children are made the
first time it is expanded.  Labels are ``rich.text.Text`` (names are never
parsed as markup) with the plan status of each node against the other side.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from synctui.format import count
from synctui.project.catalog import Entity
from synctui.project.layout import EntityRef, Kind, Unrecognised, format_vs
from synctui.tui.marks import marked_label
from synctui.tui.status import PlanView, counts_text, folder_status, node_label

RUN_CHUNK = 200

#: the folders of a run, in the order copick users know them
GROUPS: list[tuple[str, str, frozenset[Kind]]] = [
    ("picks", "Picks", frozenset({Kind.PICKS})),
    ("filaments", "Filaments", frozenset({Kind.FILAMENTS})),
    ("meshes", "Meshes", frozenset({Kind.MESH})),
    ("segmentations", "Segmentations",
     frozenset({Kind.SEGMENTATION, Kind.MULTILABEL, Kind.INSTANCE, Kind.PANOPTIC})),
]
GROUP_KINDS = {key: kinds for key, _, kinds in GROUPS}
#: path patterns (for path filters) of each group; segmentations span three folders
_GROUP_FOLDER = {"picks": "Picks", "filaments": "Filaments", "meshes": "Meshes",
                 "segmentations": "*Segmentations"}
VS_KINDS = frozenset({Kind.VS_META, Kind.TOMOGRAM, Kind.FEATURES})


@dataclass
class NodeData:
    """What a tree node stands for.  ``key`` is stable across rebuilds."""

    kind: str  # project, run, vs, group, entity, other (a path copick does not read)
    side: str
    key: str
    run: str | None = None
    ref: EntityRef | None = None
    entities: list[Entity] = field(default_factory=list)
    path: str | None = None  # folder path of run / vs / group nodes
    loaded: bool = False
    #: the paths copick does not read, of an "other" group; a leaf's reason
    others: list[Unrecognised] = field(default_factory=list)
    reason: str | None = None


OTHER_GROUP = "other"


def run_of_path(path: str) -> str | None:
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "ExperimentRuns" else None


def entity_name(ref: EntityRef) -> str:
    """A short name for a tree leaf: its parent node already says run and folder."""
    k = ref.kind
    if k is Kind.RUN_META or k is Kind.VS_META:
        return ".meta"
    if k is Kind.TOMOGRAM:
        return f"{ref.tomo_type}"
    if k is Kind.FEATURES:
        return f"{ref.tomo_type} {ref.feature_type} features"
    if k is Kind.DENSITY_MAP:
        return f"{ref.name}"
    return ref.display


class ProjectTree(Tree[NodeData]):
    """The source or target project, with plan statuses.

    Left collapses an open node, or goes to its parent; Right opens a closed one, or
    goes to its first child (as in Midnight Commander's tree and most file managers)."""

    BINDINGS = [
        Binding("left", "collapse_or_parent", "Collapse / parent", id="tree.left", show=False,
                tooltip="Close the open folder, or go to the parent"),
        Binding("right", "expand_or_child", "Expand / child", id="tree.right", show=False,
                tooltip="Open the folder, or go to its first child"),
    ]

    def __init__(self, side: str, *, id: str | None = None) -> None:
        super().__init__(Text(side), data=NodeData("project", side, "project"), id=id)
        self.side = side
        self.view: PlanView | None = None
        self.auto_expand = True
        self.guide_depth = 2
        self._by_key: dict[str, TreeNode[NodeData]] = {}
        self._built = False
        self._wanted_cursor: str | None = None
        #: set by the screen: is this node's entity marked? (its label then starts with ●)
        self.is_marked: Callable[[NodeData], bool] | None = None
        self._loading = False
        #: run -> the paths copick does not read in it (None: outside any run)
        self._others: dict[str | None, list[Unrecognised]] = {}

    # -- public --------------------------------------------------------------------------
    def show_view(self, view: PlanView, rebuild: bool) -> None:
        """Relabel for a new plan; rebuild when the catalog itself changed."""
        self.view = view
        if rebuild or not self._built:
            self._rebuild()
        else:
            self._relabel()

    def refresh_marks(self) -> None:
        """Marks changed: relabel what is built (the rest is labelled when it is made)."""
        if self.view is not None and self._built:
            self._relabel()

    def node_for(self, key: str) -> TreeNode[NodeData] | None:
        return self._by_key.get(key)

    def ensure_loaded(self, node: TreeNode[NodeData]) -> None:
        data = node.data
        if data is not None and data.kind == "run" and not data.loaded:
            self._populate_run(node)

    def focus_key(self, key: str) -> bool:
        """Expand down to the node ``key`` and put the cursor on it (tests, restores)."""
        node = self._by_key.get(key)
        if node is None and key.startswith(("vs:", "group:", "ent:", "other:")):
            run = self._run_of_key(key)
            if run is not None and (run_node := self._by_key.get(f"run:{run}")) is not None:
                self.ensure_loaded(run_node)
                node = self._by_key.get(key)
        if node is None:
            return False
        parent = node.parent
        while parent is not None:
            if parent.data is not None:
                self.ensure_loaded(parent)
            parent.expand()
            parent = parent.parent
        self.move_to(node)
        return True

    def move_to(self, node: TreeNode[NodeData]) -> None:
        """``move_cursor`` once the lines are rebuilt (a just-expanded node has no line yet)."""
        _ = self._tree_lines  # rebuilds the line cache after expand()
        self.move_cursor(node)

    @property
    def loading_runs(self) -> bool:
        """Run nodes are still being added (in chunks) after a (re)build."""
        return self._loading

    # -- keys ------------------------------------------------------------------------------
    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None:
            self.move_to(node.parent)

    def action_expand_or_child(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            self.ensure_loaded(node)
            node.expand()
        elif node.children:
            self.move_to(node.children[0])

    # -- building ------------------------------------------------------------------------
    def _rebuild(self) -> None:
        assert self.view is not None
        expanded = {k for k, n in self._by_key.items() if n.is_expanded and n.data and n.data.kind == "run"}
        cursor = self.cursor_node.data.key if self.cursor_node is not None and self.cursor_node.data else None
        self._wanted_cursor = cursor
        self.clear()
        self._by_key = {"project": self.root}
        self._built = True
        side = self.view.side(self.side)
        self.root.data = NodeData("project", self.side, "project")
        self.root.set_label(self._project_label())
        self.root.expand()
        self._others = {}
        for bad in side.catalog.unrecognised:
            self._others.setdefault(run_of_path(bad.path), []).append(bad)
        self._loading = True
        self._load_runs(side.runs, expanded, self.view)

    # a description of its own: Textual's default is the repr of the arguments (the view)
    @work(exclusive=True, group="tree-load", description="load runs")
    async def _load_runs(self, runs: list[str], expanded: set[str], view: PlanView) -> None:
        """Add run nodes in chunks so a big project never blocks the screen."""
        side = view.side(self.side)
        for start in range(0, len(runs), RUN_CHUNK):
            if view is not self.view:
                return
            for run in runs[start:start + RUN_CHUNK]:
                data = NodeData("run", self.side, f"run:{run}", run=run,
                                path=f"ExperimentRuns/{run}")
                node = self.root.add(self._label(data), data, allow_expand=True)
                self._by_key[data.key] = node
                if data.key in expanded:
                    self._populate_run(node)
                    node.expand()
            await asyncio.sleep(0)
        maps = side.by_run.get(None, [])
        if maps:
            data = NodeData("group", self.side, "group::density-maps", entities=maps, path="Objects",
                            loaded=True)
            node = self.root.add(self._label(data), data)
            self._by_key[data.key] = node
            self._add_entities(node, maps)
        self._add_others(self.root, None)
        self._loading = False
        if self._wanted_cursor and self._wanted_cursor in self._by_key:
            self.move_to(self._by_key[self._wanted_cursor])
        self._wanted_cursor = None

    def _populate_run(self, node: TreeNode[NodeData]) -> None:
        assert self.view is not None and node.data is not None
        data = node.data
        data.loaded = True
        run = data.run
        ents = self.view.side(self.side).by_run.get(run, [])
        data.entities = ents
        by_vs: dict[float, list[Entity]] = {}
        groups: dict[str, list[Entity]] = {g: [] for g, _, _ in GROUPS}
        metas: list[Entity] = []
        for ent in ents:
            k = ent.ref.kind
            if k in VS_KINDS:
                by_vs.setdefault(ent.ref.voxel_spacing or 0.0, []).append(ent)
            elif k is Kind.RUN_META:
                metas.append(ent)
            else:
                for key, _, kinds in GROUPS:
                    if k in kinds:
                        groups[key].append(ent)
                        break
        for vs in sorted(by_vs):
            vs_ents = sorted(by_vs[vs], key=lambda e: (e.ref.kind is not Kind.VS_META, e.ref.kind.value,
                                                       e.ref.tomo_type or "", e.ref.feature_type or ""))
            label = f"VoxelSpacing{format_vs(vs)}"
            vd = NodeData("vs", self.side, f"vs:{run}:{format_vs(vs)}", run=run, entities=vs_ents,
                          path=f"ExperimentRuns/{run}/{label}", loaded=True)
            vnode = node.add(self._label(vd), vd)
            self._by_key[vd.key] = vnode
            self._add_entities(vnode, vs_ents)
        for key, _title, _ in GROUPS:
            if not groups[key]:
                continue
            folder = _GROUP_FOLDER[key]
            gd = NodeData("group", self.side, f"group:{run}:{key}", run=run, entities=groups[key],
                          path=f"ExperimentRuns/{run}/{folder}", loaded=True)
            gnode = node.add(self._label(gd), gd)
            self._by_key[gd.key] = gnode
            self._add_entities(gnode, groups[key])
        self._add_entities(node, metas)
        self._add_others(node, run)

    def _add_others(self, parent: TreeNode[NodeData], run: str | None) -> None:
        """A "not copick" folder: what this run (or the project) holds that copick does not
        read, so is never synced; each leaf says why."""
        others = self._others.get(run, [])
        if not others:
            return
        gd = NodeData("group", self.side, f"group:{run or ''}:{OTHER_GROUP}", run=run, others=others,
                      path=f"ExperimentRuns/{run}" if run else None, loaded=True)
        gnode = parent.add(self._label(gd), gd)
        self._by_key[gd.key] = gnode
        for bad in others:
            od = NodeData("other", self.side, f"other:{bad.path}", run=run, path=bad.path, reason=bad.reason)
            self._by_key[od.key] = gnode.add_leaf(self._label(od), od)

    def _add_entities(self, parent: TreeNode[NodeData], ents: list[Entity]) -> None:
        for ent in ents:
            data = NodeData("entity", self.side, f"ent:{ent.path}", run=ent.ref.run, ref=ent.ref)
            leaf = parent.add_leaf(self._label(data), data)
            self._by_key[data.key] = leaf

    @staticmethod
    def _run_of_key(key: str) -> str | None:
        kind, _, rest = key.partition(":")
        if kind in ("ent", "other"):
            return run_of_path(rest)
        return rest.rsplit(":", 1)[0] or None

    # -- labels -----------------------------------------------------------------------------
    def _relabel(self) -> None:
        self.root.set_label(self._project_label())
        for key, node in self._by_key.items():
            if key != "project" and node.data is not None:
                node.set_label(self._label(node.data))

    def _project_label(self) -> Text:
        assert self.view is not None
        side = self.view.side(self.side)
        counts = side.totals
        label = node_label(folder_status(counts), side.catalog.config.label)
        extra = counts_text(counts)  # what changes; the runs below show the whole mix
        if extra:
            label.append("  ")
            label.append(extra)
        return label

    def _label(self, data: NodeData) -> Text:
        label = self._status_label(data)
        return marked_label(label, True) if self.is_marked is not None and self.is_marked(data) else label

    def _status_label(self, data: NodeData) -> Text:
        assert self.view is not None
        side = self.view.side(self.side)
        if data.kind == "entity" and data.ref is not None:
            status = side.status.get(data.ref, "only")
            name = entity_name(data.ref)
            extra: Text | None = None
            if self.side == "source":
                ep = self.view.by_source.get(data.ref)
                if ep is not None and ep.target != data.ref and ep.action.value != "excluded":
                    extra = Text(f"→ {entity_name(ep.target)}", style="italic")
            return node_label(status, name, extra)
        if data.kind == "other":
            return node_label("other", (data.path or "").rsplit("/", 1)[-1])
        if data.kind == "run":
            counts = side.run_counts.get(data.run, Counter())
            # the whole mix (``✓8 -2``), not only the worst entity
            return node_label(folder_status(counts) if counts else "only", data.run or "",
                              counts_text(counts, include_same=True))
        if data.others:
            return node_label("other", f"not copick ({count(len(data.others))})")
        counts = Counter(side.status.get(e.ref, "only") for e in data.entities)
        if data.kind == "vs":
            name = (data.path or "").rsplit("/", 1)[-1]
        elif data.key == "group::density-maps":
            name = "Density maps"
        else:
            name = dict((g, t) for g, t, _ in GROUPS).get(data.key.rsplit(":", 1)[-1], data.key)
        return node_label(folder_status(counts), f"{name} ({count(len(data.entities))})",
                          counts_text(counts, include_same=True))

    # -- events -------------------------------------------------------------------------------
    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        self.ensure_loaded(event.node)
