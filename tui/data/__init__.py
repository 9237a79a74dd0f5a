"""Read-only data access for the console: one small adapter (`CaseData`), the only code that touches
polars frames. Screens call its methods and get frames with plain columns.

Everything here reads what detection decided: the case queue (`cases.parquet`), each cluster's ties
(`ties.parquet`), clusters' density and hub share (`clusters.parquet`), account evidence
(`account_evidence.parquet` when present). Nothing is re-linked or re-scored. The queries are split by
job, one module each, and joined into `CaseData`:

    world.py    the world's small tables in memory once; the request store's per-account parts
    index.py    the request index (IP and key users, counts per account and hour or day), built part
                by part in the background, exact at any moment
    priority.py screens first: the background load waits between its small steps while a screen asks
    queue.py    the case queue and case rows
    group.py    a case or cluster: members, evidence, ties, linkage graph
    account.py  one account: profile, payments, keys, requests, prompts, links, plain-words evidence
    pivot.py    pivots on a shared value and the `/` search
    charts.py   activity by local hour and by day, the population's hours
    common.py   vocabulary: kinds and signals in words, `Target`, `Match`, IPv4 helpers

Answers are cached; everything is safe to call from a worker thread. `warm()` (run by the app in a
background thread at start) loads the world tables and builds the request index, in small steps that
wait while a screen's question (`foreground`) is open; no question waits for the load: until it is done
the answers come (the same) from the files and the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl

from farmhunt.core.errors import InputError
from farmhunt.core.world import World, load_world
from farmhunt.engine.results import STORE_DIR, Results, load_results
from farmhunt.engine.store import RequestStore, open_store
from tui.data.account import AccountQueries
from tui.data.charts import ChartQueries
from tui.data.common import (
    CLUSTER_ONLY,
    FEATURE_WORDS,
    KIND_SHORT,
    MEMBER_LIMIT,
    PIVOT_LIMIT,
    REQUEST_PAGE,
    SIGNAL_WORDS,
    Match,
    Target,
    kind_short,
    looks_like_ip,
    looks_like_world,
    parse_network,
    pivot_title,
    words,
)
from tui.data.group import GroupQueries
from tui.data.index import RequestIndex
from tui.data.pivot import PivotQueries
from tui.data.priority import Priority
from tui.data.queue import QueueQueries
from tui.data.world import WorldTables

T = TypeVar("T")

__all__ = [
    "CLUSTER_ONLY",
    "FEATURE_WORDS",
    "KIND_SHORT",
    "MEMBER_LIMIT",
    "PIVOT_LIMIT",
    "REQUEST_PAGE",
    "SIGNAL_WORDS",
    "CaseData",
    "console_engine",
    "Match",
    "Priority",
    "RequestIndex",
    "Target",
    "kind_short",
    "looks_like_ip",
    "parse_network",
    "pivot_title",
    "words",
]


def console_engine() -> None:
    """Run polars in memory in the console's process (for its entry points, not the library): the
    console's queries are small, and the streaming engine panicked in a string kernel (an internal
    assertion in polars 2.1, `binview/mod.rs:413`) twice in three console runs on the seed-scale results."""
    pl.Config.set_engine_affinity("in-memory")


class CaseData(QueueQueries, GroupQueries, AccountQueries, PivotQueries, ChartQueries):
    """Everything the console shows, read from a results directory and the world it was computed from."""

    def __init__(self, results: str | Path | Results, world: str | Path | None = None):
        if not isinstance(results, Results) and looks_like_world(Path(results)):
            raise InputError(
                f"'{results}' is a world, not results: run `farmhunt detect {results} --out RESULTS` first, "
                "then `farmhunt tui RESULTS`"
            )
        self.results = results if isinstance(results, Results) else load_results(results)
        wpath = Path(world) if world is not None else self.results.world_path
        if wpath is None:
            raise InputError(
                f"results '{self.results.path}' do not record their world (run.json has no "
                "world.path): pass --world WORLD"
            )
        if not wpath.is_dir():
            origin = "given with --world" if world is not None else f"recorded in {self.results.path}/run.json"
            raise InputError(f"world directory '{wpath}' not found ({origin}): pass --world WORLD")
        self.world: World = load_world(wpath, deep=False)
        self.world_path = wpath
        same_world = self.results.world_path is not None and self.results.world_path.resolve() == wpath.resolve()
        self.store: RequestStore | None = (
            open_store(self.results.path / STORE_DIR) if same_world and self.results.path else None
        )
        self.priority = Priority()
        self.tables = WorldTables(self.world, self.store, self.priority)
        self._lock = threading.Lock()
        self._population_hours: pl.DataFrame | None = None
        r = self.results
        self.cases: pl.DataFrame = r.cases if r.cases is not None else pl.DataFrame()
        self.tie_table: pl.DataFrame = r.ties if r.ties is not None else pl.DataFrame()
        self.account_evidence_table = self._account_evidence_table()
        self.clusters = self.cluster_table()
        self.flagged_accounts = int(r.accounts["flagged"].sum())
        self._cluster_ids = set(self.clusters["cluster_id"].to_list())
        self._case_ids = set(self.cases["case_id"].to_list())
        self._result_cols = [
            c for c in ("case_id", "cluster_id", "risk", "flagged", "predicted_kind") if c in r.accounts.columns
        ]

    def _account_evidence_table(self) -> pl.DataFrame | None:
        """account_evidence.parquet (detection's evidence for accounts judged alone), when written."""
        t = getattr(self.results, "account_evidence", None)
        if t is None and self.results.path is not None and (self.results.path / "account_evidence.parquet").exists():
            t = pl.read_parquet(self.results.path / "account_evidence.parquet")
        return t if isinstance(t, pl.DataFrame) and "account_id" in t.columns else None

    def warm(self) -> None:
        """Load the world tables, the queue and the request index now (for a background thread)."""
        _ = self.queue_base
        self.tables.warm()

    def foreground(self, fn: Callable[[], T]) -> T:
        """`fn()`, a question a screen waits on: the background load pauses between its steps meanwhile."""
        return self.priority.call(fn)

    def load_progress(self) -> str:
        """How far the background load is, in words ("done" when it is)."""
        t = self.tables
        if self.store is None:
            return "no request store"
        if t.index_ready():
            return "done"
        tables = sum(t.loaded(n) for n in ("accounts", "payments", "api_keys", "prompts", "asns"))
        return f"tables {tables}/5, {t.index.progress()}"

    # ------------------------------------------------------------------ world access
    def rows(self, name: str, col: str, value: str | pl.Series) -> pl.LazyFrame:
        """Rows of world table `name` whose `col` equals `value` (or is in the Series), canonical dtypes
        (small tables from memory, requests lazily from the world)."""
        return self.tables.rows(name, col, value)

    def requests_of(self, ids: pl.Series, columns: tuple[str, ...] | None = None) -> pl.LazyFrame:
        """Requests of these accounts (canonical dtypes; from the request store when there is one)."""
        return self.tables.requests_of(ids.to_list(), columns).lazy()
