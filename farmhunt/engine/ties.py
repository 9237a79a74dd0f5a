"""Ties: the shared values that link each cluster's members, as detection linked on them.

From linkage's shared values (account_id, signal, value, n_accounts): per cluster, every value two
or more members share, with how many members and how many accounts in the whole world share it.
The console shows and pivots on these instead of recomputing linkage; request IPs (coded in the
store) are decoded to their text.
"""

from __future__ import annotations

import polars as pl

from farmhunt.engine.store import RequestStore

TIE_SCHEMA = pl.Schema(
    {
        "cluster_id": pl.Int64(),
        "case_id": pl.String(),
        "signal": pl.String(),
        "value": pl.String(),
        "n_members": pl.UInt32(),
        "n_accounts": pl.UInt32(),
    }
)


def cluster_ties(
    shared: pl.DataFrame, membership: pl.DataFrame, account_case: pl.DataFrame, store: RequestStore
) -> pl.DataFrame:
    """TIE_SCHEMA rows, sorted by cluster, then most-shared first."""
    ties = (
        shared.join(membership.select("account_id", "cluster_id"), on="account_id")
        .group_by("cluster_id", "signal", "value")
        .agg(pl.len().cast(pl.UInt32).alias("n_members"), pl.col("n_accounts").first())
        .filter(pl.col("n_members") >= 2)
    )
    ip_codes = ties.filter(pl.col("signal") == "request_ip").select(pl.col("value").cast(pl.UInt64).alias("code"))
    if ip_codes.height:
        text = (
            store.lookup("ip")
            .filter(pl.col("code").is_in(ip_codes["code"].unique().implode()))
            .collect()
            .select(pl.col("code").cast(pl.String).alias("value"), pl.col("text").alias("ip_text"))
        )
        ties = (
            ties.join(text, on="value", how="left")
            .with_columns(
                pl.when(pl.col("signal") == "request_ip")
                .then(pl.col("ip_text"))
                .otherwise(pl.col("value"))
                .alias("value")
            )
            .drop("ip_text")
        )
    cluster_case = (
        membership.select("account_id", "cluster_id")
        .join(account_case, on="account_id")
        .group_by("cluster_id")
        .agg(pl.col("case_id").first())
    )
    return (
        ties.join(cluster_case, on="cluster_id", how="left")
        .select(list(TIE_SCHEMA))
        .cast(TIE_SCHEMA)
        .sort(["cluster_id", "n_members", "signal", "value"], descending=[False, True, False, False])
    )
