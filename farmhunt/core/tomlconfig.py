"""Strict TOML -> dataclass settings: unknown keys and wrong types are rejected, naming the key."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from farmhunt.core.errors import ConfigError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a missing or unparsable file is a `ConfigError` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{p}' is not valid TOML: {exc}") from exc


def _check_type(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            if arm is type(None) and value is None:
                return None
            try:
                return _check_type(value, arm, key)
            except ConfigError:
                continue
        raise ConfigError(f"'{key}': {value!r} is not a valid {hint}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"'{key}': expected a list, got {value!r}")
        (arm, *_) = typing.get_args(hint) or (Any,)
        return origin(_check_type(v, arm, f"{key}[]") for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}': expected a table, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}': expected a table, got {value!r}")
        return from_dict(hint, value, prefix=f"{key}.")
    if isinstance(hint, type) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"'{key}': expected {getattr(hint, '__name__', hint)}, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], *, base: T | None = None, prefix: str = "") -> T:
    """Build dataclass `cls` from `data`, starting from `base` (or the defaults); strict on keys and types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key '{prefix}{unknown[0]}' (allowed: {', '.join(sorted(names))})")
    obj = base if base is not None else cls()
    changes = {}
    for k, v in data.items():
        hint = hints[k]
        current = getattr(obj, k)
        if dataclasses.is_dataclass(hint) and isinstance(v, dict):
            changes[k] = from_dict(hint, v, base=current, prefix=f"{prefix}{k}.")
        elif typing.get_origin(hint) is dict and isinstance(current, dict) and isinstance(v, dict):
            changes[k] = {**current, **v}  # a table of numbers is overlaid key by key
        else:
            changes[k] = _check_type(v, hint, f"{prefix}{k}")
    obj = dataclasses.replace(obj, **changes)
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-dict form of a settings dataclass, for run.json and manifests."""
    return dataclasses.asdict(obj)
