"""Baseline detectors a reviewer asks about, scored by the same metric code as farmhunt.

Each baseline returns a *detection*: one row per account with ``account_id``, ``flagged``, ``risk``
and ``cluster_id`` (see `farmhunt.evaluation.metrics`).

- ``components``: connected components of the raw shared-attribute graph (card fingerprint, device,
  phone, signup IP); components of ``min_component`` (5) or more accounts are flagged; risk grows
  with component size (1 - 1/size).
- ``isolation_forest``: scikit-learn IsolationForest over the account features alone (no graph),
  flagging as many accounts as farmhunt flagged (same flag budget); risk = normalised anomaly score.
- ``fraudar``: FRAUDAR (Hooi et al., KDD 2016), implemented from the paper: greedy peeling of the
  account x shared-value bipartite graph (cards, devices, phones, signup and request IPs, prompt
  SimHash bands) maximising the log-weighted average degree g(S) = f(S) / |S|, where every edge to
  value column j weighs 1 / log(deg(j) + 5) (column suspiciousness: a value shared by thousands
  counts little, which makes the metric camouflage-resistant). After each block is found its edges
  are removed and the next densest block is peeled; the accounts of the k blocks are flagged, risk
  = block density relative to the densest block.

Only values shared by at least two accounts are graph columns. Prompt-hash bands (64-bit SimHash
cut in bands of ``band_bits``) are random 16-bit values that collide by chance at scale, so a band
value becomes a column only when used by ``band_min_excess`` times more accounts than chance.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from farmhunt.core.contract import ACCOUNTS, PAYMENTS, REQUESTS
from farmhunt.core.world import World, load_world
from farmhunt.engine.results import feature_columns

BASELINES: tuple[str, ...] = ("components", "isolation_forest", "fraudar")
COMPONENT_ATTRIBUTES: tuple[str, ...] = ("card", "device", "phone", "signup_ip")
FRAUDAR_ATTRIBUTES: tuple[str, ...] = ("card", "device", "phone", "signup_ip", "request_ip", "prompt_band")


@dataclass(frozen=True)
class BaselineSettings:
    """Knobs of the baselines (defaults as in the issue and the paper)."""

    min_component: int = 5  # connected components of at least this many accounts are flagged
    fraudar_blocks: int = 10  # k densest blocks flagged by FRAUDAR
    band_bits: int = 16  # SimHash band width for the prompt-band columns
    band_min_excess: float = 8.0  # a band value is a column when used this many times more than chance
    isolation_trees: int = 200
    seed: int = 42


# ---------------------------------------------------------------------------------------------
# The account x shared-value bipartite graph
# ---------------------------------------------------------------------------------------------
def shared_values(world: World, attributes: tuple[str, ...], s: BaselineSettings | None = None) -> pl.DataFrame:
    """Distinct (account_id, value) pairs, value = "attribute:raw", for values shared by 2+ accounts."""
    s = s or BaselineSettings()
    acc = world["accounts"]
    parts: list[pl.LazyFrame] = []
    account_cols = {"device": "device_id", "phone": "phone", "signup_ip": "signup_ip"}
    for attr, col in account_cols.items():
        if attr in attributes:
            parts.append(acc.select("account_id", (pl.lit(f"{attr}:") + pl.col(col)).alias("value")))
    if "card" in attributes and "payments" in world:
        parts.append(
            world["payments"].select("account_id", (pl.lit("card:") + pl.col("card_fingerprint")).alias("value"))
        )
    if "request_ip" in attributes and "requests" in world:
        parts.append(world["requests"].select("account_id", (pl.lit("ip:") + pl.col("ip")).alias("value")))
    if "prompt_band" in attributes and "requests" in world:
        parts.append(_prompt_bands(world["requests"], s))
    if not parts:
        return pl.DataFrame(schema={"account_id": pl.String, "value": pl.String})
    pairs = pl.concat(parts).drop_nulls().unique()
    return pairs.filter(pl.len().over("value") >= 2).collect(engine="streaming").sort("value", "account_id")


def _prompt_bands(requests: pl.LazyFrame, s: BaselineSettings) -> pl.LazyFrame:
    """(account_id, "band:i:value") for SimHash band values used by far more accounts than chance."""
    nb = 64 // s.band_bits
    size = 1 << s.band_bits
    hashes = requests.select("account_id", "prompt_hash").unique()
    bands = pl.concat(
        [
            hashes.select(
                "account_id",
                pl.lit(i, pl.Int32).alias("band"),
                ((pl.col("prompt_hash") // (1 << (i * s.band_bits))) % size).alias("bv"),
            )
            for i in range(nb)
        ]
    ).unique()
    # chance: accounts spread their distinct band values uniformly over 2^bits buckets
    per_band = bands.group_by("band").agg(pl.len().alias("pairs"))
    return (
        bands.with_columns(pl.len().over("band", "bv").alias("users"))
        .join(per_band, on="band")
        .filter(
            pl.col("users")
            >= pl.max_horizontal(pl.lit(3.0), s.band_min_excess * pl.col("pairs") / float(1 << s.band_bits))
        )
        .select("account_id", pl.format("band:{}:{}", pl.col("band"), pl.col("bv")).alias("value"))
    )


def _index(pairs: pl.DataFrame, accounts: pl.Series) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Integer edge lists (row = account index in `accounts`, col = value index)."""
    amap = pl.DataFrame({"account_id": accounts}).with_row_index("r")
    vals = pairs.select("value").unique(maintain_order=True).with_row_index("c")
    e = pairs.join(amap, on="account_id").join(vals, on="value")
    return (e["r"].to_numpy().astype(np.int64), e["c"].to_numpy().astype(np.int64), accounts.len(), vals.height)


