"""The detection pipeline: load -> validate -> features -> linkage -> communities -> scoring -> results.

Each stage is a function from tables to tables with its settings passed in (see the stage modules);
this module only runs them in order, times them and assembles the `Results`. The big-table stages
(store, templates, features, linkage) are the engine's (`farmhunt.engine.base.Engine`); communities,
scoring and results are the same for every engine.
"""

from __future__ import annotations

import platform
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa

from farmhunt import __version__
from farmhunt.core.atomic import atomic_dir, temp_dir
from farmhunt.core.contract import REQUESTS
from farmhunt.core.tomlconfig import to_dict
from farmhunt.core.world import World, load_world, manifest_sha256, verify_manifest
from farmhunt.engine.base import Engine
from farmhunt.engine.cases import build_cases
from farmhunt.engine.communities import graph_metrics, leiden, map_to_previous
from farmhunt.engine.registry import DEFAULT_ENGINE, get_engine
from farmhunt.engine.results import STORE_DIR, Results, load_results, write_tables
from farmhunt.engine.scoring.fitted import LoadedModel, ScoringModel
from farmhunt.engine.settings import DetectSettings
from farmhunt.engine.ties import cluster_ties

Progress = Callable[[str, str], None]  # (stage name, "start" | "done")
STAGES = ("store", "templates", "features", "linkage", "communities", "scoring", "results")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Timer:
    """Wall time and peak resident memory after each stage, for run.json and the benchmark."""

    def __init__(self, progress: Progress | None):
        self.stages: dict[str, dict[str, float]] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name, "start")
        t0 = time.perf_counter()
        yield
        self.stages[name] = {"seconds": round(time.perf_counter() - t0, 3), "peak_rss_mb": round(_peak_rss_mb(), 1)}
        if self.progress:
            self.progress(name, "done")


def detect(
    world: World,
    settings: DetectSettings | None = None,
    progress: Progress | None = None,
    previous: Results | None = None,
    store_dir: Path | None = None,
    engine: Engine | str = DEFAULT_ENGINE,
    model: LoadedModel | None = None,
) -> Results:
    """Run every stage on a loaded world and return the results (only the request store is written).

    `previous`: an earlier run's results; clusters overlapping an earlier cluster keep its id.
    `store_dir`: where the request store goes (a new directory; `detect_path` puts it in the results
    so the console can page through requests); by default a temporary directory, removed at the end.
    `engine`: runs the big-table stages (an `Engine` or its registered name); the rest is shared.
    `model`: saved scoring weights (`farmhunt train`, `scoring.fitted.load_model`); default the shipped table.
    """
    with ExitStack() as stack:
        if store_dir is None:
            store_dir = stack.enter_context(temp_dir("farmhunt-")) / STORE_DIR
        eng = get_engine(engine) if isinstance(engine, str) else engine
        return _detect(world, settings or DetectSettings(), progress, previous, store_dir, eng, model)


