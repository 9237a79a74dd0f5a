"""Normalised forms of contract values that detection links on and the console shows (emails)."""

from __future__ import annotations

import polars as pl

#: Providers whose mailboxes ignore dots in the local part (john.smith@ and johnsmith@ are one inbox).
DOT_INSENSITIVE = ("gmail.com", "googlemail.com", "proton.me", "protonmail.com", "pm.me")


def _mailbox(email: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(local part without plus-tag, domain), lower-case."""
    e = email.str.to_lowercase().str.strip_chars()
    return e.str.extract(r"^([^@]*)@", 1).str.replace(r"\+.*$", ""), e.str.extract(r"@(.*)$", 1)


def canonical_email(email: pl.Expr) -> pl.Expr:
    """Mailbox identity: lower-case, plus-tag removed, dots removed where the provider ignores them.

    Elsewhere dots are kept: john.smith@outlook.com and johnsmith@outlook.com are two people, and
    among a million accounts such pairs are common.
    """
    local, domain = _mailbox(email)
    local = (
        pl.when(domain.is_in(list(DOT_INSENSITIVE))).then(local.str.replace_all(".", "", literal=True)).otherwise(local)
    )
    return local + "@" + domain


def email_pattern(email: pl.Expr) -> pl.Expr:
    """Local-part shape: lower-case, plus-tag and dots removed, every run of digits replaced by '#'."""
    local, domain = _mailbox(email)
    return local.str.replace_all(".", "", literal=True).str.replace_all(r"\d+", "#") + "@" + domain
