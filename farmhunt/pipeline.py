"""The detection pipeline: load -> validate -> features -> linkage -> communities -> scoring -> results.

(Interface fixed; stages land with issue 4.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from farmhunt.contract import World
from farmhunt.results import Results

Progress = Callable[[str, float], None]  # (stage name, fraction done in [0, 1])


def detect(world: World, settings: "DetectSettings | None" = None, progress: Progress | None = None) -> Results:  # noqa: F821
    """Run every stage on a loaded world and return the results (nothing is written)."""
    raise NotImplementedError("detection lands with issue 4")


def detect_path(world: str | Path, out: str | Path | None = None, settings=None, progress=None) -> Results:
    """Load and validate `world`, detect, and (if `out`) write the results directory atomically."""
    raise NotImplementedError("detection lands with issue 4")
