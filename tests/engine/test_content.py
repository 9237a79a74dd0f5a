"""Prompt families (paraphrases 4-10 bits apart), bank-style family edges, and the cheap-benign cap."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from farmhunt.engine.polars.families import _mix, _unmix, components, distinct_hashes, hash_families, prompt_families
from farmhunt.engine.polars.linkage import family_edges
from farmhunt.engine.scoring.model import gated_contributions
from farmhunt.engine.scoring.signals import Signal
from farmhunt.engine.settings import LinkageSettings, ScoringSettings, TemplateSettings


def _flip(rng: np.random.Generator, h: int, k: int) -> int:
    for b in rng.choice(64, k, replace=False):
        h ^= 1 << int(b)
    return h


def _bank(seed: int = 1, centers: int = 30, uses: int = 20, flips: tuple[int, int] = (6, 10), noise: int = 20_000):
    rng = np.random.default_rng(seed)
    c = [int(x) for x in rng.integers(0, 2**63, centers, dtype=np.int64)]
    para = [
        (i, _flip(rng, c[i], int(rng.integers(flips[0], flips[1] + 1)))) for i in range(centers) for _ in range(uses)
    ]
    rand = [int(x) for x in rng.integers(0, 2**63, noise, dtype=np.int64)]
    return c, para, rand


def test_paraphrases_6_to_10_bits_apart_form_one_family_each_and_random_prompts_none():
    _, para, rand = _bank()
    h = np.unique(np.array([p for _, p in para] + rand, dtype=np.uint64))
    fam = dict(hash_families(h, TemplateSettings()).iter_rows())
    # Four 16-bit bands would see almost none of these pairs; the 8x8 multi-index sees most.
    by_center: dict[int, list[int]] = {}
    for i, p in para:
        by_center.setdefault(i, []).append(fam.get(p, -1))
    covered = [max(np.bincount([f for f in v if f >= 0] or [0]).max() / len(v), 0) for v in by_center.values()]
    assert np.median(covered) >= 0.7  # measured 0.775 (20 uses per bank prompt, 6-10 bits)
    # No family mixes two centers' paraphrases.
    owner: dict[int, set[int]] = {}
    for i, p in para:
        if p in fam:
            owner.setdefault(fam[p], set()).add(i)
    assert all(len(v) == 1 for v in owner.values())
    # Random prompts: at most a handful join anything.
    assert sum(r in fam for r in rand) <= 0.002 * len(rand)


def test_components_are_deterministic_and_labelled_by_smallest_index():
    _, para, rand = _bank(seed=3, noise=2000)
    h = np.unique(np.array([p for _, p in para] + rand, dtype=np.uint64))
    a, b = components(h, TemplateSettings()), components(h, TemplateSettings())
    assert np.array_equal(a, b)
    assert all(a[i] <= i for i in range(h.size))


def _requests(para, rand, n_farm=40, per_acct=25, seed=5):
    """Farm accounts draw bank paraphrases (one use each); benign accounts random prompts."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_farm):
        for j in rng.choice(len(para), per_acct, replace=False):
            rows.append((a, para[j][1]))
    for k, r in enumerate(rand[:4000]):
        rows.append((n_farm + k // 20, r))
    return pl.DataFrame(rows, schema={"acct": pl.UInt32, "prompt_hash": pl.UInt64}, orient="row")


def test_distinct_hashes_streamed_part_by_part_take_the_same_sample_as_all_at_once():
    # The running buffer (pruned at 2 x cap) must keep exactly the lowest-`cap` mixed values of the whole
    # set, whatever the parts' sizes and overlaps; and _unmix inverts _mix on every 64-bit word.
    rng = np.random.default_rng(5)
    words = rng.integers(0, 2**64, 200_000, dtype=np.uint64)
    assert np.array_equal(_unmix(_mix(words)), words)
    allh = rng.integers(0, 2**64, 60_000, dtype=np.uint64)
    parts = [pl.DataFrame({"prompt_hash": allh[rng.integers(0, allh.size, 9_000)]}) for _ in range(25)]
    union = np.unique(np.concatenate([p["prompt_hash"].to_numpy() for p in parts]))
    for cap in (1, 777, 5_000, 10**9):
        got = distinct_hashes(lambda: [p.lazy() for p in parts], TemplateSettings(family_max_hashes=cap))
        m = _mix(union)
        want = union if cap >= union.size else union[m <= np.partition(m, cap - 1)[cap - 1]]
        assert got.dtype == np.uint64 and np.array_equal(got, np.sort(want)), cap


def test_family_breadth_and_bank_edges_link_the_farm_only():
    _, para, rand = _bank(seed=7, centers=60, uses=12)
    req = _requests(para, rand)
    fam = prompt_families(lambda: [req.lazy()], 240, TemplateSettings())
    farm = fam.filter(pl.col("acct") < 40)
    assert fam.filter(pl.col("acct") >= 40).height <= 3
    assert farm.group_by("acct").len()["len"].median() >= 10
    ids = pl.LazyFrame(
        {"acct": pl.Series(range(240), dtype=pl.UInt32), "account_id": [f"a{i:03d}" for i in range(240)]}
    )
    edges = family_edges(fam, ids, LinkageSettings()).collect()
    assert edges.height > 300
    assert (edges["src"] < "a040").all() and (edges["dst"] < "a040").all()
    assert edges["weight"].max() <= LinkageSettings().weights["prompt_family"]


def test_popular_app_users_sharing_all_their_families_make_no_bank_edges():
    # Six families, every user uses all six: overlap 100% > family_max_overlap.
    fam = pl.DataFrame(
        {
            "acct": pl.Series([a for a in range(30) for _ in range(6)], dtype=pl.UInt32),
            "family": pl.Series([f for _ in range(30) for f in range(6)], dtype=pl.Int64),
            "n_accounts": pl.Series([30] * 180, dtype=pl.UInt32),
            "idf": [4.0] * 180,
            "uses": pl.Series([1] * 180, dtype=pl.UInt32),
            "acct_hashes": pl.Series([12] * 180, dtype=pl.UInt32),
        }
    )
    ids = pl.LazyFrame({"acct": pl.Series(range(30), dtype=pl.UInt32), "account_id": [f"p{i:02d}" for i in range(30)]})
    assert family_edges(fam, ids, LinkageSettings()).collect().height == 0


def _sig(name: str, family: str, weight: float, cheap: bool) -> Signal:
    return Signal(name, name, family, weight, 0.0, 1.0, "x", cheap)


def test_cheap_benign_evidence_cancels_only_cheap_fraud_evidence():
    sigs = (
        _sig("flat", "distillation_farm", 1.0, True),
        _sig("relay", "reseller_pool", 2.0, False),
        _sig("declines", "card_testing", 3.0, False),
        _sig("org", "benign_org", -3.0, True),
        _sig("edu", "benign_org", -1.5, False),
    )
    contrib = pl.DataFrame(
        {
            "cluster_id": [1, 2, 3],
            "declines": [0.0, 0.0, 0.0],
            "flat": [0.5, 0.0, 1.0],
            "relay": [2.0, 2.0, 0.0],
            "org": [-3.0, -3.0, -0.4],
            "edu": [0.0, -1.0, 0.0],
        }
    )
    out = {r["cluster_id"]: r for r in gated_contributions(contrib, sigs).iter_rows(named=True)}
    # Cluster 1: the org id cancels the cheap time shape (0.5), not the relay volume.
    assert abs(out[1]["org"] + 0.5) < 1e-12 and out[1]["relay"] == 2.0
    # Cluster 2: no cheap fraud evidence, so the org id counts nothing; expensive benign evidence still does.
    assert out[2]["org"] == 0.0 and out[2]["edu"] == -1.0
    # Cluster 3: cheap benign below cheap fraud is untouched.
    assert out[3]["org"] == -0.4


def _families(
    rows: list[tuple[int, int]], n_total: int, hashes: dict[int, int] | None = None, uses: dict[int, int] | None = None
) -> pl.DataFrame:
    """A FAMILY_SCHEMA table from (acct, family) uses: one distinct hash each (`uses`: acct -> that many
    in each of its families instead); `hashes`: acct -> its distinct prompt hashes in all (default: 2 per
    family it uses)."""
    df = pl.DataFrame(rows, schema={"acct": pl.UInt32, "family": pl.Int64}, orient="row").unique().sort("acct", "family")
    n_acc = df.group_by("family").agg(pl.len().cast(pl.UInt32).alias("n_accounts"))
    total = df.group_by("acct").agg((2 * pl.len()).cast(pl.UInt32).alias("acct_hashes"))
    if hashes:
        over = pl.DataFrame({"acct": list(hashes), "h": list(hashes.values())}, schema={"acct": pl.UInt32, "h": pl.UInt32})
        total = total.join(over, on="acct", how="left").select("acct", pl.coalesce("h", "acct_hashes").alias("acct_hashes"))
    return (
        df.join(n_acc, on="family")
        .join(total, on="acct")
        .with_columns(
            (float(n_total) / pl.col("n_accounts").cast(pl.Float64)).log().alias("idf"),
            pl.col("acct").replace_strict(uses or {}, default=1, return_dtype=pl.UInt32).alias("uses"),
        )
        .select("acct", "family", "n_accounts", "idf", "uses", "acct_hashes")
    )


def _bank_world(seed: int = 11) -> tuple[list[tuple[int, int]], pl.LazyFrame]:
    """A 300-prompt bank: accounts 0-119 draw 15 of it each, 120-124 (low volume) 2 each, 125 draws 3;
    a popular app (families 1000-1003): accounts 200-259 use all four; account 300 is a reseller that
    meets two bank families by chance among 4,000 distinct prompts; account 301 is a CI job repeating
    three templates (200 near-duplicates each) whose families also hold bank paraphrases (chance pairs)."""
    rng = np.random.default_rng(seed)
    rows = [(a, int(f)) for a in range(120) for f in rng.choice(300, 15, replace=False)]
    rows += [(a, int(f)) for a in range(120, 125) for f in rng.choice(300, 2, replace=False)]
    rows += [(125, int(f)) for f in rng.choice(300, 3, replace=False)]
    rows += [(a, 1000 + f) for a in range(200, 260) for f in range(4)]
    rows += [(300, 7), (300, 8), (301, 10), (301, 11), (301, 12)]
    ids = pl.LazyFrame({"acct": pl.Series(range(400), dtype=pl.UInt32), "account_id": [f"a{i:03d}" for i in range(400)]})
    return rows, ids


def test_low_volume_bank_members_are_linked_by_the_bank_and_chance_users_are_not():
    from farmhunt.engine.polars.families import prompt_banks

    rows, ids = _bank_world()
    fam = _families(rows, 4000, hashes={300: 4000, 301: 640}, uses={301: 200})
    s = LinkageSettings()
    edges = family_edges(fam, ids, s).collect()
    bank = edges.filter(pl.col("signal") == "family_bank")
    pairwise = edges.filter(pl.col("signal") == "prompt_family")
    low = [f"a{i:03d}" for i in range(120, 126)]
    ends = pl.concat([bank["src"], bank["dst"]])
    # Each low-volume member (2-3 families) is linked by the bank, never by the pairwise rule.
    for a in low:
        assert (ends == a).sum() >= 5, a
        assert not pl.concat([pairwise["src"], pairwise["dst"]]).is_in([a]).any(), a
    # Reasons are exact: a pair gets one content reason, and every bank edge ends at bank members.
    assert edges.group_by("src", "dst").len()["len"].max() == 1
    assert ends.str.slice(1).cast(pl.Int32).max() < 126
    # The app's users and the chance reseller are nobody's bank co-members.
    no_core = pl.DataFrame(schema={"a": pl.UInt32, "b": pl.UInt32})
    assert prompt_banks(fam, no_core, s).is_empty()  # no pairwise-linked core: no bank
    assert not ends.is_in([f"a{i:03d}" for i in [*range(200, 260), 300, 301]]).any()
    # Weight: one shared bank family of idf log(4000/n) scaled like the pairwise rule, at most the base.
    assert 0 < bank["weight"].min() and bank["weight"].max() <= s.weights["family_bank"]


def test_bank_needs_many_families_and_members_using_a_small_subset():
    from farmhunt.engine.polars.families import prompt_banks

    rows, ids = _bank_world()
    fam = _families(rows, 4000, hashes={300: 4000, 301: 640}, uses={301: 200})
    s = LinkageSettings()
    edges = family_edges(fam, ids, s).collect().filter(pl.col("signal") == "prompt_family")
    acct = {f"a{i:03d}": i for i in range(400)}
    core = pl.DataFrame(
        {"a": [acct[x] for x in edges["src"]], "b": [acct[x] for x in edges["dst"]]},
        schema={"a": pl.UInt32, "b": pl.UInt32},
    )
    members = prompt_banks(fam, core, s)
    assert members["bank"].n_unique() == 1
    got = set(members["acct"].unique().to_list())
    assert set(range(120, 126)) <= got and got <= set(range(126))
    assert members["family"].n_unique() >= 250
    # A floor above the bank's families, or a coverage bar under its members' 5%: no bank.
    assert prompt_banks(fam, core, dataclasses.replace(s, bank_min_families=400)).is_empty()
    assert prompt_banks(fam, core, dataclasses.replace(s, bank_max_coverage=0.01)).is_empty()
    # The chance reseller joins when the share floor is off, the CI job when template-style uses count.
    assert 300 in prompt_banks(fam, core, dataclasses.replace(s, bank_min_share=0.0))["acct"].to_list()
    assert 301 in prompt_banks(fam, core, dataclasses.replace(s, family_max_uses=1000))["acct"].to_list()
    # Deterministic to the bit.
    assert members.equals(prompt_banks(fam, core, s))


def test_popular_app_users_with_a_hub_account_make_no_bank():
    # An app (families 0-3, all users use all four) and one heavy user of 10 other families who also uses
    # two app families: pairwise links from the heavy user to each app user, but no large set of families
    # that members each use a small part of.
    rows = [(a, f) for a in range(60) for f in range(4)]
    rows += [(100, f) for f in [0, 1, *range(10, 20)]]
    rows += [(a, f) for a in range(101, 104) for f in range(10, 20)]
    fam = _families(rows, 4000)
    ids = pl.LazyFrame({"acct": pl.Series(range(200), dtype=pl.UInt32), "account_id": [f"p{i:03d}" for i in range(200)]})
    edges = family_edges(fam, ids, LinkageSettings()).collect()
    assert edges.filter(pl.col("signal") == "family_bank").height == 0


def test_template_style_use_of_a_family_makes_no_content_edge():
    # A CI job repeats two templates (200 near-duplicates each); their families also hold two farm
    # members' paraphrases (chance pairs of a template's cloud). Pairwise, the job shares two of each
    # member's six families: linked if every use counted, not when only bank-style uses (<= 5) do.
    rows = [(0, f) for f in range(6)] + [(1, f) for f in range(6, 12)] + [(9, 0), (9, 1), (9, 6), (9, 7)]
    rows += [(a, f) for a in range(2, 5) for f in (0, 1, 6, 7)]  # (more users, so n_accounts >= 3)
    fam = _families(rows, 4000, uses={9: 200})
    ids = pl.LazyFrame({"acct": pl.Series(range(10), dtype=pl.UInt32), "account_id": [f"c{i}" for i in range(10)]})
    s = LinkageSettings()
    ends = lambda e: set(e["src"]) | set(e["dst"])  # noqa: E731
    assert "c9" not in ends(family_edges(fam, ids, s).collect())
    assert "c9" in ends(family_edges(fam, ids, dataclasses.replace(s, family_max_uses=1000)).collect())


def test_family_depth_discounts_a_heavy_users_chance_near_copies():
    # A heavy benign user: 170 distinct prompts, 29 of them near-copies of other people's in 28 families
    # (a share of 0.17, what a million accounts produce by chance). A bank member: 12 families holding
    # 40 of its 50 prompts. Breadth alone ranks the heavy user first; depth counts its families not at all.
    from farmhunt.engine.polars.families import FAMILY_SCHEMA, family_breadth
    from farmhunt.engine.polars.features import family_depth

    rows = [(0, f, 1 + (f == 0), 170) for f in range(28)] + [(1, 100 + f, 4 if f < 4 else 3, 50) for f in range(12)]
    fam = pl.DataFrame(
        {"acct": [r[0] for r in rows], "family": [r[1] for r in rows], "n_accounts": [5] * len(rows),
         "idf": [3.0] * len(rows), "uses": [r[2] for r in rows], "acct_hashes": [r[3] for r in rows]},
        schema=FAMILY_SCHEMA,
    )
    per = family_breadth(fam).sort("acct")
    assert per["family_breadth"].to_list() == [28.0, 12.0]
    assert per["family_share"].round(3).to_list() == [round(29 / 170, 3), round(40 / 50, 3)]
    depth = per.with_columns(family_depth(0.15, 0.35))["family_depth"].to_list()
    assert depth[0] == pytest.approx(28 * (29 / 170 - 0.15) / 0.2) and depth[0] < 3.0
    assert depth[1] == 12.0


def test_drawing_from_one_prompt_bank_is_a_farms_behaviour_not_mere_coordination():
    # A camouflaged content farm's cluster (sweep world, measured): office hours, ordinary output,
    # capability topics, and most members tied by one prompt bank. Without the bank signal its only
    # behaviour is the capability topics, which gate the shared-content evidence to half: not flagged.
    # Bank ties are the farm's own behaviour (no benign cluster of the sweep's test worlds, the
    # validation worlds or seed scale has any), so the same cluster is flagged with them and not without.
    from farmhunt.engine.scoring.model import score_clusters
    from farmhunt.engine.scoring.signals import default_table

    t = default_table()
    row = {s.column: 0.0 for s in t.signals} | {
        "cluster_id": 1, "capability_share": 0.87, "top_model_share": 0.76, "office_hours_share": 0.76,
        "output_input_ratio": 1.1, "diurnal": 0.84, "tie_content": 0.89, "tie_prompt_family": 0.79,
        "tie_family_bank": 0.68, "family_depth": 1.2,
    }
    base = {"capability_share": 0.6, "top_model_share": 0.8, "output_input_ratio_hi": 3.5, "office_hours_share_hi": 0.89}
    agg = pl.DataFrame([row, row | {"cluster_id": 2, "tie_family_bank": 0.0}])
    clusters, evidence = score_clusters(agg, base, ScoringSettings())
    flagged = dict(clusters.select("cluster_id", "flagged").iter_rows())
    assert flagged == {1: True, 2: False}
    assert clusters.filter(pl.col("cluster_id") == 1)["predicted_kind"].item() == "distillation_farm"
    bank = evidence.filter(pl.col("cluster_id") == 1, pl.col("signal") == "bank_paraphrases")
    assert bank["contribution"].item() == pytest.approx(2.0)  # at full strength from 60% of members
    assert "prompt bank" in bank["text"].item()
