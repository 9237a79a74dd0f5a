"""Test support for the console: a small deterministic world and a frozen, hand-made results directory.

The snapshot tests use `make_world` + `make_fake_results` so that their pictures depend neither on the
generator nor on the detection engine (both change often); the Pilot tests run the real engine on the
committed `fixtures/tiny` world when it exists (see `tests/test_tui.py`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

from farmhunt.core.contract import ACCOUNTS, API_KEYS, ASNS, LABELS, PAYMENTS, PROMPTS, REQUESTS

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
DAYS = 14
FIRST = ["anna", "ben", "carla", "dev", "eva", "farid", "gina", "hugo", "ines", "jonas", "kemal", "lena"]
LAST = ["smith", "ng", "okafor", "garcia", "muller", "rossi", "kim", "silva", "novak", "haddad"]
TEMPLATES = [
    "Solve step by step and show all reasoning: {n}",
    "Write a Python function that implements {n} with tests",
    "You are an autonomous agent. Plan and execute task {n}",
    "Explain the exploit chain for CVE-2025-{n} in detail",
]

#: Cluster ids of the fake results (stable, independent of the engine's id scheme).
FARM_CID, POOL_CID, TEAM_CID, CARD_CID = 7301154421, 5120987730, 3322110088, 1908776655
#: The benign account the fake results flag on its own (a lone case: no cluster, plain-words evidence).
LONE_ID = "acct_00002"


def make_world(out: Path, seed: int = 5) -> Path:
    """Write a small contract world (~450 accounts, ~25k requests) with a farm, a reseller pool, an
    enterprise team and card testers. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = ["benign"] * 380 + ["farm"] * 30 + ["pool"] * 4 + ["team"] * 12 + ["cardtest"] * 6
    n = len(groups)
    g = np.array(groups)
    created = []
    for i, k in enumerate(groups):
        if k == "farm":
            wave = 3 if i % 2 else 5
            created.append(T0 + timedelta(days=wave, hours=2, seconds=int(rng.integers(0, 1800))))
        else:
            created.append(T0 + timedelta(seconds=int(rng.integers(0, 86400 * 6))))
    order = np.argsort(np.array([c.timestamp() for c in created]), kind="stable")
    g = g[order]
    created = [created[i] for i in order]
    ids = [f"acct_{i + 1:05d}" for i in range(n)]
    emails, devices, phones, orgs, plans, sips, countries, names = [], [], [], [], [], [], [], []
    for i, k in enumerate(g):
        f, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        names.append(f"{f.title()} {last.title()}")
        countries.append(["US", "DE", "BR", "IN", "FR"][i % 5] if k != "team" else "US")
        if k == "farm":
            emails.append(f"jake.miller{int(rng.integers(1000, 9999))}@proton.me")
            devices.append(f"dev-farm-{int(rng.integers(0, 4))}")
            phones.append(f"+1555000{int(rng.integers(0, 3)):04d}")
            sips.append(f"185.220.101.{int(rng.integers(1, 6))}")
            plans.append("payg")
        elif k == "team":
            emails.append(f"{f}.{last}@acme-corp.com")
            devices.append(f"dev-{i:05d}")
            phones.append(None)
            sips.append("203.0.113.10")
            plans.append("enterprise")
        elif k == "pool":
            emails.append(f"relay{i}@fastmail.com")
            devices.append("dev-pool-0" if i % 2 else f"dev-{i:05d}")
            phones.append(None)
            sips.append("45.9.20.7")
            plans.append("scale")
        else:
            emails.append(f"{f}.{last}{i}@gmail.com")
            devices.append(f"dev-{i:05d}")
            phones.append(f"+4915{i:07d}" if i % 3 == 0 else None)
            sips.append(f"88.{i % 200}.{(i * 3) % 250}.{i % 97 + 1}")
            plans.append("free" if i % 4 else "payg")
        orgs.append("org_acme" if k == "team" else None)
    accounts = pl.DataFrame({
        "account_id": ids, "created_at": created, "email": emails, "name": names, "country": countries,
        "signup_ip": sips, "device_id": devices, "phone": phones, "org_id": orgs, "plan": plans,
    }, schema=ACCOUNTS.schema)
    accounts.write_parquet(out / "accounts.parquet")

    # payments
    prow = []
    for i, k in enumerate(g):
        base = created[i] + timedelta(hours=1)
        if k == "farm":
            card, fund, status = f"fp_farm_{int(rng.integers(0, 6))}", "prepaid", ["succeeded"] * 3
        elif k == "pool":
            card, fund, status = f"fp_pool_{i % 2}", "credit", ["succeeded", "succeeded", "succeeded", "disputed"]
        elif k == "team":
            card, fund, status = "fp_acme_corp", "credit", ["succeeded"] * 2
        elif k == "cardtest":
            card, fund, status = None, "prepaid", ["declined"] * 6 + ["succeeded"]
        else:
            card, fund, status = f"fp_{i:05d}", "credit" if i % 3 else "debit", ["succeeded"] * int(1 + i % 3)
        for j, st in enumerate(status):
            c = card or f"fp_test_{i}_{j}"
            amt = 1.0 if k == "cardtest" else (400.0 if k == "pool" else 20.0)
            prow.append((c, i, base + timedelta(days=j * 3, minutes=j), amt, fund, st,
                         f"4{(i * 31 + j) % 100000:05d}" if k == "cardtest" else "411111"))
    payments = pl.DataFrame({
        "payment_id": [f"pay_{j:06d}" for j in range(len(prow))],
        "account_id": [ids[r[1]] for r in prow], "ts": [r[2] for r in prow], "amount_usd": [r[3] for r in prow],
        "card_fingerprint": [r[0] for r in prow], "card_bin": [r[6] for r in prow],
        "card_country": ["US"] * len(prow), "card_funding": [r[4] for r in prow], "status": [r[5] for r in prow],
    }, schema=PAYMENTS.schema)
    payments.write_parquet(out / "payments.parquet")

    # api keys (the pool rotates)
    krow = []
    for i, k in enumerate(g):
        nk = 3 if k == "pool" else 1
        for j in range(nk):
            c = created[i] + timedelta(hours=2 + j * 72)
            revoked = c + timedelta(hours=70) if j < nk - 1 else None
            krow.append((f"key_{len(krow):06d}", ids[i], c, revoked))
    keys = pl.DataFrame(krow, schema=API_KEYS.schema, orient="row")
    keys.write_parquet(out / "api_keys.parquet")
    key_of = keys.group_by("account_id").agg(pl.col("key_id").sort().last()).to_dict(as_series=False)
    key_map = dict(zip(key_of["account_id"], key_of["key_id"], strict=True))

    # requests
    asns = pl.DataFrame({"asn": [3320, 9009, 64500, 2200, 16509],
                         "org": ["Deutsche Telekom", "M247", "Acme Corp", "Renater", "Amazon"],
                         "kind": ["residential", "hosting", "business", "education", "hosting"]}, schema=ASNS.schema)
    asns.write_parquet(out / "asns.parquet")
    rate = np.where(g == "farm", 40.0, np.where(g == "pool", 300.0, np.where(g == "team", 15.0,
                    np.where(g == "cardtest", 0.3, 4.0))))
    start_day = np.array([(c - T0).days for c in created])
    cnt = rng.poisson(rate * np.maximum(DAYS - start_day, 1))
    idx = np.repeat(np.arange(n), cnt)
    m = len(idx)
    kind = g[idx]
    day = start_day[idx] + (rng.random(m) * np.maximum(DAYS - start_day[idx], 1)).astype(int)
    diurnal = rng.choice(24, m, p=np.r_[np.full(7, 0.01), np.full(17, (1 - 0.07) / 17)])
    office = rng.integers(9, 18, m)
    hour = np.where(np.isin(kind, ["farm", "pool"]), rng.integers(0, 24, m), np.where(kind == "team", office, diurnal))
    sec = day * 86400 + hour * 3600 + rng.integers(0, 3600, m)
    ts = (np.datetime64("2026-03-02T00:00:00") + sec.astype("timedelta64[s]")).astype("datetime64[us]")
    tmpl_hash = rng.integers(0, 2**63, len(TEMPLATES), dtype=np.uint64)
    t_idx = rng.integers(0, len(TEMPLATES), m)
    templated = kind == "farm"
    ph = np.where(templated, tmpl_hash[t_idx] ^ (np.uint64(1) << rng.integers(0, 64, m).astype(np.uint64)),
                  rng.integers(0, 2**63, m, dtype=np.uint64))
    asn = np.where(kind == "farm", 9009, np.where(kind == "pool", 16509, np.where(kind == "team", 64500, 3320)))
    ip = np.where(kind == "farm", np.array([f"185.220.101.{k}" for k in range(1, 6)])[rng.integers(0, 5, m)],
                  np.where(kind == "pool", np.array(["45.9.20.7", "45.9.20.8"])[rng.integers(0, 2, m)],
                           np.where(kind == "team", "203.0.113.10", np.array(sips)[idx])))
    topics = np.array(["coding", "math", "writing", "chat", "agentic", "cybersecurity", "data_analysis",
                       "translation", "other"])
    topic = np.where(templated, np.array(["math", "coding", "agentic", "cybersecurity"])[t_idx],
                     topics[rng.integers(0, len(topics), m)])
    model = np.where(templated, "frontier-xl", np.array(["frontier-xl", "mid-m", "small-s"])[rng.integers(0, 3, m)])
    inp = np.where(templated, rng.integers(100, 300, m), rng.integers(200, 2000, m)).astype(np.int32)
    outp = np.where(templated, rng.integers(2000, 4000, m), rng.integers(100, 800, m)).astype(np.int32)
    requests = pl.DataFrame({
        "ts": pl.Series(ts).dt.replace_time_zone("UTC"), "account_id": np.array(ids)[idx],
        "key_id": np.array([key_map[a] for a in ids])[idx], "model": model, "input_tokens": inp,
        "output_tokens": outp, "ip": ip, "asn": asn.astype(np.int32), "user_agent": "python-httpx/0.28",
        "prompt_hash": ph.astype(np.uint64), "topic": topic,
        "text": np.where(templated, np.array(TEMPLATES)[t_idx], "Can you help me plan a trip to Lisbon?"),
    }).cast(REQUESTS.schema | {"text": pl.String}).sort("ts", "account_id")  # type: ignore[arg-type]
    requests.drop("text").write_parquet(out / "requests.parquet", row_group_size=4096)
    sample = (requests.with_columns(pl.col("text").str.replace("{n}", "42", literal=True))
              .with_row_index("i").filter(pl.col("i") % 40 == 0).drop("i"))
    sample.select(list(PROMPTS.columns)).write_parquet(out / "prompts.parquet")
    labels = pl.DataFrame({
        "account_id": ids,
        "ring_id": [None if k == "benign" else f"ring_{k}" for k in g],
        "ring_kind": [{"farm": "distillation_farm", "pool": "reseller_pool", "team": "enterprise_team",
                       "cardtest": "card_testing"}.get(k, "benign") for k in g],
        "is_fraud": [k in ("farm", "pool", "cardtest") for k in g],
    }, schema=LABELS.schema)
    labels.write_parquet(out / "labels.parquet")
    return out


