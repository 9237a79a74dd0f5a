"""Associates: an account outside flagged clusters tied to a farm's pieces by several channels is judged
as a member of the farm, and flagged with it only if it shows the farm's behaviour itself."""

from __future__ import annotations

import math

import polars as pl

from farmhunt.engine.cases import build_cases
from farmhunt.engine.scoring.associates import associate_evidence, associates, judged_membership
from farmhunt.engine.scoring.decisions import account_decisions
from farmhunt.engine.scoring.model import peripheral_members
from farmhunt.engine.settings import CaseSettings, ScoringSettings
from tests.engine.test_peripheral import FARM, HUMAN, ZEROS

CHANNELS = CaseSettings().channels


def _world() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    # Two flagged pieces of one farm (clusters 1 and 2) and a cluster of heavy users (3, unflagged).
    # x (farm behaviour) and y (a human) sit in cluster 3; each shares a device with f0, a relay IP with
    # g0 and lock-step timing with f1: three channels, to two pieces of the farm. z, outside any
    # cluster, shares a device and a relay IP only (two channels).
    rows = [("f0", FARM, 1), ("f1", FARM, 1), ("f2", FARM, 1), ("g0", FARM, 2), ("g1", FARM, 2),
            ("b0", HUMAN, 3), ("b1", HUMAN, 3), ("x", FARM, 3), ("y", HUMAN, 3), ("z", FARM, None)]
    features = pl.DataFrame([{"account_id": a, **r, **ZEROS} for a, r, _ in rows])
    membership = pl.DataFrame(
        [(a, c) for a, _, c in rows if c is not None], schema={"account_id": pl.String, "cluster_id": pl.Int64},
        orient="row",
    )
    farm = {**FARM, **{k: v for k, v in ZEROS.items() if k != "n_keys_revoked"}, "key_rotation": 0.0}
    clusters = pl.DataFrame(
        [
            {"cluster_id": 1, "size": 3, "risk": 0.9, "flagged": True, "predicted_kind": "distillation_farm", **farm},
            {"cluster_id": 2, "size": 2, "risk": 0.8, "flagged": True, "predicted_kind": "distillation_farm", **farm},
            {"cluster_id": 3, "size": 4, "risk": 0.1, "flagged": False, "predicted_kind": "unknown", **farm},
        ]
    )
    pairs = [(u, "f0", ["device"]) for u in ("x", "y", "z")] + [(u, "g0", ["request_ip"]) for u in ("x", "y", "z")]
    pairs += [(u, "f1", ["sync"]) for u in ("x", "y")] + [("f0", "f1", ["device", "sync"]), ("b0", "x", ["sync"])]
    edges = pl.DataFrame(
        [(min(a, b), max(a, b), 0.5, r) for a, b, r in pairs],
        schema={"src": pl.String, "dst": pl.String, "weight": pl.Float64, "reasons": pl.List(pl.String)},
        orient="row",
    )
    return features, membership, clusters, edges


def test_accounts_tied_to_a_farms_pieces_by_three_channels_are_its_associates() -> None:
    features, membership, clusters, edges = _world()
    a = associates(membership, clusters, edges, CHANNELS, 3)
    assert a.select("account_id", "host_cluster_id", "ties").rows() == [("x", 1, 3), ("y", 1, 3)]
    assert a["channels"].to_list() == [["instrument", "network", "timing"]] * 2
    assert associates(membership, clusters, edges, CHANNELS, 2)["account_id"].to_list() == ["x", "y", "z"]
    assert associates(membership, clusters, edges, CHANNELS, 0).is_empty()
    # members of flagged clusters are never associates; an unflagged host makes none
    assert associates(membership, clusters.with_columns(pl.lit(False).alias("flagged")), edges, CHANNELS, 1).is_empty()


def test_an_associate_is_flagged_with_its_host_only_if_it_shows_the_farms_behaviour() -> None:
    features, membership, clusters, edges = _world()
    a = associates(membership, clusters, edges, CHANNELS, 3)
    judged = peripheral_members(features, judged_membership(membership, a), clusters, {}, ScoringSettings(), edges=edges)
    verdict = dict(judged.join(a, on="account_id", how="semi").iter_rows())
    assert verdict == {"x": False, "y": True}  # the human is judged alone, as any peripheral member
    accepted = a.filter(pl.col("account_id") == "x")
    lone = features.select("account_id", pl.lit(0.01).alias("account_risk"), pl.lit(0.0).alias("anomaly"))
    peripheral = judged.join(a, on="account_id", how="anti")
    acc = account_decisions(features, membership, clusters, lone, peripheral, ScoringSettings(), accepted)
    by = {r["account_id"]: r for r in acc.iter_rows(named=True)}
    assert by["x"]["flagged"] and by["x"]["predicted_kind"] == "distillation_farm" and by["x"]["risk"] == 0.9
    assert by["x"]["cluster_id"] == 3 and by["x"]["host_cluster_id"] == 1  # its own cluster is kept
    assert not by["y"]["flagged"] and by["y"]["host_cluster_id"] is None and by["y"]["predicted_kind"] == "unknown"
    assert not by["z"]["flagged"] and not by["b0"]["flagged"] and by["f2"]["flagged"]
    # its case is its host's
    evidence = clusters.select("cluster_id", pl.lit(1).alias("rank"), pl.lit("t").alias("text"))
    cases, account_case = build_cases(acc, clusters, evidence, edges, CaseSettings(group=False))
    case = dict(account_case.iter_rows())
    assert case["x"] == case["f0"] != case["g0"] and "y" not in case
    assert cases.filter(pl.col("case_id") == case["f0"])["size"].item() == 4
    # its evidence says so, and what it adds is the host's log-odds
    ev = associate_evidence(accepted, clusters, 3).row(0, named=True)
    assert ev["signal"] == "associate" and ev["rank"] == 1 and ev["value"] == 3.0 and ev["baseline"] == 3.0
    assert math.isclose(ev["contribution"], math.log(0.9 / 0.1))
    assert ev["text"] == ("judged as a member of flagged cluster 1: tied to 3 members of flagged distillation farm "
                          "clusters by 3 independent channels (cards/devices/phones, network exits, timing), and it "
                          "shows the cluster's behaviour itself")
