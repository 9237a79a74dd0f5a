"""Cases: what an investigator works, one ranked queue of operators, each made of flagged clusters.

A case is a group of accounts one operator is believed to control. Community detection cuts a very
large farm into pieces (CPM keeps only clusters dense enough, and a farm of 25,000 accounts is not),
so flagged clusters that share an *operator signature* are grouped into one case and stay listed in
it (`clusters`). The signature is read from the linkage edges that run between flagged clusters,
sorted into independent *channels* of evidence an operator cannot help re-using across pieces
(`settings.CaseSettings.channels`): payment instruments and devices, identities, network exits,
prompt content, timing. A channel supports a pair of clusters when its edges touch at least
`min_accounts` members on each side and `min_share` of the smaller side; a pair supported by
`min_channels` channels (and, by default, of the same predicted kind) is one operator, and cases are
the connected components of those pairs (union-find over a small cluster graph). Edge weights
already fall with how many accounts share a value, and values shared by a large part of the world
make no edges at all, so a common value does not link pieces; weak signals (an email domain, a /24)
belong to no channel. One channel alone is not enough: two operators can share a cloud relay or a
public prompt bank, and they rarely share both. A farm cut into thousands of pieces (seed scale) is
grouped by *operator communities* as well (`community_support`): the same rule, measured between a
piece and the rest of its modularity community.

A flagged account outside any flagged cluster is a case of its own, unless `lone_min_channels` lets
it join the one case its edges tie it to. The queue is ranked by risk, then size, then case id;
evaluation's case list and the console's queue both read `cases.parquet`, so they cannot disagree.
Case ids are short and stable: a hash of the sorted ids of the case's clusters (or the lone account's
id), so a one-cluster case keeps the id it had before grouping existed.
"""

from __future__ import annotations

import base64
import hashlib

import igraph as ig
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from farmhunt.engine.leiden import seeded_leiden
from farmhunt.engine.settings import CHANNEL_WORDS, CaseSettings

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

#: One row per pair of flagged clusters that share an operator signature (`cluster_links`).
LINK_SCHEMA = pl.Schema(
    {
        "cluster_a": pl.Int64(),
        "cluster_b": pl.Int64(),
        "accounts_a": pl.UInt32(),  # members of a touched by the best supporting channel's edges to b
        "accounts_b": pl.UInt32(),  # ... and of b
        "channels": pl.List(pl.String()),  # the channels that support the pair, sorted
        "weight": pl.Float64(),  # linkage weight of the edges between them
    }
)


def short_id(prefix: str, parts: list[str]) -> str:
    """A short, stable id (prefix + 8 base32 characters, 40 bits) of what a case is made of."""
    digest = hashlib.blake2b("\n".join(sorted(parts)).encode(), digest_size=5).digest()
    return prefix + base64.b32encode(digest).decode().lower()


def channel_table(channels: dict[str, str]) -> pl.DataFrame:
    """reason, channel: each linkage reason that belongs to a case channel (`CaseSettings.channels`)."""
    rows = sorted((sig, ch) for sig, ch in channels.items() if ch)
    return pl.DataFrame(rows, schema={"reason": pl.String, "channel": pl.String}, orient="row")


def _cross_edges(members: pl.DataFrame, edges: pl.DataFrame, s: CaseSettings) -> pl.DataFrame:
    """Edges between two different clusters of `members` (account_id, cluster_id), one row per edge and
    channel, oriented so that cluster a < cluster b: a, b, ua, ub, channel, weight."""
    src = members.select(pl.col("account_id").alias("src"), pl.col("cluster_id").alias("ca"))
    dst = members.select(pl.col("account_id").alias("dst"), pl.col("cluster_id").alias("cb"))
    e = (
        edges.lazy()
        .select("src", "dst", "weight", "reasons")
        .join(src.lazy(), on="src")
        .join(dst.lazy(), on="dst")
        .filter(pl.col("ca") != pl.col("cb"))
        .with_columns(swap=pl.col("ca") > pl.col("cb"))
        .select(
            pl.when("swap").then("cb").otherwise("ca").alias("a"),
            pl.when("swap").then("ca").otherwise("cb").alias("b"),
            pl.when("swap").then("dst").otherwise("src").alias("ua"),
            pl.when("swap").then("src").otherwise("dst").alias("ub"),
            "weight",
            "reasons",
        )
        .explode("reasons")
        .rename({"reasons": "reason"})
        .join(channel_table(s.channels).lazy(), on="reason")
        .unique(["a", "b", "ua", "ub", "channel"], keep="first")  # one edge counts once per channel
        .drop("reason")
    )
    return e.collect()


