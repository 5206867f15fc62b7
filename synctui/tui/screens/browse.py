"""The first screen: both projects side by side, statuses from the plan, one-key rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, Tree
from textual.widgets.tree import TreeNode

from synctui.format import count, human_bytes
from synctui.project.catalog import Entity
from synctui.project.layout import EntityRef, format_vs
from synctui.sync.plan import EntityPlan
from synctui.sync.rules import RuleSet, filter_reach
from synctui.tui import marks, rule_edits
from synctui.tui.inspection import Shown, inspect_pair, inspect_project
from synctui.tui.marks import MarkRange
from synctui.tui.messages import (
    LocksChanged,
    MarksChanged,
    PlanChanged,
    RulesSaved,
    SyncEnded,
    SyncStarted,
)
from synctui.tui.resolve import request_resolve
from synctui.tui.screens import open_once
from synctui.tui.session import UsesSession
from synctui.tui.status import PlanView, counts_text, plan_line, plan_summary
from synctui.tui.tree_nav import counterpart_keys, search_keys
from synctui.tui.widgets.detail_pane import DetailPane
from synctui.tui.widgets.project_tree import (
    GROUP_KINDS,
    VS_KINDS,
    NodeData,
    ProjectTree,
    entity_name,
)
from synctui.tui.widgets.projects_header import ProjectsHeader
from synctui.tui.widgets.search_box import SearchBox

INSPECT_CACHE = 128


def folder_filter(data: NodeData) -> Callable[[Entity], bool]:
    """Which of a run's entities a run / voxel spacing / group node stands for."""
    if data.kind == "vs":
        vs = data.key.rsplit(":", 1)[-1]
        return lambda e: e.ref.kind in VS_KINDS and format_vs(e.ref.voxel_spacing or 0) == vs
    if data.kind == "group" and data.run is not None:
        kinds = GROUP_KINDS[data.key.rsplit(":", 1)[-1]]
        return lambda e: e.ref.kind in kinds
    return lambda e: True


def rules_brief(rules: RuleSet) -> str:
    n_filters = sum(len(v) for v in rules.include.values()) + sum(len(v) for v in rules.exclude.values())
    n_maps = sum(len(v) for v in rules.maps.values())
    if not (n_filters or n_maps):
        return "no rules"
    return f"{n_filters} filter{'s' if n_filters != 1 else ''}, {n_maps} mapping{'s' if n_maps != 1 else ''}"