def make_fake_results(world: Path, out: Path) -> Path:
    """A results directory for `world` (from `make_world`) with four hand-made clusters, evidence and
    edges: frozen, so that snapshots do not move when the engine changes."""
    world, out = Path(world), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = pl.read_parquet(world / "labels.parquet")
    acc = pl.read_parquet(world / "accounts.parquet")
    req = pl.read_parquet(world / "requests.parquet")
    pay = pl.read_parquet(world / "payments.parquet")
    cids = {"ring_farm": FARM_CID, "ring_pool": POOL_CID, "ring_team": TEAM_CID, "ring_cardtest": CARD_CID}
    kinds = {FARM_CID: "distillation_farm", POOL_CID: "reseller_pool", TEAM_CID: "benign_org",
             CARD_CID: "card_testing"}
    risks = {FARM_CID: 0.97, POOL_CID: 0.91, TEAM_CID: 0.08, CARD_CID: 0.74}
    accounts = (
        labels.select("account_id", pl.col("ring_id").replace_strict(cids, default=None, return_dtype=pl.Int64)
                      .alias("cluster_id"))
        .join(acc.select("account_id", "created_at", "country", "plan"), on="account_id")
        .join(req.group_by("account_id").agg(pl.len().cast(pl.Int64).alias("n_requests")), on="account_id",
              how="left")
        .join(pay.filter(pl.col("status") == "succeeded").group_by("account_id")
              .agg(pl.col("amount_usd").sum().alias("spend_usd")), on="account_id", how="left")
        .with_columns(pl.col("n_requests").fill_null(0), pl.col("spend_usd").fill_null(0.0))
        .with_columns(
            risk=pl.col("cluster_id").replace_strict(risks, default=0.02, return_dtype=pl.Float64),
            predicted_kind=pl.col("cluster_id").replace_strict(kinds, default="unknown", return_dtype=pl.String),
        )
        .with_columns(
            # One account flagged alone: a lone case with nothing but its features as evidence.
            risk=pl.when(pl.col("account_id") == LONE_ID).then(pl.lit(0.83)).otherwise(pl.col("risk")),
            predicted_kind=pl.when(pl.col("account_id") == LONE_ID).then(pl.lit("reseller_pool"))
            .otherwise(pl.col("predicted_kind")),
            night_share=pl.when(pl.col("account_id") == LONE_ID).then(pl.lit(0.62)).otherwise(pl.lit(0.05)),
            hosting_share=pl.when(pl.col("account_id") == LONE_ID).then(pl.lit(0.97)).otherwise(pl.lit(0.01)),
        )
        .with_columns(flagged=pl.col("risk") > 0.5)
        .select("account_id", "cluster_id", "risk", "flagged", "predicted_kind", "created_at", "country", "plan",
                "n_requests", "spend_usd", "night_share", "hosting_share")
        .sort("account_id")
    )
    accounts.write_parquet(out / "accounts.parquet")
    sizes = accounts.drop_nulls("cluster_id").group_by("cluster_id").agg(pl.len().cast(pl.Int64).alias("size"),
                                                                         pl.col("n_requests").sum().alias("requests"))
    clusters = (
        sizes.with_columns(
            risk=pl.col("cluster_id").replace_strict(risks, return_dtype=pl.Float64),
            predicted_kind=pl.col("cluster_id").replace_strict(kinds, return_dtype=pl.String),
        ).with_columns(flagged=pl.col("risk") > 0.5)
        .select("cluster_id", "size", "risk", "predicted_kind", "flagged", "requests")
        .sort("risk", descending=True)
    )
    clusters.write_parquet(out / "clusters.parquet")
    ev = [
        (FARM_CID, "synchronized_activity", 0.81, 0.02, 0.35, "members active in the same 10-minute buckets "
         "81% of the time (population 2%)"),
        (FARM_CID, "templated_prompts", 0.93, 0.01, 0.30, "93% of requests reuse one of 4 prompt templates"),
        (FARM_CID, "shared_cards", 6.0, 1.0, 0.20, "30 accounts pay with 6 prepaid cards"),
        (FARM_CID, "flat_24_7", 0.29, 0.05, 0.12, "29% of activity at local night (population 5%)"),
        (POOL_CID, "relay_volume", 310.0, 4.0, 0.40, "median 310 requests per active day (population 4)"),
        (POOL_CID, "chargebacks", 0.25, 0.0, 0.25, "25% of payments disputed"),
        (POOL_CID, "hosting_network", 1.0, 0.03, 0.20, "all traffic from hosting networks"),
        (TEAM_CID, "declared_organisation", 1.0, 0.0, -0.60, "all members in one declared organisation"),
        (TEAM_CID, "office_hours", 0.97, 0.45, -0.30, "97% of activity in office hours"),
        (TEAM_CID, "shared_cards", 1.0, 1.0, 0.05, "12 accounts share one corporate card"),
        (CARD_CID, "declines", 0.86, 0.01, 0.50, "86% of payments declined over neighbouring BINs"),
        (CARD_CID, "micro_payments", 1.0, 0.02, 0.20, "all payments under $2"),
    ]
    rank: dict[int, int] = {}
    rows = []
    for cid, sig, val, base, contrib, text in ev:
        rank[cid] = rank.get(cid, 0) + 1
        rows.append((cid, rank[cid], sig, val, base, contrib, text))
    from farmhunt.core.contract import RESULT_EDGES, RESULT_EVIDENCE

    pl.DataFrame(rows, schema=RESULT_EVIDENCE.schema, orient="row").write_parquet(out / "evidence.parquet")
    members = accounts.drop_nulls("cluster_id").select("account_id", "cluster_id")
    a = acc.join(members, on="account_id").join(
        pay.group_by("account_id").agg(pl.col("card_fingerprint").first()), on="account_id")
    pairs = a.join(a, on="cluster_id", suffix="_b").filter(pl.col("account_id") < pl.col("account_id_b"))
    reasons = pl.concat_list(
        pl.when(pl.col("card_fingerprint") == pl.col("card_fingerprint_b")).then(pl.lit("card")),
        pl.when(pl.col("device_id") == pl.col("device_id_b")).then(pl.lit("device")),
        pl.when(pl.col("phone") == pl.col("phone_b")).then(pl.lit("phone")),
        pl.when(pl.col("signup_ip") == pl.col("signup_ip_b")).then(pl.lit("signup_ip")),
        pl.when(pl.col("org_id") == pl.col("org_id_b")).then(pl.lit("org")),
    ).list.drop_nulls()
    edges = (pairs.select(pl.col("account_id").alias("src"), pl.col("account_id_b").alias("dst"), reasons.alias("reasons"))
             .filter(pl.col("reasons").list.len() > 0)
             .with_columns(weight=pl.col("reasons").list.len().cast(pl.Float64) / 3)
             .select("src", "dst", "weight", "reasons").sort("src", "dst"))
    edges.cast(RESULT_EDGES.schema).write_parquet(out / "edges.parquet")  # type: ignore[arg-type]
    write_fake_ties(world, accounts, out)
    run = {"world": {"path": str(world.resolve()), "manifest_sha256": None}, "farmhunt_version": "test",
           "counts": {"clusters": clusters.height, "flagged_clusters": int(clusters["flagged"].sum()),
                      "accounts": accounts.height, "flagged_accounts": int(accounts["flagged"].sum())}}
    (out / "run.json").write_text(json.dumps(run, indent=2))
    return out


