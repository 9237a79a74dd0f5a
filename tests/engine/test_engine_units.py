"""Unit tests of the engine's stages on small hand-made tables: each asserts on values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from farmhunt.engine.communities import leiden, map_to_previous, stable_cluster_id
from farmhunt.core.errors import ConfigError
from farmhunt.core.values import canonical_email, email_pattern
from farmhunt.engine.polars.linkage import combine_edges, sync_edges, sync_signatures, value_edges
from farmhunt.engine.scoring.model import peripheral_members
from farmhunt.engine.settings import CommunitySettings, LinkageSettings, ScoringSettings, TemplateSettings, load_settings
from farmhunt.engine.polars.templates import find_templates, template_share


def test_email_canonical_and_pattern() -> None:
    emails = pl.Series(["John.Smith+promo@Gmail.com", "johnsmith@gmail.com", "jake1234@proton.me",
                        "jake9@proton.me", "j.a.k.e.77+x@proton.me", "john.smith@outlook.com"])
    canon = pl.select(canonical_email(pl.lit(emails))).to_series().to_list()
    assert canon[:2] == ["johnsmith@gmail.com", "johnsmith@gmail.com"]
    assert canon[5] == "john.smith@outlook.com"  # dots matter at most providers
    pattern = pl.select(email_pattern(pl.lit(emails))).to_series().to_list()
    assert pattern[2:5] == ["jake#@proton.me"] * 3
    assert pattern[5] == "johnsmith@outlook.com"


def _values(groups: dict[str, int], signal: str = "card") -> pl.LazyFrame:
    rows = [(f"{v}-{i:04d}", signal, v) for v, n in groups.items() for i in range(n)]
    return pl.LazyFrame(rows, schema={"account_id": pl.String, "signal": pl.String, "value": pl.String},
                        orient="row")


def test_rarity_weighting_and_hub_cap_are_linear() -> None:
    s = LinkageSettings(max_clique=10, hub_degree=2, min_weight=0.0)
    edges = value_edges(_values({"small": 3, "hub": 1000}), s).collect()
    small = edges.filter(pl.col("src").str.starts_with("small"))
    hub = edges.filter(pl.col("src").str.starts_with("hub"))
    assert small.height == 3  # a clique of 3
    assert small["weight"].to_list() == pytest.approx([1.0 / np.log2(3)] * 3)
    assert hub.height <= 2 * 1000  # linear, not 1000*999/2
    assert hub.height >= 1000
    assert hub["weight"].max() == pytest.approx(1.0 / np.log2(1000))
    # the rarer value weighs more
    assert small["weight"].min() > hub["weight"].max()


def test_groups_above_max_group_make_no_edges() -> None:
    s = LinkageSettings(max_clique=10, max_group=100, min_weight=0.0)
    assert value_edges(_values({"gmail.com": 500}), s).collect().height == 0


def test_combine_keeps_reasons_and_sums_signals() -> None:
    e = pl.LazyFrame({"src": ["a", "a", "a"], "dst": ["b", "b", "b"], "signal": ["card", "device", "card"],
                      "weight": [0.5, 0.3, 0.2]})
    out = combine_edges(e, LinkageSettings()).collect()
    assert out.height == 1
    assert out["weight"][0] == pytest.approx(0.8)  # strongest card value + device
    assert out["reasons"][0].to_list() == ["card", "device"]


def test_weak_signals_only_corroborate() -> None:
    e = pl.LazyFrame({"src": ["a", "a", "c", "e"], "dst": ["b", "b", "d", "f"],
                      "signal": ["signup_prefix", "card", "email_pattern", "device"], "weight": [0.2, 0.5, 0.3, 0.4]})
    out = combine_edges(e, LinkageSettings()).collect()
    # c-d share only an email shape: no edge; a-b's /24 adds to the card that links them.
    assert out.select("src", "dst").rows() == [("a", "b"), ("e", "f")]
    assert out["weight"][0] == pytest.approx(0.7)
    everything = combine_edges(e, LinkageSettings(corroborate=())).collect()
    assert everything.height == 3


def _requests(rows: list[tuple[str, int, int]]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Coded requests (acct, ts, prompt_hash) as the request store holds them, and acct -> account_id."""
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    accounts = (pl.DataFrame({"account_id": sorted({r[0] for r in rows})})
                .with_row_index("acct").with_columns(pl.col("acct").cast(pl.UInt32)))
    req = pl.DataFrame(
        {"account_id": [r[0] for r in rows], "ts": [t0 + dt.timedelta(seconds=r[1]) for r in rows],
         "prompt_hash": pl.Series([r[2] for r in rows], dtype=pl.UInt64)})
    return req.join(accounts, on="account_id").drop("account_id").lazy(), accounts.lazy()


