"""Cluster view: members, evidence, what ties it together, activity charts, linkage structure."""

from __future__ import annotations

import polars as pl
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from tui.decisions import STATUSES
from tui.screens.base import CaseScreen
from tui.widgets.charts import DailyChart, HourChart
from tui.widgets.tables import fill_table

MEMBER_COLUMNS = [
    ("account_id", "account"),
    ("risk", "risk"),
    ("n_requests", "requests"),
    ("spend_usd", "spend"),
    ("email", "email"),
    ("created_at", "created"),
    ("country", "cc"),
    ("plan", "plan"),
]
EVIDENCE_COLUMNS = [
    ("rank", "#"),
    ("signal", "signal"),
    ("value", "value"),
    ("baseline", "baseline"),
    ("contribution", "weight"),
    ("text", "why"),
]
TIE_COLUMNS = [("what", "shared"), ("members", "members"), ("value", "value")]
TABS = ["members", "evidence", "ties", "activity", "graph"]


class ClusterScreen(CaseScreen):
    """One cluster: who is in it and why it is suspicious."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("enter", "open", "Open"),
        Binding("d", "decide", "Decide"),
        Binding("e", "export", "Export pack"),
        Binding("slash", "app.search", "Search", key_display="/"),
        *[Binding(str(i + 1), f"tab('{t}')", t.title(), show=False) for i, t in enumerate(TABS)],
    ]

    def __init__(self, cluster_id: int) -> None:
        super().__init__()
        self.cluster_id = cluster_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary", classes="summary")
        with TabbedContent(id="tabs"):
            with TabPane("1 Members", id="members"):
                yield DataTable(id="members-table", cursor_type="row", zebra_stripes=True)
            with TabPane("2 Evidence", id="evidence"):
                yield DataTable(id="evidence-table", cursor_type="row")
            with TabPane("3 Ties", id="ties"):
                yield DataTable(id="ties-table", cursor_type="row", zebra_stripes=True)
            with TabPane("4 Activity", id="activity"):
                with VerticalScroll(id="charts"):
                    yield HourChart(id="hours-chart", classes="chart")
                    yield DailyChart(id="daily-chart", classes="chart")
                    yield DailyChart(id="signup-chart", classes="chart")
            with TabPane("5 Graph", id="graph"):
                yield Static(id="graph-text")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"cluster {self.cluster_id}"
        self.update_summary()
        ev = self.app.data.evidence(self.cluster_id)
        fill_table(
            self.query_one("#evidence-table", DataTable),
            ev,
            EVIDENCE_COLUMNS,
            style=lambda r: "green" if (r["contribution"] or 0) < 0 else None,
            widths={"text": max(24, self.app.size.width - 58)},
            wrap=True,
        )
        self.query_one("#members-table", DataTable).focus()
        self.load_members()  # first paint; the other tabs load after it

    def on_screen_resume(self) -> None:
        self.update_summary()

    def update_summary(self) -> None:
        data, store = self.app.data, self.app.store
        row = data.cluster_row(self.cluster_id)
        dec = store.get("cluster", self.cluster_id)
        status = STATUSES[dec.status] if dec else "new"
        note = f" · note: {dec.note}" if dec and dec.note else ""
        ev = data.evidence(self.cluster_id)
        top = ev["text"][0] if ev.height else "no evidence recorded"
        flag = "[b red]flagged[/]" if row["flagged"] else "not flagged"
        self.query_one("#summary", Static).update(
            f"[b]cluster {self.cluster_id}[/] · {row['predicted_kind']} · risk [b]{row['risk']:.2f}[/] ({flag}) · "
            f"{row['size']:,} accounts · status [b]{status}[/]{note}\n[i]{top}[/]"
        )

    # ------------------------------------------------------------------ loading
    @work(group="members")
    async def load_members(self) -> None:
        table = self.query_one("#members-table", DataTable)
        await self.load(
            [table],
            lambda: self.app.data.members(self.cluster_id),
            lambda df: fill_table(table, df, MEMBER_COLUMNS, key="account_id"),
            focus=True,
        )
        self.load_ties()
        self.load_activity()
        self.load_graph()

    @work(group="ties")
    async def load_ties(self) -> None:
        table = self.query_one("#ties-table", DataTable)
        await self.load(
            [table],
            lambda: self.app.data.ties(self.cluster_id),
            lambda df: fill_table(table, df.with_columns(pl.col("value").str.slice(0, 90)), TIE_COLUMNS),
        )

    @work(group="activity")
    async def load_activity(self) -> None:
        charts = list(self.query(".chart"))
        data = self.app.data

        def fetch() -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
            return data.activity(self.cluster_id), data.population_hours()

        def show(res: tuple[dict[str, pl.DataFrame], pl.DataFrame]) -> None:
            act, pop = res
            self.query_one("#hours-chart", HourChart).show(act["hours"], pop)
            self.query_one("#daily-chart", DailyChart).show(act["daily"], "requests per day")
            self.query_one("#signup-chart", DailyChart).show(act["signups"], "signups per day")

        await self.load(charts, fetch, show)

    @work(group="graph")
    async def load_graph(self) -> None:
        widget = self.query_one("#graph-text", Static)

        def show(g: dict) -> None:
            hubs = "\n".join(f"  {a}  {d} links" for a, d in g["hubs"]) or "  none"
            reasons = ", ".join(f"{r} {c:,}" for r, c in g["reasons"]) or "none"
            widget.update(
                f"[b]Linkage graph[/] (edges between members)\n"
                f"accounts {g['nodes']:,} · edges {g['edges']:,} · density {g['density']:.2f} · "
                f"components {g['components'] if g['components'] is not None else 'n/a'} · "
                f"without links {g['isolated']:,}\n"
                f"edge reasons: {reasons}\n[b]hubs[/] (most linked members):\n{hubs}"
            )

        await self.load([widget], lambda: self.app.data.graph(self.cluster_id), show)

    # ------------------------------------------------------------------ actions
    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        table = self.query_one(f"#{tab}").query(DataTable)
        if table:
            table.first().focus()

    @on(DataTable.RowSelected, "#members-table")
    def _member_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_account(str(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one("#members-table", DataTable)
        if self.query_one("#tabs", TabbedContent).active == "members" and table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self.app.open_account(str(key.value))

    def action_decide(self) -> None:
        self.app.decide("cluster", self.cluster_id, self.update_summary)

    def action_export(self) -> None:
        self.app.export_pack(self.cluster_id)
