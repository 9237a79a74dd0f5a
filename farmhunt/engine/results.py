"""The results directory of `farmhunt detect`: writing it atomically and loading it back validated.

Evaluation and the console only ever read results through `load_results`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl

from farmhunt.core.atomic import atomic_dir
from farmhunt.core.contract import (
    RESULT_ACCOUNTS,
    RESULT_CLUSTERS,
    RESULT_EDGES,
    RESULT_EVIDENCE,
    RUN_FILE,
    ContractError,
    Problem,
    TableSpec,
)
from farmhunt.core.errors import InputError

#: Columns of accounts.parquet that detection derived from the features (not features themselves).
DERIVED_ACCOUNT_COLUMNS = frozenset({"cluster_id", "risk", "flagged", "predicted_kind", "account_risk", "anomaly"})


def feature_columns(schema: pl.Schema) -> list[str]:
    """The numeric feature columns of a features or accounts table: what a model may learn from.

    Detection's own outputs (risk, anomaly, ...) are left out, so a peer detector fed accounts.parquet
    sees the same features farmhunt's models see and nothing farmhunt concluded.
    """
    return [c for c, t in schema.items() if t.is_numeric() and c not in DERIVED_ACCOUNT_COLUMNS]


@dataclass
class Results:
    """Everything detection produced: four tables and the run record (parameters, timings, input)."""

    accounts: pl.DataFrame
    clusters: pl.DataFrame
    evidence: pl.DataFrame
    edges: pl.DataFrame
    run: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def world_path(self) -> Path | None:
        """Absolute path of the world these results were computed from, as recorded in run.json."""
        p = self.run.get("world", {}).get("path")
        return Path(p) if p else None


_FILES: dict[str, TableSpec] = {
    "accounts": RESULT_ACCOUNTS,
    "clusters": RESULT_CLUSTERS,
    "evidence": RESULT_EVIDENCE,
    "edges": RESULT_EDGES,
}


#: Subdirectory of a results directory holding the request store (see `request_store`).
STORE_DIR = "requests"


def write_tables(results: Results, directory: Path) -> None:
    """Write the four tables and run.json into `directory` (the caller makes it atomic)."""
    for name in _FILES:
        # One chunk: polars writes a row group per chunk, so the bytes would depend on how the table
        # was assembled (streaming chunks, Spark partitions), not only on its values.
        getattr(results, name).rechunk().write_parquet(directory / f"{name}.parquet")
    (directory / RUN_FILE).write_text(json.dumps(results.run, indent=2, default=str, sort_keys=True))


def write_results(results: Results, out: str | Path) -> Path:
    """Write `results` to directory `out` atomically (temporary directory, then rename)."""
    with atomic_dir(out) as tmp:
        write_tables(results, tmp)
    return Path(out).resolve()


def load_results(path: str | Path) -> Results:
    """Load a results directory; a missing file or column is a `ContractError` naming it."""
    d = Path(path)
    if not d.is_dir():
        raise InputError(f"results directory '{d}' does not exist (run 'farmhunt detect WORLD --out {d}' first)")
    problems: list[Problem] = []
    tables: dict[str, pl.DataFrame] = {}
    for name, spec in _FILES.items():
        f = d / f"{name}.parquet"
        if not f.exists():
            problems.append(Problem(f.name, None, "missing file"))
            continue
        try:
            df = pl.read_parquet(f)
        except Exception as exc:
            problems.append(Problem(f.name, None, f"cannot be read: {exc}".splitlines()[0]))
            continue
        for col, dtype in spec.columns.items():
            if col not in df.columns:
                problems.append(Problem(f.name, col, f"missing column (expected {dtype})"))
            elif df.schema[col] != dtype:
                problems.append(Problem(f.name, col, f"wrong dtype {df.schema[col]} (expected {dtype})"))
        tables[name] = df
    run: dict[str, Any] = {}
    rf = d / RUN_FILE
    if not rf.exists():
        problems.append(Problem(RUN_FILE, None, "missing file"))
    else:
        try:
            run = json.loads(rf.read_text())
        except json.JSONDecodeError as exc:
            problems.append(Problem(RUN_FILE, None, f"not valid JSON: {exc}"))
    if problems:
        raise ContractError(problems, source=str(d))
    return Results(**tables, run=run, path=d.resolve())


def cluster_graph(edges: pl.DataFrame, members: list[str]) -> nx.Graph:
    """The linkage graph of one cluster as a networkx graph (edge attributes: weight, reasons)."""
    inside = edges.filter(pl.col("src").is_in(members), pl.col("dst").is_in(members))
    g = nx.Graph()
    g.add_nodes_from(members)
    for src, dst, w, reasons in inside.select("src", "dst", "weight", "reasons").iter_rows():
        g.add_edge(src, dst, weight=w, reasons=list(reasons))
    return g