# ---------------------------------------------------------------------------------------------
# Connected components
# ---------------------------------------------------------------------------------------------
def connected_components(world: World, accounts: pl.Series, s: BaselineSettings | None = None) -> pl.DataFrame:
    """Components of the raw shared-attribute graph; components of `min_component`+ accounts flagged."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as cc

    s = s or BaselineSettings()
    rows, cols, nr, nc = _index(shared_values(world, COMPONENT_ATTRIBUTES, s), accounts)
    n = nr + nc
    graph = coo_matrix((np.ones(len(rows)), (rows, nr + cols)), shape=(n, n))
    _, label = cc(graph, directed=False)
    acc_label = label[:nr]
    size = np.bincount(acc_label)[acc_label]
    return pl.DataFrame(
        {
            "account_id": accounts,
            "flagged": size >= s.min_component,
            "risk": 1.0 - 1.0 / size,
            "cluster_id": np.where(size >= 2, acc_label, -1),
        }
    ).with_columns(pl.when(pl.col("cluster_id") >= 0).then(pl.col("cluster_id")).cast(pl.Int64))


# ---------------------------------------------------------------------------------------------
# IsolationForest on features alone
# ---------------------------------------------------------------------------------------------
def feature_matrix(accounts: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The feature columns of a results accounts table (`results.feature_columns`: none of farmhunt's
    own risk or anomaly scores), nulls -> 0."""
    cols = feature_columns(accounts.schema)
    if not cols:
        return np.zeros((accounts.height, 0)), []
    x = accounts.select(pl.col(cols).cast(pl.Float64).fill_nan(None).fill_null(0.0)).to_numpy()
    x[~np.isfinite(x)] = 0.0
    return x, cols


def isolation_forest(accounts: pl.DataFrame, budget: int, s: BaselineSettings | None = None) -> pl.DataFrame:
    """IsolationForest over the account features; the `budget` most anomalous accounts are flagged."""
    from sklearn.ensemble import IsolationForest

    s = s or BaselineSettings()
    x, cols = feature_matrix(accounts)
    n = accounts.height
    if n == 0 or not cols:
        score = np.zeros(n)
    else:
        model = IsolationForest(n_estimators=s.isolation_trees, random_state=s.seed)
        score = -model.fit(x).score_samples(x)
    order = np.argsort(-score, kind="stable")
    flagged = np.zeros(n, dtype=bool)
    flagged[order[: max(0, min(budget, n))]] = True
    span = float(score.max() - score.min()) if n else 0.0
    risk = (score - score.min()) / span if span > 0 else np.zeros(n)
    return pl.DataFrame(
        {
            "account_id": accounts["account_id"],
            "flagged": flagged,
            "risk": risk,
            "cluster_id": pl.Series([None] * n, dtype=pl.Int64),
        }
    )


