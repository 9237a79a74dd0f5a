"""Worlds at any path Spark can read (`s3a://`, `hdfs://`, `abfss://`, `gs://`, `file://` ...).

The user's Spark configuration carries the file system and its credentials; farmhunt never sees them.

* The **small tables** (accounts, payments, api_keys, asns, prompts; megabytes even at seed scale)
  and `manifest.json` are copied through Spark (`binaryFiles`: the executors read them, the bytes come
  to the driver) into a private local directory and then loaded by the contract's own loader
  (`load_world`): the same checks and the same messages as a local world, naming file, column and
  reason. A table written by Spark as a directory of Parquet files is joined into one file in the
  order of its file names.
* The **request table** is never read by the driver: only its schema is (checked against the
  contract by `schema_problems`). The executors read it with Spark's DataFrameReader, check and
  encode it into the request store (`farmhunt.engine.spark.store`).

At a URL the request table must be Parquet (a file or a directory of Parquet files): a CSV request
table is refused with a message saying so (read it from a local directory, or convert it).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from farmhunt.core.contract import DETECTION_TABLES, MANIFEST_FILE, REQUESTS
from farmhunt.core.validate import ContractError, Problem, schema_problems
from farmhunt.core.world import World, is_url, load_world


@dataclass
class UrlWorld(World):
    """A world read through Spark: the small tables staged locally (see module doc), the request
    table left where it is (`requests_url`, read by the executors)."""

    url: str = ""
    requests_url: str = ""
    requests_schema: pl.Schema | None = None


def java_cause(exc: BaseException) -> str:
    """The Java exception's own message (a Py4J error's first line says only which call failed)."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            text = str(java.toString())
            cause = java.getCause()
            while cause is not None:  # the innermost cause names the real problem (host, credentials)
                text = str(cause.toString())
                cause = cause.getCause()
            return text.splitlines()[0][:300]
        except Exception:  # pragma: no cover - a broken gateway: fall back to the Python text
            pass
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # A Python worker's traceback: its last 'SomethingError: ...' line says what went wrong.
    errors = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception): ", ln)]
    return (errors[-1] if errors else lines[0] if lines else type(exc).__name__)[:300]


class _Files:
    """The Hadoop file system of a world URL, through the Spark driver's JVM (the user's Spark conf)."""

    def __init__(self, spark: Any, url: str):
        self.spark = spark
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()
        try:
            self.fs = self.jvm.org.apache.hadoop.fs.Path(url).getFileSystem(self.conf)
        except Exception as exc:
            raise ContractError(
                f"world '{url}' cannot be opened through Spark ({java_cause(exc)}); check the URL and the Spark "
                "configuration of its file system (--spark-conf spark.hadoop.fs....)",
                source=url,
            ) from exc

    def _path(self, url: str) -> Any:
        return self.jvm.org.apache.hadoop.fs.Path(url)

    def kind(self, url: str) -> str | None:
        """'file', 'dir' or None (absent)."""
        try:
            if not self.fs.exists(self._path(url)):
                return None
            return "dir" if self.fs.getFileStatus(self._path(url)).isDirectory() else "file"
        except Exception as exc:
            raise ContractError(f"'{url}' cannot be read through Spark ({java_cause(exc)})", source=url) from exc

    def read(self, url: str) -> list[tuple[str, bytes]]:
        """(name, bytes) of a file, or of every data file of a directory (hidden files left out), by name."""
        got = self.spark.sparkContext.binaryFiles(url).collect()
        return sorted((str(path).rstrip("/").rsplit("/", 1)[-1], bytes(data)) for path, data in got)


