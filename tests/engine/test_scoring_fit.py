"""Scoring as fit/transform, model files, account evidence, and the weight fit (on the tiny fixture)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from farmhunt.core.errors import ConfigError
from farmhunt.engine.pipeline import detect_path
from farmhunt.engine.scoring.fitted import load_model, save_model
from farmhunt.engine.scoring.signals import default_table
from farmhunt.engine.training import fit_table, load_training_world, rescore
from farmhunt.evaluation.sweep import SweepWorld, account_rows, per_group, pooled
from tests.paths import TINY


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory: pytest.TempPathFactory):
    return detect_path(TINY, tmp_path_factory.mktemp("r") / "tiny")


def test_rescore_with_shipped_table_reproduces_detection(tiny_results) -> None:
    again = rescore(tiny_results, default_table())
    for name in ("accounts", "clusters", "evidence", "account_evidence"):
        assert_frame_equal(getattr(tiny_results, name), getattr(again, name))


def test_account_evidence_explains_lone_accounts(tiny_results) -> None:
    ev = tiny_results.account_evidence
    acc = tiny_results.accounts
    assert ev.columns == ["account_id", "rank", "signal", "value", "baseline", "contribution", "text"]
    assert ev.height > 0
    # every lone-flagged account outside a flagged cluster has evidence, ranked 1..n by |contribution|
    flagged_clusters = tiny_results.clusters.filter("flagged")["cluster_id"]
    outside = acc.filter(~pl.col("cluster_id").is_in(flagged_clusters.implode()) | pl.col("cluster_id").is_null())
    risky = set(outside.filter(pl.col("account_risk") >= 0.5)["account_id"].to_list())
    explained = set(ev["account_id"].to_list())
    assert risky <= explained
    # the others are peripheral members of flagged clusters (judged alone, not flagged with the cluster)
    rest = acc.filter(pl.col("account_id").is_in(list(explained - risky)))
    assert rest["cluster_id"].is_in(flagged_clusters.implode()).all()
    first = ev.filter(pl.col("rank") == 1).join(
        ev.group_by("account_id").agg(pl.col("contribution").abs().max().alias("m")), on="account_id"
    )
    assert (first["contribution"].abs() == first["m"]).all()
    # the contributions are what made the account's log-odds (bias + sum = logit(account_risk))
    t = default_table()
    one = ev["account_id"][0]
    total = t.account.bias + ev.filter(pl.col("account_id") == one)["contribution"].sum()
    risk = acc.filter(pl.col("account_id") == one)["account_risk"][0]
    if ev.filter(pl.col("account_id") == one).height < 8:  # all terms listed (evidence_top = 8)
        assert abs(1 / (1 + pow(2.718281828459045, -total)) - risk) < 1e-9


def test_fit_is_deterministic_and_sign_constrained(tiny_results) -> None:
    w = load_training_world("tiny", TINY, tiny_results)
    t1, s1 = fit_table([w])
    t2, s2 = fit_table([load_training_world("tiny", TINY, tiny_results)])
    assert t1 == t2 and s1 == s2
    for sig in t1.signals:
        if sig.family == "benign_org":
            assert sig.weight <= 0.0, sig.name
        else:
            assert sig.weight >= 0.0, sig.name
    assert t1 != default_table()
    assert s1["cluster_fraud"] > 0 and s1["cluster_samples"] > s1["cluster_fraud"]


def test_decisions_override_labels(tiny_results) -> None:
    acc = tiny_results.accounts.filter(pl.col("cluster_id").is_not_null()).sort("account_id").head(3)
    dec = pl.DataFrame({"account_id": acc["account_id"], "label": pl.Series([0, 0, None], dtype=pl.Int8)})
    w = load_training_world("tiny", TINY, tiny_results, dec)
    m = w.members.join(dec, on="account_id")
    assert m.filter(pl.col("label") == 0)["is_fraud"].to_list() == [False, False]


def test_model_file_round_trip_and_errors(tmp_path: Path, tiny_results) -> None:
    t, _ = fit_table([load_training_world("tiny", TINY, tiny_results)])
    p = save_model(tmp_path / "m.toml", t, {"command": "farmhunt train tiny", "seed": 0})
    back = load_model(p)
    assert back.table == t and back.provenance["seed"] == 0 and back.baselines is None
    bad = tmp_path / "bad.toml"
    bad.write_text("[weights]\nsynchronised = 1.0\n")
    with pytest.raises(ConfigError, match=r"'weights.synchronised': unknown signal"):
        load_model(bad)
    # applying the saved model equals rescoring with the fitted table
    r = rescore(tiny_results, back.table)
    assert r.accounts["flagged"].sum() > 0


def test_sweep_metrics_values() -> None:
    acc = pl.DataFrame({"account_id": ["a", "b", "c", "d", "e"], "flagged": [True, False, True, True, False]})
    lab = pl.DataFrame(
        {
            "account_id": ["a", "b", "c", "d", "e"],
            "ring_id": ["f-1", "f-1", None, "t-1", None],
            "ring_kind": ["farm", "farm", "benign", "team", "benign"],
            "is_fraud": [True, True, False, False, False],
        }
    )

    class R:
        accounts = acc

    w = SweepWorld("w", R(), lab, {"f-1": "mega", "t-1": "team"}, {"f-1": 0.6})
    rows = account_rows(w)
    assert rows.filter(pl.col("account_id") == "a")["design"][0] == "mega"
    p = pooled(rows)
    assert (p["tp"], p["fp"], p["fn"]) == (1, 2, 1)
    assert p["precision"] == pytest.approx(1 / 3) and p["recall"] == 0.5
    assert p["hard_negative_rate"] == 1.0 and p["benign_rate"] == 0.5
    g = per_group(rows, "ring_kind").filter(pl.col("ring_kind") == "farm")
    assert g["rate"][0] == 0.5 and g["f1"][0] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