def write_fake_ties(world: Path, accounts: pl.DataFrame, out: Path) -> None:
    """ties.parquet of the fake results: per cluster, every card, device, phone, signup IP, organisation,
    prompt template and request IP two or more members share, with the number of accounts in the whole world sharing it."""
    from farmhunt.engine.ties import TIE_SCHEMA

    acc = pl.read_parquet(world / "accounts.parquet")
    vals = pl.concat([
        pl.read_parquet(world / "payments.parquet").select("account_id", pl.lit("card").alias("signal"),
                                                           pl.col("card_fingerprint").alias("value")),
        acc.select("account_id", pl.lit("device").alias("signal"), pl.col("device_id").alias("value")),
        acc.select("account_id", pl.lit("phone").alias("signal"), pl.col("phone").alias("value")),
        acc.select("account_id", pl.lit("signup_ip").alias("signal"), pl.col("signup_ip").alias("value")),
        acc.select("account_id", pl.lit("org").alias("signal"), pl.col("org_id").alias("value")),
        # (the fake's prompt template: the text with digits masked; detection writes template codes)
        pl.read_parquet(world / "prompts.parquet").select(
            "account_id", pl.lit("prompt_template").alias("signal"),
            pl.col("text").str.replace_all(r"\d+", "#").str.slice(0, 120).alias("value")),
        pl.read_parquet(world / "requests.parquet").select("account_id", pl.lit("request_ip").alias("signal"),
                                                           pl.col("ip").alias("value")),
    ]).drop_nulls("value").unique()
    world_n = vals.group_by("signal", "value").agg(pl.len().cast(pl.UInt32).alias("n_accounts"))
    ties = (
        vals.join(accounts.drop_nulls("cluster_id").select("account_id", "cluster_id"), on="account_id")
        .group_by("cluster_id", "signal", "value").agg(pl.len().cast(pl.UInt32).alias("n_members"))
        .filter(pl.col("n_members") >= 2)
        .join(world_n, on=["signal", "value"])
        .with_columns(pl.lit(None, pl.String).alias("case_id"))
        .select(list(TIE_SCHEMA)).cast(dict(TIE_SCHEMA))  # type: ignore[arg-type]
        .sort("cluster_id", "n_members", "signal", "value", descending=[False, True, False, False])
    )
    ties.write_parquet(out / "ties.parquet")


