"""popular_app (benign look-alike): many unrelated users of one app sending its prompt template.

Looks like a ring: near-duplicate prompt hashes (one template) and one app user agent across many
accounts. Differs: every user has their own card, device, home IPs, country and diurnal habits, and
the accounts were created independently over a long period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.behaviour import P, T
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, AccountBlock, Builder


@dataclass
class Params:
    requests_per_day: float = 6.0
    templates: int = 2
    template_frac: float = 0.75
    app_ua_frac: float = 0.8
    paying_frac: float = 0.5
    active_share: float = 0.4

    def validate(self) -> None:
        check_fractions(self, "template_frac", "app_ua_frac", "paying_frac", "active_share")
        check_positive(self, "requests_per_day", "templates")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    created = b.t0 + (rng.uniform(-300, b.days, n) * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    topic = int(pick(rng, np.array([T["writing"], T["chat"], T["translation"], T["other"]]), 1)[0])
    tg = b.new_tgroup(b.new_templates(np.full(p.templates, topic), rng))
    blk.tgroup = np.full(n, tg)
    blk.p_tpl = np.clip(rng.normal(p.template_frac, 0.1, n), 0, 1)
    blk.rate = rng.lognormal(np.log(p.requests_per_day), 0.9, n)
    blk.profile = np.where(rng.random(n) < 0.5, P["evening"], P["human"])
    app_ua = b.n_browser_ua + int(rng.integers(len(b.ua) - b.n_browser_ua))
    blk.ua1 = np.where(rng.random(n) < p.app_ua_frac, app_ua, blk.ua1)
    blk.p_ua1 = np.full(n, 0.9)
    blk.plan = np.where(rng.random(n) < p.paying_frac, 1, 0)
    payers = np.flatnonzero(blk.plan > 0)
    card = b.personal_cards(blk, rng)
    b.topup_payments(blk, payers, card[payers], rng, per_month=1.0, amount_mu=np.log(10))
    return blk


KIND = RingKind("popular_app", False, Params, generate, min_size=2, max_size=100_000, doc=__doc__ or "")
