"""ci_fleet (benign look-alike): a company's CI / batch accounts.

Looks like a farm: several accounts paid by one corporate card, created by one engineer (often the
same device), calling from one cloud provider's range (hosting ASN) through one SDK, templated jobs
(the test-suite and code-review prompts), synchronised: every account fires its batch at the same
nightly instants, every night, with steady volume. No org workspace (CI accounts are often plain
accounts on the company's card). Differs from a farm: one card for all (not pools of prepaid cards),
a company email domain, a long history, volume inside a nightly window instead of 24/7, a non-top
model, ordinary output lengths, and no growth or churn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farmhunt.core.errors import ConfigError
from synth.behaviour import P, T
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, benign_emails
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, AccountBlock, Builder, F


@dataclass
class Params:
    requests_per_day: float = 120.0  # per account, all inside the nightly window
    window_start: float = 1.0        # local hour the nightly window opens
    window_hours: float = 3.0
    slots: int = 12                  # job start instants per night, shared by the fleet
    jitter_s: float = 30.0
    templates: int = 4
    template_frac: float = 0.95
    hosting_ips: int = 4             # IPs in one cloud provider's range
    same_device: float = 0.7         # accounts created from the engineer's machine

    def validate(self) -> None:
        check_fractions(self, "template_frac", "same_device")
        check_positive(self, "requests_per_day", "window_hours", "slots", "jitter_s", "templates", "hosting_ips")
        if not 0.0 <= self.window_start < 24.0:
            raise ConfigError(f"'params.window_start': a local hour within [0, 24), got {self.window_start}")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n = ctx.rng, ctx.size
    hq = int(rng.choice(len(COUNTRY_CODES), p=COUNTRY_WEIGHTS))
    created = b.t0 - (rng.uniform(10, 500, n) * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, country=np.full(n, hq), created=created)
    blk.start_day = np.zeros(n, np.int64)
    tz = float(blk.tz[0])
    blk.tz = np.full(n, tz)
    ci = int(rng.integers(len(b.pools.companies)))
    blk.email = benign_emails(b.pools, blk.first, blk.last, rng,
                              domains=np.full(n, b.pools.company_domains[ci], dtype=object))
    blk.device[rng.random(n) < p.same_device] = blk.device[0]
    blk.phone[:] = None
    cloud = b.ips_of_kind("hosting", p.hosting_ips, rng, pick(rng, b.asns_of("hosting"), 1))
    k = rng.integers(1, p.hosting_ips + 1, n)
    blk.set_ips((pick(rng, cloud, int(k.sum())).astype(np.int64), k.astype(np.int64)))
    blk.ip_exp = np.full(n, 1.0)
    blk.signup_ip = np.full(n, blk.signup_ip[0])   # signed up from the office
    # Nightly jobs: every account fires at the fleet's shared instants inside the window.
    sync = b.new_sync(slots_per_day=p.slots, jitter_s=p.jitter_s, window=(p.window_start - tz, p.window_hours))
    blk.sync = np.full(n, sync)
    blk.profile = np.full(n, P["flat"])
    blk.rate = p.requests_per_day * rng.lognormal(0, 0.3, n)
    blk.p_active = np.full(n, 0.97)
    blk.burst = np.full(n, 30.0)
    topics = np.array([T["coding"], T["data_analysis"], T["other"], T["writing"]])
    tg = b.new_tgroup(b.new_templates(pick(rng, topics, p.templates), rng))
    blk.tgroup = np.full(n, tg)
    blk.p_tpl = np.full(n, p.template_frac)
    blk.t1 = np.full(n, T["coding"])
    blk.p1 = np.full(n, 0.8)
    blk.model_pref = np.full(n, int(rng.choice([1, 2, 3])))
    blk.p_model = np.full(n, 0.95)
    sdk = b.n_browser_ua + int(rng.integers(len(b.ua) - b.n_browser_ua))
    blk.ua1 = np.full(n, sdk)
    blk.p_ua1 = np.full(n, 1.0)
    blk.plan = np.full(n, 2)
    card = b.new_cards(np.array([hq]), np.array([F["credit"]]), rng)[0]
    b.topup_payments(blk, np.arange(n), np.full(n, card), rng, per_month=1.0, amount_mu=np.log(300),
                     amount_sigma=0.2, decline=0.005, refund=0.0, dispute=0.0)
    return blk


KIND = RingKind("ci_fleet", False, Params, generate, min_size=2, max_size=500, doc=__doc__ or "")