# ---------------------------------------------------------------------------------------------
# FRAUDAR
# ---------------------------------------------------------------------------------------------
def densest_block(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One FRAUDAR block: greedy peeling maximising g(S) = f(S)/|S| with weights 1/log(deg_col + 5).

    `rows`, `cols`: the (deduplicated) edges. Returns the block's row and column indices and g.
    Each step removes the node whose removal costs f the least (its priority); a heap with lazy
    deletion keeps this O(E log(V)).
    """
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0.0
    deg_c = np.bincount(cols, minlength=n_cols)
    w = 1.0 / np.log(deg_c + 5.0)
    ew = w[cols]
    pri = np.concatenate([np.bincount(rows, weights=ew, minlength=n_rows), w * deg_c]).tolist()
    active = np.flatnonzero(np.concatenate([np.bincount(rows, minlength=n_rows), deg_c]) > 0)
    o = np.argsort(rows, kind="stable")
    r_ptr = np.searchsorted(rows[o], np.arange(n_rows + 1)).tolist()
    r_nbr = (cols[o] + n_rows).tolist()
    o = np.argsort(cols, kind="stable")
    c_ptr = np.searchsorted(cols[o], np.arange(n_cols + 1)).tolist()
    c_nbr = rows[o].tolist()
    wl = w.tolist()

    heap = [(pri[v], v) for v in active.tolist()]
    heapq.heapify(heap)
    removed = bytearray(n_rows + n_cols)
    f = float(ew.sum())
    size = len(heap)
    best, best_step = f / size, 0
    order: list[int] = []
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        p, v = pop(heap)
        if removed[v] or p != pri[v]:
            continue
        removed[v] = 1
        order.append(v)
        f -= p
        size -= 1
        if v < n_rows:
            for cj in r_nbr[r_ptr[v] : r_ptr[v + 1]]:
                if not removed[cj]:
                    pri[cj] -= wl[cj - n_rows]
                    push(heap, (pri[cj], cj))
        else:
            wj = wl[v - n_rows]
            for i in c_nbr[c_ptr[v - n_rows] : c_ptr[v - n_rows + 1]]:
                if not removed[i]:
                    pri[i] -= wj
                    push(heap, (pri[i], i))
        if size > 0 and f / size > best:
            best, best_step = f / size, len(order)
    gone = np.zeros(n_rows + n_cols, dtype=bool)
    gone[np.asarray(order[:best_step], dtype=np.int64)] = True
    keep = np.zeros(n_rows + n_cols, dtype=bool)
    keep[active] = True
    keep &= ~gone
    nodes = np.flatnonzero(keep)
    return nodes[nodes < n_rows], nodes[nodes >= n_rows] - n_rows, float(best)


def fraudar_blocks(
    rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, k: int
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The k densest blocks: after each block its edges are removed and peeling starts again."""
    blocks = []
    rows, cols = rows.copy(), cols.copy()
    for _ in range(k):
        br, bc, g = densest_block(rows, cols, n_rows, n_cols)
        if len(br) == 0 or g <= 0:
            break
        blocks.append((br, bc, g))
        in_r = np.zeros(n_rows, dtype=bool)
        in_r[br] = True
        in_c = np.zeros(n_cols, dtype=bool)
        in_c[bc] = True
        keep = ~(in_r[rows] & in_c[cols])
        rows, cols = rows[keep], cols[keep]
    return blocks


def fraudar(world: World, accounts: pl.Series, s: BaselineSettings | None = None) -> pl.DataFrame:
    """FRAUDAR on the account x shared-value graph: accounts of the k densest blocks are flagged."""
    s = s or BaselineSettings()
    rows, cols, nr, nc = _index(shared_values(world, FRAUDAR_ATTRIBUTES, s), accounts)
    blocks = fraudar_blocks(rows, cols, nr, nc, s.fraudar_blocks)
    cluster = np.full(nr, -1, dtype=np.int64)
    risk = np.zeros(nr)
    top = blocks[0][2] if blocks else 1.0
    for b, (br, _bc, g) in enumerate(blocks):
        fresh = br[cluster[br] < 0]  # an account keeps the first (densest) block it fell in
        cluster[fresh] = b
        risk[fresh] = g / top
    return pl.DataFrame(
        {"account_id": accounts, "flagged": cluster >= 0, "risk": risk, "cluster_id": cluster}
    ).with_columns(pl.when(pl.col("cluster_id") >= 0).then(pl.col("cluster_id")).cast(pl.Int64))


def run_baselines(
    world_path: str | Path,
    accounts: pl.DataFrame,
    budget: int,
    names: tuple[str, ...] = BASELINES,
    s: BaselineSettings | None = None,
) -> dict[str, pl.DataFrame]:
    """Every baseline's detection on the world at `world_path`, over the accounts of `accounts`.

    `accounts`: farmhunt's results accounts table (its account ids, and its features for the
    IsolationForest); `budget`: the IsolationForest's flag budget (farmhunt's flagged count).
    """
    s = s or BaselineSettings()
    world = load_world(world_path, tables=(ACCOUNTS, PAYMENTS, REQUESTS), check_references=False, deep=False)
    ids = accounts["account_id"].cast(pl.String)
    out: dict[str, pl.DataFrame] = {}
    for name in names:
        if name == "components":
            out[name] = connected_components(world, ids, s)
        elif name == "isolation_forest":
            out[name] = isolation_forest(accounts, budget, s)
        elif name == "fraudar":
            out[name] = fraudar(world, ids, s)
        else:
            raise ValueError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    return out