#: The case of `make_multi_cluster_results`: the farm and the card testers as one operator's two clusters.
MULTI_CASE = "cmulti2cl"


def make_multi_cluster_results(fake_results: Path, out: Path) -> Path:
    """The fake results with one case holding two clusters (FARM_CID first, CARD_CID second), as
    detection writes a case of several clusters of one operator (CASE_SCHEMA: `clusters`, `n_clusters`)."""
    import shutil

    from farmhunt.engine.cases import CASE_SCHEMA
    from farmhunt.engine.results import load_results

    out = Path(out)
    shutil.copytree(fake_results, out)
    r = load_results(fake_results)
    assert r.cases is not None
    pair = [FARM_CID, CARD_CID]
    old = r.cases.filter(pl.col("clusters").list.first().is_in(pair))
    rest = r.cases.filter(~pl.col("clusters").list.first().is_in(pair) | pl.col("clusters").list.first().is_null())
    multi = pl.DataFrame(
        [{"case_id": MULTI_CASE, "rank": 1, "kind": "distillation_farm", "risk": float(old["risk"].max()),
          "size": int(old["size"].sum()), "flagged_accounts": int(old["flagged_accounts"].sum()), "n_clusters": 2,
          "clusters": pair, "top_reason": old.sort("risk", descending=True)["top_reason"][0]}],
        schema=CASE_SCHEMA,
    )
    cases = pl.concat([multi, rest.with_columns((pl.col("rank") + 1).cast(pl.Int32))]).sort("rank")
    cases = cases.with_columns(pl.int_range(1, cases.height + 1, dtype=pl.Int32).alias("rank"))
    cases.write_parquet(out / "cases.parquet")
    accounts = r.accounts.with_columns(
        pl.when(pl.col("cluster_id").is_in(pair)).then(pl.lit(MULTI_CASE)).otherwise(pl.col("case_id")).alias("case_id")
    )
    accounts.write_parquet(out / "accounts.parquet")
    return out


