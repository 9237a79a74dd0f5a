"""A case or a cluster: its members (with inherited statuses), why it is suspicious, what ties it together
(ties.parquet: Enter pivots on a value), its clusters, activity charts and linkage structure.

Size (~420 lines): one screen (a case or a cluster) of six tabs, each a loader and its Enter handler, plus
bulk decisions; the queries are in `tui.data.group` and `tui.data.charts`."""

from __future__ import annotations

import asyncio

import polars as pl
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from tui.data import MEMBER_LIMIT, Target, words
from tui.decisions import STATUSES
from tui.safe import markup
from tui.screens.base import CaseScreen
from tui.widgets.charts import DailyChart, HourChart
from tui.widgets.footer import KeyFooter
from tui.widgets.tables import fill_table, fmt

#: Who, how risky, (which cluster,) decided how, and the email first: at 80 columns they fit, the
#: volume columns after them scroll into view.
MEMBER_COLUMNS = [
    ("sel", "✓"),
    ("account_id", "account"),
    ("risk", "risk"),
    ("status_label", "status"),
    ("email", "email"),
    ("n_requests", "requests"),
    ("spend_usd", "spend"),
    ("country", "cc"),
]
#: The email column's width at most, and at least (however narrow the screen).
EMAIL_MAX, EMAIL_MIN = 32, 12
EVIDENCE_COLUMNS = [("rank", "#"), ("text", "why"), ("value", "value"), ("baseline", "typical")]
TIE_COLUMNS = [("what", "shared"), ("members", "members"), ("in_world", "in world"), ("shown", "value")]
CLUSTER_COLUMNS = [
    ("n", "#"),
    ("cluster_id", "cluster"),
    ("predicted_kind", "kind"),
    ("risk", "risk"),
    ("size", "size"),
    ("density", "density"),
    ("top_evidence", "top evidence"),
]
TABS = ["members", "evidence", "ties", "clusters", "activity", "graph"]
#: A group of more members loads its activity charts and linkage graph only when their tab is opened
#: (a 15,000-account case's edges and request counts are a second or more of CPU that would slow every
#: screen opened meanwhile; during the background load its chart shows the members counted so far).
EAGER_LIMIT = 2_000
#: Seconds between looks whether the background load has counted more of a partial activity's members.
ACTIVITY_POLL = 1.0


