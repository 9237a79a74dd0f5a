"""spread_card_testing: card testing spread thin over many free accounts, then the working cards spent.

Tester accounts (free plan, signups staggered over `spread_days`) each run only a few small ($0.5-2.5)
payments on fresh cards with neighbouring BINs (one stolen batch), most declined, spread over hours to
days, with almost no API traffic. The cards that succeed are then reused by the ring's spender accounts
(created after the card worked) for real top-ups and real API traffic through shared exits; the stolen
cards' payments are later disputed. Devices come from a small pool. Camouflage c: own devices, spread
over more days, more benign-looking emails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farmhunt.core.errors import ConfigError
from synth.behaviour import P
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, FARM_MAIL, farm_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick, unique_where
from synth.world import US_PER_DAY, US_PER_H, AccountBlock, Builder


@dataclass
class Params:
    tester_frac: float = 0.7         # share of the ring's accounts that test cards (the rest spend)
    tests_min: int = 1               # card tests per tester account
    tests_max: int = 4
    decline_rate: float = 0.8
    bin_span: int = 40               # BINs of the stolen batch: base .. base + bin_span
    spread_days: float = 14.0        # testers sign up over this many days
    accounts_per_device: float = 4.0
    spend_per_month: float = 4.0     # spender top-ups
    spend_amount: float = 60.0       # median top-up (USD)
    dispute_frac: float = 0.6        # share of spent cards whose payments are later disputed
    requests_per_day: float = 40.0   # spender traffic
    active_share: float = 0.8
    exit_mode: str = "hosting"       # spenders' and testers' exits: "hosting" or "residential_proxy"

    def validate(self) -> None:
        check_fractions(self, "tester_frac", "decline_rate", "dispute_frac", "active_share")
        check_positive(self, "tests_min", "bin_span", "spread_days", "accounts_per_device", "spend_per_month",
                       "spend_amount", "requests_per_day")
        if self.tests_max < self.tests_min:
            raise ConfigError(f"'params.tests_max': smaller than tests_min ({self.tests_max} < {self.tests_min})")
        if self.exit_mode not in ("hosting", "residential_proxy"):
            raise ConfigError(f"'params.exit_mode': 'hosting' or 'residential_proxy', got {self.exit_mode!r}")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n, c = ctx.rng, ctx.size, ctx.camouflage
    n_t = int(np.clip(round(n * p.tester_frac), 1, n - 1))
    n_s = n - n_t
    span = p.spread_days * (1 + c)
    day0 = rng.uniform(-5, max(1.0, b.days * 0.5))
    created = np.empty(n, np.int64)
    created[:n_t] = b.t0 + ((day0 + rng.uniform(0, span, n_t)) * US_PER_DAY).astype(np.int64)
    created[:n_t] = np.minimum(created[:n_t], b.t_end - 2 * US_PER_DAY)

    # --- tests: a few fresh cards per tester, neighbouring BINs, tiny amounts, mostly declined
    k = rng.integers(p.tests_min, p.tests_max + 1, n_t)
    acct = np.repeat(np.arange(n_t), k)
    m = len(acct)
    bins = int(rng.integers(400_000, 559_000)) + rng.integers(0, p.bin_span, m)
    cards = b.new_cards(rng.choice(len(COUNTRY_CODES), m, p=COUNTRY_WEIGHTS),
                        rng.choice(4, m, p=[0.6, 0.3, 0.05, 0.05]), rng, bins=bins)
    ts = created[acct] + (rng.uniform(0.05, 24 * (1 + 3 * c), m) * US_PER_H).astype(np.int64)
    ts = np.minimum(ts, b.t_end - US_PER_DAY)
    status = np.where(rng.random(m) < p.decline_rate, 1, 0)
    if not (status == 0).any():
        status[int(rng.integers(m))] = 0   # at least one card works, or there is nothing to spend
    good = np.flatnonzero(status == 0)

    # --- spenders: created after a card they use worked, then top up with it for real
    use = good[rng.integers(0, len(good), n_s)]
    created[n_t:] = ts[use] + (rng.uniform(0.5, 72, n_s) * US_PER_H).astype(np.int64)
    created[n_t:] = np.minimum(created[n_t:], b.t_end - 6 * US_PER_H)
    blk = b.block(n, rng, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    blk.email = farm_emails(b.pools, blk.first, blk.last, rng, tuple(FARM_MAIL[:5]), np.full(n, 0.3 + 0.7 * c))
    devs = b.new_devices(max(1, int(np.ceil(n / p.accounts_per_device))))
    blk.device = unique_where(rng.random(n) < c, pick(rng, devs, n), b.new_devices)
    if p.exit_mode == "hosting":
        exits = b.ips_of_kind("hosting", max(3, n // 8), rng, pick(rng, b.asns_of("hosting"), 3))
    else:
        exits = b.home_ips(rng.choice(len(COUNTRY_CODES), max(3, n // 3), p=COUNTRY_WEIGHTS), rng)
    kk = rng.integers(1, 4, n)
    vals = pick(rng, exits, int(kk.sum())).astype(np.int64)
    blk.set_ips((vals, kk.astype(np.int64)))
    blk.ip_exp = np.full(n, 1.0)
    blk.signup_ip = vals[np.cumsum(kk) - kk]
    blk.plan = np.zeros(n, np.int64)
    blk.plan[n_t:] = 1
    blk.add_payments(acct, ts, np.round(rng.uniform(0.5, 2.5, m), 2), cards, status)

    spend = np.arange(n_t, n)
    before = len(blk.pay_acct)
    b.topup_payments(blk, spend, cards[use], rng, per_month=p.spend_per_month, amount_mu=np.log(p.spend_amount),
                     amount_sigma=0.5, decline=0.05, refund=0.0, dispute=0.0)
    stolen = rng.random(n_s) < p.dispute_frac
    new = np.arange(len(blk.pay_acct)) >= before
    old = blk.pay_ts < b.t_end - rng.uniform(5, 12) * US_PER_DAY
    sp = np.maximum(blk.pay_acct - n_t, 0)
    blk.pay_status[new & old & (blk.pay_status == 0) & stolen[sp]] = 3

    # --- traffic: testers barely use the API; spenders do (many topics, SDK, steady)
    blk.rate = np.full(n, 0.5)
    blk.p_active = np.full(n, 0.15)
    blk.rate[n_t:] = p.requests_per_day * rng.lognormal(0, 0.5, n_s)
    blk.p_active[n_t:] = p.active_share
    blk.burst[n_t:] = 5.0
    blk.profile[n_t:] = np.where(rng.random(n_s) < c, P["human"], P["flat"])
    blk.tz[n_t:] = np.where(blk.profile[n_t:] == P["flat"], 0.0, blk.tz[n_t:])
    blk.p1[n_t:] = rng.uniform(0.1, 0.3, n_s)
    sdk = b.n_browser_ua + rng.integers(0, len(b.ua) - b.n_browser_ua, 2)
    blk.ua1[n_t:] = pick(rng, sdk, n_s)
    blk.p_ua1[n_t:] = 0.9
    return blk


KIND = RingKind("spread_card_testing", True, Params, generate, min_size=2, max_size=20_000, doc=__doc__ or "")
