"""The request store of a world read through Spark (`UrlWorld`), built by the executors.

The driver never reads the request table. Two Spark stages:

1. **Encode** (`mapInArrow` over Spark's read of the table, one task per input split): each batch is
   cast to the contract's dtypes (values that do not parse are counted, as the loader does), checked
   and encoded by the polars engine's own `_encode` (the same 64-bit text codes, the same account
   positions: codes are hashes of the text, so they do not depend on which task saw a value first).
   Each row keeps its file and its row index in that file (`_metadata.file_path`, `row_index`).
   Each task leaves its checks (null counts, unknown ids, values outside the domains) and its
   code -> text lookups beside the store, under `_spark/`.
2. **Write** (shuffle by part, rows sorted by file and row index): each part file is written in the
   table's own row order, one Parquet write per `batch_rows` rows of the file as the polars engine's
   streaming pass writes it, so the parts hold the same rows, in the same order and the same row
   groups, as `farmhunt.engine.polars.request_store.build_store` writes from a local copy.

The driver then merges the checks (a `ContractError` naming the file, columns and examples, as for
a local world), writes the lookups (sorted by code), the users files (`write_users`, the polars
engine's function: it reads three integer columns of each written part on the driver, one part at a
time) and `store.json`. `--out` must be on a file
system the executors share with the driver (they write the parts there), as for any Spark run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from farmhunt.core.contract import REQUESTS
from farmhunt.core.contract import latest_plausible_time as _latest
from farmhunt.core.validate import ContractError, Problem, cast_to_contract, fallible_columns
from farmhunt.engine.polars.request_store import (
    _Checks,
    _CodeIndex,
    _dictionary,
    _encode,
    _Lookup,
    _part_bounds,
    index_accounts,
)
from farmhunt.engine.spark.world import UrlWorld, from_spark, java_cause
from farmhunt.engine.store import (
    INDEX_FILE,
    LOOKUPS,
    STORE_SCHEMA,
    RequestStore,
    part_of,
    text_code,
    write_users,
)

SIDE_DIR = "_spark"
_UNSIGNED = [c for c, t in STORE_SCHEMA.items() if t in (pl.UInt64, pl.UInt32)]
#: How coded rows travel between the two stages (Spark has no unsigned integers: reinterpreted bits).
_WIRE = pa.schema(
    [
        *[
            (c, pa.int64() if t in (pl.UInt64, pl.UInt32) or isinstance(t, pl.Datetime) else pa.int32())
            for c, t in STORE_SCHEMA.items()
        ],
        ("__part", pa.int32()),
        ("__file", pa.string()),
        ("__row", pa.int64()),
    ]
)
_STATS = pa.schema([("part", pa.int32()), ("rows", pa.int64()), ("lo", pa.int64()), ("hi", pa.int64())])
_EXAMPLES = 5


def _to_wire(coded: pl.DataFrame) -> pl.DataFrame:
    out = []
    for c, t in STORE_SCHEMA.items():
        if t == pl.UInt64:
            out.append(pl.col(c).reinterpret(signed=True))
        elif t == pl.UInt32:
            out.append(pl.col(c).cast(pl.Int64))
        elif isinstance(t, pl.Datetime):
            out.append(pl.col(c).dt.epoch("us"))
        else:
            out.append(pl.col(c))
    return coded.select(*out, "__part", "__file", "__row")


def _from_wire(wire: pl.DataFrame) -> pl.DataFrame:
    out = []
    for c, t in STORE_SCHEMA.items():
        if t == pl.UInt64:
            out.append(pl.col(c).reinterpret(signed=False))
        elif t == pl.UInt32:
            out.append(pl.col(c).cast(pl.UInt32))
        elif isinstance(t, pl.Datetime):
            out.append(pl.from_epoch(pl.col(c), "us").dt.replace_time_zone("UTC"))
        else:
            out.append(pl.col(c).cast(t))
    return wire.select(out)


def _side_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a retried task writes the same content again


def encode_task(
    accounts: _CodeIndex,
    keys: _CodeIndex | None,
    asns: pl.Series | None,
    bounds: tuple[int, ...],
    fname: str,
    latest: datetime,
    side: str,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Stage 1 (module doc): a `mapInArrow` function encoding its split of the request table."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        task = ctx.partitionId() if ctx is not None else 0
        checks = _Checks(fname, latest)
        lookups = {c: _Lookup() for c in LOOKUPS}
        bad: dict[str, list] = {}
        rows = 0
        for rb in batches:
            if not rb.num_rows:
                continue
            raw = from_spark(rb)
            rows += raw.height
            for c in REQUESTS.columns:
                checks.null(c, raw[c].null_count())
            casts = [cast_to_contract(c, raw.schema[c], t) for c, t in REQUESTS.columns.items()]
            typed = raw.select([e.alias(c) for c, e in zip(REQUESTS.columns, casts) if e is not None])
            for c in fallible_columns(REQUESTS, raw.schema):
                failed = typed[c].is_null() & raw[c].is_not_null()
                if failed.any():
                    entry = bad.setdefault(c, [0, []])
                    entry[0] += int(failed.sum())
                    entry[1] = (entry[1] + raw[c].filter(failed).cast(pl.String).head(3).to_list())[:3]
            table = typed.to_arrow()
            coded = _encode(table, accounts, keys, asns, checks, lookups)
            texts, idx = _dictionary(table.column("account_id"))
            known = pl.Series(accounts.find(texts)[0]).gather(idx).fill_null(False)
            where = raw.select("__file", "__row").filter(known)
            coded = coded.with_columns(part_of(bounds, coded["acct"]).cast(pl.Int32).alias("__part"), *where)
            yield from _to_wire(coded).to_arrow().cast(_WIRE).to_batches()
        doc = {
            "rows": rows,
            "nulls": checks.nulls,
            "missing": {c: sorted(map(str, v))[:10_000] for c, v in checks.missing.items()},
            "outside": checks.outside,
            "bad": bad,
        }
        _side_write(Path(side) / f"checks-{task:05d}.json", json.dumps(doc, default=str).encode())
        for c, lookup in lookups.items():
            buf = pa.BufferOutputStream()
            pq.write_table(lookup.table().to_arrow(), buf)
            _side_write(Path(side) / f"lookup_{c}-{task:05d}.parquet", buf.getvalue().to_pybytes())

    return run


def write_task(store: str, batch_rows: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Stage 2 (module doc): a `mapInArrow` function writing the parts of its shuffle partition, whose
    rows arrive sorted by (part, file, row index); one write per `batch_rows` rows of the file."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        writer: pq.ParquetWriter | None = None
        part: int | None = None
        stats: dict[str, int] = {}
        pending: list[pl.DataFrame] = []

        def flush() -> None:
            nonlocal writer
            if not pending:
                return
            piece = _from_wire(pl.concat(pending))
            pending.clear()
            table = piece.to_arrow()
            if writer is None:
                # The polars engine's writer settings (request_store.build_store).
                writer = pq.ParquetWriter(
                    Path(store) / f"part-{part:04d}.parquet",
                    table.schema,
                    compression="lz4",
                    use_dictionary=["acct", "model", "topic", "asn", "user_agent"],
                    write_statistics=False,
                )
            writer.write_table(table)
            lo, hi = piece.select(
                pl.col("ts").min().dt.epoch("s").alias("lo"), pl.col("ts").max().dt.epoch("s").alias("hi")
            ).row(0)
            stats["rows"] = stats.get("rows", 0) + piece.height
            stats["lo"] = min(stats.get("lo", lo), lo)
            stats["hi"] = max(stats.get("hi", hi), hi)

        def close() -> Iterator[pa.RecordBatch]:
            nonlocal writer
            flush()
            if writer is not None:
                writer.close()
                writer = None
                yield pa.RecordBatch.from_pydict(
                    {"part": [part], "rows": [stats["rows"]], "lo": [stats["lo"]], "hi": [stats["hi"]]}, schema=_STATS
                )
            stats.clear()

        key: tuple | None = None
        for rb in batches:
            if not rb.num_rows:
                continue
            frame = pl.from_arrow(rb)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.with_columns((pl.col("__row") // batch_rows).alias("__batch"))
            for (p, f, b), piece in frame.partition_by(
                ["__part", "__file", "__batch"], maintain_order=True, as_dict=True
            ).items():
                if p != part:
                    yield from close()
                    part = int(p)
                elif (f, b) != key:
                    flush()
                key = (f, b)
                pending.append(piece)
        yield from close()

    return run


def build_url_store(
    spark: Any, world: UrlWorld, path: str | Path, rows_per_part: int = 3_000_000, batch_rows: int = 2_000_000
) -> RequestStore:
    """The request store of `world` (module doc): the polars engine's store, built by the executors.

    Raises `ContractError` listing every problem of the request table (nulls, unknown ids, empty,
    values that do not parse or lie outside their domains), named by the table's file.
    """
    from farmhunt.engine.spark import _spark_schema

    out = Path(path)
    out.mkdir(parents=True, exist_ok=False)
    side = out / SIDE_DIR
    side.mkdir()
    fname = world.requests_url.rstrip("/").rsplit("/", 1)[-1]
    accounts, account_index, keys, asns = index_accounts(world, out)
    try:
        raw = spark.read.parquet(world.requests_url).select(
            *REQUESTS.columns, "_metadata.file_path", "_metadata.row_index"
        )
        raw = raw.withColumnRenamed("file_path", "__file").withColumnRenamed("row_index", "__row")
        n_rows = raw.count()
        bounds = _part_bounds(accounts.height, n_rows, rows_per_part)
        coded = raw.mapInArrow(
            encode_task(account_index, keys, asns, bounds, fname, _latest(world.manifest), str(side)),
            _spark_schema(_WIRE),
        )
        n_parts = len(bounds) - 1
        written = (
            coded.repartition(max(1, n_parts), "__part")
            .sortWithinPartitions("__part", "__file", "__row")
            .mapInArrow(write_task(str(out), batch_rows), _spark_schema(_STATS))
            .collect()
        )
    except ContractError:
        raise
    except Exception as exc:
        raise ContractError(Problem(fname, None, f"cannot be read: {java_cause(exc)}"), source=world.url) from exc
    checks = _Checks(fname, _latest(world.manifest))
    rows = 0
    bad: dict[str, list] = {}
    for f in sorted(side.glob("checks-*.json")):
        doc = json.loads(f.read_text())
        rows += doc["rows"]
        for c, n in doc["nulls"].items():
            checks.null(c, n)
        for c, values in doc["missing"].items():
            checks.missing.setdefault(c, set()).update(int(v) if c == "asn" else v for v in values)
        for c, (n, ex) in doc["outside"].items():
            checks.add(c, n, ex)
        for c, (n, ex) in doc["bad"].items():
            entry = bad.setdefault(c, [0, []])
            entry[0] += n
            entry[1] = (entry[1] + ex)[:3]
    problems = checks.problems(rows)
    for c, (n, ex) in bad.items():
        target = REQUESTS.columns[c]
        what = "unparsable timestamps" if isinstance(target, pl.Datetime) else f"values not parsable as {target}"
        problems.insert(0, Problem(fname, c, what, n, ex))
    if problems:
        raise ContractError(problems, source=world.url)
    empty = pl.DataFrame(schema=STORE_SCHEMA).to_arrow()
    for i in range(len(bounds) - 1):
        if not (out / f"part-{i:04d}.parquet").exists():  # every part exists, so readers never miss a file
            pq.write_table(empty, out / f"part-{i:04d}.parquet")
    merged: dict[str, pl.DataFrame] = {}
    for c in LOOKUPS:
        files = sorted(side.glob(f"lookup_{c}-*.parquet"))
        frames = [pl.read_parquet(f) for f in files] or [pl.DataFrame(schema={"code": pl.UInt64, "text": pl.String})]
        table = pl.concat(frames).sort("code", "text").unique("code", keep="first", maintain_order=True)
        table.write_parquet(out / f"lookup_{c}.parquet", row_group_size=65_536)
        merged[c] = table
    write_users(out, bounds, merged["ip"])
    for f in side.iterdir():
        f.unlink()
    side.rmdir()
    spans = [(r["lo"], r["hi"]) for r in written if r["rows"]]
    ts_range = (min(t[0] for t in spans), max(t[1] for t in spans)) if spans else (0, 0)
    (out / INDEX_FILE).write_text(
        json.dumps({"rows": rows, "bounds": list(bounds), "ts_range": list(ts_range), "source": world.requests_url})
    )
    return RequestStore(out, rows, bounds, ts_range)


__all__ = ["build_url_store", "text_code"]
