"""Cases: what an investigator works, one ranked queue of flagged clusters and lone flagged accounts.

A case is a group of accounts one operator is believed to control: today a flagged cluster (all its
members, peripheral ones included) or a flagged account outside any flagged cluster. The queue is
ranked by risk, then size, then case id; evaluation's case list and the console's queue both read
`cases.parquet`, so they cannot disagree. Case ids are short and stable: a hash of what the case is
made of (its clusters' ids, or the lone account's id).
"""

from __future__ import annotations

import base64
import hashlib

import polars as pl

CASE_SCHEMA = pl.Schema(
    {
        "case_id": pl.String(),
        "rank": pl.Int32(),
        "kind": pl.String(),
        "risk": pl.Float64(),
        "size": pl.Int64(),
        "flagged_accounts": pl.Int64(),
        "n_clusters": pl.Int32(),
        "clusters": pl.List(pl.Int64()),
        "top_reason": pl.String(),
    }
)


def short_id(prefix: str, parts: list[str]) -> str:
    """A short, stable id (prefix + 8 base32 characters, 40 bits) of what a case is made of."""
    digest = hashlib.blake2b("\n".join(sorted(parts)).encode(), digest_size=5).digest()
    return prefix + base64.b32encode(digest).decode().lower()


def build_cases(
    accounts: pl.DataFrame, clusters: pl.DataFrame, evidence: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cases, account_case): the ranked case table (CASE_SCHEMA) and account_id -> case_id.

    `accounts`: account_id, cluster_id, risk, flagged, predicted_kind; `clusters`: cluster_id, size,
    risk, predicted_kind, flagged; `evidence`: the clusters' evidence (rank 1 is the top reason).
    """
    top = evidence.filter(pl.col("rank") == 1).select("cluster_id", pl.col("text").alias("top_reason"))
    fc = clusters.filter(pl.col("flagged")).select("cluster_id", "risk", pl.col("predicted_kind").alias("kind"))
    in_cluster = accounts.join(fc.select("cluster_id"), on="cluster_id", how="semi")
    lone = accounts.join(fc.select("cluster_id"), on="cluster_id", how="anti").filter(pl.col("flagged"))
    cluster_cases = (
        in_cluster.group_by("cluster_id")
        .agg(pl.len().alias("size"), pl.col("flagged").sum().alias("flagged_accounts"))
        .join(fc, on="cluster_id")
        .join(top, on="cluster_id", how="left")
        .with_columns(
            pl.col("cluster_id")
            .map_elements(lambda c: short_id("c", [str(c)]), return_dtype=pl.String)
            .alias("case_id"),
            pl.concat_list(pl.col("cluster_id")).alias("clusters"),
        )
    )
    lone_cases = lone.select(
        pl.col("account_id").map_elements(lambda a: short_id("a", [a]), return_dtype=pl.String).alias("case_id"),
        "account_id",
        pl.col("predicted_kind").alias("kind"),
        "risk",
        pl.lit(1, pl.Int64).alias("size"),
        pl.lit(1, pl.Int64).alias("flagged_accounts"),
        pl.lit([], pl.List(pl.Int64)).alias("clusters"),
        pl.lit(None, pl.String).alias("top_reason"),
    )
    cases = (
        pl.concat([cluster_cases.drop("cluster_id"), lone_cases.drop("account_id")], how="diagonal_relaxed")
        .with_columns(pl.col("clusters").list.len().cast(pl.Int32).alias("n_clusters"))
        .sort(["risk", "size", "case_id"], descending=[True, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"))
    )
    account_case = pl.concat(
        [
            in_cluster.join(cluster_cases.select("cluster_id", "case_id"), on="cluster_id").select(
                "account_id", "case_id"
            ),
            lone_cases.select("account_id", "case_id"),
        ]
    )
    return cases.select(list(CASE_SCHEMA)).cast(CASE_SCHEMA), account_case
