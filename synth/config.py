"""World configuration: dataclasses, the built-in presets and strict TOML loading.

A config fully determines a world (together with its seed). Everything a preset sets can be set
from TOML; unknown keys, unknown ring kinds, negative sizes, rings larger than the population and
camouflage outside [0, 1] are rejected with a `ConfigError` naming the key, before anything is written.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from farmhunt.core.errors import ConfigError
from farmhunt.core.tomlconfig import from_dict


@dataclass
class BenignConfig:
    """The ordinary population: size, activity distribution and the noise knobs that blur the rings."""

    accounts: int = 3000
    new_frac: float = 0.3            # share of accounts that sign up inside the window (the rest existed)
    history_days: int = 720          # how far back the oldest accounts were created
    rate_median: float = 2.5         # median requests per active day (lognormal across accounts)
    rate_sigma: float = 1.4          # lognormal sigma: a few accounts are very heavy
    active_mean: float = 0.35        # mean probability that an account is active on a given day
    dormant_frac: float = 0.25       # accounts with no traffic at all in the window
    vpn_frac: float = 0.05           # people who also use a hosting/VPN exit
    night_frac: float = 0.08         # night owls (shifted diurnal profile)
    flat_frac: float = 0.01          # people running scripts around the clock
    personal_template_frac: float = 0.08  # people re-sending their own prompt templates
    prepaid_frac: float = 0.05       # cards that are prepaid or virtual
    second_card_frac: float = 0.05
    phone_frac: float = 0.5
    shared_device_frac: float = 0.01  # households / shared PCs: two accounts, one device
    plan_mix: list[float] = field(default_factory=lambda: [0.8, 0.15, 0.04, 0.01])  # free, payg, scale, enterprise
    country_weights: list[float] | None = None  # one weight per country (synth.identity.COUNTRIES order):
    #                                             the population's mix of countries and time zones; None: default

    def validate(self, prefix: str = "benign.") -> None:
        """Reject impossible values, naming the key."""
        if self.accounts < 1:
            raise ConfigError(f"'{prefix}accounts': must be >= 1, got {self.accounts}")
        for name in ("new_frac", "active_mean", "dormant_frac", "vpn_frac", "night_frac", "flat_frac",
                     "personal_template_frac", "prepaid_frac", "second_card_frac", "phone_frac",
                     "shared_device_frac"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"'{prefix}{name}': must be within [0, 1], got {v}")
        if self.active_mean <= 0:
            raise ConfigError(f"'{prefix}active_mean': must be > 0")
        if self.rate_median <= 0 or self.rate_sigma < 0:
            raise ConfigError(f"'{prefix}rate_median'/'rate_sigma': must be positive")
        if self.history_days < 1:
            raise ConfigError(f"'{prefix}history_days': must be >= 1")
        if len(self.plan_mix) != 4 or any(p < 0 for p in self.plan_mix) or sum(self.plan_mix) <= 0:
            raise ConfigError(f"'{prefix}plan_mix': four non-negative weights (free, payg, scale, enterprise)")
        if self.country_weights is not None:
            from synth.identity import COUNTRY_CODES

            w = self.country_weights
            if len(w) != len(COUNTRY_CODES) or any(not x >= 0 for x in w) or sum(w) <= 0:
                raise ConfigError(f"'{prefix}country_weights': {len(COUNTRY_CODES)} non-negative weights "
                                  f"({', '.join(COUNTRY_CODES)}), not all zero")


@dataclass
class RingSpec:
    """`count` rings of one `kind`; each ring's size is `size` or drawn from [size_min, size_max]."""

    kind: str = ""
    count: int = 1
    size: int | None = None
    size_min: int | None = None
    size_max: int | None = None
    camouflage: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    design: str | None = None        # label (ring_kind) of the design these rings are; None: the kind's name