BIG_CASE = "cbig00001"


def make_big_case_results(base: Path, n: int = 10_000, clusters: int = 500) -> tuple[Path, Path]:
    """(world, results): the small world with `n` more accounts (copies of its own rows under new ids,
    without requests) and the fake results with one case of those `n` accounts in `clusters` clusters
    (3 evidence rows each) first in the queue, as detection's operator communities make them."""
    from farmhunt.core.contract import RESULT_EVIDENCE
    from farmhunt.engine.cases import CASE_SCHEMA
    from farmhunt.engine.results import load_results

    base = Path(base)
    world = make_world(base / "world")
    acc = pl.read_parquet(world / "accounts.parquet")
    reps = -(-n // acc.height)
    extra = (
        pl.concat([acc] * reps).head(n).with_row_index("i")
        .with_columns(account_id=pl.format("big_{}", pl.col("i").cast(pl.String).str.zfill(5)),
                      email=pl.format("big{}@example.org", pl.col("i")))
        .drop("i")
    )
    pl.concat([acc, extra]).write_parquet(world / "accounts.parquet")
    results = make_fake_results(world, base / "results")
    r = load_results(results)
    assert r.cases is not None
    cids = pl.Series(range(9_000_000, 9_000_000 + clusters), dtype=pl.Int64)
    members = extra.with_row_index("i").select(
        "account_id",
        (pl.lit(9_000_000, pl.Int64) + pl.col("i").cast(pl.Int64) % clusters).alias("cluster_id"),
        (0.99 - (pl.col("i") % 89).cast(pl.Float64) / 1000).alias("risk"),
    )
    accounts = pl.concat(
        [
            r.accounts,
            r.accounts.head(1).drop("account_id", "cluster_id", "risk").join(members, how="cross")
            .with_columns(flagged=pl.lit(True), predicted_kind=pl.lit("distillation_farm"),
                          case_id=pl.lit(BIG_CASE), n_requests=pl.lit(0, pl.Int64), spend_usd=pl.lit(0.0)),
        ],
        how="diagonal_relaxed",
    ).select(r.accounts.columns)
    accounts.write_parquet(results / "accounts.parquet")
    big = pl.DataFrame({"cluster_id": cids}).with_columns(
        size=pl.lit(n // clusters, pl.Int64), risk=pl.lit(0.99), predicted_kind=pl.lit("distillation_farm"),
        flagged=pl.lit(True), requests=pl.lit(0, pl.Int64),
    )
    pl.concat([big, r.clusters.select(big.columns)], how="vertical_relaxed").write_parquet(results / "clusters.parquet")
    ev = pl.DataFrame(
        [(int(c), k + 1, "shared_cards", 2.0 + k, 1.0, 0.3 - k / 10, f"cluster {int(c)} reason {k + 1}")
         for c in cids for k in range(3)],
        schema=RESULT_EVIDENCE.schema, orient="row",
    )
    pl.concat([ev, r.evidence.select(ev.columns)]).write_parquet(results / "evidence.parquet")
    case = pl.DataFrame(
        [{"case_id": BIG_CASE, "rank": 1, "kind": "distillation_farm", "risk": 0.99, "size": n,
          "flagged_accounts": n, "n_clusters": clusters, "clusters": cids.to_list(),
          "top_reason": "an operator of 500 clusters"}],
        schema=CASE_SCHEMA,
    )
    cases = pl.concat([case, r.cases.with_columns((pl.col("rank") + 1).cast(pl.Int32))])
    cases.write_parquet(results / "cases.parquet")
    return world, results
