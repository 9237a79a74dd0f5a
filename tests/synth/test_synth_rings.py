"""synth: statistical tests (that can fail) of the ring kinds added for issue 13, and of the scenario sweep."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from farmhunt.core.contract import WORLD_TABLES
from farmhunt.core.world import load_world
from synth.config import config_from_dict, config_to_dict
from synth.generate import build_blocks, generate
from synth.rings import KINDS
from synth.sweep import DESIGNS, sweep_config
from synth.world import Builder

DAYS = 21
CONFIG = {
    "seed": 13, "days": DAYS, "benign": {"accounts": 3000},
    "rings": [
        {"kind": "content_farm", "size": 300, "params": {"bank_size": 300, "flip_min": 4, "flip_max": 10,
                                                          "bank_frac": 0.8, "operator_tz_frac": 0.0}},
        {"kind": "key_leak", "size": 30, "params": {"relay_mode": "hosting", "relay_ips": 12,
                                                     "change_start": 0.3, "change_end": 0.6}},
        {"kind": "account_takeover", "size": 30, "params": {"relay_mode": "hosting", "relay_ips": 12}},
        {"kind": "enterprise_reseller", "size": 30, "params": {"card_countries": 6}},
        {"kind": "spread_card_testing", "size": 200, "params": {"tests_max": 3}},
        {"kind": "ci_fleet", "size": 10, "params": {"window_start": 1.0, "window_hours": 3.0}},
        {"kind": "household", "count": 10, "size_min": 2, "size_max": 6},
        {"kind": "research_lab", "size": 12, "params": {"window": "night", "network": "education"}},
        {"kind": "distillation_farm", "size": 400, "camouflage": 0.5, "design": "mega_farm",
         "params": {"mimic_frac": 1.0, "own_instruments_frac": 1.0, "stagger_frac": 1.0, "stagger_days": 120.0,
                    "own_ip_frac": 1.0, "organic_share": 0.4, "requests_per_day": 6.0}},
    ],
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    cfg = config_from_dict(CONFIG)
    out = tmp_path_factory.mktemp("rings") / "w"
    generate(cfg, out)
    load_world(out, tables=WORLD_TABLES)  # the contract's validator accepts it
    t = {k: pl.read_parquet(out / f"{k}.parquet").with_columns(pl.col(pl.Categorical).cast(pl.String))
         for k in ("accounts", "payments", "api_keys", "requests", "labels", "asns")}
    req = t["requests"].join(t["asns"].rename({"kind": "asn_kind", "org": "asn_org"}), on="asn")
    t["requests"] = req.join(t["labels"].select("account_id", "ring_id", "ring_kind"), on="account_id")
    t["accounts"] = t["accounts"].join(t["labels"], on="account_id")
    t["payments"] = t["payments"].join(t["labels"].select("account_id", "ring_kind", "ring_id"), on="account_id")
    t["out"] = out
    t["cfg"] = cfg
    return t


def _kind(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    return df.filter(pl.col("ring_kind") == kind)


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Min Hamming distance of every a to any b (uint64 arrays)."""
    return np.bitwise_count(a[:, None] ^ b[None, :]).min(axis=1)


def test_labels_and_registry(world: dict) -> None:
    lab = world["labels"]
    for k in ("content_farm", "key_leak", "account_takeover", "enterprise_reseller", "spread_card_testing"):
        assert KINDS[k].is_fraud and _kind(lab, k)["is_fraud"].all()
    for k in ("ci_fleet", "household", "research_lab"):
        assert not KINDS[k].is_fraud and not _kind(lab, k)["is_fraud"].any()
    assert _kind(lab, "mega_farm").height == 400 and _kind(lab, "mega_farm")["is_fraud"].all()
    assert _kind(lab, "mega_farm")["ring_id"].unique().to_list() == ["mega_farm-001"]
    manifest = json.loads((world["out"] / "manifest.json").read_text())
    mega = [r for r in manifest["rings"] if r.get("design") == "mega_farm"][0]
    assert mega["kind"] == "distillation_farm" and mega["params"]["own_ip_frac"] == 1.0


