"""The Spark engine: the polars engine's own stage functions, run by Spark tasks partition by partition.

What runs where:

* **Executors** run every per-account pass over the request store, one task per store part (a range
  of accounts: a part holds whole accounts, so per-account aggregates are exact), with the very
  plans the polars engine runs (`RequestStore.per_account` is the seam); the rarity-weighted edges of
  shared values, partitioned by hash of (signal, value) so every group is whole in one task; and the
  combination of signal edges into one edge per pair, partitioned by hash of (src, dst).
* **The driver** encodes the request store of a local world (one streaming pass; a world at a URL is
  encoded by the executors instead, `farmhunt.engine.spark.store`), finds prompt templates, computes the
  small-table features (payments, keys, signups) and the synchronisation candidates, and then runs the
  shared stages: communities, scoring, results.

Exactness: a task's rows are put in a fixed order before any order-dependent step, results come back
in part order, and float reductions are ordered or rounded (as in the polars engine), so the tables
are byte-identical to the polars engine's. The executors' polars must be the driver's: checked when
the engine starts (`check_versions`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from farmhunt.core.errors import ConfigError
from farmhunt.core.world import World
from farmhunt.engine.base import EDGE_SCHEMA, SHARED_SCHEMA, Linkage
from farmhunt.engine.polars import PolarsEngine
from farmhunt.engine.polars.features import account_features
from farmhunt.engine.polars.linkage import (
    EDGE_SCHEMA as SIGNAL_EDGE_SCHEMA,
)
from farmhunt.engine.polars.linkage import (
    combine_edges,
    linkage_inputs,
    value_edges,
)
from farmhunt.engine.polars.request_store import build_store
from farmhunt.engine.settings import FeatureSettings, LinkageSettings, StoreSettings, TemplateSettings
from farmhunt.engine.spark.tasks import (
    PART_RESULT_SCHEMA,
    VERSION_SCHEMA,
    Plan,
    frame_task,
    from_ipc,
    per_part_task,
    versions_task,
)
from farmhunt.engine.spark.world import UrlWorld, load_url_world
from farmhunt.engine.store import RequestStore

try:
    from pyspark.sql import SparkSession
except ImportError as exc:  # the registry turns this into "install farmhunt[spark]"
    raise ImportError(f"pyspark is not installed ({exc})") from exc

_SIGNAL_EDGES = pa.schema(
    [("src", pa.string()), ("dst", pa.string()), ("signal", pa.string()), ("weight", pa.float64())]
)
_VALUES = pa.schema([("account_id", pa.string()), ("signal", pa.string()), ("value", pa.string())])
_COMBINED = pa.schema(
    [("src", pa.string()), ("dst", pa.string()), ("weight", pa.float64()), ("reasons", pa.list_(pa.string()))]
)
assert list(SIGNAL_EDGE_SCHEMA) == _SIGNAL_EDGES.names


def session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The Spark session to run on: `master` (default: an active session, else `local[*]`) with `conf`.

    Executors run this Python interpreter unless `spark.pyspark.python` is set: in local mode that is
    what makes them see the same polars and farmhunt.
    """
    conf = dict(conf or {})
    active = SparkSession.getActiveSession()
    if active is not None and master is None and not conf:
        return active
    builder = SparkSession.builder.appName("farmhunt").master(master or "local[*]")
    python = conf.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON") or sys.executable
    os.environ["PYSPARK_PYTHON"] = python  # what PySpark's context reads for its workers
    for k, v in conf.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def check_versions(spark: SparkSession) -> dict[str, str]:
    """The executors' polars versions; a `ConfigError` when any differs from the driver's.

    The same data gives the same results only with the same polars on both sides (hashes, sort
    orders and float kernels are polars').
    """
    app = spark.sparkContext.applicationId
    if app in _CHECKED:
        return _CHECKED[app]
    n = max(1, spark.sparkContext.defaultParallelism)
    try:
        rows = spark.range(0, n, 1, numPartitions=n).mapInArrow(versions_task, _spark_schema(VERSION_SCHEMA))
        seen = sorted({r["polars"] for r in rows.collect()})
    except Exception as exc:  # an executor without polars (or farmhunt) fails the task
        raise ConfigError(
            f"'--engine spark': the Spark executors cannot run farmhunt's tasks ({_cause(exc)}); "
            f"install farmhunt with polars {pl.__version__} on every executor"
        ) from exc
    if seen != [pl.__version__]:
        raise ConfigError(
            f"'--engine spark': executors run polars {', '.join(seen)} but the driver runs polars {pl.__version__}; "
            "results are exact only with the same polars everywhere: install polars "
            f"{pl.__version__} on the executors (or the executors' version on the driver)"
        )
    _CHECKED[app] = {"polars": pl.__version__}
    return _CHECKED[app]


_CHECKED: dict[str, dict[str, str]] = {}  # Spark application id -> versions, checked once per application


