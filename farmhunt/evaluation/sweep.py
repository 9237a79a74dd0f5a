"""The generalisation report: detection scored per ring design, per camouflage level, and leave-one-design-out.

Evaluation never imports the engine's stages: the caller (`farmhunt sweep`, the composition root) passes
in `fit(worlds, exclude_design) -> model` and `apply(results, model) -> results`. A world here is its
detection results plus labels and the generator's per-ring design and camouflage (from the manifest).

Figures, pooled over the test worlds (accounts):
- per fraud kind (labels' `ring_kind`) and per design: recall = flagged share of its accounts; F1 uses the
  pooled precision of all flags (a kind has no false positives of its own), F1 = 2PR/(P+R);
- hard negatives: flagged share of non-fraud accounts other than plain `benign`; benign: plain benign flagged;
- camouflage: recall of fraud accounts per camouflage band of their ring;
- leave-one-design-out: weights fitted without any cluster or account of design D, applied to the test
  worlds; recall of D's accounts there and the pooled precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

CAMOUFLAGE_BANDS = (0.0, 0.25, 0.5, 0.75, 1.0001)


@dataclass
class SweepWorld:
    """One world's results with its labels, ring designs and camouflage levels."""

    name: str
    results: Any  # farmhunt.engine.results.Results
    labels: pl.DataFrame
    designs: dict[str, str] = field(default_factory=dict)
    camouflage: dict[str, float] = field(default_factory=dict)


def account_rows(world: SweepWorld, accounts: pl.DataFrame | None = None) -> pl.DataFrame:
    """world, account_id, flagged, is_fraud, ring_kind, design, camouflage: one row per labelled account."""
    acc = accounts if accounts is not None else world.results.accounts
    ring_ids = list(world.designs) or [""]
    meta = pl.DataFrame(
        {
            "ring_id": ring_ids,
            "design": [world.designs.get(r, "") for r in ring_ids],
            "camouflage": [world.camouflage.get(r) for r in ring_ids],
        },
        schema={"ring_id": pl.String, "design": pl.String, "camouflage": pl.Float64},
    )
    lab = world.labels.select("account_id", "ring_id", "ring_kind", pl.col("is_fraud").cast(pl.Boolean))
    return (
        acc.select("account_id", pl.col("flagged").fill_null(False))
        .join(lab, on="account_id", how="inner")
        .join(meta, on="ring_id", how="left")
        .select(
            pl.lit(world.name).alias("world"),
            "account_id",
            "flagged",
            "is_fraud",
            "ring_kind",
            pl.coalesce(pl.col("design").replace("", None), "ring_kind").alias("design"),
            "camouflage",
        )
    )


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def pooled(rows: pl.DataFrame) -> dict[str, Any]:
    """Account-level precision, recall, F1, hard-negative and plain-benign flag rates over `rows`."""
    tp = int((rows["flagged"] & rows["is_fraud"]).sum())
    fp = int((rows["flagged"] & ~rows["is_fraud"]).sum())
    fn = int((~rows["flagged"] & rows["is_fraud"]).sum())
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    hn = rows.filter(~pl.col("is_fraud") & (pl.col("ring_kind") != "benign"))
    bn = rows.filter(pl.col("ring_kind") == "benign")
    return {
        "accounts": rows.height,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": p,
        "recall": r,
        "f1": _f1(p, r),
        "hard_negative_rate": float(hn["flagged"].mean()) if hn.height else None,  # type: ignore[arg-type]
        "benign_rate": float(bn["flagged"].mean()) if bn.height else None,  # type: ignore[arg-type]
    }


