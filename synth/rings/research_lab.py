"""research_lab (benign look-alike): a research group running model evaluations.

Looks like a distillation farm: templated benchmark prompts on capability topics (math, coding,
agentic), long output-heavy answers, synchronised batches fired by a scheduler, several accounts
paid by one card. Differs: one org workspace, a university (education ASN, .edu emails) or company
(business ISP) network, one lab card, real researchers' names and office/student hours for their own
organic work, evaluations spread over several models (they compare them), batches inside working
hours or one nightly window rather than flat 24/7.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farmhunt.core.errors import ConfigError
from synth.behaviour import CAPABILITY_TOPICS, P
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, benign_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, AccountBlock, Builder, F


@dataclass
class Params:
    requests_per_day: float = 150.0  # eval-runner accounts; researchers send ~1/10 of it
    runner_frac: float = 0.5         # accounts running the eval batches (the rest: researchers' organic work)
    templates: int = 40              # benchmark items
    template_frac: float = 0.9
    batches: int = 6                 # batch instants per day
    window: str = "office"           # batches in working hours ("office") or one nightly window ("night")
    network: str = "education"       # "education" (a university lab) or "business" (a company lab)
    output_boost: float = 0.8
    lab_ips: int = 3

    def validate(self) -> None:
        check_fractions(self, "runner_frac", "template_frac")
        check_positive(self, "requests_per_day", "templates", "batches", "lab_ips")
        if self.window not in ("office", "night"):
            raise ConfigError(f"'params.window': 'office' or 'night', got {self.window!r}")
        if self.network not in ("education", "business"):
            raise ConfigError(f"'params.network': 'education' or 'business', got {self.network!r}")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    hq = int(rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))
    country = np.where(rng.random(n) < 0.7, hq, rng.choice(len(COUNTRY_CODES), n, p=COUNTRY_WEIGHTS))
    created = b.t0 + (rng.uniform(-400, b.days * 0.5, n) * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, country=country, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    tz = float(blk.tz[country == hq][0]) if (country == hq).any() else float(blk.tz[0])
    blk.tz = np.full(n, tz)
    if p.network == "education":
        ui = int(rng.integers(40))
        asn = np.flatnonzero(np.array(b.asn_org) == str(b.pools.universities[ui]))
        domain = b.pools.university_domains[ui]
        lab = b.ips_of_kind("education", p.lab_ips, rng, asn if len(asn) else None)
    else:
        domain = b.pools.company_domains[int(rng.integers(len(b.pools.companies)))]
        lab = b.ips_of_kind("business", p.lab_ips, rng, pick(rng, b.asns_of("business"), 1))
    blk.email = benign_emails(b.pools, blk.first, blk.last, rng, domains=np.full(n, domain, dtype=object))
    blk.org = np.full(n, b.new_orgs(1)[0])
    blk.plan = np.full(n, 3)
    # the lab network first, then each researcher's home
    lens = np.full(n, 2, np.int64)
    vals = np.empty(2 * n, np.int64)
    vals[0::2] = pick(rng, lab, n)
    vals[1::2] = blk.ip_vals
    blk.set_ips((vals, lens))
    blk.ip_exp = np.full(n, 2.0)
    blk.signup_ip = vals[0::2].copy()
    blk.profile = np.where(rng.random(n) < 0.5, P["office"], P["student"])

    # Eval runners: benchmark templates fired in synchronised batches, across several models.
    run = rng.random(n) < p.runner_frac
    run[int(rng.integers(n))] = True
    win = (9.0 - tz, 9.0) if p.window == "office" else (22.0 - tz, 6.0)
    sync = b.new_sync(slots_per_day=p.batches, jitter_s=90.0, window=win)
    tg = b.new_tgroup(b.new_templates(pick(rng, CAPABILITY_TOPICS, p.templates), rng))
    blk.sync[run] = sync
    blk.tgroup[run] = tg
    blk.p_tpl[run] = np.clip(rng.normal(p.template_frac, 0.04, int(run.sum())), 0, 1)
    blk.rate = np.where(run, p.requests_per_day, p.requests_per_day / 10) * rng.lognormal(0, 0.4, n)
    blk.p_active = np.where(run, 0.8, np.clip(rng.beta(4, 2, n), 0.2, 1))
    blk.t1 = pick(rng, CAPABILITY_TOPICS, n)
    blk.p1 = np.full(n, 0.5)
    blk.p_model = np.where(run, 0.25, blk.p_model)   # evals compare models
    blk.out_shift = np.where(run, p.output_boost, 0.0) + rng.normal(0, 0.2, n)
    sdk = b.n_browser_ua + int(rng.integers(len(b.ua) - b.n_browser_ua))
    blk.ua1 = np.where(run, sdk, blk.ua1)
    blk.p_ua1 = np.where(run, 1.0, blk.p_ua1)
    card = b.new_cards(np.array([hq]), np.array([F["credit"]]), rng)[0]
    b.topup_payments(blk, np.arange(n), np.full(n, card), rng, per_month=1.0, amount_mu=np.log(200),
                     amount_sigma=0.3, decline=0.005, refund=0.0, dispute=0.0)
    return blk


KIND = RingKind("research_lab", False, Params, generate, min_size=2, max_size=500, doc=__doc__ or "")
