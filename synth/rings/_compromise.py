"""Shared by `key_leak` and `account_takeover`: real customers whose key or account an operator abuses.

The ring's accounts are ordinary, long-standing paying customers (developers calling through SDKs,
their own identity, card, home and work networks, human or office hours). From a change instant per
victim a second traffic stream starts on the account: on the customer's own key (a leaked key) or on a
new key of the account created at that instant (a takeover). The stream comes from the operator's
relay pool (hosting ranges or residential proxies in other countries, shared by every victim of the
operator), around the clock, templated from the operator's prompt set and output-heavy, on the top
model. The owner's organic traffic goes on unchanged. The stream has no marker column: it shows only
through behaviour (network, hours, content, volume, and for takeovers the key).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farmhunt.core.errors import ConfigError
from synth.behaviour import CAPABILITY_TOPICS, P, T, TOP_MODEL
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import US_PER_DAY, US_PER_H, AccountBlock, Builder


@dataclass
class Params:
    requests_per_day: float = 8.0          # the owner's organic traffic per active day
    active_share: float = 0.5
    stream_requests_per_day: float = 80.0  # the abusive stream per day (lognormal across victims)
    change_start: float = 0.15             # change instants uniform in [change_start, change_end] x window
    change_end: float = 0.7
    relay_mode: str = "hosting"            # or "residential_proxy"
    relay_ips: int = 12                    # the operator's relay pool, shared by all its victims
    templates: int = 12
    template_frac: float = 0.85
    output_boost: float = 1.0
    night_flat: float = 1.0                # share of streams running around the clock (else a 3-continent day)

    def validate(self) -> None:
        check_fractions(self, "active_share", "change_start", "change_end", "template_frac", "night_flat")
        check_positive(self, "requests_per_day", "stream_requests_per_day", "relay_ips", "templates")
        if self.change_start > self.change_end:
            raise ConfigError(f"'params.change_start': larger than change_end ({self.change_start} > {self.change_end})")
        if self.relay_mode not in ("hosting", "residential_proxy"):
            raise ConfigError(f"'params.relay_mode': 'hosting' or 'residential_proxy', got {self.relay_mode!r}")


def compromised(b: Builder, ctx: RingContext, new_key: bool) -> AccountBlock:
    """Victim accounts (the ring) with their second streams attached as `blk.streams`."""
    p: Params = ctx.params
    rng, n, c = ctx.rng, ctx.size, ctx.camouflage
    # --- the victims: long-standing paying developer customers
    created = b.t0 - (rng.uniform(30, 700, n) * US_PER_DAY).astype(np.int64)
    blk = b.block(n, rng, created=created)
    blk.start_day = np.zeros(n, np.int64)
    blk.plan = rng.choice([1, 2], n, p=[0.7, 0.3])
    blk.rate = rng.lognormal(np.log(p.requests_per_day), 0.7, n)
    blk.p_active = np.clip(rng.normal(p.active_share, 0.15, n), 0.1, 1.0)
    blk.profile = np.where(rng.random(n) < 0.5, P["office"], P["human"])
    blk.p_ua1 = rng.uniform(0.0, 0.3, n)          # mostly through an SDK
    work = rng.random(n) < 0.4
    if work.any():
        w_ip = b.ips_of_kind("business", int(work.sum()), rng)
        lens = 1 + work.astype(np.int64)
        vals = np.empty(int(lens.sum()), np.int64)
        st = np.cumsum(lens) - lens
        vals[st] = blk.ip_vals
        vals[st[work] + 1] = w_ip
        blk.set_ips((vals, lens))
    blk.rotation_days = np.full(n, np.inf)
    card = b.personal_cards(blk, rng)
    b.topup_payments(blk, np.arange(n), card, rng, per_month=1.2, amount_mu=np.log(40))

    # --- the operator: relay pool, prompt set, client
    if p.relay_mode == "hosting":
        relay = b.ips_of_kind("hosting", p.relay_ips, rng, pick(rng, b.asns_of("hosting"), int(rng.integers(1, 4))))
    else:
        relay = b.home_ips(rng.choice(len(COUNTRY_CODES), p.relay_ips, p=COUNTRY_WEIGHTS), rng)
    topics = np.concatenate([CAPABILITY_TOPICS, [T["writing"], T["chat"]]])
    tg = b.new_tgroup(b.new_templates(pick(rng, topics, p.templates), rng))
    sdk = b.n_browser_ua + rng.integers(0, len(b.ua) - b.n_browser_ua, 2)

    # --- the streams: one per victim, from its change day on
    s = b.block(n, rng, country=blk.country, created=blk.created)
    lo, hi = p.change_start * b.days, max(p.change_end * b.days, p.change_start * b.days + 1e-6)
    change = np.floor(rng.uniform(lo, hi, n)).astype(np.int64)
    s.start_day = np.clip(change, 1, max(1, b.days - 1))
    s.end_day = np.full(n, b.days, np.int64)
    k = rng.integers(2, 6, n)
    s.set_ips((pick(rng, relay, int(k.sum())).astype(np.int64), k.astype(np.int64)))
    s.ip_exp = np.full(n, 1.0)
    s.rate = rng.lognormal(np.log(p.stream_requests_per_day), 0.5, n) * (1 - 0.5 * c)
    s.p_active = np.full(n, 0.95)
    s.burst = np.full(n, 8.0)
    flat = rng.random(n) < p.night_flat * (1 - c)
    s.profile = np.where(flat, P["flat"], P["mixed_tz"])
    s.tz = np.zeros(n)
    s.tgroup = np.full(n, tg)
    s.p_tpl = np.clip(p.template_frac * (1 - 0.4 * c) + rng.normal(0, 0.04, n), 0, 1)
    s.t1 = pick(rng, CAPABILITY_TOPICS, n)
    s.p1 = np.full(n, 0.5)
    s.model_pref = np.full(n, TOP_MODEL)
    s.p_model = np.full(n, 0.9 - 0.3 * c)
    s.out_shift = p.output_boost + rng.normal(0, 0.15, n)
    s.in_shift = rng.normal(-0.2, 0.2, n)
    s.ua1 = pick(rng, sdk, n)
    s.ua2 = pick(rng, sdk, n)
    s.p_ua1 = np.full(n, 0.9)
    s.host = np.arange(n)
    s.new_key = np.full(n, new_key)
    # a takeover's key is created in the hours before its stream's first day
    s.key_at = b.t0 + s.start_day * US_PER_DAY - (rng.uniform(0.2, 6, n) * US_PER_H).astype(np.int64)
    blk.streams = s
    return blk


class StreamKind(RingKind):
    """A ring kind whose accounts also carry second streams: request estimates count both."""

    def rate(self, params: Params) -> float:
        own = float(params.requests_per_day) * float(params.active_share)
        share = 1.0 - (params.change_start + params.change_end) / 2
        return own + 0.95 * float(params.stream_requests_per_day) * np.exp(0.125) * share
