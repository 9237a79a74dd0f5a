"""Strict TOML -> dataclass settings: unknown keys, wrong types and values out of range are rejected, naming the key.

Ranges are declared next to each field with `ranged(default, lo, hi)` (its `metadata["range"]`) and
checked generically by `from_dict`; a float must always be finite (no NaN or inf), and a table of
numbers may declare its allowed keys. A TOML file that is not UTF-8 is a `ConfigError` too.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from farmhunt.core.errors import ConfigError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a missing or unparsable file is a `ConfigError` naming the file."""
    p = Path(path)
    if not p.is_file():
        what = "is not a file" if p.exists() else "does not exist"
        raise ConfigError(f"config file '{p}' {what}")
    try:
        return tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file '{p}' is not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{p}' is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"config file '{p}' cannot be read: {exc.strerror}") from exc


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of a setting: lo <= v <= hi (an open end when `lo_open`/`hi_open`); None = unbounded.

    For a list, tuple or table of numbers the range applies to each element; `keys` restricts a
    table's keys.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    keys: tuple[str, ...] | None = None

    def describe(self) -> str:
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
        hi = "" if self.hi is None else f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return " and ".join(x for x in (lo, hi) if x) or "any number"

    def holds(self, v: float) -> bool:
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))


def ranged(
    default: Any = dataclasses.MISSING,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    keys: tuple[str, ...] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with a declared `Range` (see `check_ranges`)."""
    meta = {"range": Range(lo, hi, lo_open, hi_open, keys)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _check_value(key: str, v: Any, rng: Range | None) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"'{key}': {v!r} is not a finite number")
    if rng is not None and not rng.holds(v):
        raise ConfigError(f"'{key}': {v!r} is out of range (must be {rng.describe()})")


def check_ranges(obj: Any, prefix: str = "") -> None:
    """Check every field of dataclass `obj` against its declared range; floats must be finite.

    Raises `ConfigError` naming the key (`section.key`, `section.key[i]` or `section.table.name`).
    """
    for f in dataclasses.fields(obj):
        rng = f.metadata.get("range")
        key = f"{prefix}{f.name}"
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            continue  # nested sections check themselves when built
        if isinstance(v, dict):
            if rng is not None and rng.keys is not None:
                unknown = sorted(set(v) - set(rng.keys))
                if unknown:
                    raise ConfigError(f"unknown key '{key}.{unknown[0]}' (allowed: {', '.join(rng.keys)})")
            for k, x in v.items():
                _check_value(f"{key}.{k}", x, rng)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                _check_value(f"{key}[{i}]", x, rng)
        else:
            _check_value(key, v, rng)


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
        return origin(_check_type(v, arm, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}': expected a table, got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2:
            return {k: _check_type(v, args[1], f"{key}.{k}") for k, v in value.items()}
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
            changes[k] = {**current, **_check_type(v, hint, f"{prefix}{k}")}  # overlaid key by key
        else:
            changes[k] = _check_type(v, hint, f"{prefix}{k}")
    obj = dataclasses.replace(obj, **changes)
    check_ranges(obj, prefix)
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-dict form of a settings dataclass, for run.json and manifests."""
    return dataclasses.asdict(obj)
