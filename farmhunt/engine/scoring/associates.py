"""Associates: accounts outside flagged clusters that an operator's infrastructure ties to its flagged pieces.

Community detection puts every account in one cluster. A farm account that also acts in lock-step with
a group of synchronized heavy users can land in *their* cluster, whose medians are benign, although it
shares devices, relay IPs and timing with members of its farm's flagged clusters. At seed scale 1,995
farm accounts sit in such clusters; 1,301 of them are tied so by three or more channels, against 25 of
a million benign accounts. Such an account is judged as a member of the flagged cluster it is tied to
most (`peripheral_members`: its own behaviour must be at least `peripheral_share` of the cluster's,
after its own expensive benign evidence; 19 of the 25 fail) and flagged with it when it passes. Ties
are counted in the case channels (`settings.CaseSettings.channels`: instruments, identities, network
exits, content, timing) over all flagged clusters of one predicted kind, since a farm cut into many
pieces ties an account to several of them: several independent channels, because one shared value is
what strangers meet by chance.
"""

from __future__ import annotations

import polars as pl

from farmhunt.core.contract import RESULT_ACCOUNT_EVIDENCE
from farmhunt.engine.cases import channel_table
from farmhunt.engine.settings import CHANNEL_WORDS

ASSOCIATE_SCHEMA = pl.Schema(
    {
        "account_id": pl.String(),
        "host_cluster_id": pl.Int64(),
        "kind": pl.String(),
        "channels": pl.List(pl.String()),
        "ties": pl.UInt32(),
    }
)


def associates(
    membership: pl.DataFrame,
    clusters: pl.DataFrame,
    edges: pl.DataFrame,
    channels: dict[str, str],
    min_channels: int,
) -> pl.DataFrame:
    """Accounts outside flagged clusters tied to members of flagged clusters of one predicted kind by at
    least `min_channels` case channels (ASSOCIATE_SCHEMA: the host, the one of those clusters it is tied
    to most; the channels; how many flagged members it is tied to).

    Tied so to several kinds, the kind with the most channels, then members, wins; ties between hosts go
    to the smallest cluster id. `min_channels` 0: none."""
    if min_channels <= 0 or edges.is_empty():
        return pl.DataFrame(schema=ASSOCIATE_SCHEMA)
    chan = channel_table(channels)
    flagged = clusters.filter("flagged").select("cluster_id", pl.col("predicted_kind").alias("kind"))
    hosts = membership.join(flagged, on="cluster_id").select(
        pl.col("account_id").alias("v"), pl.col("cluster_id").alias("host_cluster_id"), "kind"
    )
    ends = pl.concat(
        [
            edges.lazy().select(pl.col("src").alias("u"), pl.col("dst").alias("v"), "reasons"),
            edges.lazy().select(pl.col("dst").alias("u"), pl.col("src").alias("v"), "reasons"),
        ]
    )
    rows = (
        ends.join(hosts.lazy(), on="v")
        .join(hosts.lazy().select(pl.col("v").alias("u")), on="u", how="anti")
        .explode("reasons")
        .join(chan.lazy(), left_on="reasons", right_on="reason")
        .select("u", "v", "host_cluster_id", "kind", "channel")
        .collect()
    )
    # Channels are counted over all flagged clusters of one kind: a farm cut into many pieces ties an
    # account to several of them; the host is the piece it is tied to most.
    per_kind = (
        rows.group_by("u", "kind")
        .agg(pl.col("channel").unique().sort().alias("channels"), pl.col("v").n_unique().cast(pl.UInt32).alias("ties"))
        .with_columns(pl.col("channels").list.len().alias("n"))
        .filter(pl.col("n") >= min_channels)
        .sort(["u", "n", "ties", "kind"], descending=[False, True, True, False])
        .unique("u", keep="first", maintain_order=True)
    )
    host = (
        rows.join(per_kind.select("u", "kind"), on=["u", "kind"])
        .group_by("u", "host_cluster_id")
        .agg(pl.col("v").n_unique().alias("k"))
        .sort(["u", "k", "host_cluster_id"], descending=[False, True, False])
        .unique("u", keep="first", maintain_order=True)
    )
    tied = per_kind.join(host.select("u", "host_cluster_id"), on="u").select(
        pl.col("u").alias("account_id"), "host_cluster_id", "kind", "channels", "ties"
    )
    return tied.cast(ASSOCIATE_SCHEMA).sort("account_id")


def judged_membership(membership: pl.DataFrame, assoc: pl.DataFrame) -> pl.DataFrame:
    """`membership` with each associate moved into its host cluster (to judge it as a member there)."""
    if assoc.is_empty():
        return membership
    moved = assoc.select("account_id", pl.col("host_cluster_id").alias("cluster_id"))
    return pl.concat(
        [membership.join(moved.select("account_id"), on="account_id", how="anti"), moved.cast(membership.schema)]
    )


def associate_evidence(accepted: pl.DataFrame, clusters: pl.DataFrame, min_channels: int) -> pl.DataFrame:
    """account_evidence rows for accepted associates: one row (rank 1, signal "associate"; value: its
    channels, baseline: the `min_channels` bar) whose contribution is the host cluster's log-odds, the
    score the associate takes."""
    schema = pl.Schema(RESULT_ACCOUNT_EVIDENCE.columns)
    if accepted.is_empty():
        return pl.DataFrame(schema=schema)
    risk = clusters.select(pl.col("cluster_id").cast(pl.Int64).alias("host_cluster_id"), "risk")
    rows = accepted.join(risk, on="host_cluster_id", how="left")
    p = pl.col("risk").clip(1e-12, 1 - 1e-12)
    return rows.select(
        "account_id",
        pl.lit(1, pl.Int32).alias("rank"),
        pl.lit("associate").alias("signal"),
        pl.col("channels").list.len().cast(pl.Float64).alias("value"),
        pl.lit(float(min_channels)).alias("baseline"),
        (p / (1 - p)).log().alias("contribution"),
        pl.format(
            "judged as a member of flagged cluster {}: tied to {} members of flagged {} clusters by {} independent "
            "channels ({}), and it shows the cluster's behaviour itself",
            "host_cluster_id",
            "ties",
            pl.col("kind").str.replace_all("_", " "),
            pl.col("channels").list.len(),
            pl.col("channels").list.eval(pl.element().replace(CHANNEL_WORDS)).list.join(", "),
        ).alias("text"),
    ).cast(schema)
