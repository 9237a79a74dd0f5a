"""The benign population: ordinary people with heavy-tailed usage and their own identities.

It carries the noise that keeps the rings from being trivially separable: some benign people use
VPN/hosting exits, prepaid cards, night hours, scripts running around the clock, their own prompt
templates, shared household devices and mobile carrier NAT IPs shared with strangers.
"""

from __future__ import annotations

import numpy as np

from synth.behaviour import P
from synth.config import BenignConfig
from synth.world import US_PER_DAY, AccountBlock, Builder


def generate_population(b: Builder, cfg: BenignConfig) -> AccountBlock:
    """All plain benign accounts (labels: ring_kind 'benign', no ring)."""
    rng = b.rng("benign")
    n = cfg.accounts
    new = rng.random(n) < cfg.new_frac
    # Existing accounts: older ones rarer (growth), up to history_days before the window.
    before = (rng.random(n) ** 1.6) * cfg.history_days
    created = b.t0 - (before * US_PER_DAY).astype(np.int64)
    country = None
    if cfg.country_weights is not None:  # a population with its own mix of countries (and time zones)
        from synth.behaviour import Categorical

        country = Categorical(cfg.country_weights)(rng, n)
    blk = b.block(n, rng, country=country, created=created, phone_frac=cfg.phone_frac)
    if new.any():
        blk.created[new] = b.signup_times(int(new.sum()), rng, 0, b.days, tz=blk.tz[new])
    blk.start_day = np.maximum(b.day_of(blk.created) + 1, 0)

    blk.plan = rng.choice(4, n, p=np.array(cfg.plan_mix) / sum(cfg.plan_mix))
    plan_mult = np.array([1.0, 3.0, 8.0, 5.0])[blk.plan]
    blk.rate = rng.lognormal(np.log(cfg.rate_median), cfg.rate_sigma, n) * plan_mult
    a = 1.3
    m = cfg.active_mean
    blk.p_active = np.clip(rng.beta(a, a * (1 - m) / m, n), 0.02, 1.0)
    dormant = rng.random(n) < cfg.dormant_frac
    blk.rate[dormant] = 0.0

    # Diurnal habits.
    u = rng.random(n)
    prof = np.full(n, P["human"])
    edges = np.cumsum([cfg.night_frac, cfg.flat_frac, 0.12, 0.1])
    prof[u < edges[3]] = P["office"]
    prof[u < edges[2]] = P["evening"]
    prof[u < edges[1]] = P["flat"]
    prof[u < edges[0]] = P["night"]
    blk.profile = prof
    flat = prof == P["flat"]
    blk.burst[flat] = 8.0
    blk.p_active[flat] = np.maximum(blk.p_active[flat], 0.8)

    # Networks: home, sometimes mobile (carrier NAT), work, travel, VPN.
    mob = rng.random(n) < 0.45
    work = rng.random(n) < 0.2
    travel = rng.random(n) < 0.08
    vpn = rng.random(n) < cfg.vpn_frac
    mob_ip = np.full(n, -1)
    mob_ip[mob] = b.home_ips(blk.country[mob], rng, "mobile")
    work_ip = np.full(n, -1)
    work_ip[work] = b.ips_of_kind("business", int(work.sum()), rng)
    trav_ip = np.full(n, -1)
    trav_ip[travel] = b.home_ips(rng.choice(blk.country, int(travel.sum())), rng)
    vpn_ip = np.full(n, -1)
    vpn_ip[vpn] = b.ips_of_kind("hosting", int(vpn.sum()), rng)
    stack = np.stack([blk.ip_vals, mob_ip, work_ip, trav_ip, vpn_ip], axis=1)
    # A VPN user's exit is often the main address.
    swap = vpn & (rng.random(n) < 0.6)
    stack[swap, 0], stack[swap, 4] = stack[swap, 4], stack[swap, 0].copy()
    keep = stack >= 0
    blk.ip_vals = stack[keep].astype(np.int64)
    blk.ip_lens = keep.sum(axis=1).astype(np.int64)
    blk.signup_ip = stack[:, 0].copy()
    mob_first = mob & (rng.random(n) < 0.3)  # mobile-first people: signed up on the phone
    blk.signup_ip[mob_first] = mob_ip[mob_first]

    # Developers call through SDKs; others through the browser console.
    dev = rng.random(n) < 0.35
    blk.p_ua1[dev] = rng.uniform(0.0, 0.3, int(dev.sum()))

    # Personal templates: a person re-sending their own prompt skeleton.
    pt = np.flatnonzero(rng.random(n) < cfg.personal_template_frac)
    k = rng.integers(1, 4, len(pt))
    tpl = b.new_templates(np.repeat(blk.t1[pt], k), rng)
    for i, ids in zip(pt, np.split(tpl, np.cumsum(k)[:-1])):
        blk.tgroup[i] = b.new_tgroup(ids)
    blk.p_tpl[pt] = rng.uniform(0.15, 0.6, len(pt))

    # Households: two accounts on one device.
    hh = np.flatnonzero(rng.random(n) < cfg.shared_device_frac)
    if len(hh):
        blk.device[hh] = blk.device[rng.integers(0, n, len(hh))]

    rot = rng.random(n) < 0.03
    blk.rotation_days[rot] = rng.uniform(5, 60, int(rot.sum()))

    # Payments: paid plans top up; some free accounts buy credits once.
    card = b.personal_cards(blk, rng, cfg.prepaid_frac)
    paying = (blk.plan > 0) | (rng.random(n) < 0.08)
    who = np.flatnonzero(paying)
    mu = np.log(np.array([10.0, 20.0, 250.0, 900.0]))[blk.plan[who]]
    per_month = np.array([0.3, 1.2, 1.5, 1.0])[blk.plan[who]]
    second = rng.random(len(who)) < cfg.second_card_frac
    cards = card[who].copy()
    if second.any():
        cards[second] = b.personal_cards(blk, rng, cfg.prepaid_frac)[who[second]]
    # Per-plan top-ups: vectorised per plan tier.
    for tier in range(4):
        m_ = blk.plan[who] == tier
        if m_.any():
            b.topup_payments(blk, who[m_], cards[m_], rng, float(per_month[m_][0]), float(mu[m_][0]))
    return blk
