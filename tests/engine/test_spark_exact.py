"""Exactness: the Spark engine writes the polars engine's tables byte for byte; the polars engine
gives the same baselines and scores however its tables are chunked; the numpy graph path clusters as
the tuple path did. The Spark tests use the session's local[2] SparkSession (tests/engine/conftest.py).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import igraph as ig
import numpy as np
import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.world import load_world
from farmhunt.core.errors import ConfigError
from farmhunt.engine.communities import graph_metrics, leiden
from farmhunt.engine.pipeline import detect_path
from farmhunt.engine.registry import get_engine
from farmhunt.engine.scoring.model import (
    account_risk,
    baselines,
    cluster_aggregates,
    ordered_sum,
    score_clusters,
)
from farmhunt.engine.settings import CommunitySettings, DetectSettings, ScoringSettings
from tests.engine.conftest import require_spark
from tests.paths import TINY

TABLES = ("accounts", "clusters", "evidence", "edges")


# --- the polars engine is bit-stable: chunking does not change baselines or scores -----------------


@contextmanager
def _busy_polars() -> Iterator[None]:
    """Another polars job running in the process meanwhile (as in a full test session): it perturbs the
    thread pool's timing, which is what made `pl.sum_horizontal`'s float sums differ from call to call."""
    stop = threading.Event()
    rng = np.random.default_rng(0)
    work = pl.DataFrame({"a": rng.integers(0, 1_000, 500_000), "b": rng.random(500_000)})

    def run() -> None:
        while not stop.is_set():
            work.group_by("a").agg(pl.col("b").sum()).sort("a")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _chunked(df: pl.DataFrame, n: int) -> pl.DataFrame:
    step = max(1, df.height // n)
    out = pl.concat([df.slice(i, step) for i in range(0, df.height, step)], rechunk=False)
    assert n == 1 or out.n_chunks() > 1
    return out


def test_float_means_of_chunked_columns_differ_in_the_last_bit() -> None:
    """Why the fix is needed: polars sums a float column chunk by chunk."""
    x = pl.Series("x", np.random.default_rng(3).random(1_000_000)).round(9)
    naive = {_chunked(x.to_frame(), n)["x"].mean() for n in (1, 7, 53, 211)} | {x.mean()}
    assert len(naive) > 1, "chunked float means agreed: the test data no longer shows the problem"


@pytest.mark.parametrize("n_chunks", [53, 997])
def test_baselines_and_scores_do_not_depend_on_chunking(polars_runs: dict[str, Path], n_chunks: int) -> None:
    from farmhunt.engine.results import load_results

    res = load_results(polars_runs["demo"])
    world = load_world(res.run["world"]["path"])
    derived = ("cluster_id", "risk", "flagged", "predicted_kind", "anomaly", "account_risk", "peripheral")
    feats = res.accounts.drop(derived, strict=False)
    membership = res.accounts.filter(pl.col("cluster_id").is_not_null()).select("account_id", "cluster_id")
    orgs = world["accounts"].select("account_id", "org_id").collect()
    one = feats.rechunk()
    many = _chunked(one, n_chunks)
    shuffled = one.sample(fraction=1.0, shuffle=True, seed=11)
    s = ScoringSettings()
    base = baselines(one)
    assert baselines(many) == base
    assert baselines(shuffled) == base
    agg = cluster_aggregates(one, membership, res.edges, orgs)
    for other in (many, shuffled):
        assert cluster_aggregates(other, membership, res.edges, orgs).equals(agg)
    clusters, evidence = score_clusters(agg, base, s)
    c2, e2 = score_clusters(cluster_aggregates(many, membership, res.edges, orgs), baselines(many), s)
    assert c2.equals(clusters) and e2.equals(evidence)


def test_ordered_sum_adds_left_to_right_whatever_the_chunking() -> None:
    """The root of the account_risk bug: `pl.sum_horizontal` reduces float columns in its thread pool's
    order (on this machine, with another polars job running, 33 of 100 calls on a 997-chunk copy of the
    demo features gave 4 accounts another risk). `ordered_sum` adds left to right: numpy's bits, every time."""
    rng = np.random.default_rng(5)
    x = rng.random((4_456, 30)) * 10.0 ** rng.integers(-3, 3, 30)
    x[::7, 3] = np.nan  # nulls count as 0, as in pl.sum_horizontal
    frame = pl.DataFrame({f"c{i}": x[:, i] for i in range(30)}).fill_nan(None)
    want = np.zeros(len(x))
    for i in range(30):
        want = want + np.nan_to_num(x[:, i]) * 0.7
    terms = [pl.col(f"c{i}") * 0.7 for i in range(30)]
    with _busy_polars():
        for n in (1, 53, 997):
            chunked = _chunked(frame, n)
            for _ in range(20):
                got = chunked.select(ordered_sum(terms).alias("s"))["s"].to_numpy()
                assert np.array_equal(got, want)


