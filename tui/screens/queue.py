"""The case queue: detection's cases (cases.parquet) in rank order, flagged only by default; `a` adds every
cluster outside a case. Filters, sorting, search."""

from __future__ import annotations

import polars as pl
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Select, Static

from tui.data import Target, kind_short
from tui.decisions import STATUSES
from tui.safe import markup
from tui.widgets.footer import KeyFooter
from tui.widgets.tables import fill_table

#: (column, header, width): the reason takes what is left of the line.
COLUMNS = [
    ("case", "case", 9),
    ("kind_short", "kind", 8),
    ("risk", "risk", 6),
    ("size", "size", 7),
    ("status_label", "status", 15),
    ("reason", "top reason", 0),
]
#: Abbreviations that keep the top reason readable in a narrow column (the case screen shows it whole).
_SHORTER = [("median ", ""), ("(population ", "(pop. "), ("of requests", "of reqs"), (" with another member", ""),
            ("of members", "of mbrs"), ("payments", "paymts")]  # fmt: skip


def shorten_reason(text: str | None) -> str:
    """The top reason abbreviated for the queue."""
    out = text or ""
    for a, b in _SHORTER:
        out = out.replace(a, b)
    return out


SORTABLE = ["rank", "kind_short", "risk", "size", "status_label"]
QUEUE_LIMIT = 2_000
#: Seconds after the queue's first paint before the background load starts (the paint keeps the CPU).
WARM_DELAY = 1.0


