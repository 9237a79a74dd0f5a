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

Distinct hashes are capped at `family_max_hashes` (a deterministic sample by the hash's own mixed
value, so each part of the world is sampled alike): at seed scale, where distinct hashes run to tens of
millions, the sample keeps every family that many accounts use (each keeps most of its members) and
bounds time and memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations
from pathlib import Path

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from farmhunt.engine.settings import TemplateSettings

FAMILY_SCHEMA = pl.Schema({"acct": pl.UInt32(), "family": pl.Int64(), "n_accounts": pl.UInt32(), "idf": pl.Float64()})
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
    both = np.concatenate([i, j])
    u = _distinct(both)
    inv = np.searchsorted(u, both)
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
    """(acct, family, n_accounts, idf): the specific prompt families each account uses (FAMILY_SCHEMA).

    Two passes over the parts: distinct hashes (for the families), then each account's families.
    """
    members = hash_families(distinct_hashes(parts, settings), settings)
    if members.is_empty():
        return pl.DataFrame(schema=FAMILY_SCHEMA)
    # One part at a time: collected together, each part's join would hold its own table of `members`.
    uses = pl.concat(
        [
            p.select("acct", "prompt_hash")
            .join(members.lazy(), on="prompt_hash")
            .select("acct", "family")
            .unique()
            .collect()
            for p in parts()
        ]
    )
    n_total = max(n_accounts_total, 1)
    return (
        uses.with_columns(pl.len().over("family").cast(pl.UInt32).alias("n_accounts"))
        .filter(
            pl.col("n_accounts") >= settings.family_min_accounts,
            pl.col("n_accounts") <= settings.family_max_share * n_total,
        )
        .with_columns((pl.lit(float(n_total)) / pl.col("n_accounts").cast(pl.Float64)).log().alias("idf"))
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
    """Per account: `family_breadth`, how many specific prompt families it uses (acct, family_breadth)."""
    return families.group_by("acct").agg(pl.len().cast(pl.Float64).alias("family_breadth"))


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
