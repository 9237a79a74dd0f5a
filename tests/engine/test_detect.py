"""End-to-end detection on the committed `tiny` fixture world: rings found, hard negatives spared,
deterministic, never reading labels, and bad input rejected with nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.contract import FRAUD_KINDS, HARD_NEGATIVE_KINDS
from farmhunt.core.world import load_labels
from farmhunt.engine.pipeline import detect_path
from farmhunt.engine.results import load_results

from tests.paths import TINY as FIXTURE


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    return detect_path(FIXTURE, tmp_path_factory.mktemp("res") / "out")


@pytest.fixture(scope="module")
def joined(results) -> pl.DataFrame:
    return results.accounts.join(load_labels(FIXTURE), on="account_id", how="left")


def test_results_directory_follows_the_contract(results) -> None:
    loaded = load_results(results.path)
    assert loaded.accounts.height == pl.scan_parquet(FIXTURE / "accounts.parquet").select(pl.len()).collect().item()
    assert loaded.accounts["risk"].is_between(0.0, 1.0).all()
    assert loaded.clusters["risk"].is_between(0.0, 1.0).all()
    assert loaded.run["world"]["path"] == str(FIXTURE.resolve())
    assert loaded.run["largest_cluster_size"] == loaded.clusters["size"].max()
    assert set(loaded.run["stages"]) >= {"load", "features", "linkage", "communities", "scoring"}
    flagged = loaded.clusters.filter("flagged")
    assert flagged.height > 0
    # every flagged cluster is explained: evidence rows ranked 1.. with text
    ev = loaded.evidence.filter(pl.col("cluster_id").is_in(flagged["cluster_id"].implode()))
    assert ev.group_by("cluster_id").agg(pl.col("rank").min())["rank"].to_list() == [1] * flagged.height
    assert ev["text"].str.len_chars().min() > 10


def test_every_large_fraud_ring_is_caught(joined: pl.DataFrame) -> None:
    rings = (joined.filter(pl.col("is_fraud"), pl.col("ring_kind").is_in(list(FRAUD_KINDS)))
             .group_by("ring_id", "ring_kind").agg(pl.len().alias("size"), pl.col("flagged").mean().alias("coverage")))
    large = rings.filter(pl.col("size") >= 20)
    assert large.height >= 2
    missed = large.filter(pl.col("coverage") < 0.9)
    assert missed.is_empty(), f"rings with < 90% of members flagged:\n{missed}"


def test_account_level_precision_and_recall(joined: pl.DataFrame) -> None:
    tp = joined.filter(pl.col("flagged") & pl.col("is_fraud")).height
    fp = joined.filter(pl.col("flagged") & ~pl.col("is_fraud")).height
    fn = joined.filter(~pl.col("flagged") & pl.col("is_fraud")).height
    assert tp / (tp + fn) >= 0.9
    assert tp / (tp + fp) >= 0.9


def test_hard_negatives_are_not_flagged(joined: pl.DataFrame) -> None:
    hn = joined.filter(pl.col("ring_kind").is_in(list(HARD_NEGATIVE_KINDS)))
    assert hn.height > 100
    rate = hn["flagged"].mean()
    assert rate < 0.02, hn.group_by("ring_kind").agg(pl.col("flagged").mean())


def test_benign_lookalikes_are_explained_down(results, joined: pl.DataFrame) -> None:
    teams = joined.filter(pl.col("ring_kind") == "enterprise_team").drop_nulls("cluster_id")
    assert teams.height > 0
    cid = teams.group_by("cluster_id").len().sort("len", descending=True)["cluster_id"][0]
    ev = results.evidence.filter(pl.col("cluster_id") == cid)
    assert (ev["contribution"] < 0).any()
    assert ev.filter(pl.col("contribution") < 0)["signal"].is_in(
        ["declared_organisation", "office_hours", "diurnal_rhythm", "education_network"]).any()


def test_same_input_same_clusters(results, tmp_path: Path) -> None:
    again = detect_path(FIXTURE, None)
    cols = ["account_id", "cluster_id", "risk", "flagged", "predicted_kind"]
    assert again.accounts.select(cols).equals(results.accounts.select(cols))
    assert again.edges.equals(results.edges)


def test_detection_never_reads_labels(results, tmp_path: Path) -> None:
    world = tmp_path / "w"
    shutil.copytree(FIXTURE, world)
    (world / "labels.parquet").unlink()
    out = detect_path(world, None)
    assert out.accounts.select("account_id", "cluster_id", "flagged").equals(
        results.accounts.select("account_id", "cluster_id", "flagged"))


def test_previous_run_keeps_cluster_ids(results, tmp_path: Path) -> None:
    again = detect_path(FIXTURE, tmp_path / "r2", previous=results.path)
    assert set(again.clusters["cluster_id"]) == set(results.clusters["cluster_id"])
    assert again.run["previous"] == str(results.path)


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    world = tmp_path / "w"
    shutil.copytree(FIXTURE, world)
    req = pl.read_parquet(world / "requests.parquet").drop("model")
    req.write_parquet(world / "requests.parquet")
    (world / "asns.parquet").unlink()
    out = tmp_path / "out"
    assert main(["detect", str(world), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "requests.parquet, column 'model': missing column" in err
    assert "asns.parquet: missing file" in err
    assert not out.exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "d.toml"
    cfg.write_text("[scoring]\nflag_treshold = 0.3\n")
    assert main(["detect", str(FIXTURE), "--out", str(tmp_path / "o"), "--config", str(cfg), "-q"]) == 2
    assert "scoring.flag_treshold" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_json_is_written(results) -> None:
    run = json.loads((results.path / "run.json").read_text())
    assert run["settings"]["communities"]["objective"] == "CPM"
    assert run["stages"]["features"]["peak_rss_mb"] > 0
