"""Filling DataTables from polars frames with the console's formatting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

import polars as pl
from rich.text import Text
from textual.widgets import DataTable

Column = tuple[str, str]  # (frame column, header label)


def fmt(value: object, col: str = "") -> str:
    """One cell as text: money, risk and shares with 2 decimals, counts with separators, times to the minute."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
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
        return f"{value:,}" if abs(value) >= 10_000 and "id" not in col and "cluster" not in col else str(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


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
) -> None:
    """Replace the table's content with `df` (only `columns`, in order), one row key per `key` value."""
    table.clear(columns=True)
    widths = widths or {}
    for col, label in columns:
        table.add_column(label, key=col, width=widths.get(col))
    num = {c for c, _ in columns if c in df.columns and _numeric(df.schema[c]) and not c.endswith("_id")}
    rows = []
    keys = []
    for i, row in enumerate(df.iter_rows(named=True)):
        st = style(row) if style else None
        cells = []
        for col, _ in columns:
            text = fmt(row.get(col), col)
            cells.append(Text(text, style=st or "", justify="right" if col in num else "left"))
        rows.append(cells)
        keys.append(str(row[key]) if key else str(i))
    for cells, k in zip(rows, keys, strict=True):
        table.add_row(*cells, key=k, height=None if wrap else 1)
