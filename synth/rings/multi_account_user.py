"""multi_account_user (benign look-alike): one person holding 2 to 4 accounts.

Looks like a ring: the accounts share one device, one card, the same home IPs and a name.
Differs: created months apart, one human diurnal cycle, organic prompts, tiny size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, benign_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive
from synth.world import US_PER_DAY, AccountBlock, Builder


@dataclass
class Params:
    requests_per_day: float = 5.0
    same_device: float = 0.9
    same_card: float = 0.85
    active_share: float = 0.4

    def validate(self) -> None:
        check_fractions(self, "same_device", "same_card", "active_share")
        check_positive(self, "requests_per_day")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    day = np.sort(rng.uniform(-500, b.days, n))
    created = b.t0 + (day * US_PER_DAY).astype(np.int64)
    country = np.full(n, rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))
    blk = b.block(n, rng, country=country, created=created)
    one = blk  # the person behind the accounts: the first account's identity, device and home
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    blk.first[:], blk.last[:], blk.tz[:] = one.first[0], one.last[0], one.tz[0]
    blk.email = benign_emails(b.pools, blk.first, blk.last, rng)
    same = rng.random(n) < p.same_device
    blk.device[same] = one.device[0]
    ips = np.concatenate([one.ip_vals[:1], b.home_ips(country[:1], rng, "mobile")])
    blk.set_ips((ips[np.argsort(rng.random((n, 2)), axis=1)].ravel(), np.full(n, 2, np.int64)))  # both, either first
    blk.signup_ip = np.full(n, ips[0])
    blk.rate = rng.lognormal(np.log(p.requests_per_day), 0.8, n)
    blk.plan = rng.choice(2, n, p=[0.6, 0.4])
    own = b.personal_cards(blk, rng)
    cards = np.where(rng.random(n) < p.same_card, own[0], own)
    b.topup_payments(blk, np.arange(n), cards, rng, per_month=0.8, amount_mu=np.log(20))
    return blk


KIND = RingKind("multi_account_user", False, Params, generate, min_size=2, max_size=4, doc=__doc__ or "")