def test_sync_edges_find_lockstep_accounts_not_independent_ones() -> None:
    rng = np.random.default_rng(3)
    slots = rng.choice(6 * 24 * 14, 200, replace=False)  # 200 shared 10-minute buckets over 14 days
    rows = []
    for acct in ("farm1", "farm2", "farm3"):
        rows += [(acct, int(s) * 600 + int(rng.integers(0, 600)), 0) for s in slots]
    for acct in ("solo1", "solo2"):
        rows += [(acct, int(s) * 600, 0) for s in rng.choice(6 * 24 * 14, 200, replace=False)]
    req, accounts = _requests(rows)
    s = LinkageSettings()
    first = int(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()) // 600
    span = (first, first + 6 * 24 * 14)  # the world's first and last 10-minute bucket
    edges = sync_edges(sync_signatures(req, span, s), accounts, span, s).collect()
    pairs = {tuple(sorted(p)) for p in edges.select("src", "dst").iter_rows()}
    assert pairs == {("farm1", "farm2"), ("farm1", "farm3"), ("farm2", "farm3")}
    assert edges["weight"].min() > 0.8


def test_templates_found_by_banding_with_bit_flips() -> None:
    rng = np.random.default_rng(5)
    base = int(rng.integers(0, 2**63))
    rows = []
    for i in range(400):  # 8 accounts send a template with up to 3 flipped bits
        flips = sum(1 << int(b) for b in rng.choice(64, int(rng.integers(0, 4)), replace=False))
        rows.append((f"t{i % 8}", i, base ^ flips))
    for i in range(4000):  # organic prompts
        rows.append((f"o{i % 50}", i, int(rng.integers(0, 2**63))))
    req, accounts = _requests(rows)
    s = TemplateSettings()
    templates = find_templates(lambda: [req], s)
    assert templates.height >= 1
    assert templates["n_accounts"].min() >= 8  # (an organic prompt may collide with one band by chance)
    share = dict(template_share(req, templates, s).join(accounts, on="acct")
                 .select("account_id", "templated_share").collect().iter_rows())
    assert min(share[f"t{i}"] for i in range(8)) == 1.0
    assert max(share[f"o{i}"] for i in range(50)) < 0.05


def _two_groups_and_weak_link() -> pl.DataFrame:
    rows = []
    for g, members in (("a", 6), ("b", 3)):
        ids = [f"{g}{i}" for i in range(members)]
        rows += [(x, y, 1.0) for i, x in enumerate(ids) for y in ids[i + 1:]]
    rows.append(("a0", "b0", 0.05))  # one weak link between a 6-farm and a 3-pool
    return pl.DataFrame(rows, schema={"src": pl.String, "dst": pl.String, "weight": pl.Float64}, orient="row")


def test_leiden_splits_at_weak_link_and_is_deterministic() -> None:
    edges = _two_groups_and_weak_link()
    m1 = leiden(edges, CommunitySettings())
    m2 = leiden(edges.sample(fraction=1.0, shuffle=True, seed=1), CommunitySettings())
    assert m1.equals(m2)
    groups = m1.group_by("cluster_id").agg(pl.col("account_id").sort()).sort(pl.col("account_id").list.len())
    assert groups["account_id"].to_list() == [["b0", "b1", "b2"], [f"a{i}" for i in range(6)]]
    assert set(groups["cluster_id"]) == {stable_cluster_id(["b0", "b1", "b2"]),
                                         stable_cluster_id([f"a{i}" for i in range(6)])}


