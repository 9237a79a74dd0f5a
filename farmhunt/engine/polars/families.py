"""Prompt families: clusters of near-duplicate prompts (paraphrases 4-10 bits from a shared original).

Four 16-bit bands find near-duplicates only up to 3 bits. A paraphrase of a bank prompt with k of its
64 SimHash bits flipped leaves some of 8 bands of 8 bits untouched; two paraphrases of one original
usually share *two* untouched 8-bit bands (multi-index hashing, Manku et al. / Norouzi et al.). So:

1. **Candidates.** Every distinct prompt hash of the world is keyed by each combination of
   `family_key_bands` of its 8 bands (28 keys of 16 bits for 2 bands; 3 bands, 56 keys of 24 bits,
   when there are so many distinct hashes that 16-bit buckets would be crowded: the key width grows
   with the data so that a bucket holds about `family_bucket_target` hashes by chance). Hashes are
   sorted by key and each is compared with its next `family_window` neighbours of the same key: work
   and memory are linear in the number of distinct hashes, whatever their skew.
2. **Verification.** A candidate pair is kept when the exact Hamming distance (popcount) is at most
   `family_max_distance` bits. Two unrelated 64-bit hashes that agree on 16 key bits are that close
   with probability ~3e-4, and such chance pairs stay pairs: they do not percolate into families.
3. **Families.** Connected components of verified pairs with at least `family_min_hashes` distinct
   hashes and `family_min_accounts` accounts. A family is weighted by its specificity over accounts,
   `idf = log(N / n_accounts)`; families used by more than `family_max_share` of all accounts (a greeting,
   a popular app's prompt) are dropped: they link nobody.

4. **Banks** (`prompt_banks`). A content farm's members each draw a few dozen prompts of one large bank;
   its low-volume members use only 2-4 of its families, too few to share two with any one other member
   (the pairwise rule of `linkage.family_edges`). A popular app is the opposite: a *small* set of
   families that all its users share. So families are grouped into banks by the accounts the pairwise
   rule already links (the bank's *core*: CPM communities of those pairs, so chance pairs do not chain
   two groups), a family belonging to the core that holds at least `bank_family_share` of its users. A
   bank has `bank_min_families` families or more, its median member uses at most `bank_max_coverage` of
   them, and a member uses `bank_min_shared` of them bank-style (a few distinct paraphrases each, not a
   repeated template), which hold `bank_min_share` of its prompts (a relay meets two by chance among
   thousands). One app's 1-6 templates are never a bank.

Distinct hashes are capped at `family_max_hashes` (a deterministic sample by the hash's own mixed
value, so each part of the world is sampled alike): at seed scale, where distinct hashes run to tens of
millions, the sample keeps every family that many accounts use (each keeps most of its members) and
bounds time and memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations
from pathlib import Path

import igraph as ig
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from farmhunt.engine.leiden import seeded_leiden
from farmhunt.engine.settings import LinkageSettings, TemplateSettings

#: acct uses family (n_accounts accounts use it, idf = log(N / n_accounts)) with `uses` of its distinct
#: prompt hashes; `acct_hashes`: the account's distinct prompt hashes in all (of the sample, if sampled).
FAMILY_SCHEMA = pl.Schema(
    {
        "acct": pl.UInt32(),
        "family": pl.Int64(),
        "n_accounts": pl.UInt32(),
        "idf": pl.Float64(),
        "uses": pl.UInt32(),
        "acct_hashes": pl.UInt32(),
    }
)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_I1, _I2 = np.uint64(pow(0xBF58476D1CE4E5B9, -1, 2**64)), np.uint64(pow(0x94D049BB133111EB, -1, 2**64))


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def distinct_hashes(parts: Callable[[], Iterable[pl.LazyFrame]], settings: TemplateSettings) -> np.ndarray:
    """Sorted distinct prompt hashes of the world (uint64), sampled down to `family_max_hashes`.

    The sample is the hashes whose mixed value is among the lowest `cap` (deterministic and unbiased:
    `_mix` is a bijection, so distinct hashes have distinct mixed values). It is kept as a running
    buffer, part by part, pruned to the lowest `cap` whenever it passes `2 x cap`; after a prune, values
    above the largest kept one are dropped as they arrive. Memory is O(cap + one part) rather than
    O(all distinct hashes), and the sample is the same as taking the lowest `cap` of the whole set at
    once (a value dropped is beaten by `cap` distinct smaller ones).
    """
    cap = settings.family_max_hashes
    kept: list[np.ndarray] = []
    size, bar = 0, np.iinfo(np.uint64).max
    for p in parts():
        m = _mix(p.select(pl.col("prompt_hash").unique()).collect().to_series().to_numpy().astype(np.uint64))
        m = m[m <= bar]  # above the bar: beaten by `cap` distinct values already kept
        kept.append(m)
        size += m.size
        if size > 2 * cap:
            low = _lowest(_distinct(np.concatenate(kept)), cap)
            bar, kept, size = low.max(), [low], low.size
    if not kept:
        return np.zeros(0, np.uint64)
    return np.sort(_unmix(_lowest(_distinct(np.concatenate(kept)), cap)))


def _distinct(a: np.ndarray) -> np.ndarray:
    """The sorted distinct values of `a`. Not `np.unique`: numpy 2.3+ answers it with a hash table that
    is 20-40x slower than a sort on millions of random 64-bit words (17 s against 0.4 s for 2.9M here)."""
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if s.size else s


def _codes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(`_distinct(a)`, the index of each value of `a` in it): `np.unique(a, return_inverse=True)`
    without numpy's hash path."""
    u = _distinct(a)
    return u, np.searchsorted(u, a)


