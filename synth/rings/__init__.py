"""Ring kinds, fraud and benign look-alike, discovered from the modules of this package.

Each module defines `KIND = RingKind(...)`: its parameter dataclass and its generation function.
Adding a new abuse pattern is adding one module here; the registry below finds it by itself.
"""

from __future__ import annotations

import importlib
import pkgutil

from synth.rings.base import RingKind


def _discover() -> dict[str, RingKind]:
    kinds: dict[str, RingKind] = {}
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if mod == "base":
            continue
        kind = getattr(importlib.import_module(f"{__name__}.{mod}"), "KIND", None)
        if isinstance(kind, RingKind):
            if kind.name in kinds:
                raise RuntimeError(f"ring kind {kind.name!r} defined twice")
            kinds[kind.name] = kind
    return kinds


#: ring kind name -> RingKind (the one registry)
KINDS: dict[str, RingKind] = _discover()

__all__ = ["KINDS", "RingKind"]
