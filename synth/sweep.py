"""The scenario sweep: many small worlds, each drawing every ring design's knobs from wide ranges.

Domain randomisation for detection: a detector fitted and judged on the spread of these worlds, not on
one world, learns what separates abuse from benign coordination rather than one generator's constants.
World `i` of seed `s` is a pure function of (s, i): `sweep_config(s, i)` draws the population's own
habits (size, window, countries and time zones, hosting share, plan mix, request rates, noise) and,
for every design in `DESIGNS` (every fraud ring kind, the large camouflaged farm, and every benign
look-alike), its ring count, sizes, camouflage and kind parameters. Each world's manifest lists the
rings with their design, camouflage and every parameter value (`rings[].design`, `rings[].params`)
and the population's knobs (`scenario`); the labels' `ring_kind` is the design name.

    farmhunt synth --sweep 10 --out worlds/sweep --seed 1      # worlds/sweep/world-000 ... world-009
    python -m synth.sweep --n 10 --out worlds/sweep --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from synth.config import BenignConfig, RingSpec, WorldConfig
from synth.identity import COUNTRY_WEIGHTS

#: Expected request rows of a sweep world at most (`synth.estimate.expected_requests`); worlds whose
#: draws would send more have every request rate scaled down together (`scenario.rate_factor`).
REQUEST_BUDGET = 500_000

Knob = tuple  # ("u", lo, hi) uniform, ("lu", lo, hi) log-uniform, ("i", lo, hi) integer, ("c", [...]) choice


def _draw(rng: np.random.Generator, k: Knob) -> Any:
    kind = k[0]
    if kind == "u":
        return round(float(rng.uniform(k[1], k[2])), 4)
    if kind == "lu":
        return round(float(np.exp(rng.uniform(np.log(k[1]), np.log(k[2])))), 4)
    if kind == "i":
        return int(rng.integers(k[1], k[2] + 1))
    if kind == "c":
        return k[1][int(rng.integers(len(k[1])))]
    raise ValueError(f"unknown knob {k!r}")


# design -> kind, rings per world (lo, hi), ring size (lo, hi), camouflage (lo, hi), per-ring knobs,
# and "shared": one spec (same knobs) for all of the design's rings (tiny per-person groups)
DESIGNS: dict[str, dict[str, Any]] = {
    # ---- fraud
    "distillation_farm": dict(kind="distillation_farm", count=(1, 2), size=(20, 250), camo=(0.0, 0.6), knobs={
        "requests_per_day": ("lu", 8, 30), "ip_mode": ("c", ["residential_proxy", "hosting"]),
        "accounts_per_device": ("u", 3, 15), "accounts_per_card": ("u", 2, 8), "templates": ("i", 5, 30),
        "template_frac": ("u", 0.6, 0.95), "sync_frac": ("u", 0.3, 0.95), "waves": ("i", 1, 6)}),
    "mega_farm": dict(kind="distillation_farm", count=(1, 1), size=(200, 900), camo=(0.3, 0.9), knobs={
        "requests_per_day": ("lu", 3, 12), "ip_mode": ("c", ["residential_proxy", "hosting"]),
        "mimic_frac": ("u", 0.5, 1.0), "own_instruments_frac": ("u", 0.5, 1.0), "stagger_frac": ("u", 0.5, 1.0),
        "stagger_days": ("u", 30, 300), "own_ip_frac": ("u", 0.3, 1.0), "organic_share": ("u", 0.1, 0.5),
        "sync_frac": ("u", 0.0, 0.5), "templates": ("i", 20, 80), "accounts_per_device": ("u", 5, 40)}),
    "content_farm": dict(kind="content_farm", count=(1, 1), size=(100, 600), camo=(0.0, 0.6), knobs={
        "requests_per_day": ("lu", 2, 8), "bank_size": ("i", 100, 1000), "flip_min": ("i", 4, 6),
        "flip_max": ("i", 7, 10), "bank_frac": ("u", 0.5, 0.95), "operator_tz_frac": ("u", 0.0, 1.0),
        "age_days_max": ("u", 60, 365), "new_frac": ("u", 0.0, 0.3), "top_model_share": ("u", 0.6, 0.95),
        "output_boost": ("u", 0.7, 1.5), "active_share": ("u", 0.3, 0.8)}),
    "key_leak": dict(kind="key_leak", count=(1, 1), size=(5, 60), camo=(0.0, 0.7), knobs={
        "stream_requests_per_day": ("lu", 20, 150), "relay_mode": ("c", ["hosting", "residential_proxy"]),
        "relay_ips": ("i", 3, 40), "templates": ("i", 3, 30), "change_start": ("u", 0.05, 0.4),
        "change_end": ("u", 0.45, 0.85), "night_flat": ("u", 0.5, 1.0), "requests_per_day": ("lu", 3, 20)}),
    "account_takeover": dict(kind="account_takeover", count=(1, 1), size=(5, 60), camo=(0.0, 0.7), knobs={
        "stream_requests_per_day": ("lu", 20, 150), "relay_mode": ("c", ["hosting", "residential_proxy"]),
        "relay_ips": ("i", 3, 40), "templates": ("i", 3, 30), "change_start": ("u", 0.05, 0.4),
        "change_end": ("u", 0.45, 0.85), "night_flat": ("u", 0.5, 1.0), "requests_per_day": ("lu", 3, 20)}),
    "enterprise_reseller": dict(kind="enterprise_reseller", count=(1, 1), size=(5, 60), camo=(0.0, 0.8), knobs={
        "requests_per_day": ("lu", 50, 250), "relay_ips": ("i", 2, 10), "office_ip_frac": ("u", 0.1, 0.8),
        "office_hours_frac": ("u", 0.4, 1.0), "card_countries": ("i", 3, 15), "cards_per_account": ("u", 1, 3),
        "dispute_frac": ("u", 0.2, 0.8), "refund_frac": ("u", 0.0, 0.3)}),
    "reseller_pool": dict(kind="reseller_pool", count=(1, 2), size=(3, 40), camo=(0.0, 0.7), knobs={
        "requests_per_day": ("lu", 60, 200), "relay_ips": ("i", 2, 10), "churn_frac": ("u", 0.0, 0.5),
        "dispute_frac": ("u", 0.3, 0.9), "rotation_days": ("u", 1, 10)}),
    "card_testing": dict(kind="card_testing", count=(1, 1), size=(10, 60), camo=(0.0, 0.7), knobs={
        "attempts_per_account": ("lu", 5, 30), "decline_rate": ("u", 0.6, 0.95), "bin_span": ("i", 4, 64)}),
    "spread_card_testing": dict(kind="spread_card_testing", count=(1, 1), size=(40, 300), camo=(0.0, 0.8), knobs={
        "tester_frac": ("u", 0.5, 0.85), "tests_max": ("i", 1, 5), "decline_rate": ("u", 0.6, 0.95),
        "spread_days": ("u", 3, 30), "accounts_per_device": ("u", 1.5, 10), "requests_per_day": ("lu", 10, 80),
        "exit_mode": ("c", ["hosting", "residential_proxy"]), "dispute_frac": ("u", 0.2, 0.9)}),
    # ---- benign look-alikes
    "enterprise_team": dict(kind="enterprise_team", count=(1, 3), size=(15, 150), camo=(0, 0), knobs={
        "office_ips": ("i", 1, 6), "remote_frac": ("u", 0.1, 0.6), "requests_per_day": ("lu", 5, 30),
        "shared_template_frac": ("u", 0.1, 0.7)}),
    "campus_nat": dict(kind="campus_nat", count=(1, 2), size=(80, 300), camo=(0, 0), knobs={
        "nat_ips": ("i", 1, 8), "edu_email_frac": ("u", 0.3, 0.9), "requests_per_day": ("lu", 2, 8)}),
    "multi_account_user": dict(kind="multi_account_user", count=(10, 40), size=(2, 4), camo=(0, 0), shared=True,
                               knobs={"same_device": ("u", 0.6, 1.0), "same_card": ("u", 0.5, 1.0)}),
    "automation": dict(kind="automation", count=(2, 8), size=(1, 1), camo=(0, 0), shared=True, knobs={
        "requests_per_day": ("lu", 100, 400), "cron_frac": ("u", 0.2, 0.9)}),
    "popular_app": dict(kind="popular_app", count=(1, 2), size=(50, 250), camo=(0, 0), knobs={
        "templates": ("i", 1, 6), "template_frac": ("u", 0.4, 0.9), "requests_per_day": ("lu", 2, 10)}),
    "ci_fleet": dict(kind="ci_fleet", count=(1, 3), size=(3, 25), camo=(0, 0), knobs={
        "requests_per_day": ("lu", 40, 200), "window_start": ("u", 0, 5), "window_hours": ("u", 1, 5),
        "slots": ("i", 4, 40), "jitter_s": ("lu", 5, 300), "hosting_ips": ("i", 1, 8), "same_device": ("u", 0, 1),
        "templates": ("i", 2, 12)}),
    "household": dict(kind="household", count=(10, 40), size=(2, 6), camo=(0, 0), shared=True, knobs={
        "same_card": ("u", 0.6, 1.0), "shared_device": ("u", 0.0, 0.7)}),
    "research_lab": dict(kind="research_lab", count=(1, 2), size=(3, 20), camo=(0, 0), knobs={
        "requests_per_day": ("lu", 50, 200), "window": ("c", ["office", "night"]),
        "network": ("c", ["education", "business"]), "batches": ("i", 2, 12), "templates": ("i", 20, 200),
        "runner_frac": ("u", 0.2, 0.8)}),
}

#: Domain randomisation of content, on by default (`bank_mix=False`: the sweep worlds of earlier builds;
#: drawn from their own random stream, so every other knob of a world is what it is without them):
#: members of other fraud designs whose templated prompts are paraphrases of a prompt bank (4-10 bits from its prompts), as a
#: content farm's are. Real distillation farms, mega-farms and relays of distillation traffic draw from
#: paraphrased banks too; without this only content farms exercise the prompt-family signals, and a fit
#: without them drops them. Measured (README "Generalisation", seeds 303 -> 404): content-farm
#: leave-one-design-out F1 0.634 -> 0.959 with it on. Turning it on changed what every sweep seed
#: generates (README "Generalisation" figures are measured on the new worlds).
BANK_KNOBS: dict[str, dict[str, Knob]] = {
    "distillation_farm": {"bank_member_frac": ("u", 0.0, 0.6), "bank_size": ("i", 100, 1000)},
    "mega_farm": {"bank_member_frac": ("u", 0.0, 0.6), "bank_size": ("i", 100, 1000)},
    "reseller_pool": {"bank_member_frac": ("u", 0.0, 0.6), "bank_share": ("u", 0.1, 0.6),
                      "bank_size": ("i", 100, 1000)},
}

# the population's habits
POPULATION: dict[str, Knob] = {
    "accounts": ("i", 2500, 5000), "rate_median": ("lu", 0.8, 2.5), "rate_sigma": ("u", 1.0, 1.6),
    "active_mean": ("u", 0.2, 0.45), "dormant_frac": ("u", 0.1, 0.4), "new_frac": ("u", 0.15, 0.45),
    "vpn_frac": ("u", 0.01, 0.15), "night_frac": ("u", 0.03, 0.15), "flat_frac": ("u", 0.0, 0.03),
    "personal_template_frac": ("u", 0.02, 0.15), "prepaid_frac": ("u", 0.02, 0.12),
    "second_card_frac": ("u", 0.02, 0.1), "phone_frac": ("u", 0.3, 0.8), "shared_device_frac": ("u", 0.0, 0.03),
}
_RATE_KNOBS = ("requests_per_day", "stream_requests_per_day")


def world_seed(seed: int, index: int) -> int:
    """The generation seed of sweep world `index` of `seed`."""
    return int(np.random.default_rng([seed, index, 0x5EE9]).integers(0, 2**31 - 1))


def sweep_config(seed: int, index: int, bank_mix: bool = True) -> WorldConfig:
    """Sweep world `index` of `seed` (a pure function of both); `bank_mix`: draw `BANK_KNOBS` too."""
    from synth.estimate import expected_requests

    if seed < 0 or index < 0:
        from farmhunt.core.errors import ConfigError

        raise ConfigError(f"'sweep': seed and index must be >= 0, got {seed}, {index}")
    rng = np.random.default_rng([seed, index, 0x5CE7A])
    days = int(rng.integers(14, 29))
    start = (dt.date(2026, 1, 5) + dt.timedelta(days=int(rng.integers(0, 180)))).isoformat()
    pop = {k: _draw(rng, v) for k, v in POPULATION.items()}
    plan = rng.dirichlet(np.array([8.0, 1.6, 0.4, 0.12]) * float(rng.uniform(5, 30)))
    pop["plan_mix"] = [round(float(x), 4) + 1e-4 for x in plan]
    tilt = rng.lognormal(0.0, 0.9, len(COUNTRY_WEIGHTS))
    pop["country_weights"] = [round(float(x), 5) for x in COUNTRY_WEIGHTS * tilt / (COUNTRY_WEIGHTS * tilt).sum()]
    rings: list[RingSpec] = []
    bank_rng = np.random.default_rng([seed, index, 0xBA4C])
    for name, d in DESIGNS.items():
        count = int(rng.integers(d["count"][0], d["count"][1] + 1))
        specs = 1 if d.get("shared") else count
        for _ in range(specs):
            params = {k: _draw(rng, v) for k, v in d["knobs"].items()}
            if bank_mix:
                params.update({k: _draw(bank_rng, v) for k, v in BANK_KNOBS.get(name, {}).items()})
            camo = round(float(rng.uniform(*d["camo"])), 3) if d["camo"][1] > 0 else 0.0
            n_rings = count if d.get("shared") else 1
            lo, hi = d["size"]
            if d.get("shared"):
                spec = RingSpec(kind=d["kind"], count=n_rings, size_min=lo, size_max=hi, camouflage=camo,
                                params=params, design=name)
            else:
                spec = RingSpec(kind=d["kind"], count=1, size=int(rng.integers(lo, hi + 1)), camouflage=camo,
                                params=params, design=name)
            rings.append(spec)
    cfg = WorldConfig(seed=world_seed(seed, index), start=start, days=days, benign=BenignConfig(**pop), rings=rings)
    # keep the world small: scale every request rate down together when the estimate is over budget
    est = expected_requests(cfg)
    factor = min(1.0, REQUEST_BUDGET / max(est, 1.0))
    if factor < 1.0:
        cfg.benign.rate_median = round(cfg.benign.rate_median * factor, 4)
        for r in cfg.rings:
            for k in _RATE_KNOBS:
                if k in r.params:
                    r.params[k] = round(float(r.params[k]) * factor, 4)
    cfg.scenario = {"sweep": {"seed": seed, "index": index}, "rate_factor": round(factor, 4),
                    "population": {k: pop[k] for k in POPULATION}, "plan_mix": pop["plan_mix"],
                    "designs": sorted(DESIGNS)}
    cfg.validate()
    return cfg


def write_sweep(n: int, out: str | Path, seed: int = 0, fmt: str = "parquet", first: int = 0,
                on_world: Callable[[int, Path, dict, float], None] | None = None,
                bank_mix: bool = True) -> list[dict]:
    """Generate sweep worlds first .. first+n-1 of `seed` into out/world-000 ...; return their summaries."""
    from synth.generate import generate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for i in range(first, first + n):
        t = time.perf_counter()
        path = out / f"world-{i:03d}"
        summary = generate(sweep_config(seed, i, bank_mix), path, fmt)
        if on_world is not None:
            on_world(i, path, summary, time.perf_counter() - t)
        summaries.append(summary)
    return summaries


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m synth.sweep", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--format", default="parquet")
    ap.add_argument("--no-bank-mix", dest="bank_mix", action="store_false",
                    help="other fraud designs do not draw from paraphrased banks (the sweep worlds of earlier builds)")
    a = ap.parse_args(argv)
    t = time.perf_counter()

    def report(i: int, path: Path, s: dict, secs: float) -> None:
        print(f"{path}: {s['rows']['accounts']:,} accounts, {s['rows']['requests']:,} requests, {secs:.1f}s", flush=True)

    write_sweep(a.n, a.out, a.seed, a.format, a.first, report, a.bank_mix)
    print(f"{a.n} worlds in {time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    main()
