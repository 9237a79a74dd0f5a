"""Build the request store (format and reader: `farmhunt.engine.store`) in one pass over the request table.

Text is hashed once per distinct value of a batch (Parquet's dictionary), not once per row. The same
pass checks the table: empty, nulls in required columns, account, key and ASN ids that do not exist,
and the contract's value domains (`REQUESTS.domains`, the time window): text domains on each batch's
distinct values, numbers vectorised over the batch.

Once the parts are written, `write_users` adds who used each request IP and each key (a pass over
three integer columns of each part).

Interruption (SIGINT/SIGTERM, `farmhunt.core.interrupt`) reaches the main thread only; the writer
thread is always joined before the Parquet writers are closed, so a signal never closes a writer that
another thread is still writing (which crashed the process before).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from farmhunt.core.contract import REQUESTS, Domain, PolarsType, latest_plausible_time
from farmhunt.core.validate import ContractError, Problem, cast_to_contract
from farmhunt.core.world import World
from farmhunt.engine.store import (
    CODED,
    INDEX_FILE,
    LOOKUPS,
    STORE_SCHEMA,
    RequestStore,
    part_of,
    text_code,
    write_users,
)

_EXAMPLES = 5


def _batches(world: World, batch_rows: int) -> Iterator[pa.Table]:
    """The world's request table in batches as Arrow, text columns dictionary-encoded."""
    f = world.files["requests"]
    if f.suffix == ".parquet":
        pf = pq.ParquetFile(f, read_dictionary=["account_id", *CODED])
        cols = list(REQUESTS.columns)
        ts = REQUESTS.columns["ts"]
        for rb in pf.iter_batches(batch_size=batch_rows, columns=cols):
            table = pa.Table.from_batches([rb])
            if world.until is not None:  # a world cut at a time (replay)
                raw = pl.DataFrame(table.select(["ts"]))
                t = raw.select(_cast("ts", raw.schema["ts"], ts)).to_series()
                table = table.filter(pa.array((t < world.until).fill_null(False)))
            yield table
    else:  # CSV: parsed and checked by the contract's loader; text as strings
        for df in world["requests"].collect_batches(chunk_size=batch_rows):
            yield df.to_arrow()


def _read_batches(world: World, batch_rows: int) -> Iterator[pa.Table]:
    """`_batches`, with a file that cannot be decoded (a damaged page) reported as a contract problem."""
    it = _batches(world, batch_rows)
    fname = world.files["requests"].name
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (OSError, pa.ArrowException, pl.exceptions.PolarsError, ValueError) as exc:
            reason = f"cannot be read: {exc}".splitlines()[0]
            raise ContractError(Problem(fname, None, reason), source=str(world.path)) from exc
        yield batch


def _dictionary(col: pa.ChunkedArray) -> tuple[pl.Series, pl.Series]:
    """(distinct texts, per-row index into them) of a text column."""
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    return pl.Series(arr.dictionary).cast(pl.String), pl.Series(arr.indices).cast(pl.UInt32)


class _Checks:
    """Problems found while encoding: null counts and unknown ids (distinct, with a few examples)."""

    def __init__(self, fname: str, latest: datetime | None = None):
        self.fname = fname
        self.nulls: dict[str, int] = {}
        self.missing: dict[str, set] = {}
        self.outside: dict[str, list] = {}  # column -> [rows, examples]
        self.domains: dict[str, Domain] = {
            c: d for c in REQUESTS.columns if (d := REQUESTS.domain_of(c, latest)) is not None
        }

    def texts(self, col: str, texts: pl.Series, idx: pl.Series) -> None:
        """Domain check of a text column from its distinct values and the per-row index into them."""
        dom = self.domains.get(col)
        if dom is None or not texts.len():
            return
        bad = pl.select(~dom.valid(pl.lit(texts)).fill_null(True)).to_series()
        if bad.any():
            self.add(col, int(bad.gather(idx.drop_nulls()).sum()), texts.filter(bad).head(_EXAMPLES).to_list())

    def numbers(self, nums: pl.DataFrame) -> None:
        """Domain check of the numeric and time columns of a batch (one vectorised select)."""
        cols = [c for c in nums.columns if c in self.domains]
        if not cols:
            return
        counts = nums.select(
            (pl.col(c).is_not_null() & ~self.domains[c].valid(pl.col(c)).fill_null(False)).sum().alias(c) for c in cols
        ).row(0, named=True)
        for c, n in counts.items():
            if n:
                ex = nums.filter(~self.domains[c].valid(pl.col(c)).fill_null(True))[c].head(_EXAMPLES).to_list()
                self.add(c, int(n), [str(v) for v in ex])

    def add(self, col: str, n: int, examples: list) -> None:
        entry = self.outside.setdefault(col, [0, []])
        entry[0] += n
        entry[1] = (entry[1] + examples)[:_EXAMPLES]

    def null(self, col: str, n: int) -> None:
        if n:
            self.nulls[col] = self.nulls.get(col, 0) + n

    def unknown(self, col: str, values: pl.Series) -> None:
        seen = self.missing.setdefault(col, set())
        if values.len() and len(seen) < 10_000:
            seen.update(values.head(10_000).to_list())

    def problems(self, rows: int) -> list[Problem]:
        if rows == 0:
            return [Problem(self.fname, None, "empty table (no rows)")]
        out = [Problem(self.fname, c, "null values in a required column", n) for c, n in self.nulls.items()]
        for col, (n, ex) in self.outside.items():
            out.append(Problem(self.fname, col, f"values {self.domains[col].describe}", n, ex))
        what = {"account_id": "accounts.account_id", "key_id": "api_keys.key_id", "asn": "asns.asn"}
        for col, seen in self.missing.items():
            if seen:
                n = f"{len(seen):,}" if len(seen) < 10_000 else "10,000 or more"
                out.append(
                    Problem(
                        self.fname,
                        col,
                        f"{n} distinct value(s) not found in {what[col]}",
                        None,
                        sorted(seen)[:_EXAMPLES],
                    )
                )
        return out