def test_previous_run_ids_follow_member_overlap() -> None:
    prev = pl.DataFrame({"account_id": ["a", "b", "c", "d"], "cluster_id": [7, 7, 7, 9]})
    new = pl.DataFrame({"account_id": ["a", "b", "c", "e", "x", "y"], "cluster_id": [1, 1, 1, 1, 2, 2]})
    out = dict(map_to_previous(new, prev).iter_rows())
    assert out["a"] == out["e"] == 7  # 3 of 4 shared: keeps the old id
    assert out["x"] == 2  # no overlap: keeps its own


def test_settings_toml_overrides_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "d.toml"
    good.write_text('[communities]\nresolution = 0.1\n[linkage.weights]\ncard = 2.0\n')
    s = load_settings(good)
    assert s.communities.resolution == 0.1
    assert s.linkage.weights["card"] == 2.0 and s.linkage.weights["device"] == 1.0
    bad = tmp_path / "b.toml"
    bad.write_text('[communities]\nresoluton = 0.1\n')
    with pytest.raises(ConfigError, match="communities.resoluton"):
        load_settings(bad)
    bad.write_text('[linkage]\nsignals = ["card", "telepathy"]\n')
    with pytest.raises(ConfigError, match="telepathy"):
        load_settings(bad)
    bad.write_text('[communities]\nobjective = "louvain"\n')
    with pytest.raises(ConfigError, match="objective"):
        load_settings(bad)


def test_member_on_one_edge_without_the_clusters_behaviour_is_peripheral() -> None:
    farm = {"templated_share": 0.9, "night_share": 0.25, "output_input_ratio": 6.0, "capability_share": 0.95,
            "top_model_share": 1.0, "template_breadth": 60.0, "family_breadth": 30.0, "family_depth": 30.0}
    human = {"templated_share": 0.0, "night_share": 0.02, "output_input_ratio": 0.4, "capability_share": 0.1,
             "top_model_share": 0.6, "template_breadth": 0.0, "family_breadth": 0.0, "family_depth": 0.0}
    ids = ["f0", "f1", "f2", "f3", "lone_farm", "neighbour"]
    rows = [farm] * 5 + [human]
    zeros = {"hosting_share": 0.0, "requests_per_active_day": 5.0, "topic_entropy": 0.2, "chargeback_rate": 0.0,
             "n_keys_revoked": 0, "decline_rate": 0.0, "micro_payment_share": 0.0,
             "second_stream": 0, "declined_small_auth": 0.0, "tested_card_spent": 0.0,
             "multi_country_cards": 0.0, "foreign_chargeback_rate": 0.0}
    features = pl.DataFrame([{"account_id": a, **r, **zeros} for a, r in zip(ids, rows)])
    membership = pl.DataFrame({"account_id": ids, "cluster_id": [7] * 6})
    core = [(a, b) for i, a in enumerate(ids[:4]) for b in ids[i + 1:4]]
    pairs = core + [("f0", "lone_farm"), ("f1", "neighbour")]  # two members hang on one edge each
    edges = pl.DataFrame({"src": [a for a, _ in pairs], "dst": [b for _, b in pairs],
                          "weight": [1.0] * len(pairs), "reasons": [["card"]] * len(pairs)})
    clusters = pl.DataFrame([{"cluster_id": 7, "flagged": True, "predicted_kind": "distillation_farm", **farm,
                              **{k: v for k, v in zeros.items() if k != "n_keys_revoked"}, "key_rotation": 0.0}])
    out = dict(peripheral_members(features, membership, clusters, {}, ScoringSettings()).iter_rows())
    assert out == {"f0": False, "f1": False, "f2": False, "f3": False, "lone_farm": False, "neighbour": True}
    # An unflagged cluster has no peripheral members to speak of.
    none = peripheral_members(features, membership, clusters.with_columns(pl.lit(False).alias("flagged")),
                              {}, ScoringSettings())
    assert none.is_empty()