def _lowest(m: np.ndarray, cap: int) -> np.ndarray:
    """The `cap` smallest of the distinct values `m` (all of them when there are no more than `cap`)."""
    return m if m.size <= cap else np.partition(m, cap - 1)[:cap]


def _unmix(x: np.ndarray) -> np.ndarray:
    """The inverse of `_mix` (each xor-shift and odd multiplication is inverted in turn)."""
    x = _unshift(x, 31) * _I2
    x = _unshift(x, 27) * _I1
    return _unshift(x, 30)


def _unshift(x: np.ndarray, s: int) -> np.ndarray:
    """The inverse of `x ^ (x >> s)` on 64-bit words."""
    y = x.copy()
    for _ in range(64 // s + 1):
        y = x ^ (y >> np.uint64(s))
    return y


def components(h: np.ndarray, settings: TemplateSettings) -> np.ndarray:
    """Component label per hash of the graph "within `family_max_distance` bits" (multi-index candidates).

    Keys are processed one after another; a candidate pair already in one component is not verified
    again, so dense groups of near-identical hashes (a template with 0-2-bit noise) cost one edge per
    member, not one per pair. A label is the smallest hash index of its component.

    Cost per key: one sort of (key, index) packed into unique uint64 words (any sort gives the same
    order, polars sorts them on every core) and a union of the few labels the key's new pairs touch; no
    pass is quadratic and none is over a graph of all hashes (at seed scale, 20M hashes x 56 keys).
    """
    n = h.size
    label = np.arange(n, dtype=np.int64)
    if n < 2:
        return label
    k = 2
    while k < 4 and n / 2.0 ** (8 * k) > settings.family_bucket_target:
        k += 1
    bands: list[np.ndarray] = [((h >> np.uint64(8 * b)) & np.uint64(0xFF)) for b in range(8)]
    index = np.arange(n, dtype=np.uint64)
    low = np.uint64(0xFFFFFFFF)
    for combo in combinations(range(8), k):
        key = bands[combo[0]].copy()
        for b in combo[1:]:
            key = (key << np.uint64(8)) | bands[b]
        # (key, index) as one unique word: sorting it is the stable sort by key
        packed = pl.Series((key << np.uint64(32)) | index).sort().to_numpy()
        ks = packed >> np.uint64(32)
        order = (packed & low).astype(np.int64)
        src, dst = [], []
        for off in range(1, settings.family_window + 1):
            same = np.flatnonzero(ks[off:] == ks[:-off])
            if same.size == 0:
                break
            a, b2 = order[same], order[same + off]
            new = label[a] != label[b2]
            a, b2 = a[new], b2[new]
            close = np.bitwise_count(h[a] ^ h[b2]) <= settings.family_max_distance
            src.append(label[a[close]])
            dst.append(label[b2[close]])
        if not src or sum(x.size for x in src) == 0:
            continue
        label = _merge(label, np.concatenate(src), np.concatenate(dst))
    return label


def _merge(label: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """`label` with the labels joined by pairs (i, j) merged, each component taking its smallest label.

    Components are found on the small graph of the labels the pairs touch, not on all hashes.
    """
    u, inv = _codes(np.concatenate([i, j]))
    g = coo_matrix((np.ones(i.size, np.int8), (inv[: i.size], inv[i.size :])), shape=(u.size, u.size))
    _, comp = connected_components(g, directed=False)
    smallest = np.full(comp.max() + 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, comp, u)  # over the touched labels only
    remap = np.arange(label.size, dtype=np.int64)
    remap[u] = smallest[comp]
    return remap[label]


def hash_families(h: np.ndarray, settings: TemplateSettings) -> pl.DataFrame:
    """prompt_hash -> family (component id) for hashes in components of >= `family_min_hashes` hashes."""
    schema = {"prompt_hash": pl.UInt64, "family": pl.Int64}
    if h.size == 0:
        return pl.DataFrame(schema=schema)
    label = components(h, settings)
    size = np.bincount(label, minlength=h.size)
    keep = size[label] >= settings.family_min_hashes
    return pl.DataFrame({"prompt_hash": h[keep], "family": label[keep]}, schema=schema)


def prompt_families(
    parts: Callable[[], Iterable[pl.LazyFrame]], n_accounts_total: int, settings: TemplateSettings
) -> pl.DataFrame:
    """(acct, family, n_accounts, idf, uses, acct_hashes): the specific prompt families each account
    uses (FAMILY_SCHEMA).

    Two passes over the parts: distinct hashes (for the families), then each account's families and its
    number of distinct hashes (of the sample: a hash is in it when its mixed value is at most the largest
    kept one, so shares of an account's prompts are the same whether the world was sampled or not).
    """
    sample = distinct_hashes(parts, settings)
    members = hash_families(sample, settings)
    if members.is_empty():
        return pl.DataFrame(schema=FAMILY_SCHEMA)
    bar = int(_mix(sample).max()) if sample.size >= settings.family_max_hashes else None
    # One part at a time: collected together, each part's join would hold its own table of `members`.
    uses_parts, totals = [], []
    for p in parts():
        pairs = p.select("acct", "prompt_hash").unique().collect()
        uses_parts.append(
            pairs.join(members, on="prompt_hash").group_by("acct", "family").agg(pl.len().cast(pl.UInt32).alias("uses"))
        )
        if bar is not None:
            pairs = pairs.filter(pl.Series(_mix(pairs["prompt_hash"].to_numpy().astype(np.uint64)) <= np.uint64(bar)))
        totals.append(pairs.group_by("acct").agg(pl.len().cast(pl.UInt32).alias("acct_hashes")))
    uses = pl.concat(uses_parts)
    n_total = max(n_accounts_total, 1)
    return (
        uses.with_columns(pl.len().over("family").cast(pl.UInt32).alias("n_accounts"))
        .filter(
            pl.col("n_accounts") >= settings.family_min_accounts,
            pl.col("n_accounts") <= settings.family_max_share * n_total,
        )
        .with_columns((pl.lit(float(n_total)) / pl.col("n_accounts").cast(pl.Float64)).log().alias("idf"))
        .join(pl.concat(totals), on="acct", how="left")
        .select(list(FAMILY_SCHEMA))
        .cast(FAMILY_SCHEMA)
        .sort("acct", "family")
    )


FAMILY_FILE = "prompt_families.parquet"


def write_families(
    store_path: Path, parts: Callable[[], Iterable[pl.LazyFrame]], n_accounts_total: int, settings: TemplateSettings
) -> pl.DataFrame:
    """Compute `prompt_families` and keep them beside the request store (read by features and linkage)."""
    fam = (
        prompt_families(parts, n_accounts_total, settings) if settings.families else pl.DataFrame(schema=FAMILY_SCHEMA)
    )
    fam.write_parquet(store_path / FAMILY_FILE)
    return fam


def read_families(store_path: Path) -> pl.DataFrame:
    """The prompt families kept beside a request store (empty if none were computed)."""
    f = store_path / FAMILY_FILE
    return pl.read_parquet(f) if f.exists() else pl.DataFrame(schema=FAMILY_SCHEMA)


def family_breadth(families: pl.DataFrame) -> pl.DataFrame:
    """Per account: `family_breadth`, how many specific prompt families it uses, and `family_share`, the
    share of its distinct prompts (of the sample) that fall in them (acct, family_breadth, family_share)."""
    return families.group_by("acct").agg(
        pl.len().cast(pl.Float64).alias("family_breadth"),
        (pl.col("uses").sum() / pl.col("acct_hashes").first().clip(1)).clip(0.0, 1.0).alias("family_share"),
    )


def family_pairs(families: pl.DataFrame, max_clique: int) -> pl.DataFrame:
    """Account pairs sharing specific families: (src_acct, dst_acct, n_shared, idf_sum), src < dst.

    Families used by at most `max_clique` accounts are expanded into all their pairs (a prompt bank's
    members share a handful each); bigger ones are left to the value edges of linkage (hub style).
    """
    small = families.filter(pl.col("n_accounts") <= max_clique).select("acct", "family", "idf")
    if small.is_empty():
        return pl.DataFrame(schema={"a": pl.UInt32, "b": pl.UInt32, "n_shared": pl.UInt32, "idf_sum": pl.Float64})
    pairs = (
        small.join(small.select("family", pl.col("acct").alias("b")), on="family")
        .filter(pl.col("acct") < pl.col("b"))
        .group_by("acct", "b")
        .agg(pl.len().cast(pl.UInt32).alias("n_shared"), pl.col("idf").sum().alias("idf_sum"))
        .rename({"acct": "a"})
    )
    return pairs.sort("a", "b")


BANK_SCHEMA = pl.Schema(
    {"acct": pl.UInt32(), "bank": pl.UInt32(), "family": pl.Int64(), "n_accounts": pl.UInt32(), "idf": pl.Float64()}
)


def pair_communities(a: pl.Series, b: pl.Series, resolution: float, seed: int) -> pl.DataFrame:
    """Communities of the unweighted account graph of pairs (a, b): acct, comp (its smallest acct).

    Leiden with the CPM objective: a group stays one community while its pairs make up more than
    `resolution` of its account pairs, so two dense groups joined by a few chance pairs (a handful of
    accounts that use two families of both) stay apart, where connected components would chain them.
    Seeded and order-independent (pairs sorted). Only accounts in at least one pair are listed.
    """
    schema = {"acct": pl.UInt32, "comp": pl.UInt32}
    if a.len() == 0:
        return pl.DataFrame(schema=schema)
    pairs = pl.DataFrame({"a": a.cast(pl.UInt32), "b": b.cast(pl.UInt32)}).unique().sort("a", "b")
    aa, bb = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    u, inv = _codes(np.concatenate([aa, bb]))
    graph = ig.Graph(n=u.size, edges=np.column_stack([inv[: aa.size], inv[aa.size :]]).astype(np.int64))
    part = seeded_leiden(graph, seed, objective_function="CPM", resolution=resolution, n_iterations=-1)
    comp = np.asarray(part.membership, np.int64)
    smallest = np.full(comp.max() + 1, np.iinfo(np.uint32).max, np.uint32)
    np.minimum.at(smallest, comp, u.astype(np.uint32))
    return pl.DataFrame({"acct": u, "comp": smallest[comp]}, schema=schema)


def prompt_banks(families: pl.DataFrame, core_pairs: pl.DataFrame, settings: LinkageSettings) -> pl.DataFrame:
    """Bank members and the bank families each uses: (acct, bank, family, n_accounts, idf) (BANK_SCHEMA).

    `families`: `prompt_families` (FAMILY_SCHEMA); `core_pairs`: (a, b) account pairs the pairwise rule
    links. A bank is named by the smallest acct of its core.

    * only bank-style uses count: an account's use of a family with at most `family_max_uses` distinct
      prompts (a bank member draws each of its prompts once or a few times, paraphrased; a CI job or an
      app user repeats its template hundreds of times, and a template's cloud of near-duplicates meets
      bank paraphrases by chance, so the same family may hold both);
    * a family belongs to the core (`pair_communities`) holding at least `bank_family_share` of its users;
    * a member uses at least `bank_min_shared` of a bank's families, and they hold at least
      `bank_min_share` of its distinct prompts: a reseller relaying thousands of prompts meets two bank
      families by chance (a chance paraphrase within `family_max_distance` bits), a member's prompts are
      the bank's;
    * a bank has at least `bank_min_families` families and `bank_min_accounts` members, and its median
      member uses at most `bank_max_coverage` of them: each member draws a small subset of a large set,
      where a popular app's or a key-leak operator's few templates are used by everyone.
    """
    comp = pair_communities(core_pairs["a"], core_pairs["b"], settings.bank_resolution, settings.bank_seed)
    if comp.is_empty():
        return pl.DataFrame(schema=BANK_SCHEMA)
    families = families.filter(pl.col("uses") <= settings.family_max_uses)
    # Each family goes to the core that holds most of its users (ties: the smaller core), if enough of them.
    owner = (
        families.join(comp, on="acct")
        .group_by("family", "comp")
        .agg(pl.len().alias("__k"), pl.col("n_accounts").first())
        .filter(pl.col("__k") >= settings.bank_family_share * pl.col("n_accounts").cast(pl.Float64))
        .sort("family", "__k", "comp", descending=[False, True, False])
        .unique("family", keep="first", maintain_order=True)
        .select("family", pl.col("comp").alias("bank"))
        .with_columns(pl.len().over("bank").alias("__F"))
        .filter(pl.col("__F") >= settings.bank_min_families)
    )
    uses = families.join(owner, on="family").with_columns(
        pl.len().over("acct", "bank").alias("__hits"),
        pl.col("uses").sum().over("acct", "bank").alias("__in"),
    )
    members = uses.filter(
        pl.col("__hits") >= settings.bank_min_shared,
        pl.col("__in").cast(pl.Float64) >= settings.bank_min_share * pl.col("acct_hashes").cast(pl.Float64),
    )
    per = members.group_by("bank", "acct").agg((pl.len() / pl.col("__F").first()).alias("__cov"))
    banks = (
        per.group_by("bank")
        .agg(pl.len().alias("__m"), pl.col("__cov").median().alias("__cov"))
        .filter(pl.col("__m") >= settings.bank_min_accounts, pl.col("__cov") <= settings.bank_max_coverage)
        .select("bank")
    )
    return members.join(banks, on="bank").select(list(BANK_SCHEMA)).cast(BANK_SCHEMA).sort("bank", "acct", "family")


def bank_pairs(members: pl.DataFrame, max_clique: int) -> pl.DataFrame:
    """Pairs of members of one bank sharing at least one of its families (each used by at most
    `max_clique` accounts): (a, b, bank, n_shared, idf_sum), a < b."""
    small = members.filter(pl.col("n_accounts") <= max_clique).select("acct", "bank", "family", "idf")
    schema = {"a": pl.UInt32, "b": pl.UInt32, "bank": pl.UInt32, "n_shared": pl.UInt32, "idf_sum": pl.Float64}
    if small.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        small.join(small.select("bank", "family", pl.col("acct").alias("b")), on=["bank", "family"])
        .filter(pl.col("acct") < pl.col("b"))
        .group_by("acct", "b", "bank")
        .agg(pl.len().cast(pl.UInt32).alias("n_shared"), pl.col("idf").sum().alias("idf_sum"))
        .rename({"acct": "a"})
        .select(list(schema))
        .sort("a", "b", "bank")
    )
