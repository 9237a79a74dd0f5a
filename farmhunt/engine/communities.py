"""Communities of the linkage graph: weighted Leiden (igraph), stable cluster ids, run-to-run mapping.

CPM (the default objective) keeps a group together only while its internal edge weight per account
pair stays above `resolution`. It has no resolution limit, so a 3-account reseller pool is not
swallowed by a neighbouring farm, and one weak link (lighter than `resolution` times the product of
the two sides' sizes) never merges two groups: clusters do not chain into giants.
"""

from __future__ import annotations

import hashlib

import igraph as ig
import numpy as np
import polars as pl

from farmhunt.engine.leiden import seeded_leiden
from farmhunt.engine.settings import CommunitySettings

#: Edge weights are rounded to 9 decimals: summed as integers in these units they add up exactly.
_UNITS = 1e9
MEMBERSHIP_SCHEMA = {"account_id": pl.String, "cluster_id": pl.Int64}


def stable_cluster_id(members: list[str]) -> int:
    """A 63-bit id derived from the sorted member ids: the same members always get the same id."""
    digest = hashlib.blake2b("\n".join(sorted(members)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


def _coded_edges(nodes: pl.Series, edges: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src index, dst index, weight) as numpy arrays, node indices into the sorted `nodes`, rows sorted
    by (src, dst). Node index by binary search in the sorted ids (a hash join on millions of strings is slower)."""
    coded = edges.select(
        nodes.search_sorted(edges["src"]).cast(pl.Int64).alias("s"),
        nodes.search_sorted(edges["dst"]).cast(pl.Int64).alias("d"),
        pl.col("weight").cast(pl.Float64),
    ).sort("s", "d")
    return coded["s"].to_numpy(), coded["d"].to_numpy(), np.ascontiguousarray(coded["weight"].to_numpy())


def leiden(edges: pl.DataFrame, settings: CommunitySettings) -> pl.DataFrame:
    """Cluster the accounts of `edges` (src, dst, weight); returns account_id, cluster_id for clusters
    of at least `min_size` accounts. Seeded and order-independent: same edges, same clusters."""
    if edges.is_empty():
        return pl.DataFrame(schema=MEMBERSHIP_SCHEMA)
    nodes = pl.concat([edges["src"], edges["dst"]]).unique().sort()
    s, d, weight = _coded_edges(nodes, edges)
    # From numpy: igraph reads an (m, 2) int64 array through a memoryview and the weights as one
    # vector; Python tuples of 35M edges cost ~130 bytes an edge more than the 24 of the arrays.
    graph = ig.Graph(n=nodes.len(), edges=np.column_stack([s, d]))
    part = seeded_leiden(
        graph,
        settings.seed,
        objective_function=settings.objective,
        weights=weight,
        resolution=settings.resolution,
        n_iterations=settings.n_iterations,
    )
    member = pl.DataFrame({"account_id": nodes, "community": part.membership})
    groups = (
        member.group_by("community")
        .agg(pl.col("account_id").sort())
        .filter(pl.col("account_id").list.len() >= settings.min_size)
    )
    ids = [stable_cluster_id(m) for m in groups["account_id"].to_list()]
    return (
        groups.with_columns(pl.Series("cluster_id", ids, dtype=pl.Int64))
        .explode("account_id")
        .select("account_id", "cluster_id")
        .sort("account_id")
    )


def map_to_previous(membership: pl.DataFrame, previous: pl.DataFrame, min_overlap: float = 0.5) -> pl.DataFrame:
    """Give each new cluster the id of the earlier cluster it overlaps most (Jaccard >= `min_overlap`),
    one-to-one and greedily by overlap, so investigators' decisions stay attached as data grows."""
    prev = previous.select("account_id", pl.col("cluster_id").alias("prev_id")).drop_nulls()
    sizes_new = membership.group_by("cluster_id").agg(pl.len().alias("n_new"))
    sizes_old = prev.group_by("prev_id").agg(pl.len().alias("n_old"))
    overlap = (
        membership.join(prev, on="account_id")
        .group_by("cluster_id", "prev_id")
        .agg(pl.len().alias("both"))
        .join(sizes_new, on="cluster_id")
        .join(sizes_old, on="prev_id")
        .with_columns((pl.col("both") / (pl.col("n_new") + pl.col("n_old") - pl.col("both"))).alias("j"))
        .filter(pl.col("j") >= min_overlap)
        .sort(["j", "cluster_id", "prev_id"], descending=[True, False, False])
    )
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for new, old in zip(overlap["cluster_id"].to_list(), overlap["prev_id"].to_list()):
        if new not in mapping and old not in taken:
            mapping[new] = old
            taken.add(old)
    if not mapping:
        return membership
    m = pl.DataFrame(
        {"cluster_id": list(mapping), "mapped": list(mapping.values())},
        schema={"cluster_id": pl.Int64, "mapped": pl.Int64},
    )
    return (
        membership.join(m, on="cluster_id", how="left")
        .with_columns(pl.coalesce("mapped", "cluster_id").alias("cluster_id"))
        .drop("mapped")
    )


def graph_metrics(membership: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Per cluster: internal edges and weight, density, and the share of internal weight held by the
    strongest account (a hub-and-spoke cluster vs an evenly knit one). Vectorised over all clusters;
    the console draws one cluster's graph with networkx (`results.cluster_graph`).

    Accounts are integer positions (binary search in the sorted member ids), so the edge list is never
    joined on strings; weights (rounded to 9 decimals) add up as integers in units of 1e-9, so the
    sums are exact whatever the order of the edges.
    """
    m = membership.select("account_id", "cluster_id").sort("account_id")
    sizes = m.group_by("cluster_id").agg(pl.len().alias("n"))
    ids, cluster = m["account_id"], m["cluster_id"].to_numpy()
    if m.height and edges.height:
        ends = []
        for col in ("src", "dst"):
            pos = ids.search_sorted(edges[col]).to_numpy().clip(0, m.height - 1).astype(np.int64)
            ends.append((pos, (ids.gather(pos) == edges[col]).to_numpy()))
        (ps, fs), (pd, fd) = ends
        inside = fs & fd & (cluster[ps] == cluster[pd])
        units = (edges["weight"].to_numpy()[inside] * _UNITS).round().astype(np.int64)
        internal = pl.DataFrame(
            {"cluster_id": cluster[ps[inside]], "s": ps[inside], "d": pd[inside], "w": units},
            schema={"cluster_id": pl.Int64, "s": pl.Int64, "d": pl.Int64, "w": pl.Int64},
        )
    else:
        internal = pl.DataFrame(schema={"cluster_id": pl.Int64, "s": pl.Int64, "d": pl.Int64, "w": pl.Int64})
    hubs = pl.concat(
        [
            internal.select("cluster_id", pl.col("s").alias("a"), "w"),
            internal.select("cluster_id", pl.col("d").alias("a"), "w"),
        ]
    )
    hubs = (
        hubs.group_by("cluster_id", "a")
        .agg(pl.col("w").sum().alias("s"))
        .group_by("cluster_id")
        .agg((pl.col("s").max() / pl.col("s").sum()).round(9).alias("hub_share"))
    )
    return (
        internal.group_by("cluster_id")
        .agg(pl.len().alias("internal_edges"), (pl.col("w").sum() / _UNITS).round(9).alias("internal_weight"))
        .join(sizes, on="cluster_id", how="right")
        .with_columns(pl.col("internal_edges").fill_null(0), pl.col("internal_weight").fill_null(0.0))
        .with_columns((pl.col("internal_edges") / (pl.col("n") * (pl.col("n") - 1) / 2).clip(1)).alias("density"))
        .join(hubs, on="cluster_id", how="left")
        .select("cluster_id", "internal_edges", "internal_weight", "density", "hub_share")
    )
