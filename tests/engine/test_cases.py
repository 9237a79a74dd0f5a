"""Cases: one ranked queue of flagged clusters and lone flagged accounts, shared by eval and the console."""

from __future__ import annotations

import polars as pl
import pytest

from farmhunt.core.world import load_labels, load_world
from farmhunt.engine.cases import build_cases, short_id
from farmhunt.engine.pipeline import detect
from farmhunt.engine.results import Results
from farmhunt.evaluation.metrics import evaluate_results
from tests.paths import TINY


@pytest.fixture(scope="module")
def results() -> Results:
    return detect(load_world(TINY))


def test_every_flagged_account_is_in_exactly_one_case(results: Results) -> None:
    acc = results.accounts
    assert acc.filter(pl.col("flagged") & pl.col("case_id").is_null()).is_empty()
    flagged_clusters = set(results.clusters.filter(pl.col("flagged"))["cluster_id"].to_list())
    in_flagged = acc.filter(pl.col("cluster_id").is_in(list(flagged_clusters)))
    # every member of a flagged cluster (peripheral ones too) is in that cluster's case
    per_cluster = in_flagged.group_by("cluster_id").agg(pl.col("case_id").n_unique().alias("n"))
    assert per_cluster["n"].max() == 1
    assert results.cases["case_id"].n_unique() == results.cases.height
    assert set(acc["case_id"].drop_nulls().unique().to_list()) == set(results.cases["case_id"].to_list())


def test_cases_are_ranked_by_risk_then_size(results: Results) -> None:
    c = results.cases
    assert c["rank"].to_list() == list(range(1, c.height + 1))
    assert c.equals(c.sort(["risk", "size", "case_id"], descending=[True, True, False]))
    lone = c.filter(pl.col("n_clusters") == 0)
    assert (lone["size"] == 1).all()


def test_eval_case_list_is_detection_case_table(results: Results) -> None:
    ev = evaluate_results(results, load_labels(TINY))
    assert ev.cases["case"].to_list() == results.cases["case_id"].to_list()
    assert ev.cases["size"].to_list() == results.cases["size"].to_list()


def test_case_ids_are_short_stable_and_distinct() -> None:
    a = short_id("c", ["123"])
    assert a == short_id("c", ["123"]) and len(a) == 9 and a.startswith("c")
    assert short_id("c", ["1", "2"]) == short_id("c", ["2", "1"])
    assert short_id("a", ["x"]) != short_id("a", ["y"])


def test_lone_flagged_account_outside_any_cluster_is_its_own_case() -> None:
    accounts = pl.DataFrame(
        {
            "account_id": ["a1", "a2", "a3", "b1"],
            "cluster_id": [1, 1, None, 2],
            "risk": [0.9, 0.2, 0.8, 0.1],
            "flagged": [True, False, True, False],
            "predicted_kind": ["distillation_farm", "unknown", "reseller_pool", "unknown"],
        }
    )
    clusters = pl.DataFrame(
        {
            "cluster_id": [1, 2],
            "size": [2, 1],
            "risk": [0.9, 0.1],
            "predicted_kind": ["distillation_farm", "unknown"],
            "flagged": [True, False],
        }
    )
    evidence = pl.DataFrame({"cluster_id": [1], "rank": [1], "text": ["synchronized"]})
    cases, account_case = build_cases(accounts, clusters, evidence)
    assert cases["size"].to_list() == [2, 1]
    assert cases["kind"].to_list() == ["distillation_farm", "reseller_pool"]
    assert cases["top_reason"].to_list() == ["synchronized", None]
    assert dict(account_case.iter_rows()) == {
        "a1": cases["case_id"][0],
        "a2": cases["case_id"][0],
        "a3": cases["case_id"][1],
    }
