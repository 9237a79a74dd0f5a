"""Case-queue metrics: detection's cases scored against the labels.

A case is *true* when at least half its members are fraud; precision at k over the ranked queue;
review cost = accounts in cases / fraud accounts in cases; purity = share of a case's accounts from
its dominant ring (benign accounts in no ring count as one label), size-weighted over cases; a
ring's *cases* = how many cases its flagged accounts fall into (`cases_90`: the fewest holding 90%).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from farmhunt.core.contract import BENIGN_KIND

CASE_KS: tuple[int, ...] = (1, 5, 10, 20, 50, 100)  # precision at k over the queue


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


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


def _label() -> pl.Expr:
    """An account's label for purity: its ring, or "benign" for an account in no ring."""
    return pl.col("ring_id").fill_null(BENIGN_KIND)


def case_rows(members: pl.DataFrame, true_case_share: float) -> pl.DataFrame:
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
        .with_columns((pl.col("fraud_share") >= true_case_share).alias("true_case"))
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
