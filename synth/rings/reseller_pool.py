"""reseller_pool: pooled accounts relaying many end users' traffic at very high volume.

Signals: a few relay IPs on hosting networks shared by the pool, very high spend and volume, diverse
topics and languages, a mixed-time-zone daily pattern, stolen cards from many countries that later
dispute, frequent key rotation, and churn: a banned account is replaced within hours by a new one
reusing its card or device. Camouflage c: per-account residential exits, one local time zone, fewer reuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.behaviour import P
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, paraphrase_bank, pick
from synth.world import US_PER_DAY, US_PER_H, AccountBlock, Builder, F


@dataclass
class Params:
    requests_per_day: float = 200.0
    relay_ips: int = 4
    churn_frac: float = 0.3      # share of the ring's accounts that are replacements of banned ones
    reuse_card: float = 0.6
    reuse_device: float = 0.5
    rotation_days: float = 4.0
    dispute_frac: float = 0.7    # share of cards that are stolen and later disputed
    active_share: float = 0.9
    bank_member_frac: float = 0.0  # members relaying a distillation client: part of their prompts are
    bank_share: float = 0.3        # ... this share, paraphrases of a bank of `bank_size` capability prompts
    bank_size: int = 300           # (base.paraphrase_bank)

    def validate(self) -> None:
        check_fractions(self, "churn_frac", "reuse_card", "reuse_device", "dispute_frac", "active_share",
                        "bank_member_frac", "bank_share")
        check_positive(self, "requests_per_day", "relay_ips", "rotation_days", "bank_size")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n, c = ctx.rng, ctx.size, ctx.camouflage
    n_repl = min(n - 1, int(round(n * p.churn_frac))) if n > 1 else 0
    n0 = n - n_repl
    created = np.empty(n, np.int64)
    created[:n0] = b.t0 + (rng.uniform(-20, b.days * 0.3, n0) * US_PER_DAY).astype(np.int64)
    ban = np.full(n, -1, np.int64)
    pred = np.full(n, -1)
    # Churn: each replacement follows the ban of a live account by a few hours.
    for r in range(n0, n):
        alive = np.flatnonzero((ban[:r] < 0) & (created[:r] < b.t_end - 3 * US_PER_DAY))
        if len(alive) == 0:
            alive = np.arange(r)
        v = int(alive[rng.integers(len(alive))])
        lo = max(created[v] + 2 * US_PER_DAY, b.t0 + US_PER_DAY)
        hi = max(lo + US_PER_H, b.t_end - 2 * US_PER_DAY)
        ban[v] = int(rng.integers(lo, hi))
        created[r] = ban[v] + int(rng.uniform(0.5, 8) * US_PER_H)
        pred[r] = v
    country = rng.choice(len(COUNTRY_CODES), n, p=COUNTRY_WEIGHTS)
    blk = b.block(n, rng, country=country, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    blk.ban = ban
    banned = ban >= 0
    blk.end_day = np.where(banned, b.day_of(ban), b.days).astype(np.int64)

    # Relay exits: a few hosting IPs shared by the whole pool.
    relay = b.ips_of_kind("hosting", p.relay_ips, rng, pick(rng, b.asns_of("hosting"), 2))
    lists = []
    own = rng.random(n) < c
    for i in range(n):
        if own[i]:
            lists.append(np.concatenate([[blk.ip_vals[i]], b.ips_of_kind("hosting", 1, rng)]))
        else:
            lists.append(relay[rng.permutation(len(relay))][: max(1, int(rng.integers(2, len(relay) + 1)))])
    blk.set_ips(lists)
    blk.ip_exp = np.full(n, 1.0)
    blk.signup_ip = np.array([x[0] for x in lists])
    # Behaviour: high volume, many users' topics and time zones.
    blk.rate = p.requests_per_day * rng.lognormal(0, 0.6, n)
    blk.p_active = np.full(n, 0.95)
    blk.burst = np.full(n, 5.0)
    blk.profile = np.full(n, P["mixed_tz"])
    blk.tz = np.zeros(n)
    local = rng.random(n) < c
    blk.profile[local] = P["human"]
    blk.tz[local] = rng.choice([-5.0, 1.0, 8.0], int(local.sum()))
    blk.p1 = rng.uniform(0.05, 0.2, n)
    blk.p2 = rng.uniform(0.03, 0.12, n)
    blk.p_model = rng.uniform(0.1, 0.4, n)
    blk.rotation_days = rng.uniform(0.5, 1.5, n) * p.rotation_days
    sdk = b.n_browser_ua + rng.integers(0, len(b.ua) - b.n_browser_ua, 2)
    blk.ua1, blk.ua2 = pick(rng, sdk, n), pick(rng, sdk, n)
    blk.p_ua1 = np.full(n, 0.8)
    blk.plan = rng.choice([1, 2], n, p=[0.6, 0.4])

    # Stolen cards from many countries; a replacement reuses its predecessor's card or device.
    cards = b.new_cards(rng.choice(len(COUNTRY_CODES), n, p=COUNTRY_WEIGHTS),
                        rng.choice([F["credit"], F["debit"]], n, p=[0.85, 0.15]), rng)
    card = cards.copy()
    for r in np.flatnonzero(pred >= 0):
        if rng.random() < p.reuse_card * (1 - c):
            card[r] = card[pred[r]]
        if rng.random() < p.reuse_device * (1 - c):
            blk.device[r] = blk.device[pred[r]]
    b.topup_payments(blk, np.arange(n), card, rng, per_month=6.0, amount_mu=np.log(250), amount_sigma=0.6,
                     decline=0.1, refund=0.0, dispute=0.0)
    stolen = rng.random(n) < p.dispute_frac
    # Chargebacks land weeks later: payments on stolen cards older than ~a week show as disputed.
    old = blk.pay_ts < b.t_end - rng.uniform(5, 12) * US_PER_DAY
    disputed = stolen[blk.pay_acct] & old & (blk.pay_status == 0)
    blk.pay_status[disputed] = 3
    # Payments of banned accounts stop at the ban.
    keep = ~((ban[blk.pay_acct] >= 0) & (blk.pay_ts > ban[blk.pay_acct]))
    for name in ("pay_acct", "pay_ts", "pay_amount", "pay_card", "pay_status"):
        setattr(blk, name, getattr(blk, name)[keep])
    paraphrase_bank(b, blk, rng, p.bank_member_frac, p.bank_size, share=p.bank_share)  # last: no draw when 0
    return blk


KIND = RingKind("reseller_pool", True, Params, generate, min_size=2, max_size=200, doc=__doc__ or "")