def _cause(exc: Exception) -> str:
    """The last 'SomethingError: ...' line of an executor's traceback (the first line says nothing)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if "Error" in ln and ":" in ln]
    return (lines[-1] if lines else str(exc).strip().splitlines()[0])[:300]


def _spark_schema(schema: pa.Schema) -> str:
    names = {
        pa.string(): "string",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.large_binary(): "binary",
        pa.float64(): "double",
    }
    cols = []
    for f in schema:
        if pa.types.is_list(f.type):
            cols.append(f"{f.name} array<{names[f.type.value_type]}>")
        else:
            cols.append(f"{f.name} {names[f.type]}")
    return ", ".join(cols)


@dataclass(frozen=True)
class SparkStore(RequestStore):
    """A request store whose per-account passes run as Spark tasks, one per part, results in part order."""

    spark: Any = field(default=None, compare=False, repr=False)

    def per_account(self, *plans: Plan) -> list[pl.DataFrame]:
        n = len(self.bounds) - 1
        if n == 0 or not plans:
            return [pl.DataFrame() for _ in plans]
        rows = (
            self.spark.range(0, n, 1, numPartitions=n)
            .selectExpr("CAST(id AS INT) AS part")
            .mapInArrow(per_part_task(str(self.path), list(plans)), _spark_schema(PART_RESULT_SCHEMA))
            .toArrow()
        )
        got = pl.from_arrow(rows)
        assert isinstance(got, pl.DataFrame)
        got = got.sort("part", "plan")
        if got.height != n * len(plans):
            raise RuntimeError(f"Spark returned {got.height} part results, expected {n * len(plans)}")
        out: list[list[pl.DataFrame]] = [[] for _ in plans]
        for plan, data in zip(got["plan"].to_list(), got["ipc"].to_list()):
            out[plan].append(from_ipc(data))
        return [pl.concat(frames) for frames in out]


class SparkEngine:
    """`Engine` on Spark (see the module docstring for what runs where)."""

    name = "spark"

    def __init__(self, master: str | None = None, conf: Mapping[str, str] | None = None, spark: Any = None):
        self.spark = spark if spark is not None else session(master, conf)
        self.versions = check_versions(self.spark)
        self.partitions = max(1, self.spark.sparkContext.defaultParallelism)

    def _store(self, store: RequestStore) -> SparkStore:
        if isinstance(store, SparkStore):
            return store
        return SparkStore(store.path, store.n_rows, store.bounds, store.ts_range, spark=self.spark)

    def load_world(self, url: str, stage: Path) -> UrlWorld:
        """The world at `url` (any path Spark can read), validated; its small tables staged in `stage`."""
        return load_url_world(self.spark, url, stage)

    def build_store(self, world: World, path: Path, settings: StoreSettings) -> RequestStore:
        if isinstance(world, UrlWorld):  # the executors read and encode the request table
            from farmhunt.engine.spark.store import build_url_store

            return self._store(build_url_store(self.spark, world, path, settings.rows_per_part))
        return self._store(build_store(world, path, settings.rows_per_part))

    def templates(self, store: RequestStore, settings: TemplateSettings) -> pa.Table:
        # On the driver, as the polars engine does it (templates and the prompt families beside the store).
        return PolarsEngine().templates(store, settings)

    def features(
        self,
        world: World,
        store: RequestStore,
        templates: pa.Table,
        settings: FeatureSettings,
        template_settings: TemplateSettings,
    ) -> pa.Table:
        t = _frame(templates)
        lf = account_features(world, self._store(store), t, settings, template_settings)
        return lf.collect(engine="streaming").to_arrow()

    def linkage(
        self,
        world: World,
        store: RequestStore,
        templates: pa.Table,
        template_settings: TemplateSettings,
        settings: LinkageSettings,
    ) -> Linkage:
        s = self._store(store)
        values, other, shared = linkage_inputs(world, s, _frame(templates), template_settings, settings)
        by_value = self._by_hash(
            values.to_arrow().cast(_VALUES),
            ("signal", "value"),
            ("signal", "value", "account_id"),
            lambda df: value_edges(df.lazy(), settings).collect(),
            _SIGNAL_EDGES,
        )
        signal_edges = pl.concat([by_value, other.select(list(SIGNAL_EDGE_SCHEMA))])
        combined = self._by_hash(
            signal_edges.to_arrow().cast(_SIGNAL_EDGES),
            ("src", "dst"),
            ("src", "dst", "signal", "weight"),
            lambda df: combine_edges(df.lazy(), settings).collect(),
            _COMBINED,
        )
        return Linkage(
            edges=combined.sort("src", "dst").to_arrow().cast(EDGE_SCHEMA),
            shared=shared.select("account_id", "signal", "value", "n_accounts").to_arrow().cast(SHARED_SCHEMA),
        )

    def _by_hash(
        self,
        table: pa.Table,
        keys: Sequence[str],
        order: Sequence[str],
        fn: Callable[[pl.DataFrame], pl.DataFrame],
        schema: pa.Schema,
    ) -> pl.DataFrame:
        """`fn` on each hash partition of `table` by `keys` (rows sorted by `order` first), concatenated."""
        if table.num_rows == 0:
            return _frame(schema.empty_table())
        df = self.spark.createDataFrame(table).repartition(self.partitions, *keys)
        out = pl.from_arrow(df.mapInArrow(frame_task(fn, order, schema), _spark_schema(schema)).toArrow())
        assert isinstance(out, pl.DataFrame)
        return out


def _frame(table: pa.Table) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


__all__ = ["SparkEngine", "SparkStore", "check_versions", "session"]
