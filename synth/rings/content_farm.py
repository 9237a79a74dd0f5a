"""content_farm: a distillation farm that shares no infrastructure; only its content and usage shape.

Every account is an ordinary-looking customer: aged (created weeks to months before the window, a
few inside it, at human hours), its own residential IP, device, phone, benign-shaped email and its
own card (BINs of its country's issuers). Each sends a few requests a day on the office week at
human hours, either in the operator's time zone or in its own country's. The coordination is the
content: most prompts are paraphrases of one shared bank of capability prompts (each use is the bank
prompt's 64-bit SimHash with exactly `flip_min`..`flip_max` distinct bits flipped, so a 4 x 16-bit
banding that guarantees matches only up to 3 bits misses most of them), on the top model, with long
output-heavy reasoning answers. Camouflage c lowers the bank share and the top-model share and
moves members to their own time zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farmhunt.core.errors import ConfigError
from synth.behaviour import CAPABILITY_TOPICS, CAPABILITY_WEIGHTS, P, TOP_MODEL
from synth.rings.base import RingContext, RingKind, check_fractions, check_positive, pick
from synth.world import AccountBlock, Builder


@dataclass
class Params:
    requests_per_day: float = 4.0    # per account and active day: a few
    active_share: float = 0.6        # probability of being active on a day
    bank_size: int = 300             # prompts in the shared bank
    flip_min: int = 4                # paraphrase distance: bits flipped from the bank prompt's hash
    flip_max: int = 10
    bank_frac: float = 0.8           # share of requests that are bank paraphrases
    age_days_min: float = 20.0       # aged accounts: created this many to `age_days_max` days before the window
    age_days_max: float = 240.0
    new_frac: float = 0.1            # share signing up inside the window (staggered over its first 70%)
    operator_tz_frac: float = 0.5    # members working the operator's office week in the operator's time zone
    top_model_share: float = 0.9
    output_boost: float = 1.2        # log-shift of output tokens (long reasoning answers)
    paying_frac: float = 0.85

    def validate(self) -> None:
        check_fractions(self, "active_share", "bank_frac", "new_frac", "operator_tz_frac", "top_model_share",
                        "paying_frac")
        check_positive(self, "requests_per_day", "bank_size")
        if not 0 <= self.flip_min <= self.flip_max <= 32:
            raise ConfigError(f"'params.flip_min'/'params.flip_max': need 0 <= flip_min <= flip_max <= 32, "
                              f"got {self.flip_min}, {self.flip_max}")
        if not 0 <= self.age_days_min <= self.age_days_max:
            raise ConfigError(f"'params.age_days_min': need 0 <= age_days_min <= age_days_max, "
                              f"got {self.age_days_min}, {self.age_days_max}")


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    p: Params = ctx.params
    rng, n, c = ctx.rng, ctx.size, ctx.camouflage
    blk = b.block(n, rng)  # own country, name, email, home IP, device, phone
    new = rng.random(n) < p.new_frac
    blk.created = b.signup_times(n, rng, -p.age_days_max, -p.age_days_min, tz=blk.tz)
    if new.any():
        blk.created[new] = b.signup_times(int(new.sum()), rng, 0, max(1.0, b.days * 0.7), tz=blk.tz[new])
    blk.start_day = np.maximum(b.day_of(blk.created) + 1, 0)

    # The operator's working week: office hours on weekdays, in its time zone or the member's own.
    blk.profile = np.full(n, P["office"])
    op_tz = float(rng.choice([-5.0, 0.0, 1.0, 3.0, 5.5, 8.0]))
    at_op = rng.random(n) < p.operator_tz_frac * (1 - c)
    blk.tz[at_op] = op_tz
    blk.rate = p.requests_per_day * rng.lognormal(0, 0.35, n)
    blk.p_active = np.clip(rng.normal(p.active_share, 0.1, n), 0.05, 1.0)
    blk.burst = np.full(n, 4.0)

    # Content: paraphrases of one shared bank of capability prompts.
    bank = b.capability_templates(p.bank_size, rng)
    blk.tgroup = np.full(n, b.new_tgroup(bank, flips=(p.flip_min, p.flip_max)))
    blk.p_tpl = np.clip(p.bank_frac * (1 - 0.4 * c) + rng.normal(0, 0.05, n), 0, 1)
    blk.t1 = pick(rng, CAPABILITY_TOPICS, n)
    blk.t2 = rng.choice(CAPABILITY_TOPICS, n, p=CAPABILITY_WEIGHTS)
    blk.p1 = np.full(n, 0.6)
    blk.model_pref = np.full(n, TOP_MODEL)
    blk.p_model = np.clip(np.full(n, p.top_model_share * (1 - 0.3 * c)), 0, 1)
    blk.out_shift = p.output_boost + rng.normal(0, 0.15, n)
    blk.in_shift = rng.normal(-0.1, 0.2, n)

    # Own cards, one each (many BINs and issuers: the member's country's pools).
    blk.plan = np.where(rng.random(n) < p.paying_frac, 1, 0)
    payers = np.flatnonzero(blk.plan > 0)
    card = b.personal_cards(blk, rng)
    b.topup_payments(blk, payers, card[payers], rng, per_month=1.0, amount_mu=np.log(20), amount_sigma=0.5)
    return blk


KIND = RingKind("content_farm", True, Params, generate, min_size=2, max_size=20_000, doc=__doc__ or "")
