"""The signal table: the additive scoring model's signals, weights and biases, read from `signals.toml`.

`load_signal_table(path)` reads a signal table (by default the one shipped in this package) into frozen
dataclasses and validates it: an unknown key, column, family or baseline, or a ramp whose `high` is not
above a numeric `low`, is a `ConfigError` naming the key. `default_table()` is the shipped table, read once.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from farmhunt.core.errors import ConfigError
from farmhunt.core.tomlconfig import read_toml
from farmhunt.engine.settings import SIGNALS as LINK_REASONS

#: Fraud families (a flagged cluster's predicted kind is the strongest of these).
FAMILIES: tuple[str, ...] = ("distillation_farm", "reseller_pool", "card_testing", "key_abuse")
#: Every family a signal can belong to: the fraud families, benign explanations, and coordination.
ALL_FAMILIES: tuple[str, ...] = (*FAMILIES, "benign_org", "shared")
#: Cluster aggregates computed in `model.cluster_aggregates` besides the listed medians, means and ties.
DERIVED_COLUMNS: tuple[str, ...] = (
    "tie_device_phone",
    "tie_email",
    "tie_content",
    "key_rotation",
    "diurnal",
    "org_top_share",
)
#: Baselines computed in `model.baselines` besides the listed active and paying columns.
DERIVED_BASELINES: tuple[str, ...] = ("key_rotation", "diurnal")
#: Derived aggregates one account cannot show on its own (an account-level signal may not read them).
_CLUSTER_ONLY = ("tie_device_phone", "tie_email", "tie_content", "diurnal", "org_top_share")


@dataclass(frozen=True)
class Signal:
    """One piece of evidence: a cluster aggregate, its strength ramp, weight and family."""

    name: str
    column: str
    family: str  # distillation_farm, reseller_pool, card_testing, benign_org, shared
    weight: float
    low: str | float  # strength 0 at or below this (a float, or a population baseline name)
    high: float  # strength 1 at or above this
    text: str  # format with value, baseline
    #: Cheap to fake (a time shape, an org id, coordination of timing): cheap benign evidence may cancel at
    #: most the cheap fraud evidence of a cluster, never expensive evidence (see `model.score_clusters`).
    cheap: bool = False


@dataclass(frozen=True)
class AccountRule:
    """The decision for an account judged alone: bias, per-signal weights, and the anomaly term's weight."""

    bias: float
    anomaly_weight: float
    weights: tuple[tuple[str, float], ...]  # (signal name, weight), in the signal table's order


@dataclass(frozen=True)
class SignalTable:
    """The whole scoring model as data (see `signals.toml` for what each part means)."""

    bias: float
    signals: tuple[Signal, ...]
    account: AccountRule
    median: tuple[str, ...]  # cluster aggregates: median over members
    mean: tuple[str, ...]  # cluster aggregates: mean over members
    ties: tuple[str, ...]  # linkage reasons read as tie_<reason>
    baseline_active: tuple[str, ...]  # baselines: median and p95 over accounts with requests
    baseline_paying: tuple[str, ...]  # baselines: mean and p95 over accounts with payments
    #: Per-request shares and ratios (of `baseline_active`): one member's are shrunk toward the baseline
    #: by its request count when it is judged against its cluster (`model.peripheral_members`).
    request_shares: tuple[str, ...] = ()
    #: Per-payment shares (of `baseline_paying`, or other payment features): shrunk the same way by a member's
    #: payment count where it is judged on another family's behaviour than its cluster's.
    payment_shares: tuple[str, ...] = ()

    @property
    def account_signals(self) -> tuple[Signal, ...]:
        """Signals an account is judged on alone, carrying their account-level weights."""
        w = dict(self.account.weights)
        return tuple(replace(s, weight=w[s.name]) for s in self.signals if s.name in w)

    def columns(self) -> tuple[str, ...]:
        """Every cluster aggregate a signal may read."""
        return (*self.median, *self.mean, *(f"tie_{r}" for r in self.ties), *DERIVED_COLUMNS)

    def baseline_names(self) -> tuple[str, ...]:
        """Every population baseline a ramp's `low` may name."""
        names = [*self.baseline_active, *self.baseline_paying]
        return (*names, *(f"{n}_hi" for n in names), *DERIVED_BASELINES)

    def with_weights(
        self, weights: dict[str, float], bias: float, account_weights: dict[str, float], account_bias: float
    ) -> SignalTable:
        """A copy with new cluster weights and bias, and new account-level weights and bias (fitted ones)."""
        sigs = tuple(replace(s, weight=float(weights.get(s.name, s.weight))) for s in self.signals)
        acc = tuple((n, float(account_weights.get(n, w))) for n, w in self.account.weights)
        return replace(
            self, bias=float(bias), signals=sigs, account=replace(self.account, bias=float(account_bias), weights=acc)
        )


_TOP = {"bias", "aggregates", "baselines", "account", "signal"}
_SIGNAL_KEYS = ("name", "column", "family", "weight", "low", "high", "text")


def _num(v: Any, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"'{key}': expected a finite number, got {v!r}")
    return float(v)