# ------------------------------------------------------------------------------------ content_farm
def test_content_farm_paraphrases_sit_4_to_10_bits_from_the_bank(world: dict) -> None:
    b = Builder(world["cfg"])
    blocks, _ = build_blocks(b, world["cfg"])  # same config and seed: the same registries as the world's
    (g, flips), = [(g, f) for g, f in b.tg_flips.items()]
    assert flips == (4, 10)
    bank = np.array(b.tpl_hash, np.uint64)[b.tgroups[g]]
    req = _kind(world["requests"], "content_farm")
    d = _hamming(req["prompt_hash"].to_numpy(), bank)
    para = (d >= 4) & (d <= 10)
    assert 0.65 <= para.mean() <= 0.9                      # bank_frac 0.8 (+- per-account noise)
    assert (d <= 3).sum() == 0                             # no near duplicate the 4x16 banding would catch
    assert ((d > 10) & (d <= 16)).mean() < 0.01           # the rest are organic: far from every bank prompt
    hist = np.bincount(d[para], minlength=11)[4:11]
    assert (hist > 0.08 * para.sum()).all()                # every distance 4..10 is used, roughly uniformly
    # two members' paraphrases of one bank prompt are far apart in Hamming distance (no shared template)
    assert np.median(np.bitwise_count(bank[:1] ^ bank[1:])) >= 26


def test_content_farm_shares_no_infrastructure(world: dict) -> None:
    acc = _kind(world["accounts"], "content_farm")
    assert acc["device_id"].n_unique() == acc.height
    assert acc["signup_ip"].n_unique() >= 0.97 * acc.height
    req = _kind(world["requests"], "content_farm")
    per_ip = req.group_by("ip").agg(pl.col("account_id").n_unique().alias("n"))
    assert per_ip["n"].max() <= 2 and (per_ip["n"] == 1).mean() > 0.97
    assert set(req["asn_kind"].unique()) <= {"residential"}
    pay = _kind(world["payments"], "content_farm")
    per_card = pay.group_by("card_fingerprint").agg(pl.col("account_id").n_unique().alias("n"))
    assert per_card["n"].max() == 1
    assert pay["card_bin"].n_unique() >= 40 and pay["card_country"].n_unique() >= 8
    # aged: most accounts existed weeks before the window
    t0 = world["requests"]["ts"].min()
    assert (acc["created_at"] < t0 - dt.timedelta(days=20)).mean() > 0.8


def test_content_farm_usage_shape(world: dict) -> None:
    req = _kind(world["requests"], "content_farm")
    ben = _kind(world["requests"], "benign")
    per_day = req.group_by("account_id", pl.col("ts").dt.date()).len()["len"].median()
    assert 1 <= per_day <= 10                              # a few requests a day
    assert (req["model"] == "atlas-pro").mean() > 0.75
    assert req["topic"].is_in(["coding", "agentic", "cybersecurity", "math"]).mean() > 0.8
    assert req["output_tokens"].median() > 2.5 * ben["output_tokens"].median()   # long reasoning answers
    # a working week: weekends far quieter than weekdays (office profile)
    wd = req["ts"].dt.weekday()
    assert (wd >= 6).mean() < 0.1


# --------------------------------------------------------------------- key_leak / account_takeover
def test_takeover_stream_on_a_new_key_from_other_networks_around_the_clock(world: dict) -> None:
    keys = _kind(world["api_keys"].join(world["labels"], on="account_id"), "account_takeover")
    assert (keys.group_by("account_id").len()["len"] == 2).all()
    new = keys.sort("created_at").group_by("account_id").agg(pl.col("key_id").last(), pl.col("created_at").last())
    req = _kind(world["requests"], "account_takeover").join(
        new.rename({"key_id": "new_key", "created_at": "change"}), on="account_id")
    stream = req.filter(pl.col("key_id") == pl.col("new_key"))
    own = req.filter(pl.col("key_id") != pl.col("new_key"))
    assert stream.height > own.height                      # the stream outweighs the owner
    assert (stream["ts"] >= stream["change"]).all()        # it starts at the change, not before
    first = stream.group_by("account_id").agg(pl.col("ts").min(), pl.col("change").first())
    assert ((first["ts"] - first["change"]).dt.total_hours() <= 30).all()   # ... and right then
    assert (stream["asn_kind"] == "hosting").all() and (own["asn_kind"] != "hosting").all()
    assert set(stream["asn"].unique()).isdisjoint(set(own["asn"].unique()))
    assert own.filter(pl.col("ts") > pl.col("change")).height > 0  # the owner's traffic goes on
    # around the clock: night share (00-06 UTC and local) near the flat 1/4; the owner's far lower
    assert stream["ts"].dt.hour().lt(6).mean() > 0.18
    # shared relays: the 30 victims' streams come from the operator's 12 relay IPs
    assert stream["ip"].n_unique() <= 12 and stream.group_by("ip").agg(pl.col("account_id").n_unique())["account_id"].max() >= 5
    ratio = lambda df: (df["output_tokens"] / df["input_tokens"]).median()  # noqa: E731
    assert ratio(stream) > 2 * ratio(own)