@pytest.mark.parametrize("n_chunks", [53, 997])
def test_account_risk_does_not_depend_on_chunking(polars_runs: dict[str, Path], n_chunks: int) -> None:
    from farmhunt.engine.results import load_results

    res = load_results(polars_runs["demo"])
    derived = ("cluster_id", "risk", "flagged", "predicted_kind", "anomaly", "account_risk", "peripheral")
    one = res.accounts.drop(derived, strict=False).rechunk()
    many = _chunked(one, n_chunks)
    s = ScoringSettings()
    want = account_risk(one, baselines(one), s)
    assert account_risk(many, baselines(many), s).equals(want)
    # The failure was intermittent (thread timing: 33 of 100 calls with pl.sum_horizontal while another
    # polars job ran): repeat the cheap part (the anomaly term given) with such a job running.
    base, anomaly = baselines(many), want["anomaly"].to_numpy()
    with _busy_polars():
        for _ in range(30):
            assert account_risk(many, base, s, anomaly=anomaly).equals(want)


# --- the numpy graph path: the same clusters as the tuple path ------------------------------------


def _leiden_tuples(edges: pl.DataFrame, settings: CommunitySettings) -> list[int]:
    """The previous implementation's graph (Python tuples and a weight list): its Leiden membership."""
    nodes = pl.concat([edges["src"], edges["dst"]]).unique().sort()
    coded = edges.select(
        nodes.search_sorted(edges["src"]).alias("s"), nodes.search_sorted(edges["dst"]).alias("d"), "weight"
    ).sort("s", "d")
    graph = ig.Graph(n=nodes.len(), edges=list(zip(coded["s"].to_list(), coded["d"].to_list())))
    ig.set_random_number_generator(random.Random(settings.seed))
    try:
        part = graph.community_leiden(
            objective_function=settings.objective,
            weights=coded["weight"].to_list(),
            resolution=settings.resolution,
            n_iterations=settings.n_iterations,
        )
    finally:
        ig.set_random_number_generator(random)
    return part.membership


