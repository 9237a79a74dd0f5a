"""What a ring kind is: a name, a fraud flag, typed parameters, size bounds and a generator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from farmhunt.core.errors import ConfigError

if TYPE_CHECKING:
    from synth.world import AccountBlock, Builder


@dataclass(frozen=True)
class RingContext:
    """What one ring's generation gets: its size, camouflage, typed params, id and RNG stream."""

    size: int
    camouflage: float
    params: Any
    ring_id: str
    rng: np.random.Generator


@dataclass(frozen=True)
class RingKind:
    """One pluggable ring kind."""

    name: str
    is_fraud: bool
    Params: type
    generate: Callable[["Builder", RingContext], "AccountBlock"]
    min_size: int = 1
    max_size: int = 1_000_000
    doc: str = ""

    def rate(self, params: Any) -> float:
        """Mean requests per account per day (for request-count estimates)."""
        return float(getattr(params, "requests_per_day", 5.0)) * float(getattr(params, "active_share", 0.8))


def check_fractions(obj: Any, *names: str) -> None:
    """Raise `ConfigError` naming the first of `names` outside [0, 1]."""
    for n in names:
        v = getattr(obj, n)
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"'params.{n}': must be within [0, 1], got {v}")


def check_positive(obj: Any, *names: str) -> None:
    """Raise `ConfigError` naming the first of `names` that is not > 0."""
    for n in names:
        v = getattr(obj, n)
        if not v > 0:
            raise ConfigError(f"'params.{n}': must be > 0, got {v}")


def pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    """n uniform draws (with replacement) from `pool`."""
    return np.asarray(pool)[rng.integers(0, len(pool), n)]


def unique_where(mask: np.ndarray, values: np.ndarray, fresh: Callable[[int], np.ndarray]) -> np.ndarray:
    """Replace values[mask] by freshly issued ids (camouflage: this account has its own)."""
    out = values.copy()
    k = int(mask.sum())
    if k:
        out[mask] = fresh(k)
    return out


def paraphrase_bank(b: Builder, blk: AccountBlock, rng: np.random.Generator, member_frac: float, size: int,
                    share: float | None = None, flips: tuple[int, int] = (4, 10)) -> np.ndarray:
    """Domain randomisation of content: `member_frac` of the block's accounts draw their templated prompts
    from a bank of `size` capability prompts, each use a paraphrase `flips` bits from its bank prompt
    (the content farm's signal, in farms and relays that are not content farms).

    `share`: those members' share of requests from the bank (None: keep the block's template share).
    Draws nothing from `rng` when `member_frac` is 0, so a ring without the knob is generated as before.
    Returns the members' mask.
    """
    n = len(blk.tgroup)
    if member_frac <= 0 or n == 0:
        return np.zeros(n, bool)
    g = b.new_tgroup(b.capability_templates(int(size), rng), flips=flips)
    members = rng.random(n) < member_frac
    blk.tgroup = np.where(members, g, blk.tgroup)
    if share is not None:
        blk.p_tpl = np.where(members, np.clip(share + rng.normal(0, 0.05, n), 0, 1), blk.p_tpl)
    return members
