"""card_testing: accounts running stolen card numbers through small payments, with little usage.

Signals: bursts of small payments, most declined, over many distinct cards with neighbouring BINs;
accounts created together on few devices and exits; almost no API traffic.
Camouflage c: fewer attempts per burst, spread over days, more devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, FARM_MAIL, farm_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick, unique_where
from synth.world import US_PER_DAY, US_PER_H, US_PER_S, AccountBlock, Builder


@dataclass
class Params:
    attempts_per_account: float = 20.0
    decline_rate: float = 0.85
    bin_span: int = 16
    burst_minutes: float = 25.0
    accounts_per_device: float = 5.0
    requests_per_day: float = 1.0
    active_share: float = 0.3

    def validate(self) -> None:
        check_fractions(self, "decline_rate", "active_share")
        check_positive(self, "attempts_per_account", "bin_span", "burst_minutes", "accounts_per_device",
                       "requests_per_day")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n, c = ctx.rng, ctx.size, ctx.camouflage
    day0 = rng.uniform(0, max(1.0, b.days - 2))
    created = b.t0 + ((day0 + rng.uniform(0, 0.3 + 3 * c, n)) * US_PER_DAY).astype(np.int64)
    created = np.minimum(created, b.t_end - 6 * US_PER_H)
    blk = b.block(n, rng, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    blk.email = farm_emails(b.pools, blk.first, blk.last, rng, tuple(FARM_MAIL[:4]), np.full(n, c))
    devs = b.new_devices(max(1, int(np.ceil(n / p.accounts_per_device))))
    blk.device = unique_where(rng.random(n) < c, pick(rng, devs, n), b.new_devices)
    exits = b.ips_of_kind("hosting", max(2, n // 6), rng)
    blk.ip_vals = pick(rng, exits, n).astype(np.int64)
    blk.signup_ip = blk.ip_vals.copy()
    blk.rate = np.full(n, p.requests_per_day)
    blk.p_active = np.full(n, p.active_share)
    # The bursts: many fresh cards on neighbouring BINs, tiny amounts, mostly declined.
    k = rng.poisson(p.attempts_per_account * (1 - 0.6 * c), n) + 3
    acct = np.repeat(np.arange(n), k)
    m = len(acct)
    base_bin = int(rng.integers(400_000, 559_000))
    bins = base_bin + rng.integers(0, p.bin_span, m)
    cards = b.new_cards(rng.choice(len(COUNTRY_CODES), m, p=COUNTRY_WEIGHTS), rng.choice(4, m, p=[0.6, 0.3, 0.05, 0.05]),
                        rng, bins=bins)
    start = created[acct] + (rng.uniform(0.1, 4, m) * US_PER_H).astype(np.int64)
    spread = p.burst_minutes * 60 * (1 + 200 * c)
    ts = start + (rng.uniform(0, spread, m) * US_PER_S).astype(np.int64)
    amount = np.round(rng.uniform(0.5, 2.5, m), 2)
    status = np.where(rng.random(m) < p.decline_rate, 1, 0)
    blk.add_payments(acct, np.minimum(ts, b.t_end - US_PER_S), amount, cards, status)
    return blk


KIND = RingKind("card_testing", True, Params, generate, min_size=2, max_size=5000, doc=__doc__ or "")
