"""Writing a world: small tables in one go, requests chunk by chunk, and manifest.json.

Parquet requests are written as one row group per chunk with a pyarrow `ParquetWriter`; string columns
are dictionary-encoded from integer codes (per-chunk compacted dictionaries), which is what makes
1M+ rows/s possible. CSV writes the same columns with ISO-8601 timestamps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from farmhunt.core.contract import MANIFEST_FILE, REQUESTS

TS_TYPE = pa.timestamp("us", tz="UTC")
DICT_COLUMNS = ["account_id", "key_id", "model", "ip", "user_agent", "topic"]
# Parquet layout of requests (chosen for write speed at the same file size): string columns and the
# ASN (a few hundred values) as dictionaries; timestamps (in time order) and token counts as
# DELTA_BINARY_PACKED; zstd only where it pays, i.e. on the id, IP and user-agent columns whose
# dictionary pages hold long strings. Random 64-bit prompt hashes do not compress at all.
_ZSTD_COLUMNS = ("account_id", "key_id", "ip", "user_agent")
_REQUEST_PARQUET: dict[str, Any] = {
    "use_dictionary": DICT_COLUMNS + ["asn"],
    "column_encoding": {c: "DELTA_BINARY_PACKED" for c in ("ts", "input_tokens", "output_tokens")},
    "compression": {c: ("zstd" if c in _ZSTD_COLUMNS else "none") for c in REQUESTS.columns},
    "compression_level": {c: 1 for c in _ZSTD_COLUMNS},
    "write_statistics": ["ts"],
}


def write_table(df: pl.DataFrame, out: Path, name: str, fmt: str) -> Path:
    """Write one whole table as `name.parquet` or `name.csv`."""
    path = out / f"{name}.{fmt}"
    if fmt == "csv":
        df.write_csv(path)
    else:
        df.write_parquet(path, compression="zstd", statistics=False)
    return path


class StringTable:
    """An Arrow string array kept as numpy offsets and bytes, so that gathering a subset into a new
    Arrow array is a numpy gather (no pyarrow.compute)."""

    def __init__(self, values: pa.Array | pa.ChunkedArray):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if values.null_count:
            raise ValueError("dictionary values must not be null")
        self.large = pa.types.is_large_string(values.type)
        if not self.large and not pa.types.is_string(values.type):
            raise TypeError(f"string array expected, got {values.type}")
        self.type = values.type
        self.n = n = len(values)
        bufs = values.buffers()
        off = np.frombuffer(bufs[1], np.int64 if self.large else np.int32)[values.offset:values.offset + n + 1]
        self.off = off.astype(np.int64)
        self.data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
        self.lens = np.diff(self.off)
        width = int(self.lens[0]) if n else 0
        self.width = width if n and width > 0 and bool((self.lens == width).all()) else None
        if self.width is not None:  # fixed-width ids: one row of bytes per value
            self.rows = self.data[self.off[0]:self.off[0] + n * width].reshape(n, width)

    def take(self, idx: np.ndarray) -> pa.Array:
        """The values at positions `idx`, as a new Arrow array of the same type."""
        k = len(idx)
        if self.width is not None:
            data = self.rows.take(idx, axis=0).reshape(-1)
            off = np.arange(0, (k + 1) * self.width, self.width, dtype=np.int64)
        else:
            lens = self.lens[idx]
            off = np.zeros(k + 1, np.int64)
            np.cumsum(lens, out=off[1:])
            src = np.repeat(self.off[idx] - off[:-1], lens) + np.arange(off[-1], dtype=np.int64)
            data = self.data[src]
        off = off if self.large else off.astype(np.int32)
        return pa.Array.from_buffers(self.type, k, [None, pa.py_buffer(off), pa.py_buffer(data)])


def compact_codes(codes: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes into the used values only, positions of the used values): a row group's dictionary
    holds only its own values, in their original order."""
    used = np.zeros(n_values, bool)
    used[codes] = True
    keep = np.flatnonzero(used)
    remap = np.empty(n_values, np.int32)
    remap[keep] = np.arange(len(keep), dtype=np.int32)
    return remap[codes], keep