class BrowseScreen(MarkRange, UsesSession, Screen[None]):
    """Source | target trees, a detail pane, the plan in one line."""

    BINDINGS = [
        Binding("x", "exclude", "Exclude", id="browse.exclude",
                tooltip="Exclude the highlighted item from the sync (again: include it back)"),
        Binding("X", "exclude_scope", "Exclude…", id="browse.exclude_scope", key_display="X", show=False,
                tooltip="Exclude its whole run, object, user, session or kind"),
        Binding("i", "include_only", "Only…", id="browse.include_only", show=False,
                tooltip="Sync only its run, object, user, session or kind"),
        Binding("m", "map_name", "Map", id="browse.map",
                tooltip="Give its run, object, user ... another name in the target"),
        Binding("p", "preview", "Preview", id="browse.preview",
                tooltip="The dry run: every action, its size and why"),
        Binding("r", "rules", "Rules", id="browse.rules",
                tooltip="Edit filters and mappings, save or load a rules file"),
        Binding("s", "sync", "Sync", id="browse.sync",
                tooltip="Run the plan as previewed (asks first)"),
        Binding("R", "rescan", "Rescan", id="browse.rescan", key_display="R", show=False,
                tooltip="Scan both projects again and re-plan"),
        Binding("h", "history", "History", id="browse.history",
                tooltip="Past syncs of this source and target"),
        Binding("space", "mark", "Mark", id="browse.mark", priority=True, show=False,
                tooltip="Mark or unmark the highlighted entity, or every entity of a run or folder"),
        Binding("shift+down", "mark_down", "Mark ↓", id="browse.mark_down", key_display="shift+↓",
                show=False, priority=True, tooltip="Mark the highlighted row and move down (a range)"),
        Binding("shift+up", "mark_up", "Mark ↑", id="browse.mark_up", key_display="shift+↑",
                show=False, priority=True, tooltip="Mark the highlighted row and move up (a range)"),
        Binding("U", "unmark_all", "Unmark all", id="browse.unmark", key_display="U", show=False,
                tooltip="Forget every mark"),
        Binding("c", "resolve", "Resolve", id="browse.resolve", show=False,
                tooltip="Decide the marked conflicts at once (or the highlighted one)"),
        Binding("w", "watch", "Watch", id="browse.watch", show=False,
                tooltip="Watch on/off: re-check the source every few seconds and sync what changed"),
        Binding("slash", "search", "Search", id="browse.search", key_display="/", show=False,
                tooltip="Find a run or entity by name in the focused tree (n: next match)"),
        Binding("n", "search_next", "Next match", id="browse.search_next", show=False,
                tooltip="The next run or entity matching the last search"),
    ]

    #: what changes the plan or the rules: nothing to offer while a sync runs
    _EDITS = frozenset({"exclude", "exclude_scope", "include_only", "map_name", "resolve"})
    #: keys that act on the focused tree, else they go to the focused widget (a search box)
    _ON_TREE = frozenset({"mark", "mark_down", "mark_up"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self._EDITS and self.session.sync_running:
            return False
        if action in self._ON_TREE and not isinstance(self.focused, ProjectTree):
            return False
        return True

    def __init__(self) -> None:
        super().__init__()
        self._highlight: NodeData | None = None
        self._token = 0
        self._cache: dict[tuple, tuple[Shown | None, Shown | None]] = {}
        #: the tree a search runs in, and the last query
        self._search_tree: ProjectTree | None = None
        #: the tree whose cursor the other one follows
        self._lead: ProjectTree | None = None
        self._query = ""

    def compose(self) -> ComposeResult:
        yield ProjectsHeader(id="header")
        with Horizontal(id="trees"):
            yield ProjectTree("source", id="source-tree")
            yield ProjectTree("target", id="target-tree")
        yield DetailPane(id="detail")
        yield SearchBox(placeholder="find a run or entity (enter: keep, esc: close, n: next)",
                        id="browse-search")
        yield Static(id="plan-bar", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#source-tree", ProjectTree).border_title = "source"
        self.query_one("#target-tree", ProjectTree).border_title = "target"
        detail = self.query_one("#detail", DetailPane)
        detail.border_title = "details"
        detail.border_subtitle = "tab: focus, ↑↓ scroll"
        self.query_one("#browse-search", Input).display = False
        self.query_one("#source-tree", ProjectTree).focus()
        for tree in self.query(ProjectTree):
            tree.is_marked = self._is_marked
        self.refresh_header()
        self._show_plan_bar()
        if self.session.view is not None:
            self.show_plan(True)

    # -- what the session says ----------------------------------------------------------------
    @on(PlanChanged)
    def _plan_changed(self, message: PlanChanged) -> None:
        if message.ready:
            self.show_plan(message.rescanned)
        else:
            self.refresh_header()
            self._show_plan_bar()

    @on(LocksChanged)
    def _locks_changed(self) -> None:
        self.refresh_header()

    @on(SyncStarted)
    @on(SyncEnded)
    def _sync_changed(self) -> None:
        self._show_plan_bar()
        self.refresh_bindings()  # x, m, c ... apply again (or no longer)

    @on(RulesSaved)
    def _rules_saved(self) -> None:
        self._show_plan_bar()
        self.refresh_header()

    @on(MarksChanged)
    def _marks_changed(self) -> None:
        self._show_plan_bar()
        for tree in self.query(ProjectTree):
            tree.refresh_marks()

    # -- drawing ----------------------------------------------------------------------------
    def show_plan(self, rescanned: bool) -> None:
        view = self.session.view
        if view is None:
            return
        if rescanned:
            self._cache.clear()
        for tree in self.query(ProjectTree):
            tree.show_view(view, rebuild=rescanned)
        self.refresh_header()
        self._show_plan_bar()
        self._show_detail()

    def refresh_header(self) -> None:
        self.query_one(ProjectsHeader).show(self.session.sides, rules_unsaved=self.session.rules_unsaved)

    def _show_plan_bar(self) -> None:
        session = self.session
        bar = self.query_one("#plan-bar", Static)
        if session.sync_running:
            text = Text("a sync is running: s shows it", style="bold yellow")
        elif session.planning:
            text = Text("planning…", style="yellow")
        elif session.plan_error:
            text = Text(f"plan failed: {session.plan_error}", style="bold red")
        elif session.plan is not None:
            view = session.view
            # made in the planning thread with the view; the UI thread only copies it
            text = view.summary.copy() if view is not None and view.plan is session.plan \
                else plan_summary(session.plan)
        else:
            text = Text("")
        text.append(f"  ·  {rules_brief(session.rules)}", style="dim")
        if session.rules_unsaved:
            text.append(" ● unsaved", style="bold yellow")
        if session.marks:
            text.append(f"  ·  {len(session.marks)} marked (c decides their conflicts)", style="bold")
        bar.update(text)

    def _leads(self, tree: object) -> bool:
        """The tree the user moves in: the focused one, or the one being searched."""
        searching = self._search_tree is tree and self.query_one("#browse-search", Input).display
        return isinstance(tree, ProjectTree) and (tree.has_focus or searching)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        leads = self._leads(event.control)
        if leads or self._highlight is None:
            self._highlight = event.node.data
            self._show_detail()
        if leads and isinstance(event.control, ProjectTree):
            self._follow(event.control, event.node)

    # -- the two sides move together ---------------------------------------------------------
    def _other_tree(self, tree: ProjectTree) -> ProjectTree:
        other = "target" if tree.side == "source" else "source"
        return self.query_one(f"#{other}-tree", ProjectTree)

    def _follow(self, tree: ProjectTree, node: TreeNode[NodeData]) -> None:
        """Put the other tree's cursor on the counterpart (through the mappings), on the same
        screen row; where there is none, on its nearest folder, and say so in its border."""
        view = self.session.view
        if view is None or node.data is None:
            return
        other = self._other_tree(tree)
        own, *fallbacks = counterpart_keys(view, self.session.job.rules, node)
        exact = own is not None and other.focus_key(own)
        if not exact:
            for key in fallbacks:
                if key is not None and other.focus_key(key):
                    break
        data = node.data
        if data.kind == "entity" and data.ref is not None:
            name = entity_name(data.ref)
        else:
            name = data.run if data.kind == "run" else (data.path or data.key).rsplit("/", 1)[-1]
        other.border_subtitle = "" if exact or data.kind == "project" else f"not in the {other.side}: {name}"
        self._lead = tree
        self.call_after_refresh(self._align, tree, other)

    def on_descendant_blur(self) -> None:
        # the details grow when focused and shrink back: keep both cursors in sight, aligned
        self.call_after_refresh(self._realign)

    def _realign(self) -> None:
        lead = self._lead
        if lead is None or not lead.is_attached or lead.cursor_node is None:
            return
        lead.scroll_to_node(lead.cursor_node, animate=False)
        self.call_after_refresh(self._align, lead, self._other_tree(lead))

    @staticmethod
    def _align(tree: ProjectTree, other: ProjectTree) -> None:
        row = tree.cursor_line - round(tree.scroll_offset.y)
        other.scroll_to(y=max(0, other.cursor_line - row), animate=False, immediate=True)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        self._mirror(event.control, event.node, expand=True)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[NodeData]) -> None:
        self._mirror(event.control, event.node, expand=False)

    def _mirror(self, tree: object, node: TreeNode[NodeData], *, expand: bool) -> None:
        """Opening or closing a folder in the focused tree does the same to its counterpart."""
        view = self.session.view
        if view is None or not isinstance(tree, ProjectTree) or not self._leads(tree):
            return
        other = self._other_tree(tree)
        own = counterpart_keys(view, self.session.job.rules, node)[0]
        if own is None:
            return
        target = other.node_for(own)
        if target is None and own != "project" and other.focus_key(own):
            target = other.node_for(own)  # its run was not loaded yet
        if target is None or not target.allow_expand:
            return
        if expand:
            other.ensure_loaded(target)
            target.expand()
        else:
            target.collapse()
        self.call_after_refresh(self._align, tree, other)

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        """Enter on an entity opens its full compare (folders just open and close)."""
        data = event.node.data
        if data is None or data.kind != "entity" or data.ref is None or not event.control.has_focus:
            return
        view = self.session.view
        if view is None:
            return
        from synctui.tui.screens.compare import CompareScreen

        ep = view.entity_plan(data.side, data.ref)
        self.app.push_screen(CompareScreen(view, ep, target=data.ref if data.side == "target" else None))

    # -- search ---------------------------------------------------------------------------------
    def action_search(self) -> None:
        tree = self.focused if isinstance(self.focused, ProjectTree) else \
            self.query_one("#source-tree", ProjectTree)
        self._search_tree = tree
        box = self.query_one("#browse-search", Input)
        box.display = True
        box.value = self._query
        box.focus()

    def _find(self, query: str, *, after_cursor: bool) -> bool:
        tree = self._search_tree
        query = query.strip().lower()
        if tree is None or not query:
            return False
        view = self.session.view
        cands = search_keys(view.side(tree.side)) if view is not None else []
        here = tree.cursor_node.data.key if tree.cursor_node is not None and tree.cursor_node.data else ""
        start = next((i for i, (k, _) in enumerate(cands) if k == here), -1)
        first = start + 1 if after_cursor else max(0, start)
        order = cands[first:] + cands[:first]
        for key, text in order:
            if query in text.lower() and tree.focus_key(key):
                return True
        return False

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "browse-search" and event.value.strip():
            found = self._find(event.value, after_cursor=False)
            event.input.set_class(not found, "-invalid")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "browse-search":
            event.stop()
            self._query = event.value
            self._close_search()

    @on(SearchBox.Closed)
    def _close_search(self) -> None:
        box = self.query_one("#browse-search", Input)
        if not box.display:
            return
        self._query = box.value or self._query
        box.display = False
        tree = self._search_tree or self.query_one("#source-tree", ProjectTree)
        tree.focus()

    def action_search_next(self) -> None:
        if not self._query:
            self.notify("Search first with /.", severity="warning")
            return
        if self._search_tree is None or not self._search_tree.has_focus:
            self._search_tree = self.focused if isinstance(self.focused, ProjectTree) else \
                self.query_one("#source-tree", ProjectTree)
        if not self._find(self._query, after_cursor=True):
            self.notify(f"No run or entity matches {self._query!r}.", severity="warning")

    def on_descendant_focus(self, event: object) -> None:
        tree = self.focused
        if isinstance(tree, ProjectTree) and tree.cursor_node is not None:
            self._highlight = tree.cursor_node.data
            self._show_detail()

    def _show_detail(self) -> None:
        view = self.session.view
        data = self._highlight
        pane = self.query_one("#detail", DetailPane)
        if view is None or data is None:
            return
        self._token += 1
        if data.kind == "entity" and data.ref is not None:
            ep = view.entity_plan(data.side, data.ref)
            other = view.counterpart(data.side, data.ref)
            pair = (data.ref, other) if data.side == "source" else (other, data.ref)
            line = plan_line(ep, side=data.side)
            key = pair
            if key in self._cache:
                pane.show(line, *self._cache[key])
                return
            pane.show_inspecting(line)
            self._inspect(view, pair[0], pair[1], key, line, self._token)
        elif data.kind == "other" or data.others:
            pane.show(*self._other_detail(data), source_empty="", target_empty="")
        elif data.kind == "project":
            line = Text("projects  ", style="bold")
            line.append(counts_text(view.source.totals, include_same=True))
            pane.show_inspecting(line)
            self._inspect_projects(view, line, self._token)
        else:
            line, left, right = self._folder_detail(view, data)
            pane.show(line, left, right, source_empty="no such folder in the source",
                      target_empty="no such folder in the target")

    @staticmethod
    def _other_detail(data: NodeData) -> tuple[Text, Shown | None, Shown | None]:
        """Paths copick does not read: what they are and why they are never synced."""
        line = Text("not copick  ", style="bold")
        line.append("copick does not read these, so synctui never syncs them", style="dim")
        if data.kind == "other":
            shown = Shown(data.path or "", [("why", data.reason or "-")])
        else:
            shown = Shown(f"{count(len(data.others))} path{'s' if len(data.others) != 1 else ''}",
                          [(u.path.rsplit("/", 1)[-1], u.reason) for u in data.others])
        return (line, shown, None) if data.side == "source" else (line, None, shown)

    def _folder_detail(self, view: PlanView, data: NodeData) -> tuple[Text, Shown | None, Shown | None]:
        """Runs and folders: counts and sizes per side, no I/O."""
        rules = self.session.job.rules
        if data.side == "source":
            src_run = data.run
            tgt_run = rules.map_name("runs", data.run) if data.run else None
        else:
            tgt_run = data.run
            src_run = rules.inverse().map_name("runs", data.run) if data.run else None
        wanted = folder_filter(data)
        out: list[Shown | None] = []
        for side, run in (("source", src_run), ("target", tgt_run)):
            index = view.side(side)
            if data.kind == "run" and run not in index.runs:
                out.append(None)
                continue
            ents = [e for e in index.by_run.get(run, []) if wanted(e)]
            if data.kind != "run" and not ents:
                out.append(None)
                continue
            counts = Counter(index.status.get(e.ref, "only") for e in ents)
            kinds = Counter(e.ref.kind.label for e in ents)
            files = sum(len(e.files) for e in ents)
            fields = [("entities", f"{count(len(ents))} ({human_bytes(sum(e.size for e in ents))}"
                                   f" in {count(files)} file{'s' if files != 1 else ''})"),
                      ("status", counts_text(counts, include_same=True).plain or "-")]
            fields += [(k, count(n)) for k, n in sorted(kinds.items())]
            title = f"run {run}" if data.kind == "run" else (data.path or "").rsplit("/", 1)[-1].lstrip("*")
            out.append(Shown(title, fields))
        line = Text(f"{'voxel spacing' if data.kind == 'vs' else data.kind} ", style="bold")
        line.append(f"{data.run}" if data.kind == "run" else (data.path or ""))
        if data.run and src_run != tgt_run:
            line.append(f"  (run {src_run} → {tgt_run})", style="italic")
        return line, out[0], out[1]

    # every @work here names itself: Textual's default description is the repr of the
    # arguments, and the repr of a 100k-file view froze the app for seconds
    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False, description="inspect")
    def _inspect(self, view: PlanView, source: EntityRef | None, target: EntityRef | None,
                 key: tuple, line: Text, token: int) -> None:
        pair = inspect_pair(view, source, target)
        self.app.call_from_thread(self._inspected, key, pair, line, token)

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False,
          description="inspect projects")
    def _inspect_projects(self, view: PlanView, line: Text, token: int) -> None:
        pair = (inspect_project(view.source.catalog), inspect_project(view.target.catalog))
        self.app.call_from_thread(self._inspected, None, pair, line, token)

    def _inspected(self, key: tuple | None, pair: tuple[Shown | None, Shown | None], line: Text,
                   token: int) -> None:
        if key is not None:
            if len(self._cache) >= INSPECT_CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = pair
        if token == self._token and self.is_attached:
            self.query_one("#detail", DetailPane).show(line, *pair)

    # -- what the keys act on ----------------------------------------------------------------
    def _subject(self) -> tuple[EntityRef | None, str | None, str | None] | None:
        """(source entity, source run, source folder path) of the highlighted node."""
        view = self.session.view
        tree = self.focused if isinstance(self.focused, ProjectTree) else None
        node = tree.cursor_node if tree is not None else None
        data = node.data if node is not None else None
        if view is None or data is None:
            self.notify("Nothing highlighted (or the plan is not ready).", severity="warning")
            return None
        if data.kind == "project":
            self.notify("Pick a run, a folder or an entity first.", severity="warning")
            return None
        if data.kind == "other" or data.others:
            self.notify("copick does not read this, so it is never synced: no rule applies.",
                        severity="warning")
            return None
        if data.kind == "entity" and data.ref is not None:
            if data.side == "source":
                return data.ref, data.ref.run, None
            ep = view.by_target.get(data.ref)
            if ep is None or ep.source is None:
                self.notify("Only in the target: rules choose among the source's entities.",
                            severity="warning")
                return None
            return ep.source, ep.source.run, None
        run = data.run
        path = data.path
        if data.side == "target" and run is not None:
            src_run = self.session.job.rules.inverse().map_name("runs", run)
            if path is not None:
                path = path.replace(f"ExperimentRuns/{run}", f"ExperimentRuns/{src_run}", 1)
            run = src_run
        return None, run, path

    # -- actions -----------------------------------------------------------------------------
    def action_exclude(self) -> None:
        """Exclude the item; on an excluded one, lift the rules that keep it out (named)."""
        subject = self._subject()
        if subject is None:
            return
        ref, run, path = subject
        target = ref.path if ref is not None else path
        if target is None:
            return
        lifted = rule_edits.lift_exclusion(self.session.rules, ref, run=run if ref is None else None,
                                           path=path)
        if lifted is not None:
            self.session.apply_rules(*lifted)
            return
        rules, message = rule_edits.toggle_exclude_path(self.session.rules, target)
        self.session.apply_rules(rules, message)

    def _scope_filter(self, side: str) -> None:
        subject = self._subject()
        if subject is None:
            return
        ref, run, path = subject
        scopes = rule_edits.scopes_for(ref, run=run, path=path)
        from synctui.tui.screens.scope import ScopeScreen

        title = ("Exclude everything with this run, object, user, session or kind:" if side == "exclude"
                 else "Sync only what has this run, object, user, session or kind:")

        def chosen(scope: rule_edits.Scope | None) -> None:
            if scope is not None:
                rules, message = rule_edits.add_filter(self.session.rules, side, scope)
                self.session.apply_rules(rules, message)

        notes = {sc.dim: note for sc in scopes if (note := filter_reach(sc.dim))} if side == "include" else None
        self.app.push_screen(ScopeScreen(title, scopes, notes), chosen)

    def action_exclude_scope(self) -> None:
        self._scope_filter("exclude")

    def action_include_only(self) -> None:
        self._scope_filter("include")

    def action_map_name(self) -> None:
        subject = self._subject()
        if subject is None:
            return
        ref, run, _ = subject
        choices = rule_edits.map_choices(ref, run)
        if not choices:
            self.notify("Nothing here has a name to map.", severity="warning")
            return
        view = self.session.view
        assert view is not None
        from synctui.tui.screens.map_name import MapNameScreen, MapResult

        def mapped(result: MapResult | None) -> None:
            if result is not None:
                rules, message = rule_edits.set_mapping(self.session.rules, *result)
                self.session.apply_rules(rules, message)

        self.app.push_screen(MapNameScreen(self.session.rules, choices=choices,
                                           source_names=view.source_names,
                                           target_names=view.target_names,
                                           source_refs=view.source.catalog.entities,
                                           target_refs=view.target.catalog.entities), mapped)

    def action_preview(self) -> None:
        from synctui.tui.screens.preview import PreviewScreen

        self.app.push_screen(PreviewScreen())

    def action_rules(self) -> None:
        from synctui.tui.screens.rules import RulesScreen

        self.app.push_screen(RulesScreen())

    def action_sync(self) -> None:
        from synctui.tui.screens.run import request_sync

        request_sync(self)

    def action_rescan(self) -> None:
        self.session.replan(rescan=True)

    def action_history(self) -> None:
        open_once(self.app, "history")

    # -- marks, decisions, watch ----------------------------------------------------------------
    def _node_plans(self) -> list[EntityPlan]:
        tree = self.focused if isinstance(self.focused, ProjectTree) else None
        node = tree.cursor_node if tree is not None else None
        view = self.session.view
        if node is None or node.data is None or view is None:
            return []
        return marks.plans_of(view, node.data, folder_filter(node.data))

    def _is_marked(self, data: NodeData) -> bool:
        session, view = self.session, self.session.view
        if not session.marks or view is None or data.kind != "entity" or data.ref is None:
            return False
        ep = view.entity_plan(data.side, data.ref)
        return ep is not None and ep.target_path in session.marks

    def action_mark(self) -> None:
        eps = self._node_plans()
        if not eps:
            self.notify("Nothing here to mark (only the target has it, or the plan is not ready).",
                        severity="warning")
            return
        self.session.toggle_marks(eps)

    def _mark_and_move(self, step: int) -> None:
        eps = self._node_plans()
        if eps:
            self.session.set_marks(eps, True)
        tree = self.focused
        if isinstance(tree, ProjectTree):
            tree.action_cursor_down() if step > 0 else tree.action_cursor_up()

    def action_resolve(self) -> None:
        eps = self._node_plans()
        tree = self.focused if isinstance(self.focused, ProjectTree) else None
        node = tree.cursor_node if tree is not None else None
        current = eps[0] if len(eps) == 1 and node is not None and node.data is not None \
            and node.data.kind == "entity" else None
        request_resolve(self, current)

    def action_watch(self) -> None:
        on = self.session.toggle_watch()
        self.notify(f"Watch {'on' if on else 'off'}: the source is checked every "
                    f"{self.session.watch.interval:g} s" if on else "Watch off.", timeout=3)
