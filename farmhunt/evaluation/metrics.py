"""Evaluation metrics: pure functions from a detector's output and the ground-truth labels to figures.

Size (~440 lines): account, ring, hard-negative and agreement metrics share one joined frame and one
`Evaluation`.

Case-queue metrics are in `case_metrics.py`, pass/fail thresholds in `thresholds.py`.

One implementation serves every detector. A detector's output (a *detection*) is one row per
account: ``account_id``, ``flagged``, ``risk`` and ``cluster_id`` (nullable), optionally with a
cluster table (``cluster_id``, ``risk``, ``flagged``). farmhunt's results, the baselines and each
cut of a replay are all turned into that shape and scored by `evaluate`.

Definitions (also in the README):

- account level: precision / recall / F1 of ``flagged`` against ``is_fraud``; precision is 0 when
  nothing is flagged. Average precision of ``risk`` (scikit-learn, ties as one threshold);
  precision at the top p% of accounts by risk counts tied risks fractionally (expected value under
  a random order of the tie), so it does not depend on row order.
- ring level: every labelled ring (``ring_id`` not null); coverage = share of its members flagged;
  best-matching cluster = the cluster holding most of its members; purity = share of that cluster
  made of the ring; a ring is *detected* when coverage >= ``coverage`` (0.9 by default).
- hard negatives: share flagged per hard-negative kind, over all hard negatives, over plain benign.
- case queue: detection's cases (`cases.parquet`: flagged clusters grouped by operator, and lone
  flagged accounts), else a flagged cluster or a flagged account outside any flagged cluster. Cases
  are ordered by risk; a case is *true* when at least half its members are fraud. Precision at k over
  that queue; review cost = accounts in cases / fraud accounts in cases; purity = share of a case's
  accounts from its dominant ring (benign accounts in no ring count as one label), size-weighted over
  cases; a ring's *cases* = how many cases its flagged accounts fall into (`cases_90`: the fewest
  holding 90% of them).
- clustering agreement over fraud accounts: ARI and NMI between ring and cluster (an account
  without a cluster, or a fraud account without a ring, is a singleton).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from farmhunt.core.contract import BENIGN_KIND, RUN_FILE
from farmhunt.core.errors import InputError
from farmhunt.evaluation.case_metrics import case_members, case_queue_metrics, case_rows, ring_case_spans

DETECTION_COLUMNS = ("account_id", "flagged", "risk", "cluster_id")
TOP_SHARES: tuple[float, ...] = (0.01, 0.05)


@dataclass(frozen=True)
class EvalSettings:
    """Knobs of the metrics (not thresholds)."""

    coverage: float = 0.9  # a ring is detected when at least this share of its members is flagged
    ring_min_size: int = 1  # rings smaller than this do not count towards `rings_detected`
    true_case_share: float = 0.5  # a case is a real ring when at least this share of it is fraud


@dataclass
class Evaluation:
    """Every figure of one detector on one world (tables as polars frames, scalars in dicts)."""

    detector: str
    account: dict[str, Any]
    per_kind: pl.DataFrame  # ring_kind, is_fraud, accounts, flagged, flag_rate (recall for fraud kinds)
    rings: pl.DataFrame  # one row per labelled ring
    ring_kinds: pl.DataFrame  # per fraud kind: rings, detected, counted (>= min size), counted_detected
    rings_summary: dict[str, Any]
    hard_negatives: dict[str, Any]
    cases: pl.DataFrame  # case queue, ordered by risk
    case_queue: dict[str, Any]
    agreement: dict[str, Any]
    pr_curve: pl.DataFrame  # precision, recall, threshold (downsampled)
    settings: EvalSettings = field(default_factory=EvalSettings)

    def to_dict(self, tables: bool = True) -> dict[str, Any]:
        """Plain JSON-ready form; with `tables`, ring and case tables are included row by row."""
        out: dict[str, Any] = {
            "detector": self.detector,
            "settings": {
                "coverage": self.settings.coverage,
                "ring_min_size": self.settings.ring_min_size,
                "true_case_share": self.settings.true_case_share,
            },
            "account": self.account,
            "per_kind": self.per_kind.to_dicts(),
            "rings_summary": self.rings_summary,
            "ring_kinds": self.ring_kinds.to_dicts(),
            "hard_negatives": self.hard_negatives,
            "case_queue": self.case_queue,
            "agreement": self.agreement,
        }
        if tables:
            out["rings"] = _jsonable(self.rings)
            out["cases"] = _jsonable(self.cases.head(1000))
            out["pr_curve"] = self.pr_curve.to_dict(as_series=False)
        return out


def _jsonable(df: pl.DataFrame) -> list[dict[str, Any]]:
    return df.with_columns(pl.col(pl.Datetime).dt.to_string()).to_dicts()


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def detection_frame(accounts: pl.DataFrame) -> pl.DataFrame:
    """The canonical detection shape (account_id, flagged, risk, cluster_id) from any account table."""
    missing = [c for c in DETECTION_COLUMNS if c not in accounts.columns]
    if missing:
        raise InputError(f"detection output lacks column(s) {', '.join(missing)}")
    return accounts.select(
        pl.col("account_id").cast(pl.String),
        pl.col("flagged").cast(pl.Boolean).fill_null(False),
        pl.col("risk").cast(pl.Float64).fill_null(0.0).fill_nan(0.0),
        pl.col("cluster_id").cast(pl.Int64),
        *([pl.col("case_id").cast(pl.String)] if "case_id" in accounts.columns else []),
    )


def align(detection: pl.DataFrame, labels: pl.DataFrame, source: str = "results") -> pl.DataFrame:
    """Join detection and labels one to one; different account sets are an `InputError` saying how."""
    det = detection_frame(detection)
    lab = labels.select("account_id", "ring_id", "ring_kind", pl.col("is_fraud").cast(pl.Boolean))
    only_det = det.join(lab, on="account_id", how="anti")
    only_lab = lab.join(det, on="account_id", how="anti")
    dups = det.height - det["account_id"].n_unique()
    if only_det.height or only_lab.height or dups:
        parts = []
        if only_det.height:
            ex = ", ".join(only_det["account_id"].sort().head(3).to_list())
            parts.append(
                f"{only_det.height:,} account(s) in {source}/accounts.parquet are not in labels.parquet (e.g. {ex})"
            )
        if only_lab.height:
            ex = ", ".join(only_lab["account_id"].sort().head(3).to_list())
            parts.append(
                f"{only_lab.height:,} labelled account(s) are missing from {source}/accounts.parquet (e.g. {ex})"
            )
        if dups:
            parts.append(f"{source}/accounts.parquet, column 'account_id': {dups:,} duplicate value(s)")
        raise InputError("results and labels do not match (were they made from the same world?): " + "; ".join(parts))
    return det.join(lab, on="account_id", how="inner")


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------
def precision_at_share(joined: pl.DataFrame, share: float) -> float | None:
    """Precision among the top `share` of accounts by risk; tied risks at the cut count fractionally."""
    n = joined.height
    if n == 0:
        return None
    k = max(1, math.ceil(share * n))
    g = (
        joined.group_by("risk")
        .agg(pl.len().alias("n"), pl.col("is_fraud").sum().alias("f"))
        .sort("risk", descending=True)
        .with_columns(pl.col("n").cast(pl.Int64), pl.col("f").cast(pl.Int64))
        .with_columns(pl.col("n").cum_sum().alias("cum"))
    )
    take = (pl.lit(k) - (pl.col("cum") - pl.col("n"))).clip(0, None)
    take = pl.min_horizontal(take, pl.col("n"))
    hit = g.select((pl.col("f") * take / pl.col("n")).sum()).item()
    return float(hit) / k


def account_metrics(joined: pl.DataFrame) -> tuple[dict[str, Any], pl.DataFrame]:
    """Precision, recall, F1, AP and precision at top shares; plus the downsampled PR curve."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    c = (
        joined.select(
            (pl.col("flagged") & pl.col("is_fraud")).sum().alias("tp"),
            (pl.col("flagged") & ~pl.col("is_fraud")).sum().alias("fp"),
            (~pl.col("flagged") & pl.col("is_fraud")).sum().alias("fn"),
            (~pl.col("flagged") & ~pl.col("is_fraud")).sum().alias("tn"),
        ).row(0, named=True)
        if joined.height
        else {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    )
    tp, fp, fn, tn = (int(c[k]) for k in ("tp", "fp", "fn", "tn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = _ratio(tp, tp + fn)
    f1 = (
        (2 * precision * recall / (precision + recall))
        if recall is not None and precision + recall > 0
        else (0.0 if recall is not None else None)
    )
    out: dict[str, Any] = {
        "accounts": joined.height,
        "fraud": tp + fn,
        "flagged": tp + fp,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    y = joined["is_fraud"].to_numpy().astype(bool)
    risk = joined["risk"].to_numpy()
    curve = pl.DataFrame(schema={"precision": pl.Float64, "recall": pl.Float64, "threshold": pl.Float64})
    if y.any() and (~y).any():
        out["average_precision"] = float(average_precision_score(y, risk))
        p, r, t = precision_recall_curve(y, risk)
        t = np.append(t, np.inf)  # last point (precision 1, recall 0) has no threshold
        idx = np.unique(np.linspace(0, len(p) - 1, min(len(p), 400)).astype(int))
        curve = pl.DataFrame({"precision": p[idx], "recall": r[idx], "threshold": t[idx]}).with_columns(
            pl.col("threshold").replace(float("inf"), None)
        )
    else:
        out["average_precision"] = None
    for share in TOP_SHARES:
        out[f"precision_at_top_{round(share * 100)}pct"] = precision_at_share(joined, share)
    return out, curve


def kind_metrics(joined: pl.DataFrame) -> pl.DataFrame:
    """Per labelled kind: accounts, flagged and flag rate (for fraud kinds that rate is the recall)."""
    return (
        joined.group_by("ring_kind")
        .agg(
            pl.col("is_fraud").any().alias("is_fraud"),
            pl.len().alias("accounts"),
            pl.col("flagged").sum().alias("flagged"),
        )
        .with_columns((pl.col("flagged") / pl.col("accounts")).alias("flag_rate"))
        .sort(["is_fraud", "ring_kind"], descending=[True, False])
    )


def ring_metrics(joined: pl.DataFrame, s: EvalSettings) -> pl.DataFrame:
    """One row per labelled ring: kind, size, coverage, best cluster, its overlap and purity, detected."""
    members = joined.filter(pl.col("ring_id").is_not_null())
    schema = {
        "ring_id": pl.String,
        "ring_kind": pl.String,
        "is_fraud": pl.Boolean,
        "size": pl.UInt32,
        "flagged": pl.UInt32,
        "coverage": pl.Float64,
        "best_cluster": pl.Int64,
        "overlap": pl.UInt32,
        "cluster_size": pl.UInt32,
        "purity": pl.Float64,
        "detected": pl.Boolean,
    }
    if members.is_empty():
        return pl.DataFrame(schema=schema)
    rings = members.group_by("ring_id").agg(
        pl.col("ring_kind").first(),
        pl.col("is_fraud").any(),
        pl.len().alias("size"),
        pl.col("flagged").sum().alias("flagged"),
    )
    sizes = joined.drop_nulls("cluster_id").group_by("cluster_id").agg(pl.len().alias("cluster_size"))
    best = (
        members.drop_nulls("cluster_id")
        .group_by("ring_id", "cluster_id")
        .agg(pl.len().alias("overlap"))
        .sort(["ring_id", "overlap", "cluster_id"], descending=[False, True, False])
        .group_by("ring_id", maintain_order=True)
        .first()
        .join(sizes, on="cluster_id", how="left")
        .select(
            "ring_id",
            pl.col("cluster_id").alias("best_cluster"),
            "overlap",
            "cluster_size",
            (pl.col("overlap") / pl.col("cluster_size")).alias("purity"),
        )
    )
    out = (
        rings.join(best, on="ring_id", how="left")
        .with_columns((pl.col("flagged") / pl.col("size")).alias("coverage"))
        .with_columns((pl.col("coverage") >= s.coverage).alias("detected"))
    )
    return (
        out.select(list(schema))
        .cast(schema)
        .sort(["is_fraud", "ring_kind", "size", "ring_id"], descending=[True, False, True, False])
    )


def ring_kind_summary(rings: pl.DataFrame, s: EvalSettings) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Detected fraud rings per kind (k/n), overall and among rings of at least `ring_min_size`."""
    fr = rings.filter(pl.col("is_fraud"))
    big = pl.col("size") >= s.ring_min_size
    per = (
        fr.group_by("ring_kind")
        .agg(
            pl.len().alias("rings"),
            pl.col("detected").sum().alias("detected"),
            big.sum().alias("counted"),
            (pl.col("detected") & big).sum().alias("counted_detected"),
            pl.col("coverage").mean().alias("mean_coverage"),
        )
        .sort("ring_kind")
    )
    counted = fr.filter(big)
    summary = {
        "rings": fr.height,
        "detected": int(fr["detected"].sum()) if fr.height else 0,
        "counted": counted.height,
        "counted_detected": int(counted["detected"].sum()) if counted.height else 0,
        "detected_share": _ratio(int(counted["detected"].sum()) if counted.height else 0, counted.height),
        "ring_min_size": s.ring_min_size,
        "coverage": s.coverage,
        "missed": counted.filter(~pl.col("detected")).select("ring_id", "ring_kind", "size", "coverage").to_dicts(),
    }
    return per, summary


def hard_negative_metrics(per_kind: pl.DataFrame) -> dict[str, Any]:
    """Share flagged per hard-negative kind, pooled over hard negatives, over benign, over all non-fraud.

    Hard negatives are read from the labels, not from a list: every non-fraud `ring_kind` but plain
    benign (a world from another generator names its own look-alikes).
    """
    rows = {r["ring_kind"]: r for r in per_kind.iter_rows(named=True)}
    hard = sorted(k for k, r in rows.items() if not r["is_fraud"] and k != BENIGN_KIND)

    def pooled(kinds: list[str]) -> dict[str, Any]:
        n = sum(rows[k]["accounts"] for k in kinds if k in rows)
        f = sum(rows[k]["flagged"] for k in kinds if k in rows)
        return {"accounts": n, "flagged": f, "rate": _ratio(f, n)}

    nonfraud = [k for k, r in rows.items() if not r["is_fraud"]]
    return {
        "per_kind": {
            k: {"accounts": rows[k]["accounts"], "flagged": rows[k]["flagged"], "rate": rows[k]["flag_rate"]}
            for k in hard
        },
        "hard_negatives": pooled(hard),
        "benign": pooled([BENIGN_KIND]),
        "non_fraud": pooled(nonfraud),
    }


def agreement_metrics(joined: pl.DataFrame) -> dict[str, Any]:
    """ARI and NMI between rings and clusters over fraud accounts (unclustered/unringed = singletons)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    fr = joined.filter(pl.col("is_fraud"))
    if fr.height < 2:
        return {"fraud_accounts": fr.height, "ari": None, "nmi": None}
    ring = fr.select(pl.coalesce(pl.col("ring_id"), pl.lit("solo:") + pl.col("account_id"))).to_series()
    clus = fr.select(pl.coalesce(pl.col("cluster_id").cast(pl.String), pl.lit("solo:") + pl.col("account_id")))
    a, b = ring.to_list(), clus.to_series().to_list()
    return {
        "fraud_accounts": fr.height,
        "ari": float(adjusted_rand_score(a, b)),
        "nmi": float(normalized_mutual_info_score(a, b)),
    }


def evaluate(
    detection: pl.DataFrame,
    labels: pl.DataFrame,
    clusters: pl.DataFrame | None = None,
    settings: EvalSettings | None = None,
    detector: str = "farmhunt",
    source: str = "results",
    cases: pl.DataFrame | None = None,
) -> Evaluation:
    """Score one detector's output against the labels (account sets must be identical)."""
    s = settings or EvalSettings()
    joined = align(detection, labels, source)
    account, curve = account_metrics(joined)
    per_kind = kind_metrics(joined)
    account["recall_per_kind"] = {
        r["ring_kind"]: r["flag_rate"] for r in per_kind.iter_rows(named=True) if r["is_fraud"]
    }
    rings = ring_metrics(joined, s)
    ring_kinds, rings_summary = ring_kind_summary(rings, s)
    if clusters is not None:
        clusters = clusters.select(
            pl.col("cluster_id").cast(pl.Int64), pl.col("risk").cast(pl.Float64), pl.col("flagged").cast(pl.Boolean)
        )
    members = case_members(joined, clusters, cases)
    case_list = case_rows(members, s.true_case_share)
    schema = {**dict(rings.schema), "cases": pl.UInt32, "cases_90": pl.UInt32}
    rings = (
        rings.join(ring_case_spans(members), on="ring_id", how="left", maintain_order="left")
        .with_columns(pl.col("cases", "cases_90").fill_null(0))
        .cast(schema)
    )
    return Evaluation(
        detector=detector,
        account=account,
        per_kind=per_kind,
        rings=rings,
        ring_kinds=ring_kinds,
        rings_summary=rings_summary,
        hard_negatives=hard_negative_metrics(per_kind),
        cases=case_list,
        case_queue=case_queue_metrics(case_list, rings),
        agreement=agreement_metrics(joined),
        pr_curve=curve,
        settings=s,
    )


def evaluate_results(results: Any, labels: pl.DataFrame, settings: EvalSettings | None = None) -> Evaluation:
    """`evaluate` for a farmhunt `Results` object (its accounts and clusters tables)."""
    src = str(results.path) if getattr(results, "path", None) else "results"
    return evaluate(results.accounts, labels, results.clusters, settings, "farmhunt", src, results.cases)


def run_info(run: dict[str, Any]) -> dict[str, Any]:
    """The parts of a results' run.json worth carrying into an evaluation report."""
    keys = (
        "farmhunt_version",
        "started_at",
        "world",
        "settings",
        "versions",
        "counts",
        "stages",
        "largest_cluster_size",
    )
    return {k: run[k] for k in keys if k in run} | {"file": RUN_FILE}


__all__ = [
    "EvalSettings",
    "Evaluation",
    "align",
    "evaluate",
    "evaluate_results",
    "detection_frame",
    "precision_at_share",
]