def _detect(
    world: World,
    s: DetectSettings,
    progress: Progress | None,
    previous: Results | None,
    store_dir: Path,
    engine: Engine,
    model: LoadedModel | None = None,
) -> Results:
    timer = _Timer(progress)
    started = datetime.now(timezone.utc)
    with timer.stage("store"):
        store = engine.build_store(world, store_dir, s.store)
    with timer.stage("templates"):
        template_table = engine.templates(store, s.templates)
    with timer.stage("features"):
        features = _frame(engine.features(world, store, template_table, s.features, s.templates))
    with timer.stage("linkage"):
        linkage = engine.linkage(world, store, template_table, s.templates, s.linkage)
        edges = _frame(linkage.edges)
    with timer.stage("communities"):
        membership = leiden(edges.select("src", "dst", "weight"), s.communities)
        if previous is not None:
            membership = map_to_previous(membership, previous.accounts)
        metrics = graph_metrics(membership, edges)
    with timer.stage("scoring"):
        scoring = ScoringModel(s.scoring, channels=s.cases.channels)
        if model is not None:
            scoring = ScoringModel(s.scoring, model.table, frozen_baselines=model.baselines, channels=s.cases.channels)
        scoring.fit(features)
        orgs = world["accounts"].select("account_id", "org_id").collect()
        aggregates = scoring.aggregate(features, membership, edges, orgs).join(metrics, on="cluster_id", how="left")
        scored = scoring.transform(features, membership, edges, aggregates)
    with timer.stage("results"):
        accounts, clusters = scored.accounts, scored.clusters
        cases, account_case = build_cases(accounts, clusters, scored.evidence, edges, s.cases)
        accounts = accounts.join(account_case, on="account_id", how="left", maintain_order="left").select(
            "account_id",
            "cluster_id",
            "risk",
            "flagged",
            "predicted_kind",
            "case_id",
            pl.exclude("account_id", "cluster_id", "risk", "flagged", "predicted_kind", "case_id"),
        )
        ties = cluster_ties(_frame(linkage.shared), membership, account_case, store)
    largest = int(clusters.select(pl.col("size").max()).item() or 0) if clusters.height else 0
    run = {
        "farmhunt_version": __version__,
        "started_at": started.isoformat(),
        "world": {"path": _world_source(world), "manifest_sha256": manifest_sha256(world.path)},
        "engine": engine.name,
        "settings": to_dict(s),
        "versions": _versions(),
        "stages": timer.stages,
        "counts": {
            "accounts": accounts.height,
            "requests": store.n_rows,
            "edges": edges.height,
            "clusters": clusters.height,
            "flagged_clusters": int(clusters["flagged"].sum()) if clusters.height else 0,
            "flagged_accounts": int(accounts["flagged"].sum()),
            "templates": template_table.num_rows,
            "cases": cases.height,
        },
        "largest_cluster_size": largest,
        "baselines": scoring.baselines_,
        "model": model.provenance if model is not None else {"weights": "shipped signals.toml"},
        "previous": str(previous.path) if previous is not None and previous.path else None,
    }
    return Results(
        accounts=accounts,
        clusters=clusters,
        evidence=scored.evidence,
        edges=edges.select("src", "dst", "weight", "reasons"),
        cases=cases,
        ties=ties,
        run=run,
        account_evidence=scored.account_evidence,
    )


def _world_source(world: World) -> str:
    """Where the world was read from: its directory, or the URL of a world read through Spark."""
    return str(getattr(world, "url", "") or world.path.resolve())


def _frame(table: pa.Table) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


def _versions() -> dict[str, str]:
    import igraph
    import networkx
    import sklearn

    return {
        "python": platform.python_version(),
        "polars": pl.__version__,
        "igraph": igraph.__version__,
        "networkx": networkx.__version__,
        "scikit-learn": sklearn.__version__,
    }


def detect_path(
    world: str | Path | World,
    out: str | Path | None = None,
    settings: DetectSettings | None = None,
    progress: Progress | None = None,
    previous: str | Path | None = None,
    engine: Engine | str = DEFAULT_ENGINE,
    model: LoadedModel | None = None,
    *,
    verify: bool = True,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> Results:
    """Load and validate `world`, detect, and (if `out`) write the results directory atomically.

    `world`: a world directory, or a `World` its engine has loaded and validated already (a world
    read through Spark from a URL, `farmhunt.engine.spark.world`).

    The request table's own checks (nulls, unknown ids) run while the request store encodes it.
    `verify`: check the tables against the SHA-256s in the world's manifest.json, if it has one.
    `out` follows the output rule of `farmhunt.core.atomic` (`force` replaces a foreign directory);
    `inputs` are paths it must not overwrite besides `world` and `previous`.
    """
    timer = _Timer(progress)
    with timer.stage("load"):
        w = world if isinstance(world, World) else load_world(world, defer=(REQUESTS.name,))
        if verify:
            verify_manifest(w)
    prev = load_results(previous) if previous is not None else None

    def run(store_dir: Path | None) -> Results:
        results = detect(w, settings, progress, prev, store_dir, engine, model)
        results.run["stages"] = {**timer.stages, **results.run["stages"]}
        return results

    if out is None:
        return run(None)
    with atomic_dir(
        out, kind="results", inputs=(None if isinstance(world, World) else world, previous, *inputs), force=force
    ) as tmp:
        results = run(tmp / STORE_DIR)
        write_tables(results, tmp)
    results.path = Path(out).resolve()
    return results