def test_leaked_key_second_stream_starts_at_the_change_day_on_the_same_key(world: dict) -> None:
    keys = _kind(world["api_keys"].join(world["labels"], on="account_id"), "key_leak")
    assert (keys.group_by("account_id").len()["len"] == 1).all()   # one key: the leaked one
    req = _kind(world["requests"], "key_leak")
    t0 = world["requests"]["ts"].min().replace(hour=0, minute=0, second=0, microsecond=0)
    req = req.with_columns(((pl.col("ts") - t0).dt.total_days()).alias("day"))
    stream = req.filter(pl.col("asn_kind") == "hosting")
    start = stream.group_by("account_id").agg(pl.col("day").min())["day"]
    assert start.len() == 30
    assert start.min() >= int(0.3 * DAYS) and start.max() <= int(0.6 * DAYS) + 1  # change in [0.3, 0.6] x window
    own = req.filter(pl.col("asn_kind") != "hosting")
    assert own["day"].min() == 0                           # the owner's traffic before the change
    assert set(stream["asn"].unique()).isdisjoint(set(own["asn"].unique()))
    # the owner is a person (quiet nights in local time); the stream runs all night
    assert _local_night_share(stream, world["accounts"]) > 0.18
    assert _local_night_share(own, world["accounts"]) < 0.12


def _local_night_share(req: pl.DataFrame, accounts: pl.DataFrame) -> float:
    """Share of requests between 00:00 and 06:00 in the account's declared country's time (first zone)."""
    from synth.identity import COUNTRIES

    tz = pl.DataFrame({"country": list(COUNTRIES), "tz": [float(v[1][0]) for v in COUNTRIES.values()]})
    r = req.join(accounts.select("account_id", "country"), on="account_id").join(tz, on="country")
    local = (r["ts"].dt.hour().cast(pl.Float64) + r["tz"]) % 24
    return float((local < 6).mean())


# ----------------------------------------------------------------------------- enterprise_reseller
def test_enterprise_reseller_org_dress_over_relay_volume_and_stolen_cards(world: dict) -> None:
    acc = _kind(world["accounts"], "enterprise_reseller")
    assert acc["org_id"].n_unique() == 1 and acc["org_id"].null_count() == 0
    assert (acc["plan"] == "enterprise").all() and acc["email"].str.split("@").list.last().n_unique() == 1
    hq = acc["country"].mode()[0]
    pay = _kind(world["payments"], "enterprise_reseller")
    assert (pay["card_country"] != hq).all() and pay["card_country"].n_unique() >= 3
    assert pay["card_fingerprint"].n_unique() > acc.height   # several cards per account, not one corporate card
    assert pay["status"].is_in(["disputed", "refunded"]).mean() > 0.15
    req = _kind(world["requests"], "enterprise_reseller")
    ben = _kind(world["requests"], "benign")
    per = lambda df: df.group_by("account_id", pl.col("ts").dt.date()).len()["len"].median()  # noqa: E731
    assert per(req) > 20 * per(ben)
    assert (req["asn_kind"] == "hosting").mean() > 0.5
    assert (req["ts"].dt.weekday() >= 6).mean() < 0.2      # office-shaped: quiet weekends


