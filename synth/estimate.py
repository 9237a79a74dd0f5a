"""Rough expected request counts of a config (for scaling a config to a target size)."""

from __future__ import annotations

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
