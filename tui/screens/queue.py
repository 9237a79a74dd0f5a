"""The case queue: clusters by risk, filters, sorting, search."""

from __future__ import annotations

import polars as pl
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from tui.data import QUEUE_LIMIT
from tui.decisions import STATUSES
from tui.widgets.tables import fill_table

COLUMNS = [
    ("cluster_id", "cluster"),
    ("predicted_kind", "kind"),
    ("size", "size"),
    ("risk", "risk"),
    ("status_label", "status"),
    ("top_evidence", "top evidence"),
]
SORTABLE = [c for c, _ in COLUMNS]


class QueueScreen(Screen):
    """First screen: every cluster, riskiest first."""

    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "app.search", "Search", key_display="/"),
        Binding("k", "focus_filter('kind')", "Kind"),
        Binding("s", "focus_filter('status')", "Status"),
        Binding("m", "focus_filter('min-risk')", "Min risk"),
        Binding("o", "sort_next", "Sort"),
        Binding("O", "sort_reverse", "Reverse", show=False),
        Binding("c", "clear_filters", "Clear", show=False),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_col = "risk"
        self.sort_desc = True

    def compose(self) -> ComposeResult:
        data = self.app.data
        yield Header()
        yield Static(id="totals")
        with Horizontal(id="filters"):
            yield Select([(k, k) for k in data.kinds()], prompt="any kind", id="kind", compact=True)
            yield Select([(v, k) for k, v in STATUSES.items()], prompt="any status", id="status", compact=True)
            yield Input(placeholder="min risk 0-1", id="min-risk", type="number", compact=True)
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "case queue"
        self.refresh_queue()
        self.query_one("#queue", DataTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_queue(keep_cursor=True)

    # ------------------------------------------------------------------ content
    def _filters(self) -> tuple[str | None, str | None, float]:
        kind = self.query_one("#kind", Select).value
        status = self.query_one("#status", Select).value
        raw = self.query_one("#min-risk", Input).value.strip()
        try:
            min_risk = float(raw) if raw else 0.0
        except ValueError:
            min_risk = 0.0
        blank = Select.NULL
        return (None if kind is blank else str(kind), None if status is blank else str(status), min_risk)

    def refresh_queue(self, keep_cursor: bool = False) -> None:
        app = self.app
        kind, status, min_risk = self._filters()
        q = app.data.queue(kind=kind, min_risk=min_risk, status=status, statuses=app.store.cluster_statuses())
        q = q.with_columns(pl.col("status").replace_strict(STATUSES, default=pl.col("status")).alias("status_label"))
        q = q.sort([self.sort_col, "cluster_id"], descending=[self.sort_desc, False], nulls_last=True)
        shown = q.head(QUEUE_LIMIT)
        table = self.query_one("#queue", DataTable)
        row = table.cursor_row if keep_cursor else 0
        width = max(24, self.app.size.width - 62)  # the top evidence fills the rest of the line
        fill_table(
            table,
            shown.with_columns(pl.col("top_evidence").str.slice(0, width)),
            [(c, lab + self._arrow(c)) for c, lab in COLUMNS],
            key="cluster_id",
            style=lambda r: "bold" if r["flagged"] else "dim",
        )
        if shown.height:
            table.move_cursor(row=min(row, shown.height - 1))
        data = app.data
        more = f" (first {QUEUE_LIMIT:,})" if q.height > shown.height else ""
        self.query_one("#totals", Static).update(
            f"[b]{data.clusters.height:,}[/] clusters · [b]{int(data.clusters['flagged'].sum()):,}[/] flagged · "
            f"[b]{data.flagged_accounts:,}[/] flagged accounts · [b]{app.store.decided_count():,}[/] decided · "
            f"showing {q.height:,}{more}"
        )

    def _arrow(self, col: str) -> str:
        return (" ▼" if self.sort_desc else " ▲") if col == self.sort_col else ""

    # ------------------------------------------------------------------ events
    @on(Select.Changed)
    def _select_changed(self) -> None:
        self.refresh_queue()

    @on(Input.Changed, "#min-risk")
    def _risk_changed(self) -> None:
        self.refresh_queue()

    @on(Input.Submitted, "#min-risk")
    def _risk_submitted(self) -> None:
        self.action_focus_table()

    @on(DataTable.RowSelected, "#queue")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_cluster(int(event.row_key.value))

    @on(DataTable.HeaderSelected, "#queue")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        col = str(event.column_key.value)
        if col == self.sort_col:
            self.sort_desc = not self.sort_desc
        else:
            self.sort_col, self.sort_desc = col, col in ("risk", "size")
        self.refresh_queue()

    # ------------------------------------------------------------------ actions
    def action_open(self) -> None:
        table = self.query_one("#queue", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self.app.open_cluster(int(key.value))

    def action_focus_filter(self, wid: str) -> None:
        w = self.query_one(f"#{wid}")
        w.focus()
        if isinstance(w, Select):
            w.action_show_overlay()

    def action_focus_table(self) -> None:
        self.query_one("#queue", DataTable).focus()

    def action_sort_next(self) -> None:
        i = SORTABLE.index(self.sort_col) if self.sort_col in SORTABLE else -1
        self.sort_col = SORTABLE[(i + 1) % len(SORTABLE)]
        self.sort_desc = self.sort_col in ("risk", "size")
        self.refresh_queue()
        self.notify(f"sorted by {self.sort_col.replace('_label', '')}", timeout=2)

    def action_sort_reverse(self) -> None:
        self.sort_desc = not self.sort_desc
        self.refresh_queue()

    def action_clear_filters(self) -> None:
        self.query_one("#kind", Select).clear()
        self.query_one("#status", Select).clear()
        self.query_one("#min-risk", Input).value = ""
        self.refresh_queue()
