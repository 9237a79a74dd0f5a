"""Rough expected request counts of a config, and scaling a config to a target size."""

from __future__ import annotations

import copy

import numpy as np

from synth.config import WorldConfig, ring_params
from synth.rings import KINDS


def estimate_requests(cfg: WorldConfig) -> float:
    """Expected request rows of `cfg` (within a factor of ~1.5; good enough to pick sizes)."""
    bc = cfg.benign
    plan = np.array(bc.plan_mix) / sum(bc.plan_mix)
    mean_rate = bc.rate_median * np.exp(bc.rate_sigma**2 / 2) * float(plan @ np.array([1.0, 3.0, 8.0, 5.0]))
    benign = bc.accounts * (1 - bc.dormant_frac) * bc.active_mean * mean_rate * cfg.days * (1 - bc.new_frac / 2)
    rings = 0.0
    for i, r in enumerate(cfg.rings):
        size = r.size if r.size is not None else (r.size_min + r.size_max) / 2  # type: ignore[operator]
        rings += r.count * size * KINDS[r.kind].rate(ring_params(r, i)) * cfg.days
    return float(benign + rings)


def scale_to_requests(cfg: WorldConfig, n_requests: float) -> WorldConfig:
    """A copy of `cfg` whose expected request count is about `n_requests`.

    Population and ring sizes are scaled by the same factor (days unchanged), so the world keeps its
    shape; sizes stay within each ring kind's bounds. Used by the benchmark's 10M-request world and to
    test the seed-scale shape at a small size.
    """
    cfg = copy.deepcopy(cfg)
    factor = n_requests / max(estimate_requests(cfg), 1.0)
    cfg.benign.accounts = max(50, int(round(cfg.benign.accounts * factor)))
    for r in cfg.rings:
        kind = KINDS[r.kind]
        if kind.max_size <= 4:   # per-person kinds: scale the count, not the size
            r.count = max(1, int(round(r.count * factor)))
            continue

        def fit(v: int | None) -> int | None:
            if v is None:
                return None
            return int(min(kind.max_size, max(kind.min_size, round(v * factor)), cfg.benign.accounts))

        r.size, r.size_min, r.size_max = fit(r.size), fit(r.size_min), fit(r.size_max)
    cfg.validate()
    return cfg


def expected_requests(cfg: WorldConfig) -> float:
    """Expected request rows of `cfg` from its built accounts (and second streams): exact in
    expectation up to the clipping of activity, at the cost of building the account blocks once."""
    from synth.behaviour import WEEK_TABLE
    from synth.generate import build_blocks
    from synth.world import Builder

    b = Builder(cfg)
    blocks, _ = build_blocks(b, cfg)
    week = WEEK_TABLE.mean(axis=1)
    total = 0.0
    for blk in blocks + [x.streams for x in blocks if x.streams is not None]:
        live = np.clip(np.minimum(blk.end_day, cfg.days) - np.maximum(blk.start_day, 0), 0, None)
        total += float((blk.rate * blk.p_active * week[blk.profile]) @ live)
    return total
