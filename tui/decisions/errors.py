"""The one error the decisions store raises for a database it cannot open, read or write."""

from __future__ import annotations

from farmhunt.core.errors import InputError


class DecisionStoreError(InputError):
    """The decisions database cannot be opened or written (locked, read-only, unreachable, not a database)."""
