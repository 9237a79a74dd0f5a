"""Benign coordination is not flagged, the farm beside it is: a synth world with a CI fleet (one corporate
card, nightly synchronized templated jobs from one cloud range, no org workspace), research labs running
capability evaluations (output-heavy, synchronized, templated) and a distillation farm."""

from __future__ import annotations

import polars as pl
import pytest

from farmhunt.engine.pipeline import detect_path
from synth.config import config_from_dict
from synth.generate import generate

CONFIG = {
    "seed": 29,
    "days": 14,
    "benign": {"accounts": 1500},
    "rings": [
        {"kind": "ci_fleet", "size": 14, "params": {"window_start": 1.0, "window_hours": 3.0, "slots": 12}},
        {"kind": "ci_fleet", "size": 8, "params": {"window_start": 3.0, "window_hours": 2.0, "hosting_ips": 2}},
        # the hardest lab: batches in one nightly window from a company network (no education ASN)
        {"kind": "research_lab", "size": 12, "params": {"window": "night", "network": "business", "runner_frac": 0.7}},
        {"kind": "research_lab", "size": 10, "params": {"window": "office", "network": "education"}},
        {"kind": "distillation_farm", "size": 60, "camouflage": 0.2},
    ],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = tmp_path_factory.mktemp("cohorts")
    generate(config_from_dict(CONFIG), out / "w")
    res = detect_path(out / "w", out / "r")
    labels = pl.read_parquet(out / "w" / "labels.parquet")
    return res.accounts.select("account_id", "flagged", "cluster_id").join(labels, on="account_id"), res.evidence


@pytest.fixture(scope="module")
def flagged(results: tuple[pl.DataFrame, pl.DataFrame]) -> pl.DataFrame:
    return results[0]


def _rate(flagged: pl.DataFrame, kind: str) -> float:
    return float(flagged.filter(pl.col("ring_kind") == kind)["flagged"].mean())  # type: ignore[arg-type]


def test_ci_fleets_and_research_labs_are_not_flagged(flagged: pl.DataFrame) -> None:
    assert _rate(flagged, "ci_fleet") == 0.0
    assert _rate(flagged, "research_lab") == 0.0


def test_the_farm_beside_them_is(flagged: pl.DataFrame) -> None:
    assert _rate(flagged, "distillation_farm") >= 0.95


def test_fleets_and_labs_are_clustered_and_explained_by_their_payer(results) -> None:
    # They are found as coordinated groups (clusters), and the evidence says why they are not farms.
    accounts, evidence = results
    for kind in ("ci_fleet", "research_lab"):
        members = accounts.filter(pl.col("ring_kind") == kind)
        assert members["cluster_id"].null_count() <= 0.2 * members.height, kind
        main = members["cluster_id"].drop_nulls().mode().sort()[0]
        ev = evidence.filter(pl.col("cluster_id") == main)
        payer = ev.filter(pl.col("signal") == "established_payer")
        assert payer.height == 1 and payer["contribution"][0] < -2.0, (kind, ev.select("signal", "contribution"))
        assert "clean card" in payer["text"][0]