# ----------------------------------------------------------------------------- spread_card_testing
def test_spread_card_testing_few_tests_each_then_working_cards_spent_by_others(world: dict) -> None:
    pay = _kind(world["payments"], "spread_card_testing").join(
        world["accounts"].select("account_id", "plan"), on="account_id")
    tests = pay.filter(pl.col("plan") == "free")
    spend = pay.filter(pl.col("plan") != "free")
    per = tests.group_by("account_id").len()["len"]
    assert per.min() >= 1 and per.max() <= 3                  # few tests each (tests_max 3)
    assert (tests["amount_usd"] <= 2.5).all() and tests["status"].eq("declined").mean() > 0.6
    assert spend["amount_usd"].median() > 20
    worked = tests.filter(pl.col("status") == "succeeded").group_by("card_fingerprint").agg(
        pl.col("ts").min().alias("worked"), pl.col("account_id").first().alias("tester"))
    s = spend.join(worked, on="card_fingerprint", how="left")
    assert s["worked"].null_count() == 0                      # every spent card passed a test first
    assert (s["ts"] > s["worked"]).all() and (s["account_id"] != s["tester"]).all()
    assert spend["status"].eq("disputed").mean() > 0.1


# ------------------------------------------------------------------------------------------ benign
def test_ci_fleet_one_card_synchronised_nightly_from_one_cloud(world: dict) -> None:
    acc = _kind(world["accounts"], "ci_fleet")
    assert acc["org_id"].null_count() == acc.height           # no org workspace
    pay = _kind(world["payments"], "ci_fleet")
    assert pay["card_fingerprint"].n_unique() == 1 and pay["account_id"].n_unique() == acc.height
    req = _kind(world["requests"], "ci_fleet").join(acc.select("account_id", "country"), on="account_id")
    assert req["asn"].n_unique() == 1 and (req["asn_kind"] == "hosting").all()
    from synth.identity import COUNTRIES

    tz = COUNTRIES[req["country"][0]][1]
    local = [((req["ts"].dt.hour().cast(pl.Float64) + req["ts"].dt.minute() / 60 + z) % 24) for z in tz]
    in_window = max(float(((x >= 1.0) & (x < 4.3)).mean()) for x in local)  # 01:00-04:00 local, + jitter
    assert in_window > 0.97
    # synchronised: nearly every request shares its minute with other accounts of the fleet
    m = req.group_by(pl.col("ts").dt.truncate("1m")).agg(pl.col("account_id").n_unique().alias("n"), pl.len())
    assert m.filter(pl.col("n") >= 3)["len"].sum() / req.height > 0.9
    days = req.group_by("account_id").agg(pl.col("ts").dt.date().n_unique().alias("d"))["d"]
    assert days.min() >= DAYS - 4                            # every night, steady


def test_household_shares_card_and_home_but_not_a_person(world: dict) -> None:
    acc = _kind(world["accounts"], "household")
    pay = _kind(world["payments"], "household")
    for rid, g in acc.group_by("ring_id"):
        assert g["signup_ip"].n_unique() == 1
        assert g["name"].str.split(" ").list.last().n_unique() == 1
        p = pay.filter(pl.col("ring_id") == rid[0])
        if p["account_id"].n_unique() >= 2:
            assert p["card_fingerprint"].n_unique() < p["account_id"].n_unique()
    assert acc["name"].n_unique() > 0.8 * acc.height          # different people, not one person's accounts


def test_research_lab_org_education_network_batches_in_a_window(world: dict) -> None:
    acc = _kind(world["accounts"], "research_lab")
    assert acc["org_id"].n_unique() == 1 and acc["email"].str.ends_with(".edu").all()
    pay = _kind(world["payments"], "research_lab")
    assert pay["card_fingerprint"].n_unique() == 1
    req = _kind(world["requests"], "research_lab")
    assert (req["asn_kind"] == "education").mean() > 0.5
    assert req["output_tokens"].median() > 1.5 * _kind(world["requests"], "benign")["output_tokens"].median()
    assert (req["model"] == "atlas-pro").mean() < 0.6        # evals compare models


