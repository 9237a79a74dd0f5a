"""Data on screen stays data: never markup, never a terminal control sequence.

The emails, names, user agents and prompts the console shows were written by the people farmhunt
investigates. Every value from data reaches the screen through `printable` (control characters shown
as visible escapes, ESC as ``\\e``) inside a Textual `Content` or Rich `Text` (never a markup string
built from data): `show` for one value, `markup` for a fixed template with data in `$name` variables.

`printable` is the shared `farmhunt.core.safe_text.printable` (the CLI escapes with the same rule).
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from farmhunt.core import safe_text

__all__ = ["cell", "markup", "printable", "show"]


def printable(value: object, *, keep_layout: bool = False, limit: int | None = None) -> str:
    """`farmhunt.core.safe_text.printable`, with None shown as nothing."""
    return "" if value is None else safe_text.printable(value, keep_layout=keep_layout, limit=limit)


def show(value: object, style: str = "", limit: int | None = None) -> Content:
    """One data value as literal Content (never parsed as markup), control characters escaped."""
    return Content.styled(printable(value, limit=limit), style) if style else Content(printable(value, limit=limit))


def cell(value: object, style: str = "", justify: str = "left") -> Text:
    """One table cell holding `value` literally (a Rich Text: DataTable cells)."""
    return Text(printable(value), style=style, justify=justify)  # type: ignore[arg-type]


def markup(template: str, **values: object) -> Content:
    """A fixed markup `template` (written by us) with data in `$name` variables, substituted literally."""
    return Content.from_markup(template, **{k: printable(v) for k, v in values.items()})
