"""Error types the CLI turns into a clear message and exit code 2 (bad input or bad config)."""

from __future__ import annotations


class InputError(Exception):
    """Bad input the user can fix: a missing file, a broken table, a bad config. Exit code 2."""

    exit_code = 2


class ConfigError(InputError):
    """A configuration file or option that cannot be used; the message names the key and why."""


class OutputError(InputError):
    """An output path farmhunt must not or cannot write (see `farmhunt.core.atomic.check_out`)."""