def load_url_world(spark: Any, url: str, stage: Path) -> UrlWorld:
    """Load and validate the world at `url` through Spark (module doc); small tables are staged in `stage`.

    Raises `ContractError` listing every problem (source: the URL), as `load_world` does.
    """
    base = url.rstrip("/")
    files = _Files(spark, base)
    if files.kind(base) != "dir":
        raise ContractError(f"world directory '{url}' does not exist or is not a directory", source=url)
    problems: list[Problem] = []
    found: dict[str, tuple[str, str, str]] = {}  # table -> (url, suffix, kind)
    for spec in DETECTION_TABLES:
        for suffix in (".parquet", ".csv"):
            kind = files.kind(f"{base}/{spec.name}{suffix}")
            if kind is not None:
                found[spec.name] = (f"{base}/{spec.name}{suffix}", suffix, kind)
                break
    for spec in DETECTION_TABLES:
        if spec.name in found:
            continue
        if spec.required:
            problems.append(Problem(f"{spec.name}.parquet", None, "missing file (no .parquet or .csv)"))
    stage.mkdir(parents=True, exist_ok=True)
    if files.kind(f"{base}/{MANIFEST_FILE}") == "file":
        (stage / MANIFEST_FILE).write_bytes(files.read(f"{base}/{MANIFEST_FILE}")[0][1])
    for name, (table_url, suffix, kind) in found.items():
        if name == REQUESTS.name:
            continue
        problem = _stage_table(files, table_url, stage / f"{name}{suffix}", suffix, kind)
        problems += [problem] if problem else []
    small = tuple(t for t in DETECTION_TABLES if t.name != REQUESTS.name and t.name in found)
    world: World | None = None
    try:
        world = load_world(stage, tables=small)
    except ContractError as exc:
        problems += [p for p in exc.problems if not p.reason.startswith("missing file")]
    req_url, req_schema = None, None
    if REQUESTS.name in found:
        req_url, suffix, _ = found[REQUESTS.name]
        fname = f"{REQUESTS.name}{suffix}"
        if suffix != ".parquet":
            problems.append(
                Problem(
                    fname,
                    None,
                    "at a URL the request table must be Parquet (requests.parquet: a file or a directory of "
                    "Parquet files); convert it, or copy the world to a local directory",
                )
            )
        else:
            try:
                req_schema = contract_schema(spark.read.parquet(req_url).schema)
            except Exception as exc:
                problems.append(Problem(fname, None, f"cannot be read: {java_cause(exc)}"))
            else:
                problems += schema_problems(fname, REQUESTS, req_schema)
    if problems or world is None:
        raise ContractError(problems or "the world could not be loaded", source=url)
    return UrlWorld(
        path=stage,
        tables=world.tables,
        files=world.files,
        manifest=world.manifest,
        native_tables=world.native_tables,
        url=url,
        requests_url=req_url or "",
        requests_schema=req_schema,
    )


def _stage_table(files: _Files, url: str, dest: Path, suffix: str, kind: str) -> Problem | None:
    """Copy one small table to `dest` (a directory of Parquet files joined in name order)."""
    fname = dest.name
    try:
        parts = files.read(url)
    except Exception as exc:
        return Problem(fname, None, f"cannot be read: {java_cause(exc)}")
    if kind == "file":
        dest.write_bytes(parts[0][1] if parts else b"")
        return None
    if suffix != ".parquet":
        return Problem(fname, None, "is a directory: a CSV table must be one file (or write the table as Parquet)")
    data = [(n, b) for n, b in parts if n.endswith(".parquet")]
    if not data:
        return Problem(fname, None, "is a directory without Parquet files")
    try:
        tables = [pq.read_table(io.BytesIO(b)) for _, b in data]
        pq.write_table(pa.concat_tables(tables, promote_options="default"), dest)
    except (pa.ArrowException, OSError, ValueError) as exc:
        return Problem(fname, None, f"cannot be read: {exc}".splitlines()[0])
    return None


def contract_schema(struct: Any) -> pl.Schema:
    """The polars schema of a Spark DataFrame schema, with Spark's Parquet conversions undone where the
    contract needs it (unsigned 64-bit integers arrive as decimal(20,0))."""
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow = to_arrow_schema(struct, timezone="UTC")
    frame = pl.from_arrow(arrow.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return pl.Schema({c: _undo(c, t) for c, t in frame.schema.items()})


def _undo(col: str, dtype: pl.DataType) -> pl.DataType:
    target = REQUESTS.columns.get(col)
    if isinstance(dtype, pl.Decimal) and target == pl.UInt64 and dtype.scale == 0:
        return pl.UInt64()
    return dtype


def from_spark(batch: pa.RecordBatch | pa.Table) -> pl.DataFrame:
    """A batch of the request table as Spark delivers it, with `contract_schema`'s conversions applied."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    fix = [pl.col(c).cast(pl.UInt64) for c, t in frame.schema.items() if _undo(c, t) != t]
    return frame.with_columns(fix) if fix else frame


__all__ = ["UrlWorld", "contract_schema", "from_spark", "is_url", "java_cause", "load_url_world"]
