"""campus_nat (benign look-alike): students of one university behind a few campus NAT IPs.

Looks like a ring: hundreds of accounts sharing a handful of education-network IPs, a common email
domain and a semester-start signup wave. Differs: separate devices and (rare) cards, organic diverse
prompts, student-hour diurnal cycle, home and mobile IPs too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.behaviour import P, T
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, benign_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, AccountBlock, Builder


@dataclass
class Params:
    nat_ips: int = 4
    edu_email_frac: float = 0.7
    home_frac: float = 0.6           # students who also use a home/mobile connection
    requests_per_day: float = 4.0
    paying_frac: float = 0.12
    semester_wave: float = 0.45      # share signing up in the semester's first days
    active_share: float = 0.4

    def validate(self) -> None:
        check_fractions(self, "edu_email_frac", "home_frac", "paying_frac", "semester_wave", "active_share")
        check_positive(self, "nat_ips", "requests_per_day")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    ui = int(rng.integers(40))
    edu_asn = np.flatnonzero(np.array(b.asn_org) == str(b.pools.universities[ui]))
    country = int(rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))
    cc = np.where(rng.random(n) < 0.85, country, rng.choice(len(COUNTRY_CODES), n, p=COUNTRY_WEIGHTS))
    term = rng.uniform(-60, -5)
    day = np.where(rng.random(n) < p.semester_wave, term + rng.uniform(0, 4, n), rng.uniform(-400, b.days, n))
    created = b.t0 + (day * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, country=cc, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    edu = rng.random(n) < p.edu_email_frac
    dom = np.full(int(edu.sum()), b.pools.university_domains[ui], dtype=object)
    blk.email[edu] = benign_emails(b.pools, blk.first[edu], blk.last[edu], rng, domains=dom)
    nat = b.ips_of_kind("education", p.nat_ips, rng, edu_asn if len(edu_asn) else None)
    home = rng.random(n) < p.home_frac
    # the campus NAT first, then the home IP of those who also study from home
    first = pick(rng, nat, n).astype(np.int64)
    lens = 1 + home.astype(np.int64)
    vals = np.empty(int(lens.sum()), np.int64)
    starts = np.cumsum(lens) - lens
    vals[starts] = first
    vals[starts[home] + 1] = blk.ip_vals[home]
    blk.set_ips((vals, lens))
    blk.signup_ip = np.where(rng.random(n) < 0.7, pick(rng, nat, n), blk.ip_vals[np.cumsum(blk.ip_lens) - blk.ip_lens])
    blk.ip_exp = np.full(n, 1.8)
    blk.profile = np.full(n, P["student"])
    blk.rate = rng.lognormal(np.log(p.requests_per_day), 1.0, n)
    study = np.array([T["coding"], T["math"], T["writing"], T["chat"], T["data_analysis"], T["translation"]])
    blk.t1, blk.t2 = pick(rng, study, n), pick(rng, study, n)
    blk.plan = np.where(rng.random(n) < p.paying_frac, 1, 0)
    payers = np.flatnonzero(blk.plan > 0)
    card = b.personal_cards(blk, rng)
    b.topup_payments(blk, payers, card[payers], rng, per_month=1.0, amount_mu=np.log(10))
    return blk


KIND = RingKind("campus_nat", False, Params, generate, min_size=2, max_size=20_000, doc=__doc__ or "")
