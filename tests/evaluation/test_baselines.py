"""Baselines: FRAUDAR finds planted dense blocks, connected components and the IsolationForest behave
as documented, and all three are scored by the same metric code (`farmhunt eval --baselines`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.evaluation.test_replay import craft_world

from farmhunt.evaluation.peers import (
    BaselineSettings, connected_components, densest_block, fraudar_blocks, isolation_forest, run_baselines,
    shared_values,
)
from farmhunt.cli import main
from farmhunt.core.world import World, load_labels
from farmhunt.evaluation.metrics import evaluate
from farmhunt.engine.pipeline import detect_path



def _random_graph(seed: int, n_rows: int = 600, n_cols: int = 400, p: float = 0.01,
                  blocks: tuple[tuple[int, int], ...] = ((30, 15),)) -> tuple[np.ndarray, np.ndarray, list]:
    rng = np.random.default_rng(seed)
    m = rng.random((n_rows, n_cols)) < p
    rows = rng.permutation(n_rows)
    cols = rng.permutation(n_cols)
    planted = []
    r0 = c0 = 0
    for br, bc in blocks:
        pr, pc = rows[r0:r0 + br], cols[c0:c0 + bc]
        m[np.ix_(pr, pc)] = rng.random((br, bc)) < 0.85
        planted.append((set(pr.tolist()), set(pc.tolist())))
        r0, c0 = r0 + br, c0 + bc
    r, c = np.nonzero(m)
    return r, c, planted


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fraudar_finds_a_planted_dense_block(seed: int) -> None:
    r, c, [(pr, pc)] = _random_graph(seed)
    br, bc, g = densest_block(r, c, 600, 400)
    found_r, found_c = set(br.tolist()), set(bc.tolist())
    assert len(found_r & pr) >= 0.9 * len(pr) and len(found_r & pr) >= 0.9 * len(found_r)
    assert len(found_c & pc) >= 0.9 * len(pc) and len(found_c & pc) >= 0.9 * len(found_c)
    # g is the log-weighted average degree of the block found
    deg = np.bincount(c, minlength=400)
    inside = np.isin(r, br) & np.isin(c, bc)
    assert g == pytest.approx((1 / np.log(deg[c[inside]] + 5)).sum() / (len(br) + len(bc)))


def test_fraudar_k_blocks_are_found_one_after_the_other() -> None:
    r, c, planted = _random_graph(7, blocks=((40, 20), (25, 10)))
    blocks = fraudar_blocks(r, c, 600, 400, k=2)
    assert len(blocks) == 2
    for (br, _bc, _g), (pr, _pc) in zip(blocks, planted):
        assert len(set(br.tolist()) & pr) >= 0.9 * len(pr)
    assert blocks[0][2] >= blocks[1][2]  # densest first


def test_fraudar_column_weights_discount_popular_values() -> None:
    # accounts 0-9 share three rare values (degree 10); accounts 10-109 share three popular ones
    # (degree 100). Unweighted density prefers the popular block (300/103 > 30/13); with FRAUDAR's
    # 1/log(deg + 5) weights the rare block wins (0.85 > 0.63).
    rows = np.concatenate([np.repeat(np.arange(10), 3), np.repeat(np.arange(10, 110), 3)])
    cols = np.concatenate([np.tile([0, 1, 2], 10), np.tile([3, 4, 5], 100)])
    br, bc, g = densest_block(rows, cols, 110, 6)
    assert set(bc.tolist()) == {0, 1, 2} and set(br.tolist()) == set(range(10))
    assert g == pytest.approx(30 / np.log(15) / 13)


def _world(accounts: pl.DataFrame, payments: pl.DataFrame) -> World:
    return World(Path("."), {"accounts": accounts.lazy(), "payments": payments.lazy()}, {})


def test_connected_components_flag_components_of_five() -> None:
    ids = [f"a{i}" for i in range(9)]
    acc = pl.DataFrame({
        "account_id": ids,
        # a0-a4 chained by device, card and phone; a5-a6 share a signup IP; a7, a8 alone
        "device_id": ["d0", "d0", "d1", "d2", "d3", "d5", "d6", "d7", "d8"],
        "phone": [None, None, "p1", "p1", None, None, None, None, None],
        "signup_ip": ["i0", "i1", "i2", "i3", "i4", "ix", "ix", "i7", "i8"],
    })
    pay = pl.DataFrame({"account_id": ["a1", "a2", "a3", "a4", "a8"], "card_fingerprint": ["c", "c", "k", "k", "z"]})
    det = connected_components(_world(acc, pay), pl.Series(ids))
    assert det["flagged"].to_list() == [True] * 5 + [False] * 4
    assert det["cluster_id"][:5].n_unique() == 1 and det["cluster_id"][5] == det["cluster_id"][6]
    assert det["cluster_id"][7:].null_count() == 2
    assert det["risk"].to_list() == pytest.approx([0.8] * 5 + [0.5] * 2 + [0.0] * 2)
    assert shared_values(_world(acc, pay), ("phone",))["value"].to_list() == ["phone:p1", "phone:p1"]


def test_isolation_forest_uses_the_flag_budget() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    x[:5] += 12  # five clear outliers
    acc = pl.DataFrame({"account_id": [f"a{i:03d}" for i in range(200)], "cluster_id": [None] * 200,
                        "risk": [0.5] * 200, "flagged": [False] * 200, "f0": x[:, 0], "f1": x[:, 1],
                        "f2": x[:, 2]}, schema_overrides={"cluster_id": pl.Int64})
    det = isolation_forest(acc, budget=5, s=BaselineSettings(seed=1))
    assert det["flagged"].sum() == 5
    assert det.filter("flagged")["account_id"].to_list() == [f"a{i:03d}" for i in range(5)]
    assert det["risk"].min() == 0.0 and det["risk"].max() == 1.0


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("baselines")
    world = craft_world(base / "world", farm_starts={"a": 0.5, "b": 3.0})
    detect_path(world, base / "res")
    return world, base / "res"


def test_baselines_produce_figures(crafted) -> None:
    world, res = crafted
    from farmhunt.engine.results import load_results

    r = load_results(res)
    labels = load_labels(world)
    dets = run_baselines(world, r.accounts, budget=int(r.accounts["flagged"].sum()))
    assert set(dets) == {"components", "isolation_forest", "fraudar"}
    for name, d in dets.items():
        ev = evaluate(d, labels, None, detector=name)
        assert ev.account["accounts"] == 330
        assert 0.0 <= ev.account["recall"] <= 1.0 and ev.account["average_precision"] is not None
    assert dets["isolation_forest"]["flagged"].sum() == r.accounts["flagged"].sum()
    # the farms share devices and cards: components of 15 accounts, flagged, all fraud
    comp = evaluate(dets["components"], labels)
    assert comp.account["recall"] == 1.0 and comp.rings_summary["detected"] == 2
    # FRAUDAR's densest block is farm accounts
    fr = dets["fraudar"].join(labels, on="account_id").filter(pl.col("cluster_id") == 0)
    assert fr.height >= 10 and fr["is_fraud"].mean() >= 0.9


def test_eval_baselines_side_by_side(crafted, tmp_path: Path, capsys) -> None:
    world, res = crafted
    out = tmp_path / "e.json"
    assert main(["eval", str(res), "--labels", str(world), "--baselines", "--json", str(out),
                 "--report", str(tmp_path / "r.html")]) == 0
    printed = capsys.readouterr().out
    assert "farmhunt vs baselines" in printed
    for name in ("components", "isolation_forest", "fraudar"):
        assert name in printed
    doc = json.loads(out.read_text())
    assert set(doc["baselines"]) == {"components", "isolation_forest", "fraudar"}
    assert doc["baselines"]["components"]["account"]["accounts"] == 330
    assert "fraudar" in (tmp_path / "r.html").read_text()