def _names(v: Any, key: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigError(f"'{key}': expected a list of names, got {v!r}")
    if len(set(v)) != len(v):
        raise ConfigError(f"'{key}': a name is listed twice")
    return tuple(v)


def _table(data: Any, key: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"'{key}': expected a table, got {data!r}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"unknown key '{key}.{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(allowed - set(data))
    if missing:
        raise ConfigError(f"'{key}': missing key '{missing[0]}'")
    return data


def parse_signal_table(data: dict[str, Any]) -> SignalTable:
    """Build and validate a `SignalTable` from a parsed signals TOML document."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(_TOP))})")
    for k in sorted(_TOP - set(data)):
        raise ConfigError(f"missing key '{k}'")
    agg = _table(data["aggregates"], "aggregates", {"median", "mean", "ties"})
    raw_bas = data["baselines"]
    shares = raw_bas.get("shares", []) if isinstance(raw_bas, dict) else []
    pay_shares = raw_bas.get("payment_shares", []) if isinstance(raw_bas, dict) else []
    bas = _table(
        {k: v for k, v in raw_bas.items() if k not in ("shares", "payment_shares")}
        if isinstance(raw_bas, dict)
        else raw_bas,
        "baselines",
        {"active", "paying"},
    )
    acc = _table(data["account"], "account", {"bias", "anomaly_weight", "weights"})
    ties = _names(agg["ties"], "aggregates.ties")
    bad = [t for t in ties if t not in LINK_REASONS]
    if bad:
        raise ConfigError(f"'aggregates.ties': unknown linkage reason {bad[0]!r} (known: {', '.join(LINK_REASONS)})")
    if not isinstance(data["signal"], list) or not data["signal"]:
        raise ConfigError("'signal': expected one or more [[signal]] tables")
    table = SignalTable(
        bias=_num(data["bias"], "bias"),
        signals=(),
        account=AccountRule(0.0, 0.0, ()),
        median=_names(agg["median"], "aggregates.median"),
        mean=_names(agg["mean"], "aggregates.mean"),
        ties=ties,
        baseline_active=_names(bas["active"], "baselines.active"),
        baseline_paying=_names(bas["paying"], "baselines.paying"),
        request_shares=_names(shares, "baselines.shares"),
        payment_shares=_names(pay_shares, "baselines.payment_shares"),
    )
    stray = [c for c in table.request_shares if c not in table.baseline_active]
    if stray:
        raise ConfigError(f"'baselines.shares': {stray[0]!r} is not listed in 'baselines.active'")
    columns, baselines = set(table.columns()), set(table.baseline_names())
    stray = [c for c in table.payment_shares if c not in table.mean]
    if stray:
        raise ConfigError(f"'baselines.payment_shares': {stray[0]!r} is not listed in 'aggregates.mean'")
    sigs: list[Signal] = []
    for i, raw in enumerate(data["signal"]):
        name = raw.get("name") if isinstance(raw, dict) else None
        key = f"signal[{i}]" + (f" ({name})" if isinstance(name, str) else "")
        cheap = raw.get("cheap", False) if isinstance(raw, dict) else False
        if not isinstance(cheap, bool):
            raise ConfigError(f"'{key}.cheap': expected true or false, got {cheap!r}")
        raw = _table({k: v for k, v in raw.items() if k != "cheap"}, key, set(_SIGNAL_KEYS))
        for k in ("name", "column", "family", "text"):
            if not isinstance(raw[k], str) or not raw[k]:
                raise ConfigError(f"'{key}.{k}': expected a non-empty string, got {raw[k]!r}")
        if raw["column"] not in columns:
            raise ConfigError(f"'{key}.column': unknown column {raw['column']!r} (known: {', '.join(sorted(columns))})")
        if raw["family"] not in ALL_FAMILIES:
            raise ConfigError(f"'{key}.family': unknown family {raw['family']!r} (known: {', '.join(ALL_FAMILIES)})")
        weight = _num(raw["weight"], f"{key}.weight")
        high = _num(raw["high"], f"{key}.high")
        low: str | float
        if isinstance(raw["low"], str):
            if raw["low"] not in baselines:
                raise ConfigError(
                    f"'{key}.low': unknown baseline {raw['low']!r} (known: {', '.join(sorted(baselines))})"
                )
            low = raw["low"]
        else:
            low = _num(raw["low"], f"{key}.low")
            if not high > low:
                raise ConfigError(f"'{key}': bad ramp, high ({high}) must be above low ({low})")
        try:
            raw["text"].format(value=0.0, baseline=0.0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"'{key}.text': not a format string with {{value}} and {{baseline}}: {exc}") from exc
        sigs.append(Signal(raw["name"], raw["column"], raw["family"], weight, low, high, raw["text"], cheap))
    names = [s.name for s in sigs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"'signal': name {dup[0]!r} is used twice")
    weights = acc["weights"]
    if not isinstance(weights, dict):
        raise ConfigError(f"'account.weights': expected a table, got {weights!r}")
    by_name = {s.name: s for s in sigs}
    for n in weights:
        if n not in by_name:
            raise ConfigError(f"'account.weights.{n}': unknown signal (known: {', '.join(names)})")
        col = by_name[n].column
        if col.startswith("tie_") or col in _CLUSTER_ONLY:
            raise ConfigError(f"'account.weights.{n}': reads {col!r}, which one account cannot show alone")
        _num(weights[n], f"account.weights.{n}")
    account = AccountRule(
        bias=_num(acc["bias"], "account.bias"),
        anomaly_weight=_num(acc["anomaly_weight"], "account.anomaly_weight"),
        weights=tuple((s.name, float(weights[s.name])) for s in sigs if s.name in weights),
    )
    return replace(table, signals=tuple(sigs), account=account)


def load_signal_table(path: str | Path | None = None) -> SignalTable:
    """Read and validate a signals TOML file (by default the shipped `signals.toml`)."""
    if path is None:
        return default_table()
    try:
        return parse_signal_table(read_toml(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


@cache
def default_table() -> SignalTable:
    """The shipped signal table (`farmhunt/engine/scoring/signals.toml`), read once."""
    text = resources.files(__package__).joinpath("signals.toml").read_text(encoding="utf-8")
    try:
        return parse_signal_table(tomllib.loads(text))
    except (ConfigError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"shipped signals.toml: {exc}") from exc