def test_mega_farm_knobs_unique_instruments_mimicry_and_aged_signups(world: dict) -> None:
    acc = _kind(world["accounts"], "mega_farm")
    assert acc["device_id"].n_unique() == acc.height
    pay = _kind(world["payments"], "mega_farm")
    assert pay.group_by("card_fingerprint").agg(pl.col("account_id").n_unique())["account_id"].max() == 1
    req = _kind(world["requests"], "mega_farm")
    per_ip = req.group_by("ip").agg(pl.col("account_id").n_unique().alias("n"))["n"]
    assert (per_ip == 1).mean() > 0.97                       # own IP each (own_ip_frac 1)
    t0 = world["requests"]["ts"].min()
    assert (acc["created_at"] < t0 - dt.timedelta(days=10)).mean() > 0.5   # staggered back 120 days
    # diurnal mimicry: a human day in the declared country's local time (a flat farm has no such dip)
    from synth.identity import COUNTRIES

    tz = pl.DataFrame({"country": list(COUNTRIES), "tz": [float(v[1][0]) for v in COUNTRIES.values()]})
    r = req.join(acc.select("account_id", "country"), on="account_id").join(tz, on="country")
    local = ((r["ts"].dt.hour().cast(pl.Float64) + r["tz"]) % 24).floor().cast(pl.Int64).to_numpy()
    h = np.bincount(local, minlength=24) / len(local)
    assert h[2:6].mean() < 0.45 * h[10:17].mean()
    # organic traffic mixed in: a good part of the topics is outside the capability set
    assert 0.1 < (~req["topic"].is_in(["coding", "agentic", "cybersecurity", "math"])).mean() < 0.6


# ------------------------------------------------------------------------------------------- sweep
def _hashes(world: Path) -> dict[str, str]:
    return {k: v["sha256"] for k, v in json.loads((world / "manifest.json").read_text())["files"].items()}


def test_sweep_worlds_pure_function_of_seed_and_index(tmp_path: Path) -> None:
    assert config_to_dict(sweep_config(5, 2)) == config_to_dict(sweep_config(5, 2))
    assert config_to_dict(sweep_config(5, 2)) != config_to_dict(sweep_config(5, 3))
    assert config_to_dict(sweep_config(5, 2)) != config_to_dict(sweep_config(6, 2))
    from synth.sweep import write_sweep

    write_sweep(2, tmp_path / "a", seed=5, first=1)
    generate(sweep_config(5, 2), tmp_path / "b")
    assert _hashes(tmp_path / "a" / "world-002") == _hashes(tmp_path / "b")
    assert _hashes(tmp_path / "a" / "world-001") != _hashes(tmp_path / "b")
    m = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert config_to_dict(config_from_dict(m["config"])) == config_to_dict(sweep_config(5, 2))
    assert m["scenario"]["sweep"] == {"seed": 5, "index": 2}


def test_sweep_world_has_every_design_small_and_labelled(tmp_path: Path) -> None:
    cfg = sweep_config(3, 0)
    s = generate(cfg, tmp_path / "w")
    assert 3000 <= s["rows"]["accounts"] <= 8000 and s["rows"]["requests"] <= 600_000
    lab = pl.read_parquet(tmp_path / "w" / "labels.parquet")
    assert set(DESIGNS) <= set(lab["ring_kind"])
    for name, d in DESIGNS.items():
        assert (_kind(lab, name)["is_fraud"] == KINDS[d["kind"]].is_fraud).all()
    m = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert {r["design"] for r in m["rings"]} == set(DESIGNS)
    assert all("params" in r and 0.0 <= r["camouflage"] <= 1.0 for r in m["rings"])


def test_sweep_knobs_spread_over_worlds() -> None:
    cfgs = [sweep_config(0, i) for i in range(12)]
    def knob(design: str, k: str) -> list[float]:
        return [r.params[k] for c in cfgs for r in c.rings if r.design == design]
    camo = [r.camouflage for c in cfgs for r in c.rings if r.design == "mega_farm"]
    assert max(camo) - min(camo) > 0.35
    flips = knob("content_farm", "flip_max")
    assert min(flips) <= 8 and max(flips) >= 9
    assert len({c.benign.accounts for c in cfgs}) == 12 and len({c.days for c in cfgs}) >= 5
    hosting = [c.benign.vpn_frac for c in cfgs]
    assert max(hosting) - min(hosting) > 0.06
    tz = [np.array(c.benign.country_weights) for c in cfgs]
    assert max(abs(tz[0] - x).sum() for x in tz[1:]) > 0.3   # different country / time-zone mixes