class GroupScreen(CaseScreen):
    """One case (target kind "case") or one cluster: who is in it and why it is suspicious."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("enter", "open", "Open", show=False),
        Binding("d", "decide", "Decide all"),
        Binding("space", "select", "Select", show=False),
        Binding("D", "decide_selected", "Decide selected"),
        Binding("e", "export", "Export pack", show=False),
        Binding("slash", "app.search", "Search", key_display="/"),
        *[Binding(str(i + 1), f"tab('{t}')", t.title(), show=False) for i, t in enumerate(TABS)],
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        data = self.app.data
        if target.kind == "case":
            self.case_id: str | None = str(target.id)
            row = data.case_row(self.case_id)
            self.cluster_ids: tuple[int, ...] = tuple(int(c) for c in data.case_clusters(self.case_id)["cluster_id"])
            self.ids = data.case_member_ids(self.case_id)
            self.row = row
        else:
            cid = int(target.id)
            crow = data.cluster_row(cid)
            self.case_id = crow.get("case_id")
            self.cluster_ids = (cid,)
            self.ids = data.member_ids(cid)
            self.row = {
                "kind": crow["predicted_kind"],
                "risk": crow["risk"],
                "size": crow["size"],
                "reason": crow["top_evidence"],
                "n_clusters": 1,
                "flagged": crow["flagged"],
            }
        self.lone = target.kind == "case" and not self.cluster_ids
        #: A case of several clusters (one operator): members and evidence say which cluster (# of the
        #: Clusters tab) each row belongs to.
        self.multi = len(self.cluster_ids) > 1
        self.cluster_no = {cid: i + 1 for i, cid in enumerate(self.cluster_ids)}
        self.selected: set[str] = set()
        self._lazy_started: set[str] = set()

    @property
    def label(self) -> str:
        return f"case {self.case_id}" if self.target.kind == "case" else f"cluster {self.target.id}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary", classes="summary")
        with TabbedContent(id="tabs"):
            with TabPane("1 Members", id="members"):
                yield DataTable(id="members-table", cursor_type="row", zebra_stripes=True)
            with TabPane("2 Evidence", id="evidence"):
                yield DataTable(id="evidence-table", cursor_type="row")
            with TabPane("3 Ties", id="ties"):
                yield Static(id="ties-info", classes="info")
                yield DataTable(id="ties-table", cursor_type="row", zebra_stripes=True)
            with TabPane("4 Clusters", id="clusters"):
                yield DataTable(id="clusters-table", cursor_type="row")
            with TabPane("5 Activity", id="activity"):
                with VerticalScroll(id="charts", can_focus=True):
                    yield Static(id="activity-info", classes="info")
                    yield HourChart(id="hours-chart", classes="chart")
                    yield DailyChart(id="daily-chart", classes="chart")
                    yield DailyChart(id="signup-chart", classes="chart")
            with TabPane("6 Graph", id="graph"):
                with VerticalScroll(id="graph-scroll", can_focus=True):
                    yield Static(id="graph-text")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#activity-info", Static).display = False  # (shown while a chart is partial)
        self.sub_title = self.label
        self.update_summary()  # the header, from the results tables (cases, clusters) read at start
        self.query_one("#members-table", DataTable).focus()
        self.load_members()  # first paint; the other tabs fill after it (a case may have 1,000 clusters)

    def show_clusters(self) -> None:
        order = pl.DataFrame(
            {"cluster_id": list(self.cluster_ids), "n": list(range(1, len(self.cluster_ids) + 1))},
            schema={"cluster_id": pl.Int64, "n": pl.Int64},
        )
        fill_table(
            self.query_one("#clusters-table", DataTable),
            order.join(self.app.data.clusters, on="cluster_id", how="inner", maintain_order="left"),
            CLUSTER_COLUMNS,
            key="cluster_id",
            limits={"top_evidence": max(20, self.app.size.width - 58)},
        )

    def fill_other_tabs(self) -> None:
        """After the members' first paint: the evidence and clusters tables, then the slower tabs in
        workers (ties, activity, graph)."""
        if not self.is_attached:
            return
        self.show_evidence()
        self.show_clusters()
        self.load_ties()
        if len(self.ids) <= EAGER_LIMIT:
            self.load_activity()
            self.load_graph()
        elif (active := self._active()) in ("activity", "graph"):  # opened before the members showed
            self._lazy_started.add(active)
            (self.load_activity if active == "activity" else self.load_graph)()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A large group's activity and graph load when their tab is first opened."""
        if len(self.ids) <= EAGER_LIMIT or not getattr(self, "_loaded", False):
            return
        pane = event.pane.id
        if pane in ("activity", "graph") and pane not in self._lazy_started:
            self._lazy_started.add(pane)
            (self.load_activity if pane == "activity" else self.load_graph)()

    def on_screen_resume(self) -> None:
        if getattr(self, "_loaded", False):  # back from a decision or an account: statuses may have changed
            self.update_summary()
            self.load_members()

    def _own_decision(self):
        store = self.app.store
        if self.target.kind == "case":
            return store.get("case", str(self.case_id))
        return store.get("cluster", int(self.target.id))

    def update_summary(self) -> None:
        row = self.row
        dec = self._own_decision()
        status = STATUSES[dec.status] if dec else STATUSES["new"]
        note = f" · note: {dec.note}" if dec and dec.note else ""
        in_case = f" · in case {self.case_id}" if self.target.kind == "cluster" and self.case_id else ""
        n = len(self.cluster_ids)
        clusters = (
            (f" in {n:,} clusters of one operator (tab 4 lists them; cl# in Members)" if n > 1 else " in one cluster")
            if self.target.kind == "case"
            else in_case
        )
        if self.lone:
            clusters = ""
        if len(self.ids) > MEMBER_LIMIT:
            clusters += f" (Members lists the riskiest {MEMBER_LIMIT:,})"
        flag = "flagged" if row.get("flagged", True) else "not flagged"
        reason = row.get("reason") or "no evidence recorded"
        self.query_one("#summary", Static).update(
            markup(
                "[b]$label[/] · $kind · risk [b]$risk[/] ($flag)"
                "\n$size$clusters · status [b]$status[/]$note\n[i]$reason[/]",
                label=self.label,
                kind=words(row.get("kind")),
                risk=f"{row['risk']:.2f}",
                flag=flag,
                size="one account judged alone"
                if self.lone
                else f"{row['size']:,} account{'s' if row['size'] != 1 else ''}",
                clusters=clusters,
                status=status,
                note=note,
                reason=reason,
            )
        )

    def show_evidence(self) -> None:
        data = self.app.data
        if self.lone:
            ev = data.account_evidence(self.ids[0]) if self.ids else pl.DataFrame()
        else:
            ev = data.evidence_of(self.cluster_ids)
        width = max(30, self.app.size.width - (34 if self.multi else 30))
        cols = EVIDENCE_COLUMNS
        if self.multi and "cluster_id" in ev.columns:
            ev = ev.with_columns(
                pl.col("cluster_id").replace_strict(self.cluster_no, default=None, return_dtype=pl.Int64).alias("cl")
            )
            cols = [("cl", "cl#"), *EVIDENCE_COLUMNS]
        fill_table(
            self.query_one("#evidence-table", DataTable),
            ev,
            cols,
            style=lambda r: "green" if (r.get("contribution") or 0) < 0 else None,
            widths={"text": width},
            wrap=True,
        )

    # ------------------------------------------------------------------ loading
    @work(group="members", exclusive=True, exit_on_error=False)
    async def load_members(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#members-table", DataTable)
        app = self.app
        data, store = app.data, app.store

        def fetch() -> pl.DataFrame:
            df = data.members_of(self.ids)
            df = data.effective_statuses(
                df, store.statuses("account"), store.statuses("case"), store.cluster_statuses()
            )
            return df

        def show(df: pl.DataFrame) -> None:
            row = table.cursor_row
            df = df.with_columns(
                pl.when(pl.col("status_from") != "")
                .then(pl.format("{} ({})", pl.col("status").replace_strict(STATUSES), pl.col("status_from")))
                .otherwise(pl.col("status").replace_strict(STATUSES))
                .alias("status_label"),
                pl.col("account_id").is_in(pl.Series(sorted(self.selected), dtype=pl.String).implode()).alias("sel"),
            ).with_columns(pl.when(pl.col("sel")).then(pl.lit("✓")).otherwise(pl.lit("")).alias("sel"))
            cols = MEMBER_COLUMNS
            if self.multi:
                df = df.with_columns(
                    pl.col("cluster_id")
                    .replace_strict(self.cluster_no, default=None, return_dtype=pl.Int64)
                    .alias("cl")
                )
                cols = [*MEMBER_COLUMNS[:3], ("cl", "cl#"), *MEMBER_COLUMNS[3:]]
            df = df.head(MEMBER_LIMIT)
            limit = self._email_width(df, cols)
            fill_table(table, df, cols, key="account_id", limits={"email": limit}, first=row + 1)
            if df.height:
                table.move_cursor(row=min(row, table.row_count - 1))

        first = not getattr(self, "_loaded", False)
        await self.load([table], fetch, show, focus=first)
        if first:
            self._loaded = True
            self.call_after_refresh(self.fill_other_tabs)  # once the members are painted

    def _email_width(self, df: pl.DataFrame, cols: list[tuple[str, str]]) -> int:
        """The email column's width: what the screen has left after the columns before it (each as wide as
        its widest value or header, plus the cell padding), so that it ends on screen."""
        used = 2  # (the vertical scrollbar)
        for col, label in cols:
            if col == "email":
                break
            widest = len(label)
            if col in df.columns and df.height:  # (as the table writes them: "1,478", "0.97")
                widest = max(widest, *(len(fmt(v, col)) for v in df[col].unique().to_list()))
            used += widest + 2
        return max(EMAIL_MIN, min(EMAIL_MAX, self.app.size.width - used - 2))

    @work(group="ties", exit_on_error=False)
    async def load_ties(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#ties-table", DataTable)
        info = self.query_one("#ties-info", Static)

        def show(df: pl.DataFrame) -> None:
            self.tie_rows = df
            shown = df.with_columns(  # a signup /24 as the network it is
                pl.when(pl.col("signal") == "signup_prefix")
                .then(pl.format("{}.0/24", pl.col("value")))
                .otherwise(pl.col("value"))
                .alias("shown")
            )
            fill_table(table, shown, TIE_COLUMNS, limits={"shown": 60})
            info.update(
                "shared by 2+ members, as detection linked them · Enter: who else has it"
                if df.height
                else "no shared values recorded for these accounts"
            )

        await self.load([table], lambda: self.app.data.ties_of(self.cluster_ids), show)

    @work(group="activity", exit_on_error=False)
    async def load_activity(self) -> None:
        """The charts; during the background load a large group's requests are those of the members the
        request index has counted so far (`CaseData.activity_so_far`), said above the charts, and the
        charts are drawn again as the load counts more of them."""
        if not self.is_attached:
            return
        charts = list(self.query(".chart"))
        data = self.app.data

        def fetch() -> tuple[dict[str, pl.DataFrame], int, pl.DataFrame | None]:
            act, left = data.activity_so_far(self.ids, partial=self.app.warming())
            return act, left, data.population_hours(wait=False)

        def show(res: tuple[dict[str, pl.DataFrame], int, pl.DataFrame | None]) -> None:
            act, left, pop = res
            self.show_activity(act, left, pop)
            if left:  # drawn again as the background load counts more members
                self.follow_activity(left)
            elif pop is None:  # the population's hours are still being counted: add them when ready
                self.add_population(act["hours"])

        await self.load(charts, fetch, show)

    def show_activity(self, act: dict[str, pl.DataFrame], left: int, pop: pl.DataFrame | None) -> None:
        info = self.query_one("#activity-info", Static)
        info.display = bool(left)
        if left:
            n = len(self.ids)
            info.update(
                f"loading: requests of {n - left:,} of {n:,} members counted so far "
                "(the background load is counting the rest; redrawn as it goes on)"
            )
        self.activity_partial = bool(left)
        self.activity_drawn = getattr(self, "activity_drawn", 0) + 1  # (the bench waits for it)
        self.query_one("#hours-chart", HourChart).show(act["hours"], pop, "members")
        self.query_one("#daily-chart", DailyChart).show(act["daily"], "requests per day")
        self.query_one("#signup-chart", DailyChart).show(act["signups"], "signups per day")

    @work(group="population", exclusive=True, exit_on_error=False)
    async def follow_activity(self, left: int) -> None:
        """Redraw a partial activity each time the background load has counted more members, until every
        member is counted (waiting on the event loop, not in a thread)."""
        data = self.app.data
        seen = data.load_progress()
        while self.is_attached:
            await asyncio.sleep(ACTIVITY_POLL)
            if not self.is_attached:
                return
            warming = self.app.warming()
            if warming and (self.app.screen is not self or data.load_progress() == seen):  # (covered, or no news)
                continue
            seen = data.load_progress()
            act, now, pop = await asyncio.to_thread(  # (without a background load: read what is left)
                lambda w=warming: (*data.activity_so_far(self.ids, partial=w), data.population_hours(wait=False))
            )
            if not self.is_attached:
                return
            if now != left or not now:
                self.show_activity(act, now, pop)
                left = now
            if not now:
                if pop is None:
                    self.add_population(act["hours"])
                return

    @work(group="population", exit_on_error=False)
    async def add_population(self, hours: pl.DataFrame) -> None:
        pop = await self.population_hours()
        if self.is_attached and pop is not None:
            self.query_one("#hours-chart", HourChart).show(hours, pop, "members")

    @work(group="graph", exit_on_error=False)
    async def load_graph(self) -> None:
        if not self.is_attached:
            return
        widget = self.query_one("#graph-text", Static)
        data = self.app.data

        def fetch() -> list[tuple[int, dict]]:
            return [(cid, data.graph(cid)) for cid in self.cluster_ids[:20]]

        def show(graphs: list[tuple[int, dict]]) -> None:
            if not graphs:
                widget.update("one account judged alone: no linkage graph")
                return
            parts = []
            for cid, g in graphs:
                hubs = "\n".join(f"  {a}  {d:,} links" for a, d in g["hubs"]) or "  none"
                reasons = ", ".join(f"{r} {c:,}" for r, c in g["reasons"]) or "none"
                hub = f" · hub share {g['hub_share']:.2f}" if g.get("hub_share") is not None else ""
                comps = f"{g['components']:,}" if g["components"] is not None else "n/a"
                parts.append(
                    f"Cluster {cid} (links between members, as detection measured them)\n"
                    f"accounts {g['nodes']:,} · links {g['edges']:,} · density {g['density']:.2f}{hub} · "
                    f"components {comps} · without links {g['isolated']:,}\n"
                    f"links by reason: {reasons}\nhubs (most linked members):\n{hubs}"
                )
            from tui.safe import show as literal

            widget.update(literal("\n\n".join(parts)))

        await self.load([widget], fetch, show)

    # ------------------------------------------------------------------ actions
    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self.focus_tab(tab)

    def _active(self) -> str:
        return str(self.query_one("#tabs", TabbedContent).active)

    @on(DataTable.RowSelected, "#members-table")
    def _member_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_account(str(event.row_key.value))

    @on(DataTable.RowSelected, "#ties-table")
    def _tie_selected(self, event: DataTable.RowSelected) -> None:
        rows = getattr(self, "tie_rows", None)
        if rows is not None and event.cursor_row < rows.height:
            r = rows.row(event.cursor_row, named=True)
            self.app.open_pivot(r["signal"], r["value"])

    @on(DataTable.RowSelected, "#clusters-table")
    def _cluster_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_cluster(int(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one(f"#{self._active()}").query(DataTable)
        if table and table.first().row_count:
            table.first().action_select_cursor()

    def _cursor_account(self) -> str | None:
        table = self.query_one("#members-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_select(self) -> None:
        if self._active() != "members":
            return
        aid = self._cursor_account()
        if aid is None:
            return
        self.selected.symmetric_difference_update({aid})
        table = self.query_one("#members-table", DataTable)
        table.update_cell(aid, "sel", "✓" if aid in self.selected else "")
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def _targets(self) -> list[tuple[str, str | int]]:
        if self.target.kind == "case":
            return [("case", str(self.case_id))]
        return [("cluster", int(self.target.id))]

    def action_decide(self) -> None:
        """Decide the whole case (or cluster): members without their own decision inherit it."""
        self.app.decide(self._targets(), f"Decision on {self.label} ({len(self.ids):,} accounts)", self._decided)

    def action_decide_selected(self) -> None:
        """Decide the selected members (space selects), or the member under the cursor."""
        ids = sorted(self.selected) or ([a] if (a := self._cursor_account()) else [])
        self.app.decide(
            [("account", a) for a in ids], f"Decision on {len(ids):,} member(s) of {self.label}", self._decided
        )

    def _decided(self) -> None:
        self.selected.clear()
        self.update_summary()
        self.load_members()

    def action_export(self) -> None:
        if not self.cluster_ids:
            self.notify("a lone account has no cluster evidence pack", timeout=3)
            return
        cid = self.cluster_ids[0]
        if self.multi and self._active() == "clusters":  # the cluster under the cursor
            table = self.query_one("#clusters-table", DataTable)
            if table.row_count:
                cid = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        elif self.multi:
            self.notify(f"exporting cluster #1 of {len(self.cluster_ids)}: tab 4 picks another", timeout=4)
        self.app.export_pack(cid)


#: The cluster screen of earlier versions.
ClusterScreen = GroupScreen