@dataclass
class WorldConfig:
    """Everything that determines a world (with the seed)."""

    seed: int = 0
    start: str = "2026-01-05"        # first day of the window (UTC date)
    days: int = 14
    benign: BenignConfig = field(default_factory=BenignConfig)
    rings: list[RingSpec] = field(default_factory=list)
    prompt_sample_rate: float = 0.005
    prompt_sample_cap: int = 20_000
    chunk_days: int = 1              # days of requests per written row group
    scenario: dict[str, Any] | None = None  # free-form description of a scenario world (sweep), copied to the manifest

    @property
    def start_date(self) -> dt.date:
        return dt.date.fromisoformat(self.start)

    def validate(self) -> None:
        """Check the whole config; raise `ConfigError` naming the first bad key."""
        from synth.rings import KINDS  # local: rings import config types

        if self.seed < 0:
            raise ConfigError(f"'seed': must be >= 0, got {self.seed}")
        try:
            dt.date.fromisoformat(self.start)
        except ValueError as exc:
            raise ConfigError(f"'start': not an ISO date (YYYY-MM-DD): {self.start!r}") from exc
        if not 1 <= self.days <= 400:
            raise ConfigError(f"'days': must be within [1, 400], got {self.days}")
        if not 1 <= self.chunk_days <= self.days:
            raise ConfigError(f"'chunk_days': must be within [1, days], got {self.chunk_days}")
        if not 0.0 <= self.prompt_sample_rate <= 1.0:
            raise ConfigError(f"'prompt_sample_rate': must be within [0, 1], got {self.prompt_sample_rate}")
        if self.prompt_sample_cap < 0:
            raise ConfigError(f"'prompt_sample_cap': must be >= 0, got {self.prompt_sample_cap}")
        self.benign.validate()
        population = self.benign.accounts
        for i, r in enumerate(self.rings):
            key = f"rings[{i}]"
            if r.kind not in KINDS:
                raise ConfigError(f"'{key}.kind': unknown ring kind {r.kind!r} (known: {', '.join(sorted(KINDS))})")
            kind = KINDS[r.kind]
            if r.count < 0:
                raise ConfigError(f"'{key}.count': must be >= 0, got {r.count}")
            if not 0.0 <= r.camouflage <= 1.0:
                raise ConfigError(f"'{key}.camouflage': must be within [0, 1], got {r.camouflage}")
            if r.size is None and (r.size_min is None or r.size_max is None):
                raise ConfigError(f"'{key}.size': set size, or both size_min and size_max")
            for name in ("size", "size_min", "size_max"):
                v = getattr(r, name)
                if v is None:
                    continue
                if v < 1:
                    raise ConfigError(f"'{key}.{name}': must be >= 1 (a ring has at least one account), got {v}")
                if v > population:
                    raise ConfigError(f"'{key}.{name}': ring of {v} accounts is larger than the population "
                                      f"(benign.accounts = {population})")
                if v < kind.min_size or v > kind.max_size:
                    raise ConfigError(f"'{key}.{name}': {r.kind} rings have {kind.min_size} to "
                                      f"{kind.max_size} accounts, got {v}")
            if r.design is not None and (not r.design or not r.design.replace("_", "").isalnum()):
                raise ConfigError(f"'{key}.design': a name of letters, digits and '_', got {r.design!r}")
            if r.size is None and r.size_min > r.size_max:  # type: ignore[operator]
                raise ConfigError(f"'{key}.size_min': larger than size_max")
            ring_params(r, i)  # unknown or bad params raise here


def ring_params(spec: RingSpec, index: int | None = None) -> Any:
    """The ring kind's typed parameter dataclass built from `spec.params` (strict on keys and types)."""
    from synth.rings import KINDS

    prefix = f"rings[{'' if index is None else index}].params."
    return from_dict(KINDS[spec.kind].Params, dict(spec.params), prefix=prefix)


def _ring(kind: str, count: int = 1, size: int | None = None, lo: int | None = None, hi: int | None = None,
          camouflage: float = 0.0, **params: Any) -> RingSpec:
    return RingSpec(kind=kind, count=count, size=size, size_min=lo, size_max=hi, camouflage=camouflage,
                    params=params)


def tiny() -> WorldConfig:
    return WorldConfig(
        seed=1, days=14,
        benign=BenignConfig(accounts=2300),
        rings=[
            _ring("distillation_farm", size=120, camouflage=0.1),
            _ring("distillation_farm", size=35, camouflage=0.4, ip_mode="hosting"),
            _ring("reseller_pool", size=3),
            _ring("reseller_pool", size=8, camouflage=0.2),
            _ring("reseller_pool", size=20),
            _ring("card_testing", size=25),
            _ring("enterprise_team", size=60),
            _ring("enterprise_team", size=25),
            _ring("campus_nat", size=150),
            _ring("multi_account_user", count=10, lo=2, hi=4),
            _ring("automation", count=3, size=1),
            _ring("popular_app", size=80),
        ],
    )


