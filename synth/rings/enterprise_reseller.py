"""enterprise_reseller: a token reseller dressed as an enterprise customer.

Cheap-to-fake benign evidence: an org workspace (one org_id for every member), the enterprise plan,
one company email domain, an office IP on a business ISP, office-hour-shaped traffic in the claimed
headquarters' time zone. Expensive-to-fake evidence it cannot hide: relay volume (~150 requests per
account-day, lognormal), relay IPs on hosting networks shared by the members, topic diversity of many
end users, SDK clients, key rotation, and stolen cards from many countries foreign to the headquarters
(several per account, not one corporate card), many of which are later disputed or refunded.
Camouflage c: more members on office hours, more traffic through the office IP, fewer card countries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.behaviour import P
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, benign_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, AccountBlock, Builder, F


@dataclass
class Params:
    requests_per_day: float = 150.0
    active_share: float = 0.9
    relay_ips: int = 4               # hosting IPs shared by the members
    office_ip_frac: float = 0.4      # members that also send through the company's office IP
    office_hours_frac: float = 0.7   # members whose traffic follows office hours (the rest: 3-continent relay day)
    card_countries: int = 8          # countries the stolen cards come from
    cards_per_account: float = 1.5
    dispute_frac: float = 0.5        # share of cards that are stolen and later disputed
    refund_frac: float = 0.1         # share of cards whose payments are refunded
    rotation_days: float = 7.0

    def validate(self) -> None:
        check_fractions(self, "active_share", "office_ip_frac", "office_hours_frac", "dispute_frac", "refund_frac")
        check_positive(self, "requests_per_day", "relay_ips", "card_countries", "cards_per_account", "rotation_days")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n, c = ctx.rng, ctx.size, ctx.camouflage
    hq = int(rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))
    country = np.where(rng.random(n) < 0.8, hq, rng.choice(len(COUNTRY_CODES), n, p=COUNTRY_WEIGHTS))
    rollout = rng.uniform(-90, b.days * 0.3)
    created = b.t0 + ((rollout + rng.uniform(0, 0.5 + 10 * c, n)) * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, country=country, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    ci = int(rng.integers(len(b.pools.companies)))
    blk.email = benign_emails(b.pools, blk.first, blk.last, rng,
                              domains=np.full(n, b.pools.company_domains[ci], dtype=object))
    blk.org = np.full(n, b.new_orgs(1)[0])
    blk.plan = np.full(n, 3)
    hq_tz = float(blk.tz[country == hq][0]) if (country == hq).any() else float(blk.tz[0])
    blk.tz = np.full(n, hq_tz)

    # Networks: the shared relay exits, and the office IP some members also use.
    relay = b.ips_of_kind("hosting", p.relay_ips, rng, pick(rng, b.asns_of("hosting"), 2))
    office = b.ips_of_kind("business", 1, rng)
    k = rng.integers(1, max(2, p.relay_ips) + 1, n)
    via_office = rng.random(n) < min(1.0, p.office_ip_frac * (1 + c))
    lens = k + via_office
    vals = np.empty(int(lens.sum()), np.int64)
    st = np.cumsum(lens) - lens
    pos = np.repeat(st, k) + (np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k))
    vals[pos] = pick(rng, relay, int(k.sum()))
    vals[(st + k)[via_office]] = office[0]
    blk.set_ips((vals, lens.astype(np.int64)))
    blk.ip_exp = np.full(n, 1.0)
    blk.signup_ip = np.where(via_office, office[0], vals[st])

    # Relay volume and many end users' topics, shaped like office hours (or the relay's 3-continent day).
    blk.rate = p.requests_per_day * rng.lognormal(0, 0.5, n)
    blk.p_active = np.full(n, p.active_share)
    blk.burst = np.full(n, 5.0)
    office_h = rng.random(n) < min(1.0, p.office_hours_frac + (1 - p.office_hours_frac) * c)
    blk.profile = np.where(office_h, P["office"], P["mixed_tz"])
    blk.p1 = rng.uniform(0.05, 0.2, n)
    blk.p2 = rng.uniform(0.03, 0.12, n)
    blk.p_model = rng.uniform(0.1, 0.4, n)
    blk.rotation_days = rng.uniform(0.5, 1.5, n) * p.rotation_days
    sdk = b.n_browser_ua + rng.integers(0, len(b.ua) - b.n_browser_ua, 2)
    blk.ua1, blk.ua2 = pick(rng, sdk, n), pick(rng, sdk, n)
    blk.p_ua1 = np.full(n, 0.8)

    # Stolen cards from several countries other than the headquarters; each account holds a few.
    others = np.array([i for i in range(len(COUNTRY_CODES)) if i != hq])
    w = COUNTRY_WEIGHTS[others] / COUNTRY_WEIGHTS[others].sum()
    n_cc = int(min(len(others), max(1, round(p.card_countries * (1 - 0.5 * c)))))
    card_cc = rng.choice(others, n_cc, p=w, replace=False)
    per = 1 + rng.poisson(max(p.cards_per_account - 1, 0.0), n)
    owner = np.repeat(np.arange(n), per)
    cards = b.new_cards(pick(rng, card_cc, len(owner)), rng.choice([F["credit"], F["debit"]], len(owner), p=[0.85, 0.15]), rng)
    b.topup_payments(blk, owner, cards, rng, per_month=3.0, amount_mu=np.log(400), amount_sigma=0.6,
                     decline=0.1, refund=0.0, dispute=0.0)
    u = rng.random(len(cards))
    stolen = u < p.dispute_frac
    refunded = (u >= p.dispute_frac) & (u < p.dispute_frac + p.refund_frac)
    card_pos = np.searchsorted(cards, blk.pay_card)  # cards are consecutive ids
    old = blk.pay_ts < b.t_end - rng.uniform(5, 12) * US_PER_DAY
    ok = blk.pay_status == 0
    blk.pay_status[stolen[card_pos] & old & ok] = 3
    blk.pay_status[refunded[card_pos] & ok & (rng.random(len(ok)) < 0.5)] = 2
    return blk


KIND = RingKind("enterprise_reseller", True, Params, generate, min_size=2, max_size=5000, doc=__doc__ or "")
