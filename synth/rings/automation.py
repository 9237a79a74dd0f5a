"""automation (benign look-alike): one legitimate bot account (a product's backend job).

Looks like a farm member: flat 24/7 volume, often on a cron-like schedule, templated prompts,
a hosting IP and an SDK user agent. Differs: a single account with a long history, its own
card on a paid plan, steady high volume, no shared identity with anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.behaviour import P, T
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, AccountBlock, Builder


@dataclass
class Params:
    requests_per_day: float = 300.0
    templates: int = 3
    template_frac: float = 0.95
    cron_frac: float = 0.5        # chance that the bot fires on a fixed schedule
    active_share: float = 1.0

    def validate(self) -> None:
        check_fractions(self, "template_frac", "cron_frac", "active_share")
        check_positive(self, "requests_per_day", "templates")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    created = b.t0 - (rng.uniform(20, 600, n) * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, created=created)
    blk.start_day = np.zeros(n, np.int64)
    host = b.ips_of_kind("hosting", 2 * n, rng)
    blk.set_ips([host[2 * i: 2 * i + int(rng.integers(1, 3))] for i in range(n)])
    blk.ip_exp = np.full(n, 2.0)
    blk.profile = np.full(n, P["flat"])
    blk.tz = np.zeros(n)
    blk.rate = rng.lognormal(np.log(p.requests_per_day), 0.6, n)
    blk.p_active = np.full(n, 0.99)
    blk.burst = np.full(n, 30.0)
    topic = pick(rng, np.array([T["data_analysis"], T["writing"], T["translation"], T["other"], T["coding"]]), n)
    for i in range(n):
        blk.tgroup[i] = b.new_tgroup(b.new_templates(np.full(p.templates, topic[i]), rng))
    blk.p_tpl = np.full(n, p.template_frac)
    blk.t1 = topic
    blk.p1 = np.full(n, 0.9)
    blk.model_pref = pick(rng, np.array([1, 2]), n)
    blk.p_model = np.full(n, 0.97)
    blk.ua1 = b.n_browser_ua + rng.integers(0, len(b.ua) - b.n_browser_ua, n)
    blk.p_ua1 = np.full(n, 1.0)
    for i in np.flatnonzero(rng.random(n) < p.cron_frac):
        blk.sync[i] = b.new_sync(slots_per_day=int(rng.choice([96, 144, 288])), jitter_s=3.0)
    blk.plan = np.full(n, 2)
    card = b.personal_cards(blk, rng)
    b.topup_payments(blk, np.arange(n), card, rng, per_month=2.0, amount_mu=np.log(400), amount_sigma=0.3)
    return blk


KIND = RingKind("automation", False, Params, generate, min_size=1, max_size=1, doc=__doc__ or "")
