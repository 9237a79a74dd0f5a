"""Safe text for files the console writes (CSV, Markdown, JSON): hostile data stays inert data.

A local helper of the console (a shared `farmhunt/core/safe_text.py` did not exist yet when this was
written): control characters stripped, Markdown/HTML escaped, spreadsheet formulas neutralised (OWASP:
cells starting with `= + - @`, tab or CR get a leading single quote), emails and phone numbers masked by
pattern in free text.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

#: Leading characters that make a spreadsheet read a CSV cell as a formula (OWASP "CSV Injection").
FORMULA_START = "=+-@\t\r"
_FORMULA_RE = r"^[=+\-@\t\r]"

# Bidirectional overrides and isolates: invisible, they reorder what a reader sees.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
# An email in free text: a local part (may itself hold '@'), '@', a dotted domain. The greedy local part
# backtracks to the LAST '@' that is followed by a domain.
_EMAIL_RE = re.compile(r"[^\s<>()\[\]{},;:\"'`|\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
# A phone number in free text: international (+ then 7 or more digits with spaces, dots, dashes,
# brackets) or North-American style 555-555-5555 / (555) 555-5555.
_PHONE_RE = re.compile(r"\+\d[\d \-.()]{5,}\d|\(\d{3}\)\s?\d{3}[\s.\-]\d{4}\b|\b\d{3}[.\-]\d{3}[.\-]\d{4}\b")
_MD_SPECIAL = re.compile(r"([\\`*{}\[\]<>|#!~&$])")
# '_' inside a word never opens emphasis (CommonMark): escape it only at a word's edge.
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")


def strip_control(s: str, *, keep_newlines: bool = False) -> str:
    """`s` without control characters (C0, DEL, C1) and bidi overrides; tabs become spaces."""
    out = []
    for ch in s:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif ch in _BIDI or unicodedata.category(ch) == "Cc":
            continue
        else:
            out.append(ch)
    return "".join(out)


def md_text(value: object) -> str:
    """A value as inert inline Markdown: control characters stripped, newlines as spaces, and every
    character that Markdown or HTML would interpret (`< > | * [ ] ` and others, `_` at a word's edge)
    backslash-escaped."""
    if value is None:
        return ""
    s = strip_control(str(value).replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    return _MD_UNDERSCORE.sub(r"\\_", _MD_SPECIAL.sub(r"\\\1", s))


def _safe_first(ch: str) -> str:
    return "*" if ch in FORMULA_START else ch


def mask_email_str(s: str) -> str:
    """`jake@proton.me` -> `j***@proton.me`; the domain is after the LAST '@' (`a@b@c.com` -> `a***@c.com`).
    A first character that would start a spreadsheet formula is masked too."""
    if not s:
        return s
    if "@" not in s:
        return _safe_first(s[0]) + "***"
    local, _, domain = s.rpartition("@")
    return (_safe_first(local[0]) if local else "") + "***@" + domain


def mask_phone_str(s: str | None) -> str | None:
    """Every digit but the last two as '*', separators and '+' dropped: `+15550001234` -> `*********34`.
    A missing phone (None, empty, no digits) stays None: it is absent, not masked."""
    if s is None:
        return None
    digits = re.sub(r"\D", "", s)
    if not digits:
        return None
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_text(s: str) -> str:
    """Free text with every email and phone number in it masked (see `mask_email_str`, `mask_phone_str`)."""
    if not s:
        return s
    s = _EMAIL_RE.sub(lambda m: mask_email_str(m.group(0)), s)
    return _PHONE_RE.sub(lambda m: mask_phone_str(m.group(0)) or "", s)


def mask_text_expr(expr: pl.Expr) -> pl.Expr:
    """`mask_text` over a String column (a pack has at most a few thousand rows: not a hot path)."""
    return expr.map_elements(mask_text, return_dtype=pl.String, skip_nulls=True)


def neutralise_formulas(df: pl.DataFrame) -> pl.DataFrame:
    """Every String cell that starts with `= + - @`, tab or CR gets a leading single quote (OWASP)."""
    cols = [c for c, t in df.schema.items() if t == pl.String]
    if not cols:
        return df
    return df.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_RE)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in cols
    )


def write_safe_csv(df: pl.DataFrame, path: object) -> None:
    """Write `df` as CSV with formulas neutralised and every non-numeric field quoted."""
    neutralise_formulas(df).write_csv(path, quote_style="non_numeric")  # type: ignore[arg-type]