class _Lookup:
    """code -> text pairs gathered batch by batch, deduplicated as they grow (amortised linear)."""

    def __init__(self) -> None:
        self.seen = pl.DataFrame(schema={"code": pl.UInt64, "text": pl.String})
        self.pending: list[pl.DataFrame] = []
        self.n_pending = 0

    def add(self, code: pl.Series, text: pl.Series) -> None:
        self.pending.append(pl.DataFrame({"code": code, "text": text}))
        self.n_pending += code.len()
        if self.n_pending > max(2_000_000, self.seen.height):
            self.table()

    def table(self) -> pl.DataFrame:
        self.seen = pl.concat([self.seen, *self.pending]).unique("code", keep="first", maintain_order=True)
        self.pending, self.n_pending = [], 0
        return self.seen


def _part_bounds(n_accounts: int, n_rows: int, rows_per_part: int) -> tuple[int, ...]:
    """acct ranges of the parts: about `rows_per_part` requests each, cut at equal account counts."""
    n = max(1, min(n_accounts, math.ceil(n_rows / rows_per_part)))
    return tuple(round(i * n_accounts / n) for i in range(n + 1))


class _CodeIndex:
    """Sorted codes of known ids (accounts, keys): membership and position by binary search.

    A hash join against a million ids per batch would rebuild its hash table every batch.
    """

    def __init__(self, ids: pl.Series):
        codes = text_code(ids).to_numpy()
        self.order = np.argsort(codes, kind="stable").astype(np.uint32)
        self.codes = codes[self.order]

    def find(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, row of `ids` for the found) for each text."""
        c = text_code(texts).to_numpy()
        if self.codes.size == 0:
            return np.zeros(c.size, bool), np.zeros(c.size, np.uint32)
        pos = np.minimum(np.searchsorted(self.codes, c), self.codes.size - 1)
        return self.codes[pos] == c, self.order[pos]


def _encode(
    batch: pa.Table,
    accounts: _CodeIndex,
    keys: _CodeIndex | None,
    asns: pl.Series | None,
    checks: _Checks,
    lookups: dict[str, _Lookup],
) -> pl.DataFrame:
    """One batch of requests in the store's columns (rows of unknown accounts dropped, reported)."""
    cols: dict[str, pl.Series] = {}
    texts, idx = _dictionary(batch.column("account_id"))
    found, row = accounts.find(texts)
    if not found.all():
        checks.unknown("account_id", texts.filter(pl.Series(~found)))
    cols["acct"] = pl.Series("acct", row, pl.UInt32).set(pl.Series(~found), None).gather(idx)
    for c in CODED:
        texts, idx = _dictionary(batch.column(c))
        code = text_code(texts)
        cols[c] = code.gather(idx)
        checks.texts(c, texts, idx)
        if c in LOOKUPS:
            lookups[c].add(code, texts)
        if c == "key_id" and keys is not None:
            known, _ = keys.find(texts)
            if not known.all():
                checks.unknown("key_id", texts.filter(pl.Series(~known)))
    nums = pl.DataFrame(batch.select(["ts", "input_tokens", "output_tokens", "asn", "prompt_hash"]))
    nums = nums.select(_cast(c, t, REQUESTS.columns[c]).alias(c) for c, t in nums.schema.items())
    checks.numbers(nums)
    if asns is not None:
        distinct = nums["asn"].drop_nulls().unique()
        checks.unknown("asn", distinct.filter(~distinct.is_in(asns.implode())))
    out = nums.with_columns(**cols).select(list(STORE_SCHEMA))
    return out if found.all() else out.filter(pl.col("acct").is_not_null())