class QueueScreen(Screen):
    """First screen: the case queue, riskiest first (the order of `farmhunt eval`'s case list)."""

    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "app.search", "Search", key_display="/"),
        Binding("a", "toggle_all", "All clusters"),
        Binding("k", "focus_filter('kind')", "Kind", show=False),
        Binding("s", "focus_filter('status')", "Status", show=False),
        Binding("m", "focus_filter('min-risk')", "Min risk", show=False),
        Binding("o", "sort_next", "Sort", show=False),
        Binding("O", "sort_reverse", "Reverse", show=False),
        Binding("c", "clear_filters", "Clear", show=False),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_col = "rank"
        self.sort_desc = False
        self.show_all = False

    def compose(self) -> ComposeResult:
        data = self.app.data
        yield Header()
        yield Static(id="totals")
        with Horizontal(id="filters"):
            yield Select([(k.replace("_", " "), k) for k in data.kinds()], prompt="any kind", id="kind", compact=True)
            yield Select([(v, k) for k, v in STATUSES.items()], prompt="any status", id="status", compact=True)
            yield Input(placeholder="min risk 0-1", id="min-risk", type="number", compact=True)
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "case queue"
        self.refresh_queue()
        self.query_one("#queue", DataTable).focus()
        # The world tables and the request index load in the background once the queue is on screen.
        self.call_after_refresh(lambda: self.set_timer(WARM_DELAY, self.app.start_warm))

    def on_screen_resume(self) -> None:
        self.refresh_queue(keep_cursor=True)

    def on_resize(self) -> None:
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

    def queue_frame(self) -> pl.DataFrame:
        """The rows the table shows, in order (before the display limit)."""
        app = self.app
        store = app.store
        kind, status, min_risk = self._filters()
        q = app.data.queue(
            show_all=self.show_all,
            kind=kind,
            min_risk=min_risk,
            status=status,
            case_statuses=store.statuses("case"),
            cluster_statuses=store.cluster_statuses(),
            account_statuses=store.statuses("account"),
        )
        q = q.with_columns(
            pl.coalesce(
                pl.col("case_id"), pl.format("#{}", pl.col("cluster_id").cast(pl.String).str.slice(0, 8))
            ).alias("case"),
            pl.col("kind").map_elements(kind_short, return_dtype=pl.String).alias("kind_short"),
            pl.col("status").replace_strict(STATUSES, default=pl.col("status")).alias("status_label"),
        )
        if self.sort_col != "rank":
            q = q.sort([self.sort_col, "risk"], descending=[self.sort_desc, True], nulls_last=True, maintain_order=True)
        elif self.sort_desc:
            q = q.reverse()
        return q

    def refresh_queue(self, keep_cursor: bool = False) -> None:
        q = self.queue_frame()
        shown = q.head(QUEUE_LIMIT)
        table = self.query_one("#queue", DataTable)
        row = table.cursor_row if keep_cursor else 0
        widths = self._widths(shown)
        fixed = sum(w + 2 for c, w in widths.items() if c != "reason")  # one column of padding either side
        reason_w = max(16, self.app.size.width - fixed - 4)
        widths["reason"] = reason_w
        fill_table(
            table,
            shown.with_columns(pl.col("reason").map_elements(shorten_reason, return_dtype=pl.String)),
            [(c, lab + self._arrow(c)) for c, lab, _ in COLUMNS],
            key="key",
            style=lambda r: "" if r["case_id"] is not None else "dim",
            widths=widths,
            limits={"reason": reason_w, "status_label": 15, "case": 9},
            first=row + 1,
        )
        if shown.height:
            table.move_cursor(row=min(row, shown.height - 1))
        data = self.app.data
        more = f" (first {QUEUE_LIMIT:,})" if q.height > shown.height else ""
        view = "rows: cases, then every cluster outside one" if self.show_all else "flagged cases"
        self.query_one("#totals", Static).update(
            markup(
                "[b]$cases[/] cases · [b]$flagged[/] flagged accounts · [b]$decided[/] decided · "
                "showing $shown $view$more",
                cases=f"{data.cases.height:,}",
                flagged=f"{data.flagged_accounts:,}",
                decided=f"{self.app.store.decided_count():,}",
                view=view,
                shown=f"{q.height:,}",
                more=more,
            )
        )

    def _widths(self, shown: pl.DataFrame) -> dict[str, int]:
        """Each column as wide as its longest cell (and header, arrow included), at most its maximum."""
        out = {}
        for col, label, most in COLUMNS:
            if not most:
                continue
            head = len(label + self._arrow(col))
            cells = [len(str(v)) for v in shown[col].head(500).to_list()] if col in shown.columns else [most]
            if col == "size":
                cells = [len(f"{int(shown['size'].max() or 0):,}")]
            elif col == "risk":
                cells = [4]
            longest = max([head, *cells])
            out[col] = min(most, longest)
        return out

    def _arrow(self, col: str) -> str:
        if col == "case" and self.sort_col == "rank":
            return " ▲" if not self.sort_desc else " ▼"
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
        self._open_key(str(event.row_key.value))

    @on(DataTable.HeaderSelected, "#queue")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        col = str(event.column_key.value)
        col = "rank" if col in ("case", "reason") else col
        if col == self.sort_col:
            self.sort_desc = not self.sort_desc
        else:
            self.sort_col, self.sort_desc = col, col in ("risk", "size")
        self.refresh_queue()

    # ------------------------------------------------------------------ actions
    def _open_key(self, key: str) -> None:
        kind, _, ident = key.partition(":")
        self.app.navigate(Target(kind, int(ident) if kind == "cluster" else ident))

    def action_open(self) -> None:
        table = self.query_one("#queue", DataTable)
        if table.row_count:
            self._open_key(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.refresh_queue()
        self.notify("showing every cluster too" if self.show_all else "showing flagged cases only", timeout=2)

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
        label = {"rank": "rank", "kind_short": "kind", "status_label": "status"}.get(self.sort_col, self.sort_col)
        self.notify(f"sorted by {label}", timeout=2)

    def action_sort_reverse(self) -> None:
        self.sort_desc = not self.sort_desc
        self.refresh_queue()

    def action_clear_filters(self) -> None:
        self.query_one("#kind", Select).clear()
        self.query_one("#status", Select).clear()
        self.query_one("#min-risk", Input).value = ""
        self.refresh_queue()