def _metrics_joins(membership: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """The previous graph_metrics (string joins, float sums rounded)."""
    m = membership.select("account_id", "cluster_id")
    internal = (
        edges.join(m.rename({"account_id": "src"}), on="src")
        .join(m.rename({"account_id": "dst", "cluster_id": "cid_d"}), on="dst")
        .filter(pl.col("cluster_id") == pl.col("cid_d"))
    )
    sizes = m.group_by("cluster_id").agg(pl.len().alias("n"))
    ends = pl.concat(
        [
            internal.select("cluster_id", pl.col("src").alias("a"), "weight"),
            internal.select("cluster_id", pl.col("dst").alias("a"), "weight"),
        ]
    )
    hubs = (
        ends.group_by("cluster_id", "a")
        .agg(pl.col("weight").sum().alias("s"))
        .group_by("cluster_id")
        .agg((pl.col("s").max() / pl.col("s").sum()).round(9).alias("hub_share"))
    )
    return (
        internal.group_by("cluster_id")
        .agg(pl.len().alias("internal_edges"), pl.col("weight").sum().round(9).alias("internal_weight"))
        .join(sizes, on="cluster_id", how="right")
        .with_columns(pl.col("internal_edges").fill_null(0), pl.col("internal_weight").fill_null(0.0))
        .with_columns((pl.col("internal_edges") / (pl.col("n") * (pl.col("n") - 1) / 2).clip(1)).alias("density"))
        .join(hubs, on="cluster_id", how="left")
        .select("cluster_id", "internal_edges", "internal_weight", "density", "hub_share")
    )


@pytest.mark.parametrize("which", ["tiny", "demo"])
def test_graph_from_numpy_clusters_as_the_tuple_graph(which: str, polars_runs: dict[str, Path]) -> None:
    edges = pl.read_parquet(polars_runs[which] / "edges.parquet")
    settings = DetectSettings().communities
    assert edges.height > 100
    membership = leiden(edges.select("src", "dst", "weight"), settings)
    nodes = pl.concat([edges["src"], edges["dst"]]).unique().sort()
    old = pl.DataFrame({"account_id": nodes, "community": _leiden_tuples(edges, settings)})
    # Same partition of the accounts (clusters of min_size or more carry a stable id of their members).
    new_groups = membership.group_by("cluster_id").agg(pl.col("account_id").sort()).get_column("account_id")
    old_groups = (
        old.group_by("community")
        .agg(pl.col("account_id").sort())
        .filter(pl.col("account_id").list.len() >= settings.min_size)
        .get_column("account_id")
    )
    assert sorted(new_groups.to_list()) == sorted(old_groups.to_list())
    assert membership.height > 10
    got = graph_metrics(membership, edges).sort("cluster_id")
    want = _metrics_joins(membership, edges).sort("cluster_id")
    assert got.equals(want)


# --- the Spark engine: byte-identical tables -----------------------------------------------------


@pytest.fixture(scope="module")
def spark_engine(spark_session):  # noqa: ANN001 - the conftest's SparkSession (or None)
    require_spark()
    return get_engine("spark")


def test_spark_writes_the_polars_tables_byte_for_byte_on_a_demo_world(
    spark_engine, polars_runs: dict[str, Path], demo_world: Path, tmp_path: Path
) -> None:
    res = detect_path(demo_world, tmp_path / "spark", engine=spark_engine)
    assert res.run["engine"] == "spark"
    assert res.accounts["flagged"].sum() > 0 and res.edges.height > 1000
    for table in TABLES:
        got = (tmp_path / "spark" / f"{table}.parquet").read_bytes()
        want = (polars_runs["demo"] / f"{table}.parquet").read_bytes()
        assert got == want, f"{table}.parquet differs between --engine spark and --engine polars on the demo world"


def test_spark_refuses_executors_with_another_polars(spark_engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import farmhunt.engine.spark as spark_mod

    monkeypatch.setattr(spark_mod, "_CHECKED", {})
    monkeypatch.setattr(spark_mod.pl, "__version__", "0.0.1")
    with pytest.raises(ConfigError, match=r"executors run polars .* but the driver runs polars 0\.0\.1"):
        spark_mod.check_versions(spark_engine.spark)


def test_cli_detect_on_spark_writes_the_polars_tables_byte_for_byte_on_tiny(
    spark_engine, polars_runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cli"
    argv = ["detect", str(TINY), "--out", str(out), "-q", "--engine", "spark", "--spark-master", "local[2]"]
    assert main([*argv, "--spark-conf", "spark.sql.shuffle.partitions=2"]) == 0
    assert json.loads((out / "run.json").read_text())["engine"] == "spark"
    for table in TABLES:
        got, want = (out / f"{table}.parquet").read_bytes(), (polars_runs["tiny"] / f"{table}.parquet").read_bytes()
        assert got == want, f"{table}.parquet differs between --engine spark and --engine polars on tiny"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--engine", "spark", "--spark-conf", "spark.executor.memory"], "expected KEY=VALUE"),
        (["--spark-master", "local[2]"], "need '--engine spark'"),
    ],
)
def test_cli_spark_options_are_checked_before_any_work(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert main(["detect", str(TINY), "--out", str(out), "-q", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_bench_runs_both_engines_and_keeps_identical_results(
    spark_engine, polars_runs: dict[str, Path], tmp_path: Path
) -> None:
    # `bench --engine spark --keep K`: one run, both engines in child processes; its byte-identity verdict
    # agrees with comparing the kept files, and the kept polars run equals an earlier in-process one.
    keep, out = tmp_path / "kept", tmp_path / "bench"
    argv = ["bench", "--world", str(TINY), "--engine", "spark", "--spark-master", "local[2]", "--out", str(out)]
    assert main([*argv, "--keep", str(keep), "--spark-conf", "spark.sql.shuffle.partitions=2"]) == 0
    (doc_path,) = out.glob("bench-*.json")
    doc = json.loads(doc_path.read_text())
    assert doc["byte_identical"] == {t: True for t in TABLES}
    assert set(doc["engines"]) == {"polars", "spark"}
    for t in TABLES:
        kept = (keep / "polars" / f"{t}.parquet").read_bytes()
        assert kept == (keep / "spark" / f"{t}.parquet").read_bytes()
        assert kept == (polars_runs["tiny"] / f"{t}.parquet").read_bytes(), t
    assert doc["engines"]["spark"]["edges"] == doc["engines"]["polars"]["edges"] > 0
    # a non-empty --keep is refused before any work
    assert main([*argv, "--keep", str(keep)]) == 2
    assert len(list(out.glob("bench-*.json"))) == 1
