"""Filling DataTables from polars frames with the console's formatting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

import polars as pl
from rich.text import Text
from textual.widgets import DataTable

from tui.safe import printable

#: Rows a table gets at once; a longer one gets the rest in chunks of this many after each refresh.
CHUNK = 200

#: Seconds between looks whether a covered screen's table, filled chunk by chunk, is shown again.
RESUME_POLL = 0.25

Column = tuple[str, str]  # (frame column, header label)


def fmt(value: object, col: str = "") -> str:
    """One value as text: money, risk and shares with 2 decimals, every count with thousands separators
    (ids are not counts), times to the second without microseconds; text with control characters
    escaped (`tui.safe.printable`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if "spend" in col or "usd" in col or "amount" in col:
            return f"${value:,.2f}"
        if value != value:  # NaN
            return ""
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return str(value) if _is_id(col) else f"{value:,}"
    if isinstance(value, list):
        return ", ".join(fmt(v, col) for v in value)
    return printable(value)


def _is_id(col: str) -> bool:
    return col.endswith("id") or "cluster" in col or col in ("asn", "rank", "#", "hour")


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and not dtype == pl.Boolean


def fill_table(
    table: DataTable,
    df: pl.DataFrame,
    columns: Sequence[Column],
    *,
    key: str | None = None,
    style: Callable[[dict], str | None] | None = None,
    widths: dict[str, int] | None = None,
    wrap: bool = False,
    limits: dict[str, int] | None = None,
    first: int | None = None,
) -> None:
    """Replace the table's content with `df` (only `columns`, in order), one row key per `key` value.

    The first CHUNK rows (or `first`, e.g. to reach the cursor) are added at once, the others a chunk
    after each refresh: a 2,000-row table costs the UI thread about a second of cell measuring, and
    its first rows show without waiting for that. Cells are made a chunk at a time too (a case of a
    thousand clusters has ten thousand evidence rows)."""
    table.clear(columns=True)
    widths = widths or {}
    limits = limits or {}
    for col, label in columns:
        table.add_column(label, key=col, width=widths.get(col))
    num = {c for c, _ in columns if c in df.columns and _numeric(df.schema[c]) and not c.endswith("_id")}
    if style is None:  # read only the columns shown (a members frame has twenty)
        df = df.select(list(dict.fromkeys(c for c in [*(c for c, _ in columns), key] if c and c in df.columns)))

    def cells(start: int, n: int) -> tuple[list[list[Text]], list[str]]:
        """The cells and row keys of rows [start, start + n)."""
        rows, keys = [], []
        for i, row in enumerate(df.slice(start, n).iter_rows(named=True), start):
            st = style(row) if style else None
            line = []
            for col, _ in columns:
                text = fmt(row.get(col), col)
                if limits.get(col) and len(text) > limits[col]:
                    text = text[: limits[col] - 1] + "…"
                line.append(Text(text, style=st or "", justify="right" if col in num else "left"))
            rows.append(line)
            keys.append(str(row[key]) if key else str(i))
        return rows, keys

    generation = getattr(table, "_fill_generation", 0) + 1
    table._fill_generation = generation  # type: ignore[attr-defined]
    _add_rows(table, cells, df.height, 0, None if wrap else 1, generation, max(CHUNK, first or 0))


def _on_screen(table: DataTable) -> bool:
    """The table's screen is the one shown and neither the table nor a container of it (an inactive tab's
    pane) is hidden."""
    screen = table.screen
    if screen is not table.app.screen:
        return False
    node = table
    while node is not None and node is not screen:
        if not node.display:
            return False
        node = node.parent
    return True


def _add_rows(
    table: DataTable,
    cells: Callable[[int, int], tuple[list[list[Text]], list[str]]],
    total: int,
    start: int,
    height: int | None,
    generation: int,
    n: int,
) -> None:
    """Add rows [start, start + n) now and the rest CHUNK at a time after each refresh (unless the table
    has been filled again meanwhile). While the table is not on screen (its screen left or covered by
    another, or its tab not the one open), the rest waits: a large case's tables cost the UI thread
    0.1-0.4 s a chunk (wrapped evidence rows are measured), which made the screen opened next, or the
    tab opened meanwhile, wait seconds behind them."""
    if getattr(table, "_fill_generation", None) != generation or not table.is_attached:
        return
    if start and not _on_screen(table):
        table.set_timer(RESUME_POLL, lambda: _add_rows(table, cells, total, start, height, generation, n))
        return
    rows, keys = cells(start, n)
    if rows and height == 1:
        # Widen the columns for these rows now: the table measures new rows when it is next idle, and a
        # frame painted before that stays cached at the old widths (its line cache is keyed by the table's
        # update count, which that measuring does not change): the members showed "acct_00", "jake.".
        for i, column in enumerate(table.ordered_columns):
            if column.auto_width:
                column.content_width = max(column.content_width, max(line[i].cell_len for line in rows))
    for line, k in zip(rows, keys, strict=True):
        table.add_row(*line, key=k, height=height)
    if start + n < total:
        table.call_after_refresh(_add_rows, table, cells, total, start + n, height, generation, CHUNK)
