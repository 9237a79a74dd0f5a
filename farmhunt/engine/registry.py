"""Engines by name: `--engine polars` (the default) and any engine registered beside it.

Built-in engines are named by import path and imported only when asked for, so an optional engine
(Spark) costs nothing, and needs nothing installed, until it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from farmhunt.core.errors import ConfigError
from farmhunt.engine.base import Engine

DEFAULT_ENGINE = "polars"
_BUILTIN: dict[str, str] = {
    "polars": "farmhunt.engine.polars:PolarsEngine",
    "spark": "farmhunt.engine.spark:SparkEngine",
}
_REGISTERED: dict[str, Callable[..., Engine]] = {}


def register_engine(name: str, factory: Callable[..., Engine]) -> None:
    """Make `factory(**options)` available as `--engine NAME` (and to the conformance suite)."""
    _REGISTERED[name] = factory


def engine_names() -> list[str]:
    """Every engine name that can be asked for, built-in first."""
    return [*_BUILTIN, *(n for n in _REGISTERED if n not in _BUILTIN)]


def get_engine(name: str = DEFAULT_ENGINE, **options: Any) -> Engine:
    """A new engine by name; unknown names and engines whose requirements are missing are a `ConfigError`."""
    if name in _REGISTERED:
        return _REGISTERED[name](**options)
    if name not in _BUILTIN:
        raise ConfigError(f"'--engine': unknown engine {name!r} (known: {', '.join(engine_names())})")
    module, _, attr = _BUILTIN[name].partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ConfigError(
            f"'--engine {name}': not available here ({exc}); install it with: pip install 'farmhunt[{name}]'"
        ) from exc
    engine: Engine = factory(**options)
    return engine
