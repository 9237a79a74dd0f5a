"""The precision-targeted bias, class weights, split cluster samples and pasting a fit into signals.toml."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from farmhunt.core.errors import ConfigError
from farmhunt.engine.scoring.fit import FitSettings, class_weighted, cluster_samples, precision_bias
from farmhunt.engine.scoring.fitted import FIT_MARK, write_signal_weights
from farmhunt.engine.scoring.signals import default_table, load_signal_table


def test_precision_bias_lowers_the_bias_to_the_first_cut_that_reaches_the_target() -> None:
    # margins (logit minus bias), sorted high to low: fraud, fraud, benign, fraud, benign, benign
    margin = np.array([3.0, 2.0, 1.0, 0.5, 0.0, -1.0])
    y = np.array([1, 1, 0, 1, 0, 0])
    w = np.ones(6)
    # bias 0, threshold 0: the first five are flagged: precision 3/5
    assert precision_bias(margin, y, w, 0.0, 0.0, 0.5) == 0.0  # 0.6 >= 0.5: unchanged
    # target 0.7: cuts of 4 (3/4 = 0.75) is the largest that reaches it: cut halfway between 0.5 and 0.0
    assert precision_bias(margin, y, w, 0.0, 0.0, 0.7) == pytest.approx(-0.25)
    # target 1.0: only the first two: the cut lies between 2.0 and 1.0, bias = 0 - 1.5
    assert precision_bias(margin, y, w, 0.0, 0.0, 1.0) == pytest.approx(-1.5)
    # weights count: a heavy fraud sample at 0.5 puts the 5-cut at 9/11 and the 4-cut at 9/10
    w2 = np.array([1.0, 1.0, 1.0, 7.0, 1.0, 1.0])
    assert precision_bias(margin, y, w2, 0.0, 0.0, 0.8) == 0.0
    assert precision_bias(margin, y, w2, 0.0, 0.0, 0.85) == pytest.approx(-0.25)
    # never raised: a bias already strict enough stays; a lax one comes down to the same cut
    assert precision_bias(margin, y, w, -2.5, 0.0, 0.99) == -2.5  # only the first flagged: precision 1
    assert precision_bias(margin, y, w, 5.0, 0.0, 0.99) == pytest.approx(-1.5)
    # nothing flagged: nothing to do
    assert precision_bias(margin, y, w, -9.0, 0.0, 0.99) == -9.0


def test_precision_bias_with_no_reachable_target_keeps_the_most_precise_cut() -> None:
    margin = np.array([2.0, 1.0, 0.0])
    y = np.array([0, 1, 0])
    # prefixes: 0/1, 1/2, 1/3: the best is 1/2 (cut between 1.0 and 0.0), bias = 0 - 0.5
    assert precision_bias(margin, y, np.ones(3), 0.0, 0.0, 0.9) == pytest.approx(-0.5)


def test_class_weighted_multiplies_non_fraud_samples() -> None:
    s = pl.DataFrame({"y": [True, False, False], "weight": [2.0, 3.0, 1.0]})
    assert class_weighted(s, FitSettings(benign_weight=4.0)).tolist() == [2.0, 12.0, 4.0]


def test_cluster_samples_split_mixed_clusters_by_label() -> None:
    t = default_table()
    members = pl.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "cluster_id": [1, 1, 1, 2],
            "is_fraud": [True, True, False, False],
            "design": ["farm", "farm", "benign", "benign"],
        }
    )
    agg = pl.DataFrame({"cluster_id": [1, 2]}).with_columns(
        [pl.lit(0.0).alias(c) for c in t.columns()]
    )
    s = cluster_samples("w", agg, members, {}, t)
    assert s.select("key", "y", "weight", "group").rows() == [
        ("1", False, 1.0, "benign"),
        ("1", True, 2.0, "farm"),
        ("2", False, 1.0, "benign"),
    ]


def _copy_shipped(tmp_path: Path) -> Path:
    src = resources.files("farmhunt.engine.scoring").joinpath("signals.toml")
    dst = tmp_path / "signals.toml"
    with resources.as_file(src) as p:
        shutil.copy(p, dst)
    return dst


def test_write_signal_weights_pastes_values_and_keeps_the_rest(tmp_path: Path) -> None:
    dst = _copy_shipped(tmp_path)
    before = dst.read_text()
    t = default_table()
    new = t.with_weights(
        {s.name: s.weight + 0.123456 for s in t.signals},
        t.bias - 1.0,
        {n: w * 2 for n, w in t.account.weights},
        t.account.bias + 0.5,
    )
    write_signal_weights(dst, new, {"command": "farmhunt train X", "seed": 0})
    back = load_signal_table(dst)
    assert back.bias == round(t.bias - 1.0, 4)
    assert [s.weight for s in back.signals] == [round(s.weight + 0.123456, 4) for s in t.signals]
    assert dict(back.account.weights) == {n: round(w * 2, 4) for n, w in t.account.weights}
    assert [(s.name, s.low, s.high, s.text) for s in back.signals] == [(s.name, s.low, s.high, s.text) for s in t.signals]
    after = dst.read_text()
    assert f'{FIT_MARK} command = "farmhunt train X"' in after
    # comments survive; pasting again replaces the provenance instead of adding to it
    assert after.count("# How to add a signal") == before.count("# How to add a signal") == 1
    write_signal_weights(dst, new, {"command": "farmhunt train Y"})
    again = dst.read_text()
    assert sum(line.startswith(FIT_MARK) for line in again.splitlines()) == 1 and "farmhunt train Y" in again


def test_write_signal_weights_refuses_a_table_without_a_signal_of_the_file(tmp_path: Path) -> None:
    from dataclasses import replace

    dst = _copy_shipped(tmp_path)
    before = dst.read_text()
    t = default_table()
    short = replace(t, signals=t.signals[1:])
    with pytest.raises(ConfigError, match="is not in the fitted model: refit first"):
        write_signal_weights(dst, short, {})
    assert dst.read_text() == before
