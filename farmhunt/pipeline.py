"""The detection pipeline: load -> validate -> features -> linkage -> communities -> scoring -> results.

Each stage is a function from tables to tables with its settings passed in (see the stage modules);
this module only runs them in order, times them and assembles the `Results`. A second engine (Spark)
implements the same stages behind the same interface.
"""

from __future__ import annotations

import hashlib
import platform
import resource
import time
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from farmhunt import __version__
from farmhunt.atomic import atomic_dir
from farmhunt.communities import graph_metrics, leiden, map_to_previous
from farmhunt.contract import MANIFEST_FILE, REQUESTS, World, load_world
from farmhunt.features import account_features
from farmhunt.linkage import build_edges
from farmhunt.request_store import build_store
from farmhunt.results import STORE_DIR, Results, load_results, write_tables
from farmhunt.scoring import account_risk, baselines, cluster_aggregates, peripheral_members, score_clusters
from farmhunt.settings import DetectSettings, settings_dict
from farmhunt.templates import find_templates

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


def _manifest_hash(world: World) -> str | None:
    path = world.path / MANIFEST_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def detect(world: World, settings: DetectSettings | None = None, progress: Progress | None = None,
           previous: Results | None = None, store_dir: Path | None = None) -> Results:
    """Run every stage on a loaded world and return the results (only the request store is written).

    `previous`: an earlier run's results; clusters overlapping an earlier cluster keep its id.
    `store_dir`: where the request store goes (a new directory; `detect_path` puts it in the results
    so the console can page through requests); by default a temporary directory, removed at the end.
    """
    with ExitStack() as stack:
        if store_dir is None:
            store_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="farmhunt-"))) / STORE_DIR
        return _detect(world, settings or DetectSettings(), progress, previous, store_dir)


def _detect(world: World, s: DetectSettings, progress: Progress | None, previous: Results | None,
            store_dir: Path) -> Results:
    timer = _Timer(progress)
    started = datetime.now(timezone.utc)
    with timer.stage("store"):
        store = build_store(world, store_dir, s.features.store_rows_per_part)
    with timer.stage("templates"):
        templates = find_templates(store.parts, s.features)
    with timer.stage("features"):
        features = account_features(world, store, templates, s.features).collect(engine="streaming")
    with timer.stage("linkage"):
        edges = build_edges(world, store, templates, s.features, s.linkage).collect(engine="streaming")
    with timer.stage("communities"):
        membership = leiden(edges.select("src", "dst", "weight"), s.communities)
        if previous is not None:
            membership = map_to_previous(membership, previous.accounts)
        metrics = graph_metrics(membership, edges)
    with timer.stage("scoring"):
        base = baselines(features)
        orgs = world["accounts"].select("account_id", "org_id").collect()
        aggregates = cluster_aggregates(features, membership, edges, orgs).join(metrics, on="cluster_id", how="left")
        clusters, evidence = score_clusters(aggregates, base, s.scoring)
        lone = account_risk(features, base, s.scoring)
        peripheral = peripheral_members(features, membership, edges, clusters, base, s.scoring)
    with timer.stage("results"):
        accounts = _account_results(features, membership, clusters, lone, peripheral, s)
        clusters = clusters.with_columns(pl.col("size").cast(pl.Int64)).sort(
            ["risk", "cluster_id"], descending=[True, False])
        clusters = clusters.select("cluster_id", "size", "risk", "predicted_kind", "flagged",
                                   pl.exclude("cluster_id", "size", "risk", "predicted_kind", "flagged"))
    largest = int(clusters["size"].max() or 0) if clusters.height else 0
    run = {
        "farmhunt_version": __version__,
        "started_at": started.isoformat(),
        "world": {"path": str(world.path.resolve()), "manifest_sha256": _manifest_hash(world)},
        "settings": settings_dict(s),
        "versions": _versions(),
        "stages": timer.stages,
        "counts": {
            "accounts": accounts.height, "requests": store.n_rows, "edges": edges.height, "clusters": clusters.height,
            "flagged_clusters": int(clusters["flagged"].sum()) if clusters.height else 0,
            "flagged_accounts": int(accounts["flagged"].sum()), "templates": templates.height,
        },
        "largest_cluster_size": largest,
        "baselines": base,
        "previous": str(previous.path) if previous is not None and previous.path else None,
    }
    return Results(accounts=accounts, clusters=clusters, evidence=evidence,
                   edges=edges.select("src", "dst", "weight", "reasons"), run=run)


