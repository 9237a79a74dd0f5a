"""Data on screen stays data: never markup, never a terminal control sequence.

The emails, names, user agents and prompts the console shows were written by the people farmhunt
investigates. Every value from data reaches the screen through `printable` (control characters shown
as visible escapes, ESC as ``\\e``) inside a Textual `Content` or Rich `Text` (never a markup string
built from data): `show` for one value, `markup` for a fixed template with data in `$name` variables.

A local helper of the console: the shared `farmhunt/core/safe_text.py` (branch `safety`) was not on
main yet when this was written; `printable` has the same signature and can be replaced by it.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.content import Content

#: C0 controls, DEL and C1 controls, plus the bidi overrides and isolates that reorder text on screen.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def printable(value: object, *, keep_layout: bool = False, limit: int | None = None) -> str:
    """`value` as text with every control character shown as a visible escape (ESC -> ``\\e``).

    `keep_layout`: newlines and tabs pass through (the prompt viewer). `limit`: cut to about this
    many characters, ending in '…'."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    if keep_layout:
        return _CONTROL.sub(lambda m: m.group(0) if m.group(0) in "\n\t" else _escape(m), text)
    return _CONTROL.sub(_escape, text)


def show(value: object, style: str = "", limit: int | None = None) -> Content:
    """One data value as literal Content (never parsed as markup), control characters escaped."""
    return Content.styled(printable(value, limit=limit), style) if style else Content(printable(value, limit=limit))


def cell(value: object, style: str = "", justify: str = "left") -> Text:
    """One table cell holding `value` literally (a Rich Text: DataTable cells)."""
    return Text(printable(value), style=style, justify=justify)  # type: ignore[arg-type]


def markup(template: str, **values: object) -> Content:
    """A fixed markup `template` (written by us) with data in `$name` variables, substituted literally."""
    return Content.from_markup(template, **{k: printable(v) for k, v in values.items()})