def demo() -> WorldConfig:
    return WorldConfig(
        seed=7, days=30,
        benign=BenignConfig(accounts=17_800, rate_median=1.3),
        rings=[
            _ring("distillation_farm", size=400, camouflage=0.1, requests_per_day=15.0),
            _ring("distillation_farm", size=150, camouflage=0.3, ip_mode="hosting", requests_per_day=15.0),
            _ring("distillation_farm", size=60, camouflage=0.5, requests_per_day=12.0),
            _ring("distillation_farm", size=30, camouflage=0.2, ip_mode="hosting", requests_per_day=20.0),
            _ring("reseller_pool", count=2, lo=3, hi=8, requests_per_day=120.0),
            _ring("reseller_pool", size=25, camouflage=0.2, requests_per_day=120.0),
            _ring("reseller_pool", size=40, requests_per_day=120.0),
            _ring("card_testing", count=2, lo=20, hi=40),
            _ring("enterprise_team", count=3, lo=25, hi=150),
            _ring("campus_nat", count=2, lo=150, hi=300),
            _ring("multi_account_user", count=40, lo=2, hi=4),
            _ring("automation", count=8, size=1),
            _ring("popular_app", count=2, lo=60, hi=200),
        ],
    )


def seed_scale() -> WorldConfig:
    # The publicly reported scale: a 25,000-account farm making ~28.8M exchanges over 44 days, and the
    # three earlier campaigns' volumes (150k, 3.4M, 13M exchanges) as smaller farms.
    return WorldConfig(
        seed=2026, days=44, prompt_sample_cap=100_000,
        benign=BenignConfig(accounts=1_000_000),
        rings=[
            # requests_per_day calibrated on measured runs (seed 1): accounts signing up mid-window and
            # camouflaged members (weekly cycles) send less than the nominal rate.
            _ring("distillation_farm", size=25_000, camouflage=0.2, requests_per_day=31.2),
            _ring("distillation_farm", size=300, camouflage=0.1, requests_per_day=12.4),
            _ring("distillation_farm", size=3000, camouflage=0.3, requests_per_day=38.3, ip_mode="hosting"),
            _ring("distillation_farm", size=10_000, camouflage=0.4, requests_per_day=38.8),
            _ring("reseller_pool", count=12, lo=3, hi=50),
            _ring("card_testing", count=6, lo=20, hi=200),
            _ring("enterprise_team", count=20, lo=20, hi=400),
            _ring("campus_nat", count=10, lo=200, hi=800),
            _ring("multi_account_user", count=300, lo=2, hi=4),
            _ring("automation", count=40, size=1),
            _ring("popular_app", count=6, lo=100, hi=2000),
        ],
    )


def adversarial() -> WorldConfig:
    cfg = demo()
    cfg.seed = 11
    camo = [0.6, 0.75, 0.9, 0.8, 0.7, 0.65, 0.85, 0.9, 0.6, 0.7, 0.8, 0.75, 0.9]
    for i, r in enumerate(cfg.rings):
        r.camouflage = camo[i % len(camo)]
    return cfg


def config_from_dict(data: dict[str, Any], base: WorldConfig | None = None) -> WorldConfig:
    """Strict dict -> `WorldConfig` (what a TOML file holds); validated."""
    cfg = from_dict(WorldConfig, data, base=copy.deepcopy(base) if base is not None else None)
    cfg.validate()
    return cfg


def config_to_dict(cfg: WorldConfig) -> dict[str, Any]:
    """Plain dict of a config, for manifest.json (round-trips through `config_from_dict`)."""
    d = dataclasses.asdict(cfg)
    for r in d["rings"]:
        for k in ("size", "size_min", "size_max", "design"):
            if r[k] is None:
                del r[k]
    # optional keys added later: absent when unset, so earlier worlds' manifests stay as they were
    if d["scenario"] is None:
        del d["scenario"]
    if d["benign"]["country_weights"] is None:
        del d["benign"]["country_weights"]
    return d


def expected_ring_sizes(cfg: WorldConfig) -> float:
    """Mean total accounts in rings (for estimates and summaries)."""
    total = 0.0
    for r in cfg.rings:
        mean = r.size if r.size is not None else (r.size_min + r.size_max) / 2  # type: ignore[operator]
        total += r.count * mean
    return total