def _account_results(features: pl.DataFrame, membership: pl.DataFrame, clusters: pl.DataFrame,
                     lone: pl.DataFrame, peripheral: pl.DataFrame, s: DetectSettings) -> pl.DataFrame:
    """accounts.parquet: cluster, risk, flag and kind per account, then its features.

    A peripheral member of a flagged cluster (`scoring.peripheral_members`) is judged alone.
    """
    c = clusters.select("cluster_id", pl.col("risk").alias("cluster_risk"), pl.col("flagged").alias("cluster_flagged"),
                        pl.col("predicted_kind").alias("cluster_kind"))
    lone_kind = (pl.when(pl.col("decline_rate") >= 0.5).then(pl.lit("card_testing"))
                 .otherwise(pl.lit("reseller_pool")))
    out = (features.join(membership, on="account_id", how="left").join(c, on="cluster_id", how="left")
           .join(lone, on="account_id", how="left").join(peripheral, on="account_id", how="left")
           .with_columns(pl.col("peripheral").fill_null(False))
           .with_columns((pl.col("cluster_flagged").fill_null(False) & ~pl.col("peripheral")).alias("cluster_flagged"),
                         pl.when(pl.col("peripheral")).then(None).otherwise(pl.col("cluster_risk")).alias("cluster_risk"),
                         (pl.col("account_risk") >= s.scoring.account_flag_threshold).alias("lone_flag")))
    out = out.with_columns(
        pl.max_horizontal(pl.col("cluster_risk").fill_null(0.0), "account_risk").alias("risk"),
        (pl.col("cluster_flagged") | pl.col("lone_flag")).alias("flagged"),
        pl.when(pl.col("cluster_flagged")).then(pl.col("cluster_kind"))
        .when(pl.col("lone_flag")).then(lone_kind)
        .when(pl.col("peripheral")).then(pl.lit("unknown"))
        .otherwise(pl.col("cluster_kind").fill_null("unknown")).alias("predicted_kind"),
    )
    return out.select("account_id", pl.col("cluster_id").cast(pl.Int64), "risk", "flagged", "predicted_kind",
                      pl.exclude("account_id", "cluster_id", "risk", "flagged", "predicted_kind", "cluster_risk",
                                 "cluster_flagged", "cluster_kind", "lone_flag", "peripheral")).sort("account_id")


def _versions() -> dict[str, str]:
    import igraph
    import networkx
    import sklearn

    return {"python": platform.python_version(), "polars": pl.__version__, "igraph": igraph.__version__,
            "networkx": networkx.__version__, "scikit-learn": sklearn.__version__}


def detect_path(world: str | Path, out: str | Path | None = None, settings: DetectSettings | None = None,
                progress: Progress | None = None, previous: str | Path | None = None) -> Results:
    """Load and validate `world`, detect, and (if `out`) write the results directory atomically.

    The request table's own checks (nulls, unknown ids) run while the request store encodes it.
    """
    timer = _Timer(progress)
    with timer.stage("load"):
        w = load_world(world, defer=(REQUESTS.name,))
    prev = load_results(previous) if previous is not None else None

    def run(store_dir: Path | None) -> Results:
        results = detect(w, settings, progress, prev, store_dir)
        results.run["stages"] = {**timer.stages, **results.run["stages"]}
        return results

    if out is None:
        return run(None)
    with atomic_dir(out) as tmp:
        results = run(tmp / STORE_DIR)
        write_tables(results, tmp)
    results.path = Path(out).resolve()
    return results