def index_accounts(world: World, out: Path) -> tuple[pl.DataFrame, _CodeIndex, _CodeIndex | None, pl.Series | None]:
    """Number the accounts in id order (written as `out/accounts.parquet`: acct -> account_id) and index
    the ids the encoder checks requests against: (accounts, account index, key index, ASNs).

    Shared by every engine's store builder, so an account's code is the same whoever encodes.
    """
    accounts = (
        world["accounts"]
        .select("account_id")
        .collect()
        .sort("account_id")
        .with_row_index("acct")
        .with_columns(pl.col("acct").cast(pl.UInt32))
    )
    accounts.write_parquet(out / "accounts.parquet")
    account_index = _CodeIndex(accounts["account_id"])
    keys = _CodeIndex(world["api_keys"].select("key_id").collect()["key_id"]) if "api_keys" in world else None
    asns = world["asns"].select("asn").collect()["asn"] if "asns" in world else None
    return accounts, account_index, keys, asns


def build_store(
    world: World, path: str | Path, rows_per_part: int = 3_000_000, batch_rows: int = 2_000_000
) -> RequestStore:
    """Encode the world's request table into a store at `path` (a new directory); see module doc.

    Raises `ContractError` listing every problem of the request table (nulls, unknown ids, empty).
    """
    out = Path(path)
    out.mkdir(parents=True, exist_ok=False)
    src = world.files["requests"]
    accounts, account_index, keys, asns = index_accounts(world, out)
    n_rows = pq.ParquetFile(src).metadata.num_rows if src.suffix == ".parquet" else rows_per_part
    bounds = _part_bounds(accounts.height, n_rows, rows_per_part)
    checks = _Checks(src.name, latest_plausible_time(world.manifest))
    lookups = {c: _Lookup() for c in LOOKUPS}
    writers: dict[int, pq.ParquetWriter] = {}

    def write(pieces: dict[tuple[int, ...], pl.DataFrame]) -> None:
        for (p,), piece in pieces.items():
            table = piece.to_arrow()
            if p not in writers:
                # Codes are near-unique integers: dictionary encoding them costs time and saves nothing.
                writers[p] = pq.ParquetWriter(
                    out / f"part-{p:04d}.parquet",
                    table.schema,
                    compression="lz4",
                    use_dictionary=["acct", "model", "topic", "asn", "user_agent"],
                    write_statistics=False,
                )
            writers[p].write_table(table)

    rows = 0
    spans: list[tuple[int, int]] = []
    # Writing overlaps encoding the next batch (both release the GIL); at most one batch waits.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        try:
            for batch in _read_batches(world, batch_rows):
                rows += batch.num_rows
                for c in REQUESTS.columns:
                    checks.null(c, batch.column(c).null_count)
                coded = _encode(batch, account_index, keys, asns, checks, lookups)
                if coded.height:
                    spans.append(
                        coded.select(
                            pl.col("ts").min().dt.epoch("s").alias("lo"), pl.col("ts").max().dt.epoch("s").alias("hi")
                        ).row(0)
                    )
                coded = coded.with_columns(part_of(bounds, coded["acct"]).alias("__part"))
                pieces = coded.partition_by("__part", as_dict=True, include_key=False)
                if pending is not None:
                    pending.result()
                pending = pool.submit(write, pieces)
            if pending is not None:
                pending.result()
        finally:
            # Join the writer thread before closing its writers, even when interrupted (a second
            # signal is ignored meanwhile, see `farmhunt.core.interrupt`).
            if pending is not None:
                wait([pending])
            for w in writers.values():
                w.close()
    # A world cut at a time (replay) may hold requests of accounts or keys it has not created yet
    # (clock skew between tables): those rows were dropped above, they are not contract violations.
    problems = checks.problems(rows) if world.until is None else []
    if problems:
        raise ContractError(problems, source=str(world.path))
    empty = pl.DataFrame(schema=STORE_SCHEMA).to_arrow()
    for i in range(len(bounds) - 1):
        if i not in writers:  # every part exists, so readers never miss a file
            pq.write_table(empty, out / f"part-{i:04d}.parquet")
    for c in LOOKUPS:
        # Sorted by code in small row groups: readers looking up a few codes skip most of the file.
        lookups[c].table().sort("code").write_parquet(out / f"lookup_{c}.parquet", row_group_size=65_536)
    write_users(out, bounds, lookups["ip"].table())
    ts_range = (min(t[0] for t in spans), max(t[1] for t in spans)) if spans else (0, 0)
    (out / INDEX_FILE).write_text(
        json.dumps({"rows": rows, "bounds": list(bounds), "ts_range": list(ts_range), "source": str(src)})
    )
    return RequestStore(out, rows, bounds, ts_range)


def _cast(col: str, source: PolarsType, target: PolarsType) -> pl.Expr:
    """`cast_to_contract` for the request columns, whose Parquet types always cast."""
    expr = cast_to_contract(col, source, target)
    if expr is None:
        raise ContractError([Problem(REQUESTS.name, col, f"wrong dtype {source} (expected {target})")])
    return expr
