"""distillation_farm: one operator's accounts harvesting capability outputs from the top model.

Signals: signup waves, name+digits emails on few domains, small device and virtual-phone pools,
prepaid/virtual cards reused by several accounts, residential-proxy or hosting exits, low-and-slow
but flat 24/7 volume synchronised across accounts, output-heavy capability templates on the top model.
Camouflage c: diurnal mimicry, own devices/cards/phones, more templates, staggered signups, less IP sharing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farmhunt.core.errors import ConfigError
from synth.behaviour import CAPABILITY_TOPICS, CAPABILITY_WEIGHTS, P, TOP_MODEL
from synth.identity import COUNTRY_CODES, COUNTRY_WEIGHTS, FARM_MAIL, farm_emails
from synth.rings.base import (
    RingContext,
    RingKind,
    check_fractions,
    check_positive,
    paraphrase_bank,
    pick,
    unique_where,
)
from synth.world import US_PER_H, AccountBlock, Builder, F, phones


@dataclass
class Params:
    requests_per_day: float = 25.0   # per account, low-and-slow
    waves: int = 4
    wave_hours: float = 5.0
    prestart_days: float = 10.0      # first waves may predate the window (aged accounts)
    accounts_per_device: float = 8.0
    accounts_per_phone: float = 5.0
    phone_frac: float = 0.8
    accounts_per_card: float = 4.0
    paying_frac: float = 0.7
    ip_mode: str = "residential_proxy"   # or "hosting"
    ips_per_account: float = 1.5     # size of the exit pool relative to the ring
    templates: int = 10
    template_frac: float = 0.9
    output_boost: float = 1.1        # log-shift of output tokens
    sync_frac: float = 0.85
    email_domains: int = 3
    # The camouflaged (mega-)farm design: each knob below is the share of members that hide that way.
    # -1 (the default) ties it to the ring's camouflage c, as before; set them to vary independently.
    mimic_frac: float = -1.0         # diurnal mimicry: a human day in the member's claimed local time
    own_instruments_frac: float = -1.0  # own device, own phone and own card instead of the pools'
    stagger_frac: float = -1.0       # staggered signups instead of waves
    stagger_days: float = -1.0       # staggered signups reach this far back (aged accounts); -1: prestart_days
    own_ip_frac: float = 0.0         # members with their own residential IP (no exit sharing at all)
    organic_share: float = -1.0      # share of a member's requests that are organic (popular topics, own
    #                                  words); -1: 1 - template_frac x (1 - c/2)
    bank_member_frac: float = 0.0    # members whose templated prompts are paraphrases of a prompt bank
    bank_size: int = 300             # ... of this many capability prompts, 4-10 bits from each (base.paraphrase_bank)

    def validate(self) -> None:
        check_fractions(self, "phone_frac", "paying_frac", "template_frac", "sync_frac", "own_ip_frac",
                        "bank_member_frac")
        for name in ("mimic_frac", "own_instruments_frac", "stagger_frac", "organic_share"):
            v = getattr(self, name)
            if v != -1.0 and not 0.0 <= v <= 1.0:
                raise ConfigError(f"'params.{name}': must be within [0, 1] (or -1: follow camouflage), got {v}")
        if self.stagger_days != -1.0 and not self.stagger_days >= 0:
            raise ConfigError(f"'params.stagger_days': must be >= 0 (or -1: prestart_days), got {self.stagger_days}")
        check_positive(self, "requests_per_day", "waves", "wave_hours", "accounts_per_device",
                       "accounts_per_phone", "accounts_per_card", "ips_per_account", "templates", "email_domains",
                       "bank_size")
        if self.ip_mode not in ("residential_proxy", "hosting"):
            raise ConfigError(f"'params.ip_mode': 'residential_proxy' or 'hosting', got {self.ip_mode!r}")


def _share(v: float, c: float) -> float:
    return c if v == -1.0 else v


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n, c = ctx.rng, ctx.size, ctx.camouflage
    c_mimic, c_own, c_stag = _share(p.mimic_frac, c), _share(p.own_instruments_frac, c), _share(p.stagger_frac, c)
    stagger_days = p.prestart_days if p.stagger_days == -1.0 else p.stagger_days
    claimed = rng.choice(len(COUNTRY_CODES), int(rng.integers(1, 4)), p=COUNTRY_WEIGHTS, replace=False)
    country = pick(rng, claimed, n)
    mixed = rng.random(n) < c
    country[mixed] = rng.choice(len(COUNTRY_CODES), int(mixed.sum()), p=COUNTRY_WEIGHTS)
    # Signup waves (camouflaged accounts are staggered over the whole period instead).
    centres = np.sort(rng.uniform(-p.prestart_days, b.days * 0.6, p.waves))
    wave = rng.integers(0, p.waves, n)
    created_f = centres[wave] * 24 + np.abs(rng.normal(0, p.wave_hours, n))
    stag = rng.random(n) < c_stag
    created_f[stag] = rng.uniform(-stagger_days, b.days * 0.8, int(stag.sum())) * 24
    created = b.t0 + (created_f * US_PER_H).astype(np.int64)
    blk = b.block(n, rng, country=country, created=created)
    blk.start_day = np.maximum(b.day_of(created) + 1, 0)
    domains = tuple(rng.choice(FARM_MAIL, min(p.email_domains, len(FARM_MAIL)), replace=False))
    blk.email = farm_emails(b.pools, blk.first, blk.last, rng, domains, np.full(n, c))

    # Small pools of devices and virtual phones; camouflage gives some accounts their own.
    devs = b.new_devices(max(1, int(np.ceil(n / p.accounts_per_device))))
    blk.device = unique_where(rng.random(n) < c_own, pick(rng, devs, n), b.new_devices)
    vphones = phones(np.zeros(max(1, int(np.ceil(n / p.accounts_per_phone))), np.int64), rng, 1.0, voip=True)
    ph = pick(rng, vphones, n)
    own = rng.random(n) < c_own
    ph[own] = phones(country[own], rng, 1.0)
    ph[rng.random(n) >= p.phone_frac] = None
    blk.phone = ph

    # Exits: a shared residential-proxy pool or a few hosting ranges.
    pool_n = max(8, int(n * p.ips_per_account * (1 + 4 * c)))
    if p.ip_mode == "hosting":
        asns = pick(rng, b.asns_of("hosting"), int(rng.integers(2, 4)))
        pool = b.ips_of_kind("hosting", max(4, pool_n // 12), rng, asns)
    else:
        pool = b.home_ips(rng.choice(len(COUNTRY_CODES), pool_n, p=COUNTRY_WEIGHTS), rng)
    k = rng.integers(2, 7, n)
    vals = pick(rng, pool, int(k.sum()))
    blk.set_ips((vals.astype(np.int64), k.astype(np.int64)))
    blk.ip_exp = np.full(n, 1.0)
    blk.signup_ip = vals[np.cumsum(k) - k]
    if p.own_ip_frac > 0:  # these members use only their own home IP (drawn from a stream of their own)
        orng = np.random.default_rng([int(rng.integers(2**63)), 0x0417])
        solo = orng.random(n) < p.own_ip_frac
        home = b.home_ips(country, orng)
        keep = np.repeat(~solo, k)
        owner = np.concatenate([np.repeat(np.arange(n), k)[keep], np.flatnonzero(solo)])
        order = np.argsort(owner, kind="stable")
        v = np.concatenate([vals[keep], home[solo]])[order].astype(np.int64)
        lens = np.where(solo, 1, k).astype(np.int64)
        blk.set_ips((v, lens))
        blk.signup_ip = v[np.cumsum(lens) - lens]

    # Behaviour: flat, steady, synchronised, capability templates on the top model.
    blk.rate = p.requests_per_day * rng.lognormal(0, 0.25, n)
    blk.p_active = np.full(n, 0.96)
    blk.burst = np.full(n, 12.0)
    blk.profile = np.full(n, P["flat"])
    mimic = rng.random(n) < c_mimic
    blk.profile[mimic] = P["human"]
    blk.tz[~mimic] = 0.0
    if p.sync_frac > 0:
        sync = b.new_sync(slots_per_day=int(rng.integers(48, 145)), jitter_s=20 + 900 * c)
        synced = (rng.random(n) < p.sync_frac * (1 - c)) & ~mimic
        blk.sync[synced] = sync
    tg = b.new_tgroup(b.capability_templates(int(p.templates * (1 + 3 * c)), rng))
    blk.tgroup = np.full(n, tg)
    tpl_share = p.template_frac * (1 - 0.5 * c) if p.organic_share == -1.0 else 1.0 - p.organic_share
    blk.p_tpl = np.clip(tpl_share + rng.normal(0, 0.03, n), 0, 1)
    blk.t1 = pick(rng, CAPABILITY_TOPICS, n)
    blk.t2 = rng.choice(CAPABILITY_TOPICS, n, p=CAPABILITY_WEIGHTS)
    blk.p1, blk.p2 = np.full(n, 0.5), np.full(n, 0.3)
    if p.organic_share != -1.0:  # organic traffic mixed in: the popularity mix, not only capability topics
        blk.p1 = np.full(n, 0.5 * (1 - p.organic_share))
    blk.model_pref = np.full(n, TOP_MODEL)
    blk.p_model = np.full(n, 0.95 - 0.25 * c)
    blk.out_shift = p.output_boost + rng.normal(0, 0.15, n)
    blk.in_shift = rng.normal(-0.2, 0.2, n)
    sdk = b.n_browser_ua + rng.integers(0, len(b.ua) - b.n_browser_ua, 2)
    blk.ua1 = pick(rng, sdk, n)
    blk.p_ua1 = np.full(n, 0.95)
    camo_ua = rng.random(n) < c
    blk.ua1[camo_ua] = rng.integers(0, b.n_browser_ua, int(camo_ua.sum()))
    blk.plan = np.where(rng.random(n) < 0.7, 1, 0)

    # Cards: prepaid/virtual, each reused by several accounts.
    paying = np.flatnonzero(rng.random(n) < p.paying_frac)
    n_cards = max(1, int(np.ceil(len(paying) / p.accounts_per_card)))
    funding = rng.choice([F["prepaid"], F["virtual"], F["credit"]], n_cards, p=[0.5, 0.35, 0.15])
    cards = b.new_cards(pick(rng, claimed, n_cards), funding, rng)
    card = pick(rng, cards, len(paying))
    own_card = rng.random(len(paying)) < c_own
    if own_card.any():
        card[own_card] = b.personal_cards(blk, rng)[paying[own_card]]
    b.topup_payments(blk, paying, card, rng, per_month=2.0, amount_mu=np.log(10), amount_sigma=0.4,
                     decline=0.08, refund=0.0, dispute=0.01)
    paraphrase_bank(b, blk, rng, p.bank_member_frac, p.bank_size)  # last: no draw (same ring) when 0
    return blk


KIND = RingKind("distillation_farm", True, Params, generate, min_size=2, max_size=100_000,
                doc=__doc__ or "")