def cluster_links(
    members: pl.DataFrame, sizes: pl.DataFrame, edges: pl.DataFrame, settings: CaseSettings | None = None
) -> pl.DataFrame:
    """Pairs of clusters that share an operator signature (LINK_SCHEMA), sorted by (cluster_a, cluster_b).

    A channel supports a pair when its edges between them touch at least `min_accounts` members on
    each side and at least `min_share` of the smaller side's members; a pair shares a signature when
    at least `min_channels` channels support it. `members`: account_id, cluster_id of the clusters
    considered; `sizes`: cluster_id, size; `edges`: the linkage edges (src, dst, weight, reasons).
    """
    s = settings or CaseSettings()
    e = _cross_edges(members, edges, s)
    if e.is_empty():
        return pl.DataFrame(schema=LINK_SCHEMA)
    sz = sizes.select("cluster_id", pl.col("size").cast(pl.Float64))
    per_channel = (
        e.group_by("a", "b", "channel")
        .agg(
            pl.col("ua").n_unique().alias("ta"),
            pl.col("ub").n_unique().alias("tb"),
            pl.col("weight").sum(),
        )
        .join(sz.rename({"cluster_id": "a", "size": "size_a"}), on="a")
        .join(sz.rename({"cluster_id": "b", "size": "size_b"}), on="b")
        .filter(
            (pl.col("ta") >= s.min_accounts)
            & (pl.col("tb") >= s.min_accounts)
            & (pl.min_horizontal("ta", "tb") >= s.min_share * pl.min_horizontal("size_a", "size_b"))
        )
    )
    pairs = (
        per_channel.group_by("a", "b")
        .agg(
            pl.col("ta").max().cast(pl.UInt32).alias("accounts_a"),
            pl.col("tb").max().cast(pl.UInt32).alias("accounts_b"),
            pl.col("channel").sort().alias("channels"),
        )
        .filter(pl.col("channels").list.len() >= s.min_channels)
        .join(
            e.unique(["a", "b", "ua", "ub"], keep="first").group_by("a", "b").agg(pl.col("weight").sum()),
            on=["a", "b"],
        )
    )
    return (
        pairs.rename({"a": "cluster_a", "b": "cluster_b"})
        .select(list(LINK_SCHEMA))
        .cast(LINK_SCHEMA)
        .sort(["cluster_a", "cluster_b"])
    )


def _modularity(nodes: pl.Series, edges: pl.DataFrame, initial: np.ndarray, seed: int, n_iterations: int) -> np.ndarray:
    """Community index per node of `nodes` (sorted ids): Leiden with the modularity objective on the
    weighted `edges` (src, dst, weight), started from the `initial` membership (the CPM clusters).

    Modularity has the resolution limit CPM avoids, and here that is the point: it merges pieces more
    tied to each other than chance, so a farm CPM cuts into thousands of sparse pieces comes out as a
    few communities. Seeded and order-independent (edges coded by binary search and sorted)."""
    coded = edges.select(
        nodes.search_sorted(edges["src"]).cast(pl.Int64).alias("s"),
        nodes.search_sorted(edges["dst"]).cast(pl.Int64).alias("d"),
        pl.col("weight").cast(pl.Float64),
    ).sort("s", "d")
    graph = ig.Graph(n=nodes.len(), edges=np.column_stack([coded["s"].to_numpy(), coded["d"].to_numpy()]))
    part = seeded_leiden(
        graph,
        seed,
        objective_function="modularity",
        weights=np.ascontiguousarray(coded["weight"].to_numpy()),
        initial_membership=[int(x) for x in initial],
        n_iterations=n_iterations,
    )
    return np.asarray(part.membership, dtype=np.int64)


