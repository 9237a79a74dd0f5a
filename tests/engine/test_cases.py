"""Cases: one ranked queue of flagged clusters and lone flagged accounts, shared by eval and the console."""

from __future__ import annotations

import random

import polars as pl
import pytest

from farmhunt.core.world import load_labels, load_world
from farmhunt.engine.cases import build_cases, cluster_links, short_id
from farmhunt.engine.pipeline import detect
from farmhunt.engine.results import Results
from farmhunt.engine.settings import CaseSettings
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


# ---------------------------------------------------------------------------------------------
# Grouping flagged clusters of one operator into one case
# ---------------------------------------------------------------------------------------------
def _world(n: int = 10, kinds: tuple[str, ...] = ("distillation_farm",) * 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Three flagged clusters (ids 11, 22, 33) of `n` members each: a0.., b0.., c0.."""
    ids = {11: "a", 22: "b", 33: "c"}
    accounts = pl.DataFrame(
        {
            "account_id": [f"{p}{i}" for p in ids.values() for i in range(n)],
            "cluster_id": [c for c in ids for _ in range(n)],
            "risk": [0.9] * (3 * n),
            "flagged": [True] * (3 * n),
            "predicted_kind": [k for k in kinds for _ in range(n)],
        }
    )
    clusters = pl.DataFrame(
        {
            "cluster_id": list(ids),
            "size": [n] * 3,
            "risk": [0.9, 0.8, 0.7],
            "predicted_kind": list(kinds),
            "flagged": [True] * 3,
        }
    )
    return accounts, clusters


def _edges(pairs: list[tuple[str, str, list[str]]]) -> pl.DataFrame:
    rows = [(min(a, b), max(a, b), 0.5, r) for a, b, r in pairs]
    return pl.DataFrame(
        rows,
        schema={"src": pl.String, "dst": pl.String, "weight": pl.Float64, "reasons": pl.List(pl.String)},
        orient="row",
    ).sort("src", "dst")


_EVIDENCE = pl.DataFrame({"cluster_id": [11, 22, 33], "rank": [1, 1, 1], "text": ["ta", "tb", "tc"]})


def _case_of(account_case: pl.DataFrame) -> dict[str, str]:
    return dict(account_case.iter_rows())


def test_two_pieces_sharing_instruments_and_exits_become_one_case_listing_both() -> None:
    accounts, clusters = _world()
    # 4 of 10 members on each side share a device and a relay with the other piece: two channels
    edges = _edges([(f"a{i}", f"b{i}", ["device", "request_ip"]) for i in range(4)])
    cases, account_case = build_cases(accounts, clusters, _EVIDENCE, edges)
    assert cases.height == 2
    grouped = cases.filter(pl.col("n_clusters") == 2).row(0, named=True)
    assert grouped["clusters"] == [11, 22]
    assert grouped["size"] == 20 and grouped["flagged_accounts"] == 20
    assert grouped["risk"] == 0.9  # the leading (riskiest) piece's, and its top reason after why
    assert grouped["top_reason"] == "2 clusters of one operator (shared cards/devices/phones, network exits); ta"
    assert grouped["case_id"] == short_id("c", ["11", "22"])
    by = _case_of(account_case)
    assert by["a0"] == by["b9"] == grouped["case_id"] != by["c0"]
    # the third cluster keeps the id it had before grouping existed
    alone, _ = build_cases(accounts, clusters, _EVIDENCE)
    assert by["c0"] == short_id("c", ["33"]) == alone.filter(pl.col("clusters") == [33])["case_id"][0]


def test_a_chain_of_signatures_groups_transitively() -> None:
    accounts, clusters = _world()
    edges = _edges(
        [(f"a{i}", f"b{i}", ["card", "signup_ip"]) for i in range(3)]
        + [(f"b{i}", f"c{i}", ["phone", "prompt_template"]) for i in range(5, 8)]
    )
    cases, _ = build_cases(accounts, clusters, _EVIDENCE, edges)
    assert cases["clusters"].to_list() == [[11, 22, 33]]
    assert cases["size"].to_list() == [30]


@pytest.mark.parametrize(
    "reasons",
    [
        ["email_domain", "signup_prefix"],  # values strangers share by chance: no channel at all
        ["prompt_template", "prompt_family"],  # one channel (content: a public prompt bank) alone
        ["request_ip"],  # one channel (a shared cloud relay) alone
    ],
)
def test_pieces_sharing_only_a_common_value_or_one_kind_of_evidence_stay_apart(reasons: list[str]) -> None:
    accounts, clusters = _world()
    edges = _edges([(f"a{i}", f"b{j}", reasons) for i in range(10) for j in range(10)])
    cases, _ = build_cases(accounts, clusters, _EVIDENCE, edges)
    assert sorted(cases["n_clusters"].to_list()) == [1, 1, 1]


def test_a_few_misplaced_accounts_do_not_tie_two_clusters() -> None:
    # two members of b share everything with a: below min_share (0.3 x 10 = 3 on each side)
    accounts, clusters = _world()
    edges = _edges([(f"a{i}", f"b{j}", ["device", "request_ip", "sync"]) for i in range(10) for j in range(2)])
    cases, _ = build_cases(accounts, clusters, _EVIDENCE, edges)
    assert cases.height == 3
    # three members on each side reach it
    edges = _edges([(f"a{i}", f"b{i}", ["device", "request_ip"]) for i in range(3)])
    cases, _ = build_cases(accounts, clusters, _EVIDENCE, edges)
    assert cases.height == 2


def test_clusters_of_different_predicted_kinds_are_not_grouped_unless_asked() -> None:
    accounts, clusters = _world(kinds=("distillation_farm", "reseller_pool", "card_testing"))
    edges = _edges([(f"a{i}", f"b{i}", ["device", "request_ip"]) for i in range(5)])
    cases, _ = build_cases(accounts, clusters, _EVIDENCE, edges)
    assert cases.height == 3
    cases, _ = build_cases(accounts, clusters, _EVIDENCE, edges, CaseSettings(same_kind=False))
    assert cases.height == 2
    assert cases.filter(pl.col("n_clusters") == 2)["kind"].to_list() == ["distillation_farm"]  # the leader's
    cases, _ = build_cases(accounts, clusters, _EVIDENCE, edges, CaseSettings(group=False, same_kind=False))
    assert cases.height == 3


def test_grouping_is_deterministic_whatever_the_row_order() -> None:
    accounts, clusters = _world()
    edges = _edges(
        [(f"a{i}", f"b{i}", ["device", "request_ip"]) for i in range(4)]
        + [(f"b{i}", f"c{i}", ["prompt_family"]) for i in range(10)]
    )
    first = build_cases(accounts, clusters, _EVIDENCE, edges)
    for seed in (1, 2, 3):
        again = build_cases(
            accounts.sample(fraction=1.0, shuffle=True, seed=seed),
            clusters.sample(fraction=1.0, shuffle=True, seed=seed),
            _EVIDENCE.sample(fraction=1.0, shuffle=True, seed=seed),
            edges.sample(fraction=1.0, shuffle=True, seed=seed),
        )
        assert again[0].equals(first[0]) and again[1].equals(first[1])
    assert first[0]["case_id"].str.len_chars().to_list() == [9, 9]


def test_cluster_links_names_the_supporting_channels() -> None:
    accounts, _ = _world()
    members = accounts.select("account_id", "cluster_id")
    sizes = pl.DataFrame({"cluster_id": [11, 22, 33], "size": [10, 10, 10]})
    edges = _edges(
        [(f"a{i}", f"b{i}", ["card", "device", "request_ip", "email_domain"]) for i in range(4)]
        + [(f"a{i}", f"c{i}", ["device"]) for i in range(4)]
    )
    links = cluster_links(members, sizes, edges)
    assert links.select("cluster_a", "cluster_b", "accounts_a", "accounts_b").rows() == [(11, 22, 4, 4)]
    assert links["channels"].to_list() == [["instrument", "network"]]
    assert links["weight"].to_list() == [2.0]  # four edges of 0.5, each counted once


def test_a_lone_flagged_account_joins_the_one_case_it_is_tied_to_when_asked() -> None:
    accounts, clusters = _world()
    lone = pl.DataFrame(
        {
            "account_id": ["z1", "z2"],
            "cluster_id": [None, None],
            "risk": [0.8, 0.8],
            "flagged": [True, True],
            "predicted_kind": ["distillation_farm"] * 2,
        },
        schema=accounts.schema,
    )
    accounts = pl.concat([accounts, lone])
    edges = _edges([("z1", "a0", ["device"]), ("z1", "a1", ["request_ip"]), ("z2", "b0", ["device"])])
    cases, account_case = build_cases(accounts, clusters, _EVIDENCE, edges)
    assert cases.height == 5  # default: lone accounts are cases of their own
    cases, account_case = build_cases(accounts, clusters, _EVIDENCE, edges, CaseSettings(lone_min_channels=2))
    by = _case_of(account_case)
    assert by["z1"] == by["a0"] and by["z2"] != by["b0"]  # z2 has one channel only
    a_case = cases.filter(pl.col("case_id") == by["a0"]).row(0, named=True)
    assert a_case["size"] == 11 and a_case["flagged_accounts"] == 11 and a_case["clusters"] == [11]


def test_case_settings_are_checked() -> None:
    from farmhunt.core.errors import ConfigError
    from farmhunt.core.tomlconfig import from_dict

    s = from_dict(CaseSettings, {"min_share": 0.5, "channels": {"sync": ""}})
    assert s.min_share == 0.5 and s.channels["sync"] == "" and s.channels["card"] == "instrument"
    with pytest.raises(ConfigError, match="cases.channels.card"):
        from_dict(CaseSettings, {"channels": {"card": "wallet"}}, prefix="cases.")
    with pytest.raises(ConfigError, match="min_share"):
        from_dict(CaseSettings, {"min_share": 1.5})


def _pieces(ops: dict[str, int], size: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Flagged clusters of `size` members, `ops[op]` pieces per operator: accounts f"{op}{k}_{i}"."""
    ids = [(op, k) for op, n in ops.items() for k in range(n)]
    cid = {p: 1000 + n for n, p in enumerate(ids)}
    accounts = pl.DataFrame(
        {
            "account_id": [f"{op}{k}_{i}" for op, k in ids for i in range(size)],
            "cluster_id": [cid[p] for p in ids for _ in range(size)],
            "risk": [0.9] * (len(ids) * size),
            "flagged": [True] * (len(ids) * size),
            "predicted_kind": ["distillation_farm"] * (len(ids) * size),
        }
    )
    clusters = pl.DataFrame(
        {
            "cluster_id": list(cid.values()),
            "size": [size] * len(ids),
            "risk": [0.9] * len(ids),
            "predicted_kind": ["distillation_farm"] * len(ids),
            "flagged": [True] * len(ids),
        }
    )
    return accounts, clusters


def _sparse_ties(rng: random.Random, op: str, n: int, size: int, reasons: list[str], per_account: int) -> list:
    """Each member of each piece of `op` tied by `reasons` to `per_account` members of random other pieces."""
    out = []
    for k in range(n):
        for i in range(size):
            for _ in range(per_account):
                other = rng.choice([x for x in range(n) if x != k])
                out.append((f"{op}{k}_{i}", f"{op}{other}_{rng.randrange(size)}", reasons))
    return out


def test_a_farm_cut_into_many_sparse_pieces_becomes_one_case_and_a_neighbour_sharing_one_channel_stays_apart() -> None:
    # 40 pieces of 5: each member has 10 synchronized ties and one shared device with members of random
    # other pieces, so any two pieces share only a few edges, mostly of one channel (the pairwise rule
    # needs 2 members on each side in 2 channels). A second operator (12 pieces, its own cards) is tied
    # to the farm by one channel only (a relay).
    rng = random.Random(7)
    accounts, clusters = _pieces({"f": 40, "g": 12})
    pairs = _sparse_ties(rng, "f", 40, 5, ["sync"], 10) + _sparse_ties(rng, "f", 40, 5, ["device"], 1)
    pairs += _sparse_ties(rng, "g", 12, 5, ["sync"], 10) + _sparse_ties(rng, "g", 12, 5, ["card"], 1)
    pairs += [(f"f{k}_0", f"g{k % 12}_1", ["request_ip"]) for k in range(40)]
    edges = _edges([(a, b, r) for a, b, r in pairs if a != b]).unique(["src", "dst"], keep="first").sort("src", "dst")
    evidence = clusters.select("cluster_id", pl.lit(1).alias("rank"), pl.lit("t").alias("text"))
    pairwise, _ = build_cases(accounts, clusters, evidence, edges, CaseSettings(communities=False))
    assert pairwise.height > 30  # the pairwise rule alone leaves the farm in pieces
    cases, account_case = build_cases(accounts, clusters, evidence, edges)
    by = _case_of(account_case)
    farm = pl.Series([by[f"f{k}_{i}"] for k in range(40) for i in range(5)]).value_counts(sort=True, name="n")
    other = {by[f"g{k}_{i}"] for k in range(12) for i in range(5)}
    # measured: 3 cases of 17, 13 and 6 pieces (modularity cuts a random farm graph into parts, and
    # pieces in different communities are not chained) and 4 pieces alone; the other operator is one case
    assert farm["n"].head(3).sum() >= 0.85 * 200 and farm.height <= 8
    assert len(other) == 1
    assert not set(farm[farm.columns[0]]) & other  # one shared channel never makes two operators one
    top = cases.filter(pl.col("case_id") == farm[farm.columns[0]][0]).row(0, named=True)
    assert top["n_clusters"] >= 15 and "cards/devices/phones" in top["top_reason"] and "timing" in top["top_reason"]
    # deterministic, whatever the row order
    again = build_cases(accounts.reverse(), clusters.reverse(), evidence, edges.reverse())
    assert again[0].equals(cases) and again[1].equals(account_case)


def test_a_stray_piece_tied_to_a_large_case_in_two_channels_joins_it_and_never_chains_two_cases() -> None:
    # Two operators of 30 pieces each, every piece tied to the next by shared devices and synchronized
    # activity (two cases). Stray piece s: three of its five members share a device with, and are
    # synchronized with, members of *different* pieces of f (no single piece supports it). Stray t: tied
    # to f by relay IPs only (one channel). Stray u: tied to both operators in two channels, more to g.
    accounts, clusters = _pieces({"f": 30, "g": 30, "s": 1, "t": 1, "u": 1})
    pairs = []
    for op in ("f", "g"):
        for k in range(29):
            pairs += [(f"{op}{k}_{i}", f"{op}{k + 1}_{i}", ["device", "sync"]) for i in range(2)]
    pairs += [(f"s0_{i}", f"f{3 * i}_4", ["device"]) for i in range(3)]
    pairs += [(f"s0_{i}", f"f{3 * i + 1}_4", ["sync"]) for i in range(3)]
    pairs += [(f"t0_{i}", f"f{i}_3", ["request_ip"]) for i in range(5)]
    pairs += [(f"u0_{i}", f"f{5 + i}_4", ["card"]) for i in range(2)] + [(f"u0_{i}", f"f{9 + i}_4", ["sync"]) for i in range(2)]
    pairs += [(f"u0_{i}", f"g{i}_4", ["card", "sync"]) for i in range(5)]
    edges = _edges(pairs).unique(["src", "dst"], keep="first").sort("src", "dst")
    evidence = clusters.select("cluster_id", pl.lit(1).alias("rank"), pl.lit("t").alias("text"))
    off, off_case = build_cases(accounts, clusters, evidence, edges, CaseSettings(absorb_max_size=0))
    assert len({_case_of(off_case)[f"s0_{i}"] for i in range(5)} | {_case_of(off_case)["f0_0"]}) == 2
    cases, account_case = build_cases(accounts, clusters, evidence, edges)
    by = _case_of(account_case)
    assert by["s0_0"] == by["f0_0"]  # absorbed, and its case lists the stray's cluster
    assert by["t0_0"] != by["f0_0"]  # one channel is not enough
    assert by["u0_0"] == by["g0_0"] != by["f0_0"]  # the better-supported case; f and g stay apart
    assert cases.height == off.height - 2
    f_case = cases.filter(pl.col("case_id") == by["f0_0"]).row(0, named=True)
    assert f_case["n_clusters"] == 31 and f_case["size"] == 155
    # a stray larger than absorb_max_size stays a case of its own
    kept, kept_case = build_cases(accounts, clusters, evidence, edges, CaseSettings(absorb_max_size=4))
    assert _case_of(kept_case)["s0_0"] != _case_of(kept_case)["f0_0"] and kept.height == off.height


def _parts(
    ops: tuple[str, ...], spread: tuple[tuple[str, str], ...]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[tuple[str, str, list[str]]]]:
    """Operators' parts of 12 pieces of 5, each chained by devices and synchronized activity; for each
    (a, b) in `spread`, four of every five a members share a card and a relay IP with a b member, one
    edge per pair of pieces. Returns accounts, clusters, evidence and the pairs (to add more)."""
    accounts, clusters = _pieces(dict.fromkeys(ops, 12))
    pairs = []
    for op in ops:
        for j in range(11):
            pairs += [(f"{op}{j}_{i}", f"{op}{j + 1}_{i}", ["device", "sync"]) for i in range(2)]
    for a, b in spread:
        pairs += [(f"{a}{j}_{i}", f"{b}{(j + 3 * i) % 12}_{i}", ["card", "request_ip"]) for j in range(12) for i in range(4)]
    evidence = clusters.select("cluster_id", pl.lit(1).alias("rank"), pl.lit("t").alias("text"))
    return accounts, clusters, evidence, pairs


def test_two_large_groups_sharing_instruments_and_exits_on_most_members_are_one_case() -> None:
    # One farm's two halves f and h (12 pieces of 5 each, each half chained by devices and synchronized
    # activity) and another operator g. Four of every five f members share a card and a relay IP with an
    # h member, spread so that no pair of pieces is supported (one edge per pair of pieces): only the
    # halves as wholes share a signature, on 80% of each. g meets f through chance ties (a card and
    # synchronized activity) on 3 of its 60 members, and stays apart.
    accounts, clusters, evidence, pairs = _parts(("f", "h", "g"), (("f", "h"),))
    pairs += [(f"g{k}_4", f"f{k}_4", ["card", "sync"]) for k in range(3)]
    edges = _edges(pairs).unique(["src", "dst"], keep="first").sort("src", "dst")
    base = {"communities": False, "absorb_max_size": 20, "merge_min_size": 20}
    off, off_case = build_cases(accounts, clusters, evidence, edges, CaseSettings(**base, merge_share=1.0))
    by = _case_of(off_case)
    assert len({by["f0_0"], by["h0_0"], by["g0_0"]}) == 3 and off.height == 3
    cases, account_case = build_cases(accounts, clusters, evidence, edges, CaseSettings(**base))
    by = _case_of(account_case)
    assert by["f0_0"] == by["h11_4"] != by["g0_0"]
    assert cases.height == 2
    merged = cases.filter(pl.col("case_id") == by["f0_0"]).row(0, named=True)
    assert merged["n_clusters"] == 24 and merged["size"] == 120
    assert "cards/devices/phones" in merged["top_reason"] and "network exits" in merged["top_reason"]
    # at a bar above the 80% the halves share, they stay two cases
    assert build_cases(accounts, clusters, evidence, edges, CaseSettings(**base, merge_share=0.85))[0].height == 3


def test_a_group_others_join_is_measured_again_before_it_merges() -> None:
    # Three equal parts f, h, k: k is tied to h as h is to f (80% of members, cards and relay IPs). In the
    # first round k joins h, and h, which k joined, does not move; the second round measures h+k as one
    # group, and f, the smaller now, has 80% of its members tied to it: one case, every merge measured.
    accounts, clusters, evidence, pairs = _parts(("f", "h", "k"), (("f", "h"), ("h", "k")))
    edges = _edges(pairs).unique(["src", "dst"], keep="first").sort("src", "dst")
    s = {"communities": False, "absorb_max_size": 20, "merge_min_size": 20}
    cases, account_case = build_cases(accounts, clusters, evidence, edges, CaseSettings(**s))
    by = _case_of(account_case)
    assert by["h0_0"] == by["k0_0"] == by["f0_0"] and cases.height == 1
    # above the 80% the parts share, nothing merges
    assert build_cases(accounts, clusters, evidence, edges, CaseSettings(**s, merge_share=0.85))[0].height == 3