# request columns whose dictionaries are compacted per row group -> RequestChunk attribute
COMPACT_COLUMNS = {"account_id": "account", "key_id": "key", "ip": "ip", "user_agent": "ua"}


def dict_column(codes: np.ndarray, values: StringTable | pa.Array, compact: bool,
                compacted: tuple[np.ndarray, np.ndarray] | None = None) -> pa.DictionaryArray:
    """Dictionary array from integer codes into `values`; `compact` keeps only the values used
    (`compacted`: the result of `compact_codes` for these codes, if already made)."""
    if compact:
        table = values if isinstance(values, StringTable) else StringTable(values)
        idx, keep = compacted if compacted is not None else compact_codes(codes, table.n)
        return pa.DictionaryArray.from_arrays(pa.array(idx), table.take(keep), safe=False)
    if isinstance(values, StringTable):
        values = values.take(np.arange(values.n))
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32, copy=False)), values, safe=False)


class RequestWriter:
    """Streams request chunks into requests.parquet (one row group each) or requests.csv."""

    def __init__(self, out: Path, fmt: str, dicts: dict[str, pa.Array]):
        self.path = out / f"requests.{fmt}"
        self.fmt = fmt
        self.dicts = {k: StringTable(v) if k in COMPACT_COLUMNS else v for k, v in dicts.items()}
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._csv = None

    def write(self, chunk: Any, compacted: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        """Append one `RequestChunk` (`compacted`: `compact_codes` of its COMPACT_COLUMNS, if made)."""
        d = self.dicts
        c = compacted or {}
        cols = {
            "ts": pa.Array.from_buffers(TS_TYPE, len(chunk.ts), [None, pa.py_buffer(np.ascontiguousarray(chunk.ts))]),
            "account_id": dict_column(chunk.account, d["account_id"], True, c.get("account_id")),
            "key_id": dict_column(chunk.key, d["key_id"], True, c.get("key_id")),
            "model": dict_column(chunk.model, d["model"], False),
            "input_tokens": pa.array(chunk.input_tokens.astype(np.int32, copy=False)),
            "output_tokens": pa.array(chunk.output_tokens.astype(np.int32, copy=False)),
            "ip": dict_column(chunk.ip, d["ip"], True, c.get("ip")),
            "asn": pa.array(chunk.asn.astype(np.int32, copy=False)),
            "user_agent": dict_column(chunk.ua, d["user_agent"], True, c.get("user_agent")),
            "prompt_hash": pa.array(chunk.prompt_hash, pa.uint64()),
            "topic": dict_column(chunk.topic, d["topic"], False),
        }
        assert list(cols) == list(REQUESTS.columns)
        if self._schema is None:  # no column has nulls: "required" Parquet columns carry no definition levels
            self._schema = pa.schema([pa.field(k, v.type, nullable=False) for k, v in cols.items()])
        table = pa.Table.from_arrays(list(cols.values()), schema=self._schema)
        self.rows += table.num_rows
        if self.fmt == "csv":
            df = pl.from_arrow(table).with_columns(pl.col(pl.Categorical).cast(pl.String))
            if self._csv is None:
                self._csv = open(self.path, "wb")
                df.write_csv(self._csv)
            else:
                df.write_csv(self._csv, include_header=False)
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, **_REQUEST_PARQUET)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._csv is not None:
            self._csv.close()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(out: Path, *, version: str, config: dict, seed: int, rows: dict[str, int],
                   rings: list[dict], fmt: str, scenario: dict | None = None) -> dict:
    """manifest.json: generator version, full config, seed, rings, row count and SHA-256 of every file."""
    files = {}
    for name, n in rows.items():
        p = out / f"{name}.{fmt}"
        files[p.name] = {"table": name, "rows": int(n), "sha256": sha256_of(p)}
    manifest = {"generator": "synth", "version": version, "seed": seed, "format": fmt, "config": config,
                "files": files, "rings": rings}
    if scenario is not None:  # scenario worlds (sweep): designs and knob values, for per-design evaluation
        manifest["scenario"] = scenario
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest
