"""enterprise_team (benign look-alike): one company's seats on one workspace.

Looks like a ring: tens to hundreds of accounts on one org_id, one corporate card, one email domain,
shared office IPs on a business ASN, an onboarding signup wave and a shared internal prompt template.
Differs: office hours on weekdays in one local time zone, unique devices, organic diverse work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.behaviour import P, T
from synth.identity import benign_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, AccountBlock, Builder, F


@dataclass
class Params:
    office_ips: int = 3
    remote_frac: float = 0.3
    requests_per_day: float = 15.0
    onboarding_frac: float = 0.5     # share of seats created in the initial roll-out
    shared_template_frac: float = 0.4
    active_share: float = 0.5

    def validate(self) -> None:
        check_fractions(self, "remote_frac", "onboarding_frac", "shared_template_frac", "active_share")
        check_positive(self, "office_ips", "requests_per_day")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    ci = int(rng.integers(len(b.pools.companies)))
    domain = b.pools.company_domains[ci]
    from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS

    hq = int(rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))
    country = np.where(rng.random(n) < 0.85, hq, rng.choice(len(COUNTRY_CODES), n, p=COUNTRY_WEIGHTS))
    rollout = rng.uniform(-200, b.days * 0.5)
    day = np.where(rng.random(n) < p.onboarding_frac, rollout + rng.uniform(0, 0.25, n),
                   rng.uniform(rollout, b.days, n))
    created = b.t0 + (day * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, country=country, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    blk.tz[:] = blk.tz[country == hq][0] if (country == hq).any() else blk.tz[0]
    blk.email = benign_emails(b.pools, blk.first, blk.last, rng, domains=np.full(n, domain, dtype=object))
    org = b.new_orgs(1)[0]
    blk.org = np.full(n, org)
    blk.plan = np.full(n, 3)
    office = b.ips_of_kind("business", p.office_ips, rng, pick(rng, b.asns_of("business"), 1))
    lists = []
    remote = rng.random(n) < p.remote_frac
    for i in range(n):
        o = office[rng.permutation(len(office))]
        lists.append(np.concatenate([[blk.ip_vals[i]], o]) if remote[i] else o)
    blk.set_ips(lists)
    blk.signup_ip = np.array([x[0] for x in lists])
    blk.ip_exp = np.full(n, 1.5)
    blk.profile = np.full(n, P["office"])
    blk.rate = rng.lognormal(np.log(p.requests_per_day), 0.8, n)
    blk.p_active = np.clip(rng.beta(4, 2, n), 0.2, 1)
    work = np.array([T["coding"], T["data_analysis"], T["writing"], T["agentic"]])
    blk.t1, blk.t2 = pick(rng, work, n), pick(rng, work, n)
    tg = b.new_tgroup(b.new_templates(pick(rng, work, 2), rng))
    users = rng.random(n) < p.shared_template_frac
    blk.tgroup[users] = tg
    blk.p_tpl[users] = rng.uniform(0.1, 0.4, int(users.sum()))
    sso = b.n_browser_ua + int(rng.integers(len(b.ua) - b.n_browser_ua))
    blk.ua2 = np.full(n, sso)
    # One corporate card pays every seat, monthly.
    card = b.new_cards(np.array([hq]), np.array([F["credit"]]), rng)[0]
    b.topup_payments(blk, np.arange(n), np.full(n, card), rng, per_month=1.0, amount_mu=np.log(30),
                     amount_sigma=0.1, decline=0.005, refund=0.002, dispute=0.0)
    return blk


KIND = RingKind("enterprise_team", False, Params, generate, min_size=2, max_size=5000, doc=__doc__ or "")
