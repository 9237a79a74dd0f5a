"""Evaluation metrics: pure functions from a detector's output and the ground-truth labels to figures.

Size (~580 lines): account, ring, hard-negative, case-queue and agreement metrics share one joined
frame and one `Evaluation`; thresholds could move to their own module.

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
from farmhunt.core.tomlconfig import ranged

DETECTION_COLUMNS = ("account_id", "flagged", "risk", "cluster_id")
CASE_KS: tuple[int, ...] = (1, 5, 10, 20, 50, 100)
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


def case_members(
    joined: pl.DataFrame, clusters: pl.DataFrame | None, cases: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The accounts in cases (joined's columns plus `case` and `case_risk`): detection's own cases when
    it wrote them (`cases`: case_id, risk, with accounts' `case_id`), else flagged clusters plus flagged
    accounts outside any flagged cluster."""
    if cases is not None and "case_id" in joined.columns:
        members = joined.filter(pl.col("case_id").is_not_null()).join(
            cases.select("case_id", pl.col("risk").cast(pl.Float64).alias("case_risk")), on="case_id"
        )
        return members.rename({"case_id": "case"})
    if clusters is None:  # derive from the accounts: a cluster is flagged when any member is
        clusters = (
            joined.drop_nulls("cluster_id").group_by("cluster_id").agg(pl.col("risk").max(), pl.col("flagged").any())
        )
    fc = clusters.filter(pl.col("flagged")).select("cluster_id", pl.col("risk").cast(pl.Float64).alias("case_risk"))
    in_cluster = joined.join(fc, on="cluster_id", how="inner")
    lone = (
        joined.join(fc, on="cluster_id", how="anti")
        .filter(pl.col("flagged"))
        .with_columns(pl.col("risk").alias("case_risk"))
    )
    return pl.concat(
        [
            in_cluster.with_columns(pl.format("cluster:{}", pl.col("cluster_id")).alias("case")),
            lone.with_columns(pl.format("account:{}", pl.col("account_id")).alias("case")),
        ],
        how="diagonal_relaxed",
    )