def per_group(rows: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per `by` value: accounts, flagged, rate (recall for fraud groups), F1 with the pooled precision."""
    p = pooled(rows)["precision"]
    out = (
        rows.group_by(by)
        .agg(pl.col("is_fraud").any().alias("is_fraud"), pl.len().alias("accounts"), pl.col("flagged").sum())
        .with_columns((pl.col("flagged") / pl.col("accounts")).alias("rate"))
        .sort(["is_fraud", by], descending=[True, False])
    )
    f1 = [_f1(p, r) if fr else None for fr, r in zip(out["is_fraud"], out["rate"])]
    return out.with_columns(pl.Series("f1", f1, dtype=pl.Float64))


def per_camouflage(rows: pl.DataFrame) -> pl.DataFrame:
    """Recall of fraud accounts per camouflage band of their ring (rings without a level are left out)."""
    fr = rows.filter(pl.col("is_fraud") & pl.col("camouflage").is_not_null())
    b = CAMOUFLAGE_BANDS
    band = pl.lit(None, pl.String)
    for lo, hi in reversed(list(zip(b[:-1], b[1:]))):
        band = (
            pl.when((pl.col("camouflage") >= lo) & (pl.col("camouflage") < hi))
            .then(pl.lit(f"{lo:.2f}-{min(hi, 1.0):.2f}"))
            .otherwise(band)
        )
    return (
        fr.with_columns(band.alias("camouflage_band"))
        .group_by("camouflage_band")
        .agg(pl.len().alias("accounts"), pl.col("flagged").sum())
        .with_columns((pl.col("flagged") / pl.col("accounts")).alias("recall"))
        .sort("camouflage_band")
    )


@dataclass
class SweepReport:
    """Every table of the generalisation report."""

    overall: dict[str, dict[str, Any]]  # detector label -> pooled figures on the test worlds
    kinds: dict[str, pl.DataFrame]  # detector label -> per ring kind
    designs: dict[str, pl.DataFrame]  # detector label -> per design
    camouflage: dict[str, pl.DataFrame]
    per_world: pl.DataFrame  # detector, world, precision, recall, f1, hn, benign
    lodo: pl.DataFrame  # design, accounts, flagged, recall, precision, f1
    validation: pl.DataFrame  # world, detector, precision, recall, f1, hn, benign

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "overall": self.overall,
            "kinds": {k: v.to_dicts() for k, v in self.kinds.items()},
            "designs": {k: v.to_dicts() for k, v in self.designs.items()},
            "camouflage": {k: v.to_dicts() for k, v in self.camouflage.items()},
            "per_world": self.per_world.to_dicts(),
            "lodo": self.lodo.to_dicts(),
            "validation": self.validation.to_dicts(),
        }


def sweep_report(
    train: list[SweepWorld],
    test: list[SweepWorld],
    fit: Callable[[list[SweepWorld], str | None], Any],
    apply: Callable[[Any, Any], Any],
    default_model: Any,
    validation: list[SweepWorld] | None = None,
    lodo: bool = True,
    log: Callable[[str], None] = lambda s: None,
) -> SweepReport:
    """Fit on `train`, score `test` with the shipped and the fitted model, and leave each design out."""
    log("fitting on all training worlds")
    fitted = fit(train, None)
    models = {"shipped": default_model, "fitted": fitted}
    overall, kinds, designs, camo, worlds = {}, {}, {}, {}, []
    for label, model in models.items():
        rows = pl.concat([account_rows(w, apply(w.results, model).accounts) for w in test])
        overall[label] = pooled(rows)
        kinds[label] = per_group(rows, "ring_kind")
        designs[label] = per_group(rows, "design")
        camo[label] = per_camouflage(rows)
        for name in rows["world"].unique().sort():
            worlds.append({"detector": label, "world": name, **pooled(rows.filter(pl.col("world") == name))})
    lodo_rows = []
    if lodo:
        fraud_designs = sorted(
            {d for w in train for d in account_rows(w).filter("is_fraud")["design"].unique().to_list()}
        )
        for d in fraud_designs:
            log(f"leave-one-design-out: {d}")
            model = fit(train, d)
            rows = pl.concat([account_rows(w, apply(w.results, model).accounts) for w in test])
            sub = rows.filter(pl.col("design") == d)
            p = pooled(rows)["precision"]
            r = float(sub["flagged"].mean()) if sub.height else None  # type: ignore[arg-type]
            lodo_rows.append(
                {
                    "design": d,
                    "accounts": sub.height,
                    "flagged": int(sub["flagged"].sum()),
                    "recall": r,
                    "precision": p,
                    "f1": _f1(p, r),
                }
            )
    val = []
    for w in validation or []:
        for label, model in models.items():
            val.append(
                {"world": w.name, "detector": label, **pooled(account_rows(w, apply(w.results, model).accounts))}
            )
    schema_l = {
        "design": pl.String,
        "accounts": pl.Int64,
        "flagged": pl.Int64,
        "recall": pl.Float64,
        "precision": pl.Float64,
        "f1": pl.Float64,
    }
    return SweepReport(
        overall=overall,
        kinds=kinds,
        designs=designs,
        camouflage=camo,
        per_world=pl.DataFrame(worlds),
        lodo=pl.DataFrame(lodo_rows, schema=schema_l),
        validation=pl.DataFrame(val) if val else pl.DataFrame(),
    )


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def markdown(report: SweepReport) -> str:
    """The report as Markdown tables (for the terminal and the README)."""
    out = [
        "| model | precision | recall | F1 | hard negatives flagged | plain benign flagged |",
        "|---|---|---|---|---|---|",
    ]
    for k, o in report.overall.items():
        out.append(
            f"| {k} | {_fmt(o['precision'])} | {_fmt(o['recall'])} | {_fmt(o['f1'])} | "
            f"{_fmt(o['hard_negative_rate'])} | {_fmt(o['benign_rate'])} |"
        )
    out += [
        "",
        "| ring kind | accounts | recall (shipped) | F1 (shipped) | recall (fitted) | F1 (fitted) |",
        "|---|---|---|---|---|---|",
    ]
    a, b = report.kinds["shipped"], report.kinds["fitted"]
    for ra, rb in zip(a.iter_rows(named=True), b.iter_rows(named=True)):
        out.append(
            f"| {ra['ring_kind']}{'' if ra['is_fraud'] else ' (not fraud)'} | {ra['accounts']} | {_fmt(ra['rate'])} | "
            f"{_fmt(ra['f1'])} | {_fmt(rb['rate'])} | {_fmt(rb['f1'])} |"
        )
    out += ["", "| camouflage | fraud accounts | recall (shipped) | recall (fitted) |", "|---|---|---|---|"]
    ca, cb = report.camouflage["shipped"], report.camouflage["fitted"]
    for ra, rb in zip(ca.iter_rows(named=True), cb.iter_rows(named=True)):
        out.append(f"| {ra['camouflage_band']} | {ra['accounts']} | {_fmt(ra['recall'])} | {_fmt(rb['recall'])} |")
    if report.lodo.height:
        out += ["", "| design left out | accounts | recall | precision | F1 |", "|---|---|---|---|---|"]
        for r in report.lodo.iter_rows(named=True):
            out.append(
                f"| {r['design']} | {r['accounts']} | {_fmt(r['recall'])} | {_fmt(r['precision'])} | {_fmt(r['f1'])} |"
            )
    if report.validation.height:
        out += [
            "",
            "| validation world | model | precision | recall | F1 | hard negatives | plain benign |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in report.validation.iter_rows(named=True):
            out.append(
                f"| {r['world']} | {r['detector']} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | {_fmt(r['f1'])} | "
                f"{_fmt(r['hard_negative_rate'])} | {_fmt(r['benign_rate'])} |"
            )
    return "\n".join(out)
