"""Pivot: every account of the whole world that shares one value (a card, device, phone, IP, network,
email pattern, key...), each with its case, risk and status. Enter jumps on to the account."""

from __future__ import annotations

import polars as pl
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from tui.data import Target, kind_short, pivot_title
from tui.decisions import STATUSES
from tui.safe import markup, printable
from tui.screens.base import CaseScreen
from tui.widgets.footer import KeyFooter
from tui.widgets.tables import fill_table

#: The value shared (the IP of a network pivot) comes before status and kind: at 80 columns it stays whole.
ACCOUNT_COLUMNS = [
    ("account_id", "account"),
    ("case", "case"),
    ("risk", "risk"),
    ("how", "shares it as"),
    ("status_label", "status"),
    ("kind_short", "kind"),
    ("email", "email"),
]
CLUSTER_COLUMNS = [
    ("cluster_id", "cluster"),
    ("case_id", "case"),
    ("predicted_kind", "kind"),
    ("risk", "risk"),
    ("members", "members sharing"),
    ("size", "size"),
]


class PivotScreen(CaseScreen):
    """Who else uses this value, inside and outside the case."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("slash", "app.search", "Search", key_display="/"),
        Binding("right_square_bracket", "app.forward", "Forward", key_display="]"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.signal = str(target.id)
        self.value = str(target.value)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary", classes="summary")
        yield DataTable(id="pivot-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = printable(f"pivot: {pivot_title(self.signal, self.value)}", limit=60)
        self.query_one("#summary", Static).update(
            markup("[b]$what[/] · looking across the whole world ...", what=pivot_title(self.signal, self.value))
        )
        self.query_one("#pivot-table", DataTable).focus()
        self.load_pivot()

    @work(group="pivot", exclusive=True, exit_on_error=False)
    async def load_pivot(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#pivot-table", DataTable)
        app = self.app
        data, store = app.data, app.store

        def fetch() -> dict:
            p = dict(data.pivot(self.signal, self.value))
            p["accounts"] = data.effective_statuses(
                p["accounts"], store.statuses("account"), store.statuses("case"), store.cluster_statuses()
            )
            return p

        def show(p: dict) -> None:
            self.result = p
            if p["clusters"] is not None:
                fill_table(table, p["clusters"], CLUSTER_COLUMNS, key="cluster_id")
                lead = f"{p['clusters'].height:,} cluster(s)"
            else:
                df = p["accounts"].with_columns(
                    pl.coalesce(pl.col("case_id"), pl.lit("—")).alias("case"),
                    pl.col("status").replace_strict(STATUSES, default=pl.col("status")).alias("status_label"),
                    pl.col("predicted_kind").map_elements(kind_short, return_dtype=pl.String).alias("kind_short"),
                )
                fill_table(table, df, ACCOUNT_COLUMNS, key="account_id", limits={"how": 30, "email": 30})
                in_cases = p.get("in_cases", int(df["case_id"].is_not_null().sum()))
                shown = f" (first {df.height:,} shown)" if p["total"] > df.height else ""
                lead = f"{p['total']:,} account(s){shown}, {in_cases:,} in a flagged case"
            self.query_one("#summary", Static).update(
                markup(
                    "[b]$what[/] · $lead\n$note · Enter opens one",
                    what=p["title"],
                    lead=lead,
                    note=p["note"] or "across the whole world",
                )
            )

        await self.load([table], fetch, show, focus=True)

    @on(DataTable.RowSelected, "#pivot-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value)
        if getattr(self, "result", {}).get("clusters") is not None:
            self.app.open_cluster(int(key))
        else:
            self.app.open_account(key)