def case_table(
    joined: pl.DataFrame, clusters: pl.DataFrame | None, s: EvalSettings, cases: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The case queue, by risk (one row per case of `case_members`)."""
    return _case_rows(case_members(joined, clusters, cases), s)


def _label() -> pl.Expr:
    """An account's label for purity: its ring, or "benign" for an account in no ring."""
    return pl.col("ring_id").fill_null(BENIGN_KIND)


def _case_rows(members: pl.DataFrame, s: EvalSettings) -> pl.DataFrame:
    """One row per case (members: case, case_risk, is_fraud, ring_id, ring_kind), riskiest first.

    purity: share of the case's accounts from its dominant label (a ring, or benign for accounts in no
    ring); benign_share: share that is not fraud; rings: how many labelled rings it holds accounts of.
    """
    schema = {
        "case": pl.String,
        "size": pl.UInt32,
        "risk": pl.Float64,
        "fraud": pl.UInt32,
        "fraud_share": pl.Float64,
        "true_case": pl.Boolean,
        "main_ring": pl.String,
        "main_kind": pl.String,
        "purity": pl.Float64,
        "benign_share": pl.Float64,
        "rings": pl.UInt32,
    }
    if members.is_empty():
        return pl.DataFrame(schema=schema)
    dominant = (
        members.group_by("case", _label().alias("label"))
        .agg(pl.len().alias("n"))
        .group_by("case")
        .agg(pl.col("n").max().alias("dominant"))
    )
    cases = (
        members.group_by("case")
        .agg(
            pl.len().alias("size"),
            pl.col("case_risk").first().alias("risk"),
            pl.col("is_fraud").sum().alias("fraud"),
            pl.coalesce(
                pl.col("ring_id").filter(pl.col("is_fraud")).drop_nulls().mode().sort().first(),
                pl.col("ring_id").drop_nulls().mode().sort().first(),
            ).alias("main_ring"),
            pl.coalesce(
                pl.col("ring_kind").filter(pl.col("is_fraud")).mode().sort().first(),
                pl.col("ring_kind").mode().sort().first(),
            ).alias("main_kind"),
            pl.col("ring_id").drop_nulls().n_unique().alias("rings"),
        )
        .join(dominant, on="case")
        .with_columns(
            (pl.col("fraud") / pl.col("size")).alias("fraud_share"),
            (pl.col("dominant") / pl.col("size")).alias("purity"),
            (1.0 - pl.col("fraud") / pl.col("size")).alias("benign_share"),
        )
        .with_columns((pl.col("fraud_share") >= s.true_case_share).alias("true_case"))
    )
    return cases.select(list(schema)).cast(schema).sort(["risk", "size", "case"], descending=[True, True, False])


def ring_case_spans(members: pl.DataFrame, share: float = 0.9) -> pl.DataFrame:
    """Per labelled ring: how many cases its flagged accounts fall into (`cases`), and the fewest cases
    holding at least `share` of them (`cases_90` for the default 0.9). `members`: `case_members`."""
    schema = {"ring_id": pl.String, "cases": pl.UInt32, "cases_90": pl.UInt32}
    fl = members.filter(pl.col("flagged") & pl.col("ring_id").is_not_null())
    if fl.is_empty():
        return pl.DataFrame(schema=schema)
    per = (
        fl.group_by("ring_id", "case")
        .agg(pl.len().alias("n"))
        .sort(["ring_id", "n", "case"], descending=[False, True, False])
        .with_columns(
            (pl.col("n").cum_sum().over("ring_id") - pl.col("n")).alias("before"),
            pl.col("n").sum().over("ring_id").alias("total"),
        )
    )
    return (
        per.group_by("ring_id")
        .agg(
            pl.len().alias("cases"),
            (pl.col("before") < share * pl.col("total")).sum().alias("cases_90"),
        )
        .select(list(schema))
        .cast(schema)
        .sort("ring_id")
    )


def case_queue_metrics(cases: pl.DataFrame, rings: pl.DataFrame | None = None) -> dict[str, Any]:
    """Precision at k of the case queue, review cost (accounts reviewed per fraud account found), case
    purity, and (with `rings`: `ring_metrics` rows with `cases`/`cases_90`) how many cases the largest
    fraud rings span."""
    n = cases.height
    true = cases["true_case"].cast(pl.Int64).to_numpy() if n else np.zeros(0)
    out: dict[str, Any] = {
        "cases": n,
        "true_cases": int(true.sum()),
        "precision": _ratio(int(true.sum()), n),
        "precision_at_k": {str(k): (float(true[:k].mean()) if n >= k else None) for k in CASE_KS},
        "accounts_in_cases": int(cases["size"].sum()) if n else 0,
        "fraud_in_cases": int(cases["fraud"].sum()) if n else 0,
    }
    out["review_cost"] = _ratio(out["accounts_in_cases"], out["fraud_in_cases"])
    if "purity" in cases.columns:
        dominant = float((cases["purity"] * cases["size"].cast(pl.Float64)).sum()) if n else 0.0
        out["purity"] = _ratio(dominant, out["accounts_in_cases"])  # size-weighted
        out["min_purity"] = float(cases["purity"].min()) if n else None  # type: ignore[arg-type]
        out["mixed_cases"] = int((cases["rings"] > 1).sum()) if n else 0
        out["benign_share"] = _ratio(out["accounts_in_cases"] - out["fraud_in_cases"], out["accounts_in_cases"])
    if rings is not None and "cases" in rings.columns:
        fr = rings.filter(pl.col("is_fraud") & (pl.col("flagged") > 0)).sort(
            ["size", "ring_id"], descending=[True, False]
        )
        out["largest_rings"] = fr.head(2).select("ring_id", "size", "flagged", "cases", "cases_90").to_dicts()
        out["max_cases_per_ring"] = int(fr["cases"].max()) if fr.height else 0  # type: ignore[arg-type]
    return out


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
    case_list = _case_rows(members, s)
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


# ---------------------------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------------------------
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
    "Thresholds",
    "Check",
    "align",
    "evaluate",
    "evaluate_results",
    "check_thresholds",
    "detection_frame",
    "precision_at_share",
]