def community_support(
    flagged: pl.DataFrame, members: pl.DataFrame, edges: pl.DataFrame, settings: CaseSettings | None = None
) -> pl.DataFrame:
    """Flagged clusters that join their *operator community*: cluster_id, hub ("community:kind") and
    channels (the supporting ones, sorted).

    Pairwise support cannot tie the pieces of a very large farm: CPM cuts a 25,000-account farm into
    thousands of pieces, each tied to hundreds of others by a few edges. So the flagged clusters'
    members are first grouped by modularity (`_modularity`, started from the
    clusters, on the edges that carry a channel), which merges pieces more tied to each other than
    chance. A piece then joins its community's case when, as in the pairwise rule, `min_channels`
    channels each tie at least `min_accounts` and `min_share` of its members to the *other pieces of
    the same community and predicted kind*: the evidence is the pairwise rule's, measured against the
    rest of the operator rather than against one other piece. `flagged`: cluster_id, size, kind."""
    s = settings or CaseSettings()
    schema = pl.Schema({"cluster_id": pl.Int64(), "hub": pl.String(), "channels": pl.List(pl.String())})
    chan = channel_table(s.channels)
    ids = members["account_id"].implode()
    tied = (
        edges.lazy()
        .select("src", "dst", "weight", "reasons")
        .filter(pl.col("src").is_in(ids) & pl.col("dst").is_in(ids))
        .filter(pl.col("reasons").list.eval(pl.element().is_in(chan["reason"].implode())).list.any())
        .collect()
    )
    if tied.is_empty():
        return pl.DataFrame(schema=schema)
    nodes = members.sort("account_id")
    initial = nodes["cluster_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
    comm = _modularity(nodes["account_id"], tied, initial, s.community_seed, s.community_iterations)
    nodes = nodes.with_columns(pl.Series("comm", comm, dtype=pl.Int64))
    piece = (
        nodes.group_by("cluster_id", "comm")
        .len()
        .sort(["cluster_id", "len", "comm"], descending=[False, True, False])
        .unique("cluster_id", keep="first", maintain_order=True)
        .join(flagged.select(pl.col("cluster_id").cast(pl.Int64), "size", "kind"), on="cluster_id")
        .select("cluster_id", "comm", "kind", pl.col("size").cast(pl.Float64))
    )
    who = members.join(piece, on="cluster_id").select("account_id", "cluster_id", "comm", "kind")
    per_channel = (
        tied.select("src", "dst", "reasons").explode("reasons").join(chan, left_on="reasons", right_on="reason")
    )
    both = pl.concat(
        [
            per_channel.select(pl.col("src").alias("u"), pl.col("dst").alias("v"), "channel"),
            per_channel.select(pl.col("dst").alias("u"), pl.col("src").alias("v"), "channel"),
        ]
    )
    touched = (
        both.join(who.rename({"account_id": "u"}), on="u")
        .join(
            who.select(pl.col("account_id").alias("v"), pl.col("cluster_id").alias("q"), "comm", "kind"),
            on=["v", "comm", "kind"],
        )
        .filter(pl.col("cluster_id") != pl.col("q"))
        .group_by("cluster_id", "channel")
        .agg(pl.col("u").n_unique().alias("t"))
        .join(piece, on="cluster_id")
        .filter(pl.col("t") >= s.min_accounts, pl.col("t") >= s.min_share * pl.col("size"))
    )
    return (
        touched.group_by("cluster_id", "comm", "kind")
        .agg(pl.col("channel").sort().alias("channels"))
        .filter(pl.col("channels").list.len() >= s.min_channels)
        .with_columns(pl.format("{}:{}", "comm", pl.col("kind").fill_null("")).alias("hub"))
        .select(list(schema))
        .cast(schema)
        .sort("cluster_id")
    )


def _same_kind(pairs: pl.DataFrame, kind: pl.DataFrame, s: CaseSettings) -> pl.DataFrame:
    """`pairs` (cluster_a, cluster_b, channels) kept only between clusters of one kind (with `same_kind`)."""
    if not s.same_kind:
        return pairs.select("cluster_a", "cluster_b", "channels")
    return (
        pairs.join(kind.rename({"cluster_id": "cluster_a", "kind": "kind_a"}), on="cluster_a")
        .join(kind.rename({"cluster_id": "cluster_b", "kind": "kind_b"}), on="cluster_b")
        .filter(pl.col("kind_a").eq_missing(pl.col("kind_b")))
        .select("cluster_a", "cluster_b", "channels")
    )


def _components(index: pl.DataFrame, links: list[pl.DataFrame], hubs: pl.DataFrame) -> pl.DataFrame:
    """cluster_id -> group (its component's smallest cluster id) of the graph of `links` (cluster_a,
    cluster_b) and of the hubs (cluster_id, hub: one more node per hub, tied to its clusters)."""
    n = index.height
    ij = (
        pl.concat(links)
        .join(index.rename({"cluster_id": "cluster_a"}), on="cluster_a")
        .join(index.rename({"cluster_id": "cluster_b", "i": "j"}), on="cluster_b")
    )
    hub_ix = hubs.select("hub").unique().sort("hub").with_row_index("h", offset=n)
    hi = hubs.join(index, on="cluster_id").join(hub_ix, on="hub")
    r = np.concatenate([ij["i"].to_numpy(), hi["i"].to_numpy()])
    c = np.concatenate([ij["j"].to_numpy(), hi["h"].cast(pl.Int64).to_numpy()])
    size = n + hub_ix.height
    _, label = connected_components(coo_matrix((np.ones(r.size), (r, c)), shape=(size, size)), directed=False)
    return (
        index.with_columns(pl.Series("label", label[:n], dtype=pl.Int64))
        .with_columns(pl.col("cluster_id").min().over("label").alias("group"))
        .select("cluster_id", "group")
    )


def operator_groups(
    flagged: pl.DataFrame, members: pl.DataFrame, edges: pl.DataFrame, settings: CaseSettings | None = None
) -> pl.DataFrame:
    """cluster_id -> group (the smallest cluster id of its group) and channels (those that tied the
    group's clusters, sorted; empty for a cluster alone) for the flagged clusters.

    `flagged`: cluster_id, size, kind of the flagged clusters; `members`: their account_id, cluster_id.
    Two clusters are one group when `min_channels` channels support the pair (and, with `same_kind`,
    they have the same predicted kind), or through a chain of such pairs; with `communities`, also when
    both join one operator community (`community_support`).

    (Applying the pairwise rule again between the groups found, as units, was tried and is not done: at
    seed scale it merged three distinct farms of 25,000, 10,000 and 3,000 accounts into one case, since
    thin chance ties, a synchronized pair here and a shared proxy exit there, cover a third of a
    10,000-account unit.)
    """
    s = settings or CaseSettings()
    ids = flagged.select(pl.col("cluster_id").cast(pl.Int64)).sort("cluster_id")["cluster_id"]
    kind = flagged.select(pl.col("cluster_id").cast(pl.Int64), "kind")
    index = pl.DataFrame({"cluster_id": ids, "i": pl.int_range(ids.len(), eager=True, dtype=pl.Int64)})
    links = [_same_kind(cluster_links(members, flagged, edges, s), kind, s)]
    hubs = community_support(flagged, members, edges, s) if s.communities else None
    if hubs is None:
        hubs = pl.DataFrame(schema={"cluster_id": pl.Int64, "hub": pl.String, "channels": pl.List(pl.String)})
    else:
        # Two pieces that joined different operator communities stay apart even when a pair of them
        # meets the pairwise rule: at a farm's scale the communities decide, and a few stragglers of one
        # farm sitting in another's community would otherwise chain the two operators into one case.
        hub = hubs.select("cluster_id", "hub")
        links = [
            links[0]
            .join(hub.rename({"cluster_id": "cluster_a", "hub": "hub_a"}), on="cluster_a", how="left")
            .join(hub.rename({"cluster_id": "cluster_b", "hub": "hub_b"}), on="cluster_b", how="left")
            .filter(pl.col("hub_a").is_null() | pl.col("hub_b").is_null() | (pl.col("hub_a") == pl.col("hub_b")))
            .select("cluster_a", "cluster_b", "channels")
        ]
    group = _components(index, links, hubs)
    # Rounds: a part that joined another is measured again, as one group with it, in the next round.
    for _ in range(_MERGE_ROUNDS):
        merged = _merge_groups(group, flagged, members, edges, s)
        if merged.is_empty():
            break
        links.append(merged)
        group = _components(index, links, hubs)
    absorbed = _absorb_strays(group, flagged, members, edges, s)
    if absorbed.height:
        group = group.join(absorbed.select("group", "into"), on="group", how="left").select(
            "cluster_id", pl.coalesce("into", "group").alias("group")
        )
        links.append(absorbed.select(pl.col("group").alias("cluster_a"), "channels"))
    tied = pl.concat(
        [
            *[x.select(pl.col("cluster_a").alias("cluster_id"), "channels") for x in links],
            hubs.select("cluster_id", "channels"),
        ]
    )
    channels = (
        tied.join(group, on="cluster_id").explode("channels").group_by("group").agg(pl.col("channels").unique().sort())
    )
    return group.join(channels, on="group", how="left").with_columns(
        pl.col("channels").fill_null(pl.lit([], pl.List(pl.String)))
    )


def _group_sizes(group: pl.DataFrame, flagged: pl.DataFrame) -> pl.DataFrame:
    """group, size (its clusters' members), kind (its largest cluster's) of each group of flagged clusters."""
    sized = group.join(flagged.select(pl.col("cluster_id").cast(pl.Int64), "size", "kind"), on="cluster_id")
    lead = sized.sort(["group", "size", "cluster_id"], descending=[False, True, False])
    return lead.group_by("group", maintain_order=True).agg(pl.col("size").sum(), pl.col("kind").first())


#: At most this many rounds of `_merge_groups` (each measures the groups the last one made).
_MERGE_ROUNDS = 4


def _merge_groups(
    group: pl.DataFrame, flagged: pl.DataFrame, members: pl.DataFrame, edges: pl.DataFrame, s: CaseSettings
) -> pl.DataFrame:
    """Large groups that are part of a larger one: cluster_a (the group merged), cluster_b (the one it
    joins), channels.

    A farm of 25,000 accounts can come out of the modularity pass as two or three communities, and so
    as several cases, although most members of the smaller part share instruments and network exits with
    the larger one. A group of more than `merge_min_size` accounts joins a larger group (of the same
    kind, with `same_kind`) when `min_channels` channels each touch at least `merge_share` of *its*
    members: at seed scale a 2,000-account part of the 25,000-account farm is tied to the rest by
    devices or cards on 91% and network exits on 94% of its members, two farms' cases by 7-9% (timing
    alone reaches 43%). In one round each group joins at most one (the one with the most channels, then
    the most touched members), and a group that others join is not merged itself: the next round
    measures it again together with what joined it, so no merge is ever chained untested.
    """
    schema = pl.Schema({"cluster_a": pl.Int64(), "cluster_b": pl.Int64(), "channels": pl.List(pl.String())})
    if s.merge_share >= 1.0 or group.height < 2:
        return pl.DataFrame(schema=schema)
    per = _group_sizes(group, flagged)
    large = per.filter(pl.col("size") > s.merge_min_size)
    if large.height < 2:
        return pl.DataFrame(schema=schema)
    g_members = (
        members.join(group, on="cluster_id")
        .join(large.select("group"), on="group")
        .select("account_id", pl.col("group").alias("cluster_id"))
    )
    e = _cross_edges(g_members, edges, s)
    if e.is_empty():
        return pl.DataFrame(schema=schema)
    touched = e.group_by("a", "b", "channel").agg(
        pl.col("ua").n_unique().alias("ta"), pl.col("ub").n_unique().alias("tb")
    )
    # both directions: (group, into, channel, touched members of group)
    both = pl.concat(
        [
            touched.select(pl.col("a").alias("g"), pl.col("b").alias("into"), "channel", pl.col("ta").alias("t")),
            touched.select(pl.col("b").alias("g"), pl.col("a").alias("into"), "channel", pl.col("tb").alias("t")),
        ]
    )
    sz = large.select(pl.col("group").alias("g"), pl.col("size").alias("n"), "kind")
    cand = (
        both.join(sz, on="g")
        .join(sz.rename({"g": "into", "n": "m", "kind": "kind_into"}), on="into")
        .filter((pl.col("m") > pl.col("n")) | ((pl.col("m") == pl.col("n")) & (pl.col("into") < pl.col("g"))))
        .filter(pl.col("t") >= s.merge_share * pl.col("n"))
    )
    if s.same_kind:
        cand = cand.filter(pl.col("kind").eq_missing(pl.col("kind_into")))
    cand = (
        cand.group_by("g", "into")
        .agg(pl.col("channel").sort().alias("channels"), pl.col("t").sum().alias("t"))
        .filter(pl.col("channels").list.len() >= s.min_channels)
    )
    return (
        _best_target(cand, "g", "t")
        .select(pl.col("g").alias("cluster_a"), pl.col("into").alias("cluster_b"), "channels")
        .cast(schema)
        .sort("cluster_a", "cluster_b")
    )


def _best_target(cand: pl.DataFrame, key: str, then: str) -> pl.DataFrame:
    """One row per `key` of `cand` (key, into, channels, `then`): a group others join (an `into`) stays
    where it is; the rest take the target with the most channels, then the largest `then`, then the
    smallest id."""
    takers = cand.select(pl.col("into").alias(key)).unique()
    return (
        cand.join(takers, on=key, how="anti")
        .with_columns(pl.col("channels").list.len().alias("n_channels"))
        .sort([key, "n_channels", then, "into"], descending=[False, True, True, False])
        .unique(key, keep="first", maintain_order=True)
    )


def _absorb_strays(
    group: pl.DataFrame, flagged: pl.DataFrame, members: pl.DataFrame, edges: pl.DataFrame, s: CaseSettings
) -> pl.DataFrame:
    """Small groups that join one much larger group: group, into (the larger group), channels.

    A very large farm leaves stray pieces of a few accounts whose ties run to many of its clusters, a
    few edges to each, so no single cluster and no community supports them. Measured against a whole
    group, the pairwise rule applies: `min_channels` channels each touch `min_accounts` and `min_share`
    of the stray's members. Only groups of at most `absorb_max_size` accounts join, only a group at
    least `absorb_ratio` times larger (and of the same kind, with `same_kind`): the one with the most
    channels, then the most edge weight. A group that takes strays is never itself absorbed, and a stray
    joins one group only, so no two large groups are ever chained through it.
    """
    schema = pl.Schema({"group": pl.Int64(), "into": pl.Int64(), "channels": pl.List(pl.String())})
    if s.absorb_max_size <= 0 or group.height < 2:
        return pl.DataFrame(schema=schema)
    per = _group_sizes(group, flagged)
    if per.filter(pl.col("size") <= s.absorb_max_size).is_empty():
        return pl.DataFrame(schema=schema)
    g_members = members.join(group, on="cluster_id").select("account_id", pl.col("group").alias("cluster_id"))
    pairs = cluster_links(g_members, per.rename({"group": "cluster_id"}), edges, s)
    both = pl.concat(
        [
            pairs.select(pl.col("cluster_a").alias("group"), pl.col("cluster_b").alias("into"), "channels", "weight"),
            pairs.select(pl.col("cluster_b").alias("group"), pl.col("cluster_a").alias("into"), "channels", "weight"),
        ]
    )
    small = per.select("group", pl.col("size").alias("n"), pl.col("kind").alias("k"))
    big = per.select(pl.col("group").alias("into"), pl.col("size").alias("m"), pl.col("kind").alias("kk"))
    cand = (
        both.join(small, on="group")
        .join(big, on="into")
        .filter(pl.col("n") <= s.absorb_max_size, pl.col("m") >= s.absorb_ratio * pl.col("n"))
    )
    if s.same_kind:
        cand = cand.filter(pl.col("k").eq_missing(pl.col("kk")))
    # Tied to several large groups (often pieces of one farm): the most channels, then the most weight.
    return _best_target(cand, "group", "weight").select(list(schema)).cast(schema).sort("group")


def build_cases(
    accounts: pl.DataFrame,
    clusters: pl.DataFrame,
    evidence: pl.DataFrame,
    edges: pl.DataFrame | None = None,
    settings: CaseSettings | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cases, account_case): the ranked case table (CASE_SCHEMA) and account_id -> case_id.

    `accounts`: account_id, cluster_id, risk, flagged, predicted_kind; `clusters`: cluster_id, size,
    risk, predicted_kind, flagged; `evidence`: the clusters' evidence (rank 1 is the top reason);
    `edges`: the linkage edges (src, dst, weight, reasons), without which (or with `settings.group`
    off) every flagged cluster is a case of its own.
    """
    s = settings or CaseSettings()
    top = evidence.filter(pl.col("rank") == 1).select("cluster_id", pl.col("text").alias("top_reason"))
    fc = clusters.filter(pl.col("flagged")).select(
        pl.col("cluster_id").cast(pl.Int64), "risk", pl.col("predicted_kind").alias("kind")
    )
    if "host_cluster_id" in accounts.columns:
        # An associate (scoring.associates) is in its host cluster's case, as the host's member it was judged.
        accounts = accounts.with_columns(
            pl.coalesce("host_cluster_id", pl.col("cluster_id").cast(pl.Int64)).alias("cluster_id")
        )
    in_cluster = accounts.join(fc.select("cluster_id"), on="cluster_id", how="semi")
    lone = accounts.join(fc.select("cluster_id"), on="cluster_id", how="anti").filter(pl.col("flagged"))
    per_cluster = (
        in_cluster.group_by("cluster_id")
        .agg(pl.len().alias("size"), pl.col("flagged").sum().cast(pl.Int64).alias("flagged_accounts"))
        .join(fc, on="cluster_id")
        .join(top, on="cluster_id", how="left")
    )
    members = in_cluster.select("account_id", "cluster_id")
    if s.group and edges is not None:
        groups = operator_groups(per_cluster, members, edges, s)
    else:
        groups = per_cluster.select(
            "cluster_id", pl.col("cluster_id").alias("group"), pl.lit([], pl.List(pl.String)).alias("channels")
        )
    per_cluster = per_cluster.join(groups, on="cluster_id")
    # A grouped case reads like its leading cluster (most flagged accounts, then riskiest, then id).
    lead = per_cluster.sort(
        ["group", "flagged_accounts", "risk", "cluster_id"], descending=[False, True, True, False]
    ).group_by("group", maintain_order=True)
    cluster_cases = lead.agg(
        pl.col("kind").first(),
        pl.col("risk").max(),
        pl.col("size").sum().cast(pl.Int64),
        pl.col("flagged_accounts").sum(),
        pl.col("cluster_id").sort().alias("clusters"),
        pl.col("top_reason").first(),
        pl.col("channels").first(),
    ).with_columns(
        pl.col("clusters")
        .map_elements(lambda c: short_id("c", [str(x) for x in c]), return_dtype=pl.String)
        .alias("case_id"),
        pl.when(pl.col("clusters").list.len() > 1)
        .then(
            pl.format(
                "{} clusters of one operator (shared {}); {}",
                pl.col("clusters").list.len(),
                pl.col("channels").list.eval(pl.element().replace(CHANNEL_WORDS)).list.join(", "),
                pl.col("top_reason").fill_null("no evidence row"),
            )
        )
        .otherwise(pl.col("top_reason"))
        .alias("top_reason"),
    )
    group_case = cluster_cases.select("group", "case_id")
    account_case = in_cluster.select("account_id", "cluster_id").join(
        per_cluster.select("cluster_id", "group").join(group_case, on="group"), on="cluster_id"
    )
    account_case = account_case.select("account_id", "case_id")
    if s.lone_min_channels and edges is not None and lone.height:
        joined = _attach_lone(lone.select("account_id"), account_case, edges, s)
        if joined.height:
            gain = joined.group_by("case_id").agg(pl.len().cast(pl.Int64).alias("extra"))
            cluster_cases = (
                cluster_cases.join(gain, on="case_id", how="left")
                .with_columns(
                    (pl.col("size") + pl.col("extra").fill_null(0)),
                    (pl.col("flagged_accounts") + pl.col("extra").fill_null(0)),
                )
                .drop("extra")
            )
            account_case = pl.concat([account_case, joined])
            lone = lone.join(joined, on="account_id", how="anti")
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
        pl.concat([cluster_cases.drop("group", "channels"), lone_cases.drop("account_id")], how="diagonal_relaxed")
        .with_columns(pl.col("clusters").list.len().cast(pl.Int32).alias("n_clusters"))
        .sort(["risk", "size", "case_id"], descending=[True, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"))
    )
    account_case = pl.concat([account_case, lone_cases.select("account_id", "case_id")]).sort("account_id")
    return cases.select(list(CASE_SCHEMA)).cast(CASE_SCHEMA), account_case


def _attach_lone(lone: pl.DataFrame, account_case: pl.DataFrame, edges: pl.DataFrame, s: CaseSettings) -> pl.DataFrame:
    """account_id, case_id of lone flagged accounts whose edges tie them to exactly one case through
    `lone_min_channels` channels."""
    ch = channel_table(s.channels).lazy()
    both = pl.concat(
        [
            edges.lazy().select(pl.col("src").alias("account_id"), pl.col("dst").alias("other"), "reasons"),
            edges.lazy().select(pl.col("dst").alias("account_id"), pl.col("src").alias("other"), "reasons"),
        ]
    )
    ties = (
        both.join(lone.lazy(), on="account_id", how="semi")
        .join(account_case.lazy().rename({"account_id": "other"}), on="other")
        .explode("reasons")
        .join(ch.rename({"reason": "reasons"}), on="reasons")
        .group_by("account_id", "case_id")
        .agg(pl.col("channel").n_unique().alias("n_channels"))
        .filter(pl.col("n_channels") >= s.lone_min_channels)
        .filter(pl.len().over("account_id") == 1)
        .select("account_id", "case_id")
    )
    return ties.collect().sort("account_id")