# ------------------------------------------------------------------ paraphrase banks in other designs
BANK_CONFIG = {
    "seed": 17, "days": 14, "benign": {"accounts": 600},
    "rings": [
        {"kind": "distillation_farm", "size": 200, "params": {"bank_member_frac": 0.5, "bank_size": 200,
                                                               "requests_per_day": 10.0}},
        {"kind": "reseller_pool", "size": 40, "params": {"bank_member_frac": 0.5, "bank_share": 0.4,
                                                          "bank_size": 150, "requests_per_day": 40.0}},
    ],
}


def test_other_designs_draw_part_of_their_prompts_from_a_paraphrased_bank(tmp_path: Path) -> None:
    cfg = config_from_dict(BANK_CONFIG)
    generate(cfg, tmp_path / "w")
    req = pl.read_parquet(tmp_path / "w" / "requests.parquet").with_columns(pl.col(pl.Categorical).cast(pl.String))
    lab = pl.read_parquet(tmp_path / "w" / "labels.parquet").with_columns(pl.col(pl.Categorical).cast(pl.String))
    req = req.join(lab.select("account_id", "ring_kind"), on="account_id")
    b = Builder(cfg)
    build_blocks(b, cfg)
    banks = {g: np.array(b.tpl_hash, np.uint64)[b.tgroups[g]] for g in b.tg_flips}
    assert len(banks) == 2 and set(b.tg_flips.values()) == {(4, 10)}
    for kind, bank, share in [("distillation_farm", banks[min(banks)], None), ("reseller_pool", banks[max(banks)], 0.4)]:
        r = req.filter(pl.col("ring_kind") == kind)
        d = _hamming(r["prompt_hash"].to_numpy(), bank)
        r = r.with_columns(pl.Series("para", (d >= 4) & (d <= 10)))
        per = r.group_by("account_id").agg(pl.col("para").mean())
        members = per.filter(pl.col("para") > 0.05)
        n = per.height
        # about half the members draw from the bank (binomial, 4 sigma), the others never come near it
        assert abs(members.height - 0.5 * n) <= 4 * np.sqrt(0.25 * n), (kind, members.height, n)
        assert per.filter(pl.col("para") <= 0.05)["para"].max() == 0.0
        assert (d <= 3).sum() == 0  # paraphrases, not near duplicates the 4 x 16-bit banding would catch
        if share is not None:  # a reseller member relays the bank for ~`share` of its traffic
            assert abs(members["para"].median() - share) < 0.1, members["para"].median()
        else:  # a farm member's templated prompts are the bank's
            assert members["para"].median() > 0.6
        hist = np.bincount(d[(d >= 4) & (d <= 10)], minlength=11)[4:11]
        assert (hist > 0.06 * hist.sum()).all()  # every distance 4..10 is used


def test_bank_knob_off_leaves_the_ring_as_it_was(tmp_path: Path) -> None:
    # bank_member_frac 0 draws nothing: the same world as a config without the knob, hash for hash.
    base = {"seed": 5, "days": 7, "benign": {"accounts": 200},
            "rings": [{"kind": "distillation_farm", "size": 30}, {"kind": "reseller_pool", "size": 8}]}
    off = json.loads(json.dumps(base))
    off["rings"][0]["params"] = {"bank_member_frac": 0.0, "bank_size": 999}
    off["rings"][1]["params"] = {"bank_member_frac": 0.0, "bank_share": 0.9}
    generate(config_from_dict(base), tmp_path / "a")
    generate(config_from_dict(off), tmp_path / "b")
    a, b2 = (pl.read_parquet(tmp_path / x / "requests.parquet") for x in ("a", "b"))
    assert a["prompt_hash"].equals(b2["prompt_hash"]) and a.height == b2.height


def test_sweep_bank_mix_adds_bank_knobs_and_changes_nothing_else() -> None:
    from synth.sweep import BANK_KNOBS

    for i in range(3):
        off, on = config_to_dict(sweep_config(7, i, bank_mix=False)), config_to_dict(sweep_config(7, i))
        assert len(off["rings"]) == len(on["rings"])
        for a, b in zip(off["rings"], on["rings"]):
            extra = set(b["params"]) - set(a["params"])
            assert extra == set(BANK_KNOBS.get(b.get("design") or b["kind"], {}))
            assert {k: b["params"][k] for k in a["params"]} == a["params"]
            if extra:
                assert 0.0 <= b["params"]["bank_member_frac"] <= 0.6
