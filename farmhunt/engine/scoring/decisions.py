"""The account decision: each account's risk, flag and predicted kind, from its cluster's and its own score."""

from __future__ import annotations

import polars as pl

from farmhunt.engine.settings import ScoringSettings


def account_decisions(
    features: pl.DataFrame,
    membership: pl.DataFrame,
    clusters: pl.DataFrame,
    lone: pl.DataFrame,
    peripheral: pl.DataFrame,
    s: ScoringSettings,
    associates: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """accounts.parquet: cluster, risk, flag and kind per account, then its features.

    A peripheral member of a flagged cluster (`model.peripheral_members`) is judged alone. An accepted
    associate (`associates.py`: account_id, host_cluster_id) is decided as a member of its host cluster,
    whose id it carries in `host_cluster_id` (null for every other account).
    """
    c = clusters.select(
        "cluster_id",
        pl.col("risk").alias("cluster_risk"),
        pl.col("flagged").alias("cluster_flagged"),
        pl.col("predicted_kind").alias("cluster_kind"),
    )
    host = (
        associates.select("account_id", pl.col("host_cluster_id").cast(pl.Int64))
        if associates is not None
        else pl.DataFrame(schema={"account_id": pl.String, "host_cluster_id": pl.Int64})
    )
    lone_kind = (
        pl.when(pl.col("second_stream") > 0)  # a leaked key or takeover (engine/polars/streams.py)
        .then(pl.lit("key_abuse"))
        .when(pl.col("decline_rate") >= s.lone_card_testing_decline_rate)
        .then(pl.lit("card_testing"))
        .otherwise(pl.lit("reseller_pool"))
    )
    out = (
        features.join(membership, on="account_id", how="left")
        .join(host, on="account_id", how="left")
        .with_columns(pl.coalesce("host_cluster_id", pl.col("cluster_id").cast(pl.Int64)).alias("judged_in"))
        .join(
            c.with_columns(pl.col("cluster_id").cast(pl.Int64)).rename({"cluster_id": "judged_in"}),
            on="judged_in",
            how="left",
        )
        .join(lone, on="account_id", how="left")
        .join(peripheral, on="account_id", how="left")
        .with_columns(pl.col("peripheral").fill_null(False))
        .with_columns(
            (pl.col("cluster_flagged").fill_null(False) & ~pl.col("peripheral")).alias("cluster_flagged"),
            pl.when(pl.col("peripheral")).then(None).otherwise(pl.col("cluster_risk")).alias("cluster_risk"),
            (pl.col("account_risk") >= s.account_flag_threshold).alias("lone_flag"),
        )
    )
    out = out.with_columns(
        pl.max_horizontal(pl.col("cluster_risk").fill_null(0.0), "account_risk").alias("risk"),
        (pl.col("cluster_flagged") | pl.col("lone_flag")).alias("flagged"),
        pl.when(pl.col("cluster_flagged"))
        .then(pl.col("cluster_kind"))
        .when(pl.col("lone_flag"))
        .then(lone_kind)
        .when(pl.col("peripheral"))
        .then(pl.lit("unknown"))
        .otherwise(pl.col("cluster_kind").fill_null("unknown"))
        .alias("predicted_kind"),
    )
    return out.select(
        "account_id",
        pl.col("cluster_id").cast(pl.Int64),
        "risk",
        "flagged",
        "predicted_kind",
        pl.exclude(
            "account_id",
            "cluster_id",
            "risk",
            "flagged",
            "predicted_kind",
            "cluster_risk",
            "cluster_flagged",
            "cluster_kind",
            "lone_flag",
            "peripheral",
            "judged_in",
        ),
    ).sort("account_id")
