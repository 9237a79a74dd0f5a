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

from farmhunt.contract import MANIFEST_FILE, REQUESTS

TS_TYPE = pa.timestamp("us", tz="UTC")


def write_table(df: pl.DataFrame, out: Path, name: str, fmt: str) -> Path:
    """Write one whole table as `name.parquet` or `name.csv`."""
    path = out / f"{name}.{fmt}"
    if fmt == "csv":
        df.write_csv(path)
    else:
        df.write_parquet(path, compression="zstd", statistics=False)
    return path


def dict_column(codes: np.ndarray, values: pa.Array, compact: bool) -> pa.DictionaryArray:
    """Dictionary array from integer codes into `values`; `compact` keeps only the values used."""
    if compact:
        used = np.zeros(len(values), bool)
        used[codes] = True
        keep = np.flatnonzero(used)
        remap = np.cumsum(used, dtype=np.int64) - 1
        return pa.DictionaryArray.from_arrays(pa.array(remap[codes].astype(np.int32)), values.take(pa.array(keep)))
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), values)


class RequestWriter:
    """Streams request chunks into requests.parquet (one row group each) or requests.csv."""

    def __init__(self, out: Path, fmt: str, dicts: dict[str, pa.Array]):
        self.path = out / f"requests.{fmt}"
        self.fmt = fmt
        self.dicts = dicts
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._csv = None

    def write(self, chunk: Any) -> None:
        """Append one `RequestChunk`."""
        d = self.dicts
        cols = {
            "ts": pa.array(chunk.ts, pa.int64()).cast(TS_TYPE),
            "account_id": dict_column(chunk.account, d["account_id"], True),
            "key_id": dict_column(chunk.key, d["key_id"], True),
            "model": dict_column(chunk.model, d["model"], False),
            "input_tokens": pa.array(chunk.input_tokens),
            "output_tokens": pa.array(chunk.output_tokens),
            "ip": dict_column(chunk.ip, d["ip"], True),
            "asn": pa.array(chunk.asn.astype(np.int32)),
            "user_agent": dict_column(chunk.ua, d["user_agent"], True),
            "prompt_hash": pa.array(chunk.prompt_hash, pa.uint64()),
            "topic": dict_column(chunk.topic, d["topic"], False),
        }
        assert list(cols) == list(REQUESTS.columns)
        table = pa.table(cols)
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
            self._writer = pq.ParquetWriter(
                self.path, table.schema, compression="zstd", compression_level=1,
                use_dictionary=["account_id", "key_id", "model", "ip", "user_agent", "topic"],
                write_statistics=["ts"])
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
                   rings: list[dict], fmt: str) -> dict:
    """manifest.json: generator version, full config, seed, rings, row count and SHA-256 of every file."""
    files = {}
    for name, n in rows.items():
        p = out / f"{name}.{fmt}"
        files[p.name] = {"table": name, "rows": int(n), "sha256": sha256_of(p)}
    manifest = {"generator": "synth", "version": version, "seed": seed, "format": fmt, "config": config,
                "files": files, "rings": rings}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest
