"""Evaluation metrics against hand-computed values on a tiny hand-made results/labels pair, and the
`farmhunt eval` exit codes (0 thresholds hold, 1 a threshold fails, 2 bad input).

The pair (20 accounts):
  R1 distillation_farm a01-a06 (fraud): split across cluster 1 (a01-a04, risk .9) and cluster 2 (a05-a06, .6)
  R2 reseller_pool     a07-a09 (fraud): a07, a08 in cluster 3 (risk .8) *mixed* with benign a14, a15;
                                        a09 alone, not flagged (risk .3)
  E1 enterprise_team   a10-a13: cluster 4 (not flagged, .2); a10 flagged on its own account risk (.75)
  benign               a14-a20: a14, a15 in cluster 3; a16-a20 alone (risk .1)
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.errors import InputError
from farmhunt.evaluation.metrics import EvalSettings, align, evaluate, precision_at_share
from farmhunt.evaluation.thresholds import Thresholds, check_thresholds
from farmhunt.engine.results import Results, write_results

IDS = [f"a{i:02d}" for i in range(1, 21)]



def hand_labels() -> pl.DataFrame:
    return pl.DataFrame({
        "account_id": IDS,
        "ring_id": ["R1"] * 6 + ["R2"] * 3 + ["E1"] * 4 + [None] * 7,
        "ring_kind": ["distillation_farm"] * 6 + ["reseller_pool"] * 3 + ["enterprise_team"] * 4 + ["benign"] * 7,
        "is_fraud": [True] * 9 + [False] * 11,
    })


def hand_accounts() -> pl.DataFrame:
    return pl.DataFrame({
        "account_id": IDS,
        "cluster_id": [1, 1, 1, 1, 2, 2, 3, 3, None, 4, 4, 4, 4, 3, 3, None, None, None, None, None],
        "risk": [0.9] * 4 + [0.6] * 2 + [0.8] * 2 + [0.3] + [0.75] + [0.2] * 3 + [0.8] * 2 + [0.1] * 5,
        "flagged": [True] * 8 + [False] + [True] + [False] * 3 + [True] * 2 + [False] * 5,
        "predicted_kind": ["distillation_farm"] * 20,
        "n_requests": list(range(20)),
    }, schema_overrides={"cluster_id": pl.Int64})


def hand_clusters() -> pl.DataFrame:
    return pl.DataFrame({"cluster_id": [1, 2, 3, 4], "size": [4, 2, 4, 4], "risk": [0.9, 0.6, 0.8, 0.2],
                         "predicted_kind": ["distillation_farm"] * 4, "flagged": [True, True, True, False]})


@pytest.fixture()
def ev():
    return evaluate(hand_accounts(), hand_labels(), hand_clusters())


def test_account_level(ev) -> None:
    a = ev.account
    assert (a["tp"], a["fp"], a["fn"], a["tn"]) == (8, 3, 1, 8)
    assert a["precision"] == pytest.approx(8 / 11)
    assert a["recall"] == pytest.approx(8 / 9)
    assert a["f1"] == pytest.approx(0.8)
    # AP = sum (R_n - R_n-1) P_n over thresholds .9, .8, .75, .6, .3: 4/9*1 + 2/9*6/8 + 0 + 2/9*8/11 + 1/9*9/12
    assert a["average_precision"] == pytest.approx(339 / 396)
    assert a["recall_per_kind"] == pytest.approx({"distillation_farm": 1.0, "reseller_pool": 2 / 3})
    assert a["precision_at_top_1pct"] == 1.0  # k = ceil(0.2) = 1: the .9 group is all fraud


def test_precision_at_share_counts_ties_fractionally() -> None:
    joined = align(hand_accounts(), hand_labels())
    # top 25% = 5 accounts: the four .9 (all fraud) + 1 of the four .8 (2 fraud) -> (4 + 0.5) / 5
    assert precision_at_share(joined, 0.25) == pytest.approx(0.9)
    # shuffled rows give the same figure
    assert precision_at_share(joined.sample(fraction=1.0, shuffle=True, seed=3), 0.25) == pytest.approx(0.9)


def test_ring_split_across_two_clusters_and_mixed_cluster(ev) -> None:
    rings = {r["ring_id"]: r for r in ev.rings.iter_rows(named=True)}
    r1 = rings["R1"]  # split: all flagged, best cluster holds 4 of 6, pure
    assert (r1["size"], r1["flagged"], r1["best_cluster"], r1["overlap"], r1["cluster_size"]) == (6, 6, 1, 4, 4)
    assert r1["coverage"] == 1.0 and r1["purity"] == 1.0 and r1["detected"]
    r2 = rings["R2"]  # mixed with benign: half of its best cluster is benign
    assert (r2["size"], r2["flagged"], r2["best_cluster"], r2["overlap"], r2["cluster_size"]) == (3, 2, 3, 2, 4)
    assert r2["coverage"] == pytest.approx(2 / 3) and r2["purity"] == 0.5 and not r2["detected"]
    assert rings["E1"]["is_fraud"] is False and rings["E1"]["coverage"] == 0.25
    s = ev.rings_summary
    assert (s["rings"], s["detected"], s["detected_share"]) == (2, 1, 0.5)
    assert [m["ring_id"] for m in s["missed"]] == ["R2"]
    kinds = {r["ring_kind"]: (r["detected"], r["rings"]) for r in ev.ring_kinds.iter_rows(named=True)}
    assert kinds == {"distillation_farm": (1, 1), "reseller_pool": (0, 1)}
    # rings smaller than ring_min_size do not count
    big = evaluate(hand_accounts(), hand_labels(), hand_clusters(), EvalSettings(ring_min_size=4))
    assert (big.rings_summary["counted"], big.rings_summary["detected_share"]) == (1, 1.0)


def test_hard_negatives(ev) -> None:
    hn = ev.hard_negatives
    assert hn["per_kind"] == {"enterprise_team": {"accounts": 4, "flagged": 1, "rate": 0.25}}
    assert hn["hard_negatives"]["rate"] == 0.25
    assert hn["benign"]["rate"] == pytest.approx(2 / 7)
    assert hn["non_fraud"]["rate"] == pytest.approx(3 / 11)


def test_case_queue(ev) -> None:
    assert ev.cases["case"].to_list() == ["cluster:1", "cluster:3", "account:a10", "cluster:2"]
    assert ev.cases["true_case"].to_list() == [True, True, False, True]  # cluster 3 is exactly half fraud
    assert ev.cases["main_kind"].to_list()[:2] == ["distillation_farm", "reseller_pool"]
    q = ev.case_queue
    assert (q["cases"], q["true_cases"], q["precision"]) == (4, 3, 0.75)
    assert q["precision_at_k"]["1"] == 1.0 and q["precision_at_k"]["5"] is None
    assert (q["accounts_in_cases"], q["fraud_in_cases"]) == (11, 8)
    assert q["review_cost"] == pytest.approx(11 / 8)


def test_clustering_agreement(ev) -> None:
    # rings R1 x6, R2 x3 vs clusters {1:4, 2:2} and {3:2, solo:1}: index 8, expected 18*8/36 = 4, max 13
    assert ev.agreement["ari"] == pytest.approx(4 / 9)
    h = lambda ps: -sum(p * math.log(p) for p in ps)  # noqa: E731
    hr, hc = h([6 / 9, 3 / 9]), h([4 / 9, 2 / 9, 2 / 9, 1 / 9])
    assert ev.agreement["nmi"] == pytest.approx(2 * hr / (hr + hc))  # clusters are pure: MI = H(rings)


def test_empty_results_set() -> None:
    acc = hand_accounts().with_columns(flagged=False, risk=0.0, cluster_id=pl.lit(None, pl.Int64))
    ev = evaluate(acc, hand_labels(), hand_clusters().clear())
    a = ev.account
    assert (a["tp"], a["fp"], a["precision"], a["recall"], a["f1"]) == (0, 0, 0.0, 0.0, 0.0)
    assert a["average_precision"] == pytest.approx(9 / 20)  # one tied threshold: prevalence
    assert a["precision_at_top_1pct"] == pytest.approx(9 / 20)
    assert ev.rings_summary["detected"] == 0 and ev.rings["best_cluster"].null_count() == 3
    assert ev.cases.is_empty() and ev.case_queue["review_cost"] is None
    assert ev.agreement["ari"] == 0.0
    checks = check_thresholds(ev, Thresholds(min_recall=0.5, max_hard_negative_rate=0.01))
    assert [(c.name, c.passed) for c in checks] == [("min_recall", False), ("max_hard_negative_rate", True)]


def test_clusters_derived_when_no_cluster_table() -> None:
    ev = evaluate(hand_accounts(), hand_labels(), None)
    # cluster 4 counts as flagged (a10 is), so a10's case is cluster 4 as a whole
    assert ev.cases["case"].to_list() == ["cluster:1", "cluster:3", "cluster:4", "cluster:2"]


def test_mismatched_accounts_are_bad_input() -> None:
    with pytest.raises(InputError, match=r"1 labelled account\(s\) are missing .*a20"):
        evaluate(hand_accounts().head(19), hand_labels())
    extra = pl.concat([hand_accounts(), hand_accounts().tail(1).with_columns(account_id=pl.lit("zz"))])
    with pytest.raises(InputError, match=r"1 account\(s\) in .* are not in labels.parquet \(e.g. zz\)"):
        evaluate(extra, hand_labels())


def test_thresholds(ev) -> None:
    checks = check_thresholds(ev, Thresholds(min_recall=0.85, min_precision=0.8, max_hard_negative_rate=0.3,
                                             min_rings_detected=0.5))
    assert [(c.name, c.passed) for c in checks] == [
        ("min_recall", True), ("min_precision", False), ("max_hard_negative_rate", True),
        ("min_rings_detected", True)]
    assert checks[1].describe() == "min_precision: 0.7273 NOT >= 0.8"


# ---------------------------------------------------------------------------------------------
# The command: exit codes and outputs
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path]:
    world = tmp_path / "world"
    world.mkdir()
    hand_labels().write_parquet(world / "labels.parquet")
    (world / "manifest.json").write_text("{}")
    empty_ev = pl.DataFrame(schema={"cluster_id": pl.Int64, "rank": pl.Int32, "signal": pl.String,
                                    "value": pl.Float64, "baseline": pl.Float64, "contribution": pl.Float64,
                                    "text": pl.String})
    empty_edges = pl.DataFrame(schema={"src": pl.String, "dst": pl.String, "weight": pl.Float64,
                                       "reasons": pl.List(pl.String)})
    res = Results(hand_accounts(), hand_clusters(), empty_ev, empty_edges,
                  run={"world": {"path": str(world), "manifest_sha256": None}, "farmhunt_version": "test"})
    write_results(res, tmp_path / "res")
    return tmp_path / "res", world


def test_eval_exit_0_and_outputs(pair, tmp_path: Path, capsys) -> None:
    res, world = pair
    code = main(["eval", str(res), "--labels", str(world), "--min-recall", "0.85", "--json", str(tmp_path / "e.json"),
                 "--junit", str(tmp_path / "e.xml"), "--report", str(tmp_path / "r.html")])
    out = capsys.readouterr().out
    assert code == 0
    for title in ("Account level", "Fraud rings detected", "Hard negatives", "Case queue", "Thresholds"):
        assert title in out
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["passed"] is True and doc["farmhunt"]["account"]["tp"] == 8
    assert doc["world"]["manifest_sha256"] is not None and doc["run"]["farmhunt_version"] == "test"
    assert doc["farmhunt"]["case_queue"]["review_cost"] == pytest.approx(1.375)
    suite = ET.parse(tmp_path / "e.xml").getroot().find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    page = (tmp_path / "r.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", page)  # self-contained: plotly.js inlined, nothing fetched
    assert page.count("Plotly.newPlot") >= 4


def test_eval_exit_1_names_each_failure(pair, tmp_path: Path, capsys) -> None:
    res, world = pair
    cfg = tmp_path / "t.toml"
    cfg.write_text("min_precision = 0.9\nmax_hard_negative_rate = 0.01\nmin_rings_detected = 0.5\n")
    code = main(["eval", str(res), "--labels", str(world), "--config", str(cfg), "--junit", str(tmp_path / "j.xml")])
    err = capsys.readouterr().err
    assert code == 1
    assert "min_precision: 0.7273 NOT >= 0.9" in err and "max_hard_negative_rate: 0.2500 NOT <= 0.01" in err
    assert "min_rings_detected" not in err
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")


def test_eval_gates_file_section(pair, tmp_path: Path) -> None:
    res, world = pair
    cfg = tmp_path / "g.toml"
    cfg.write_text("[hand.world]\npreset = 'x'\nseed = 1\n[hand.thresholds]\nmin_recall = 0.99\n")
    assert main(["eval", str(res), "--labels", str(world), "--config", str(cfg), "--section", "hand", "-q"]) == 1
    # a CLI option overrides the file
    assert main(["eval", str(res), "--labels", str(world), "--config", str(cfg), "--section", "hand",
                 "--min-recall", "0.5", "-q"]) == 0


@pytest.mark.parametrize("case", ["mismatch", "no_labels", "no_results", "bad_key", "missing_column"])
def test_eval_exit_2_bad_input(pair, tmp_path: Path, capsys, case: str) -> None:
    res, world = pair
    args = ["eval", str(res), "--labels", str(world)]
    if case == "mismatch":
        hand_labels().head(15).write_parquet(world / "labels.parquet")
        expect = "results and labels do not match"
    elif case == "no_labels":
        (world / "labels.parquet").unlink()
        expect = "has no labels.parquet"
    elif case == "no_results":
        args[1] = str(tmp_path / "nope")
        expect = "does not exist"
    elif case == "bad_key":
        cfg = tmp_path / "t.toml"
        cfg.write_text("min_recal = 0.9\n")
        args += ["--config", str(cfg)]
        expect = "unknown key 'min_recal'"
    else:
        pl.read_parquet(res / "accounts.parquet").drop("flagged").write_parquet(res / "accounts.parquet")
        expect = "accounts.parquet, column 'flagged': missing column"
    json_path = tmp_path / "never.json"
    assert main(args + ["--json", str(json_path)]) == 2
    assert expect in capsys.readouterr().err
    assert not json_path.exists()


def test_case_purity_and_the_cases_each_ring_spans(ev) -> None:
    purity = dict(ev.cases.select("case", "purity").iter_rows())
    assert purity == {"cluster:1": 1.0, "cluster:3": 0.5, "account:a10": 1.0, "cluster:2": 1.0}
    assert ev.cases.filter(pl.col("case") == "cluster:3")["benign_share"].to_list() == [0.5]
    q = ev.case_queue
    assert q["purity"] == pytest.approx(9 / 11) and q["min_purity"] == 0.5
    assert q["mixed_cases"] == 0 and q["benign_share"] == pytest.approx(3 / 11)
    spans = {r["ring_id"]: (r["cases"], r["cases_90"]) for r in ev.rings.iter_rows(named=True)}
    assert spans == {"R1": (2, 2), "R2": (1, 1), "E1": (1, 1)}  # R1: 4 + 2 flagged, 90% needs both
    assert q["largest_rings"] == [
        {"ring_id": "R1", "size": 6, "flagged": 6, "cases": 2, "cases_90": 2},
        {"ring_id": "R2", "size": 3, "flagged": 2, "cases": 1, "cases_90": 1},
    ]
    assert q["max_cases_per_ring"] == 2


def test_detection_cases_grouping_two_clusters_make_one_span_and_can_mix_rings() -> None:
    # detection grouped clusters 1 and 2 (R1's two pieces) into one case, and cluster 3 with a10's case
    case_of = {1: "cR1", 2: "cR1", 3: "cMix", 4: None}
    acc = hand_accounts().with_columns(
        pl.col("cluster_id").replace_strict(case_of, default=None, return_dtype=pl.String).alias("case_id")
    ).with_columns(pl.when(pl.col("account_id") == "a10").then(pl.lit("cMix")).otherwise("case_id").alias("case_id"))
    cases = pl.DataFrame({"case_id": ["cR1", "cMix"], "risk": [0.9, 0.8]})
    ev = evaluate(acc, hand_labels(), hand_clusters(), cases=cases)
    spans = {r["ring_id"]: (r["cases"], r["cases_90"]) for r in ev.rings.iter_rows(named=True)}
    assert spans["R1"] == (1, 1)
    rows = {r["case"]: r for r in ev.cases.iter_rows(named=True)}
    assert rows["cR1"]["purity"] == 1.0 and rows["cR1"]["size"] == 6
    # cMix: R2 x2, benign x2, E1 x1 -> two rings, dominant share 2/5
    assert (rows["cMix"]["rings"], rows["cMix"]["purity"]) == (2, pytest.approx(0.4))
    assert ev.case_queue["mixed_cases"] == 1
