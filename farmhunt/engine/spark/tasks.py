"""What a Spark task runs: farmhunt's own polars stage functions on one partition, Arrow in and out.

These functions are shipped to the executors (by reference: farmhunt must be installed there, in the
same version, with the same polars). They never re-implement a stage: each one reads its partition,
puts its rows in a fixed order and calls the polars engine's function on it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

#: Output of a per-part task: which part, which plan, the plan's result as Arrow IPC bytes.
PART_RESULT_SCHEMA = pa.schema([("part", pa.int32()), ("plan", pa.int32()), ("ipc", pa.large_binary())])
VERSION_SCHEMA = pa.schema([("polars", pa.string()), ("python", pa.string())])

Plan = Callable[[pl.LazyFrame], "pl.LazyFrame | pl.DataFrame"]


def to_ipc(frame: pl.DataFrame) -> bytes:
    """A frame as Arrow IPC stream bytes (what a task sends back to the driver)."""
    buf = io.BytesIO()
    table = frame.to_arrow()
    with ipc.new_stream(buf, table.schema) as writer:
        writer.write_table(table)
    return buf.getvalue()


def from_ipc(data: bytes) -> pl.DataFrame:
    """The frame of `to_ipc` bytes."""
    out = pl.from_arrow(ipc.open_stream(pa.py_buffer(data)).read_all())
    assert isinstance(out, pl.DataFrame)
    return out


def run_plans_on_part(store_path: str, part: int, plans: Sequence[Plan]) -> list[pl.DataFrame]:
    """Exactly what `RequestStore.per_account` does for one part: run every plan, collect lazy ones together."""
    frame = pl.read_parquet(Path(store_path) / f"part-{part:04d}.parquet").lazy()
    results: list[Any] = [plan(frame) for plan in plans]
    lazy = [i for i, r in enumerate(results) if isinstance(r, pl.LazyFrame)]
    for i, out in zip(lazy, pl.collect_all([results[i] for i in lazy])):
        results[i] = out
    return results


def per_part_task(
    store_path: str, plans: Sequence[Plan]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A `mapInArrow` function: for each part number in its input, the plans' results as IPC rows."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for rb in batches:
            for part in rb.column(0).to_pylist():
                frames = run_plans_on_part(store_path, int(part), plans)
                yield pa.RecordBatch.from_pydict(
                    {
                        "part": [int(part)] * len(frames),
                        "plan": list(range(len(frames))),
                        "ipc": [to_ipc(f) for f in frames],
                    },
                    schema=PART_RESULT_SCHEMA,
                )

    return run


def frame_task(
    fn: Callable[[pl.DataFrame], pl.DataFrame], order: Sequence[str], schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A `mapInArrow` function: the whole partition as one frame in a fixed row order (sorted by
    `order`: a shuffle delivers rows in any order), `fn` applied, the result cast to `schema`."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        tables = [pa.Table.from_batches([rb]) for rb in batches if rb.num_rows]
        if not tables:
            return
        frame = pl.from_arrow(pa.concat_tables(tables))
        assert isinstance(frame, pl.DataFrame)
        out = fn(frame.sort(list(order), maintain_order=True))
        if out.height:
            yield from out.to_arrow().cast(schema).to_batches()

    return run


def versions_task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A `mapInArrow` function reporting the executor's polars and Python versions."""
    import platform

    for _ in batches:
        pass
    yield pa.RecordBatch.from_pydict(
        {"polars": [pl.__version__], "python": [platform.python_version()]}, schema=VERSION_SCHEMA
    )
