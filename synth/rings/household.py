"""household (benign look-alike): a family's accounts on one card and one home connection.

Looks like a ring: 2-6 accounts sharing one card, one home IP (and sometimes one device), one last
name and address country. Differs from a farm and from one person's multi-accounting: different
people (first names, ages): each member has their own usage (a student's late hours and homework
topics, a parent's evenings, an office worker's day), own phone and mobile network, own signup time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.behaviour import P
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, benign_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive
from synth.world import US_PER_DAY, AccountBlock, Builder


@dataclass
class Params:
    requests_per_day: float = 4.0
    same_card: float = 0.9           # members paying with the family card
    shared_device: float = 0.35      # members on the family computer
    mobile_frac: float = 0.6         # members who also use their own phone's carrier network
    paying_frac: float = 0.6
    active_share: float = 0.35

    def validate(self) -> None:
        check_fractions(self, "same_card", "shared_device", "mobile_frac", "paying_frac", "active_share")
        check_positive(self, "requests_per_day")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    country = np.full(n, rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))
    created = b.t0 + (rng.uniform(-900, b.days, n) * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, country=country, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    blk.last[:] = blk.last[0]
    blk.tz[:] = blk.tz[0]
    blk.email = benign_emails(b.pools, blk.first, blk.last, rng)
    home = blk.ip_vals[0]
    mob = rng.random(n) < p.mobile_frac
    lens = 1 + mob.astype(np.int64)
    vals = np.empty(int(lens.sum()), np.int64)
    st = np.cumsum(lens) - lens
    vals[st] = home
    if mob.any():
        vals[st[mob] + 1] = b.home_ips(country[mob], rng, "mobile")
    blk.set_ips((vals, lens))
    blk.ip_exp = np.full(n, 2.5)
    blk.signup_ip = np.full(n, home)
    blk.device[rng.random(n) < p.shared_device] = blk.device[0]
    blk.profile = rng.choice([P["student"], P["evening"], P["human"], P["office"]], n)
    blk.rate = rng.lognormal(np.log(p.requests_per_day), 1.0, n)
    blk.p_active = np.clip(rng.normal(p.active_share, 0.15, n), 0.03, 1.0)
    pay = np.flatnonzero(rng.random(n) < p.paying_frac)
    blk.plan[pay] = 1
    own = b.personal_cards(blk, rng)
    cards = np.where(rng.random(n) < p.same_card, own[0], own)
    b.topup_payments(blk, pay, cards[pay], rng, per_month=0.8, amount_mu=np.log(20))
    return blk


KIND = RingKind("household", False, Params, generate, min_size=2, max_size=6, doc=__doc__ or "")
