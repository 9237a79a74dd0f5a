"""Pass/fail thresholds over an `Evaluation` (the CI gate's bars): the same keys in TOML files and as
CLI options."""

from __future__ import annotations

from dataclasses import dataclass

from farmhunt.core.tomlconfig import ranged
from farmhunt.evaluation.metrics import EvalSettings, Evaluation


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail bars; None = not checked. Same keys in TOML files and as CLI options."""

    min_recall: float | None = ranged(None, 0.0, 1.0)
    min_precision: float | None = ranged(None, 0.0, 1.0)
    max_hard_negative_rate: float | None = ranged(None, 0.0, 1.0)  # pooled over every hard-negative kind
    min_rings_detected: float | None = ranged(None, 0.0, 1.0)  # share of fraud rings (>= ring_min_size) detected
    ring_min_size: int = ranged(1, 1, 10**9)
    coverage: float = ranged(0.9, 0.0, 1.0, lo_open=True)  # member coverage at which a ring counts as detected

    def validate(self) -> None:
        from farmhunt.core.errors import ConfigError

        for name in ("min_recall", "min_precision", "max_hard_negative_rate", "min_rings_detected", "coverage"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ConfigError(f"'{name}': {v} is not in [0, 1]")
        if self.ring_min_size < 1:
            raise ConfigError(f"'ring_min_size': {self.ring_min_size} must be >= 1")

    @property
    def eval_settings(self) -> EvalSettings:
        return EvalSettings(coverage=self.coverage, ring_min_size=self.ring_min_size)

    def any(self) -> bool:
        return any(
            getattr(self, n) is not None
            for n in ("min_recall", "min_precision", "max_hard_negative_rate", "min_rings_detected")
        )


@dataclass(frozen=True)
class Check:
    """One threshold's outcome."""

    name: str
    value: float | None
    op: str  # ">=" or "<="
    bound: float
    passed: bool

    def describe(self) -> str:
        v = "n/a" if self.value is None else f"{self.value:.4f}"
        return f"{self.name}: {v} {'' if self.passed else 'NOT '}{self.op} {self.bound:g}"


def check_thresholds(ev: Evaluation, t: Thresholds) -> list[Check]:
    """Compare an evaluation with the thresholds; a figure that cannot be computed fails its check."""
    figures = {
        "min_recall": (ev.account["recall"], ">="),
        "min_precision": (ev.account["precision"], ">="),
        "max_hard_negative_rate": (ev.hard_negatives["hard_negatives"]["rate"], "<="),
        "min_rings_detected": (ev.rings_summary["detected_share"], ">="),
    }
    checks = []
    for name, (value, op) in figures.items():
        bound = getattr(t, name)
        if bound is None:
            continue
        if name == "max_hard_negative_rate" and value is None:
            value = 0.0  # no hard negatives in the world: none flagged
        ok = value is not None and (value >= bound if op == ">=" else value <= bound)
        checks.append(Check(name, value, op, bound, bool(ok)))
    return checks
