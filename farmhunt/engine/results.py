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
    RESULT_ACCOUNT_EVIDENCE,
    RESULT_ACCOUNTS,
    RESULT_CLUSTERS,
    RESULT_EDGES,
    RESULT_EVIDENCE,
    RUN_FILE,
    TableSpec,
)
from farmhunt.core.errors import InputError
from farmhunt.core.validate import ContractError, Problem
from farmhunt.engine.cases import CASE_SCHEMA, build_cases
from farmhunt.engine.ties import TIE_SCHEMA

#: Columns of accounts.parquet that detection derived from the features (not features themselves).
DERIVED_ACCOUNT_COLUMNS = frozenset(
    {"cluster_id", "host_cluster_id", "case_id", "risk", "flagged", "predicted_kind", "account_risk", "anomaly"}
)


def feature_columns(schema: pl.Schema) -> list[str]:
    """The numeric feature columns of a features or accounts table: what a model may learn from.

    Detection's own outputs (risk, anomaly, ...) are left out, so a peer detector fed accounts.parquet
    sees the same features farmhunt's models see and nothing farmhunt concluded.
    """
    return [c for c, t in schema.items() if t.is_numeric() and c not in DERIVED_ACCOUNT_COLUMNS]


@dataclass
class Results:
    """Everything detection produced: the tables and the run record (parameters, timings, input)."""

    accounts: pl.DataFrame
    clusters: pl.DataFrame
    evidence: pl.DataFrame
    edges: pl.DataFrame
    #: The case queue (`cases.CASE_SCHEMA`) and each cluster's ties (`ties.TIE_SCHEMA`); results written
    #: before cases existed get their cases derived on load and no ties.
    cases: pl.DataFrame | None = None
    ties: pl.DataFrame | None = None
    run: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: Evidence for accounts judged alone (optional: results written before it existed have none).
    account_evidence: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RESULT_ACCOUNT_EVIDENCE.columns))

    def __post_init__(self) -> None:
        if self.cases is None:
            cases, account_case = build_cases(self.accounts, self.clusters, self.evidence, self.edges)
            self.cases = cases
            if "case_id" not in self.accounts.columns:
                self.accounts = self.accounts.join(account_case, on="account_id", how="left", maintain_order="left")
        if self.ties is None:
            self.ties = pl.DataFrame(schema=TIE_SCHEMA)

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
    "account_evidence": RESULT_ACCOUNT_EVIDENCE,
}


#: Tables of later versions: read when present (their schemas are checked), derived or empty otherwise.
_OPTIONAL: dict[str, pl.Schema] = {"cases": CASE_SCHEMA, "ties": TIE_SCHEMA}

#: Subdirectory of a results directory holding the request store (see `request_store`).
STORE_DIR = "requests"


def write_tables(results: Results, directory: Path) -> None:
    """Write the tables and run.json into `directory` (the caller makes it atomic)."""
    for name in (*_FILES, *_OPTIONAL):
        # One chunk: polars writes a row group per chunk, so the bytes would depend on how the table
        # was assembled (streaming chunks, Spark partitions), not only on its values.
        getattr(results, name).rechunk().write_parquet(directory / f"{name}.parquet")
    (directory / RUN_FILE).write_text(json.dumps(results.run, indent=2, default=str, sort_keys=True))


def write_results(results: Results, out: str | Path) -> Path:
    """Write `results` to directory `out` atomically (temporary directory, then rename)."""
    with atomic_dir(out, kind="results") as tmp:
        write_tables(results, tmp)
    return Path(out).resolve()


#: Keys of run.json readers rely on, with the JSON type each must have (None = may be null).
_RUN_SHAPE: dict[str, tuple[type, ...]] = {
    "world": (dict,),
    "counts": (dict,),
    "stages": (dict,),
    "settings": (dict,),
    "largest_cluster_size": (int,),
}
_RUN_WORLD_SHAPE: dict[str, tuple[type, ...]] = {"path": (str, type(None)), "manifest_sha256": (str, type(None))}


def run_shape_problems(run: Any) -> list[Problem]:
    """Problems with the shape of a parsed run.json: an object whose known keys have the right types."""
    if not isinstance(run, dict):
        return [Problem(RUN_FILE, None, f"expected a JSON object, got {type(run).__name__}")]
    out = []

    def check(doc: dict, shape: dict, prefix: str) -> None:
        for key, types in shape.items():
            if key in doc and (not isinstance(doc[key], types) or isinstance(doc[key], bool)):
                want = " or ".join("null" if t is type(None) else {dict: "object"}.get(t, t.__name__) for t in types)
                out.append(Problem(RUN_FILE, f"{prefix}{key}", f"expected {want}, got {type(doc[key]).__name__}"))

    check(run, _RUN_SHAPE, "")
    if isinstance(run.get("world"), dict):
        check(run["world"], _RUN_WORLD_SHAPE, "world.")
    if isinstance(run.get("counts"), dict):
        bad = [k for k, v in run["counts"].items() if not isinstance(v, int) or isinstance(v, bool)]
        out += [Problem(RUN_FILE, f"counts.{k}", "expected an integer") for k in bad[:3]]
    if isinstance(run.get("stages"), dict):
        for name, st in run["stages"].items():
            if not isinstance(st, dict) or not all(
                isinstance(st.get(k, 0), (int, float)) for k in ("seconds", "peak_rss_mb")
            ):
                out.append(Problem(RUN_FILE, f"stages.{name}", "expected an object of numbers (seconds, peak_rss_mb)"))
                break
    return out


def load_results(path: str | Path) -> Results:
    """Load a results directory; a missing file or column is a `ContractError` naming it."""
    d = Path(path)
    if not d.is_dir():
        raise InputError(f"results directory '{d}' does not exist (run 'farmhunt detect WORLD --out {d}' first)")
    problems: list[Problem] = []
    tables: dict[str, pl.DataFrame] = {}
    for name, spec in _FILES.items():
        f = d / f"{name}.parquet"
        if not f.exists() and not spec.required:
            continue
        if not f.exists():
            problems.append(Problem(f.name, None, "missing file"))
            continue
        if not f.is_file():
            problems.append(Problem(f.name, None, "is not a regular file (a directory?)"))
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
    for name, schema in _OPTIONAL.items():
        f = d / f"{name}.parquet"
        if not f.exists():
            continue
        try:
            df = pl.read_parquet(f)
        except Exception as exc:
            problems.append(Problem(f.name, None, f"cannot be read: {exc}".splitlines()[0]))
            continue
        for col, dtype in schema.items():
            if df.schema.get(col) != dtype:
                problems.append(Problem(f.name, col, f"missing or wrong dtype (expected {dtype})"))
        tables[name] = df
    run: dict[str, Any] = {}
    rf = d / RUN_FILE
    if not rf.exists():
        problems.append(Problem(RUN_FILE, None, "missing file"))
    elif not rf.is_file():
        problems.append(Problem(RUN_FILE, None, "is not a regular file (a directory?)"))
    else:
        try:
            run = json.loads(rf.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(Problem(RUN_FILE, None, f"not valid JSON: {exc}"))
        except OSError as exc:
            problems.append(Problem(RUN_FILE, None, f"cannot be read: {exc.strerror}"))
        else:
            problems += run_shape_problems(run)
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
