"""Text from data made safe to print: control characters made visible, long values cut short.

The emails, names, user agents and prompts in a world were written by the people farmhunt
investigates. Printed raw, an ESC sequence can retitle or clear the investigator's terminal and a
megabyte id floods it. Everything the CLI prints that comes from data goes through `printable`.
"""

from __future__ import annotations

import re

#: C0 controls, DEL and C1 controls (ESC is \x1b), plus the bidi overrides that reorder text on screen.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def printable(value: object, *, keep_layout: bool = False, limit: int | None = None) -> str:
    """`value` as text with every control character shown as a visible escape (ESC -> ``\\e``).

    `keep_layout`: newlines and tabs pass through (for multi-line messages built by farmhunt itself;
    values from data never need them). `limit`: cut to about this many characters, ending in '…'.
    """
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    if keep_layout:
        return _CONTROL.sub(lambda m: m.group(0) if m.group(0) in "\n\t" else _escape(m), text)
    return _CONTROL.sub(_escape, text)


def example(value: object, limit: int = 80) -> str:
    """One example value for an error message: its repr, control characters escaped, at most `limit` chars."""
    return printable(repr(value), limit=limit)


def shorten(text: str, limit: int = 4000) -> str:
    """Cut a long message to `limit` characters, saying how much was left off."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit:,} more characters)"


def cell(value: object, limit: int | None = 200):
    """A Rich table cell holding `value` literally: never read as markup, control characters escaped."""
    from rich.text import Text

    return Text("" if value is None else printable(value, limit=limit))
