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
