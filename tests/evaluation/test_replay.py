"""Time to detect: `farmhunt replay` on a crafted world where one farm starts on day 0 and another on
day 6 finds the early farm at an earlier cut; outputs are written atomically; bad steps exit 2.

`craft_world` builds that world by hand (a small benign population plus farms of accounts sharing
devices, cards, a signup network and three prompt templates, active every 10 minutes around the
clock). Other evaluation tests import it (`from test_replay import craft_world`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.errors import InputError
from farmhunt.engine.pipeline import detect
from farmhunt.evaluation.replay import cut_times, parse_step, replay
T0 = datetime(2025, 3, 3, tzinfo=timezone.utc)
UTC = pl.Datetime("us", "UTC")


def craft_world(out: Path, n_benign: int = 300, days: int = 10, farm_size: int = 15,
                farm_starts: dict[str, float] | None = None, seed: int = 0) -> Path:
    """Write a contract world to `out`: `n_benign` ordinary accounts and one farm per `farm_starts`
    entry (name -> start day), labelled `farm-<name>` (distillation_farm)."""
    rng = np.random.default_rng(seed)
    farm_starts = farm_starts or {"early": 0.2, "late": 6.2}
    acc, pay, keys, req, lab = [], [], [], [], []
    asns = [(64500 + i, f"ISP {i}", "residential") for i in range(20)] + [(65000 + i, f"Cloud {i}", "hosting") for i in range(5)]
    def add_requests(aid, kid, times, ips, asn_choice, hashes, topics, out_tok, model):
        for t, ip, a, h, tp, ot in zip(times, ips, asn_choice, hashes, topics, out_tok):
            req.append((t, aid, kid, model, int(rng.integers(50, 400)), int(ot), ip, int(a), "python-requests/2.31" if model == "top" else "Mozilla/5.0", int(h), tp))
    n = 0
    def new_id():
        nonlocal n
        n += 1
        return n
    topics_all = ["coding", "math", "writing", "chat", "translation", "other", "data_analysis"]
    for b in range(n_benign):
        created = T0 + timedelta(days=float(rng.uniform(0, days * 0.7)))
        i = new_id()
        aid = f"acct{i:05d}"
        acc.append((aid, created, f"user{rng.integers(1e9)}@mail{b % 7}.com", f"Person {b}", "US",
                    f"{rng.integers(1, 223)}.{rng.integers(256)}.{rng.integers(256)}.{rng.integers(1, 255)}",
                    f"dev{rng.integers(1e12):x}", f"+1555{rng.integers(1e7):07d}" if rng.random() < .5 else None, None, "free"))
        kid = f"key{rng.integers(1e12):x}"
        keys.append((kid, aid, created, None))
        pay.append((f"pay{rng.integers(1e12):x}", aid, created + timedelta(minutes=5), 10.0, f"card{rng.integers(1e12):x}",
                    "411111", "US", "credit", "succeeded"))
        k = int(rng.integers(5, 40))
        span = (T0 + timedelta(days=days) - created).total_seconds()
        times = sorted(created + timedelta(seconds=float(s)) for s in rng.uniform(0, span, k))
        times = [t.replace(hour=int(rng.integers(8, 23))) for t in times]
        a = rng.integers(64500, 64520)
        ips = [f"10.{a - 64500}.{rng.integers(256)}.{rng.integers(1, 255)}"] * k
        add_requests(aid, kid, times, ips, [a] * k, rng.integers(0, 2**63, k), rng.choice(topics_all, k), rng.integers(50, 600, k), "mid")
        lab.append((aid, None, "benign", False))
    for name, start in farm_starts.items():
        devs = [f"dev-{name}-{j}" for j in range(3)]
        cards = [f"card-{name}-{j}" for j in range(3)]
        templates = rng.integers(0, 2**63, 3)
        asn = 65000 + (0 if name == "early" else 1)
        for j in range(farm_size):
            created = T0 + timedelta(days=start, minutes=float(j * 3))
            i = new_id()
            aid = f"acct{i:05d}"
            acc.append((aid, created, f"{name}.worker{j:02d}@proton.me", f"Worker {j}", "US",
                        f"45.{asn - 65000}.7.{j + 1}", devs[j % 3], f"+1999000{j:04d}", None, "payg"))
            kid = f"key{rng.integers(1e12):x}"
            keys.append((kid, aid, created, None))
            pay.append((f"pay{rng.integers(1e12):x}", aid, created + timedelta(minutes=2), 5.0, cards[j % 3],
                        "533333", "US", "prepaid", "succeeded"))
            # every 10 minutes around the clock, synchronised across the farm
            t = created + timedelta(minutes=10)
            times = []
            while t < T0 + timedelta(days=days):
                times.append(t.replace(minute=(t.minute // 10) * 10, second=int(rng.integers(0, 30))))
                t += timedelta(minutes=10)
            k = len(times)
            flips = rng.integers(0, 64, k)  # near-duplicates: one bit of the template's SimHash flipped
            hashes = [int(templates[x]) ^ (1 << int(f)) for x, f in zip(rng.integers(0, 3, k), flips)]
            add_requests(aid, kid, times, [f"45.{asn - 65000}.9.{rng.integers(1, 20)}" for _ in range(k)], [asn] * k,
                         hashes, ["coding"] * k, rng.integers(2000, 4000, k), "top")
            lab.append((aid, f"farm-{name}", "distillation_farm", True))
    order = np.argsort([a[1] for a in acc], kind="stable")
    out.mkdir(parents=True, exist_ok=True)
    pl.DataFrame([acc[o] for o in order], schema={"account_id": pl.String, "created_at": UTC, "email": pl.String, "name": pl.String,
        "country": pl.String, "signup_ip": pl.String, "device_id": pl.String, "phone": pl.String, "org_id": pl.String,
        "plan": pl.String}, orient="row").write_parquet(out / "accounts.parquet")
    pl.DataFrame(pay, schema={"payment_id": pl.String, "account_id": pl.String, "ts": UTC, "amount_usd": pl.Float64,
        "card_fingerprint": pl.String, "card_bin": pl.String, "card_country": pl.String, "card_funding": pl.String,
        "status": pl.String}, orient="row").write_parquet(out / "payments.parquet")
    pl.DataFrame(keys, schema={"key_id": pl.String, "account_id": pl.String, "created_at": UTC, "revoked_at": UTC},
                 orient="row").write_parquet(out / "api_keys.parquet")
    pl.DataFrame(req, schema={"ts": UTC, "account_id": pl.String, "key_id": pl.String, "model": pl.String,
        "input_tokens": pl.Int32, "output_tokens": pl.Int32, "ip": pl.String, "asn": pl.Int32, "user_agent": pl.String,
        "prompt_hash": pl.UInt64, "topic": pl.String}, orient="row").sort("ts").write_parquet(out / "requests.parquet")
    pl.DataFrame(asns, schema={"asn": pl.Int32, "org": pl.String, "kind": pl.String}, orient="row").write_parquet(out / "asns.parquet")
    pl.DataFrame(lab, schema={"account_id": pl.String, "ring_id": pl.String, "ring_kind": pl.String, "is_fraud": pl.Boolean},
                 orient="row").write_parquet(out / "labels.parquet")
    (out / "manifest.json").write_text(json.dumps({"generator": "hand-crafted test world", "seed": seed}))
    return out



@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return craft_world(tmp_path_factory.mktemp("replay") / "world")


def test_parse_step() -> None:
    assert parse_step("1d") == timedelta(days=1)
    assert parse_step("12h") == timedelta(hours=12)
    assert parse_step("1.5d") == timedelta(hours=36)
    for bad in ("", "0d", "1y", "d", "-1d"):
        with pytest.raises(InputError, match="--step"):
            parse_step(bad)


def test_cut_times_cover_the_whole_world() -> None:
    first = datetime(2025, 3, 3, 4, 48, tzinfo=timezone.utc)
    last = datetime(2025, 3, 5, 0, 0, tzinfo=timezone.utc)
    cuts = cut_times(first, last, timedelta(days=1))
    assert [c.day for c in cuts] == [4, 5, 6]  # the last cut is after the last event
    assert cuts[0] == datetime(2025, 3, 4, tzinfo=timezone.utc)


def test_early_ring_is_detected_before_late_ring(world: Path) -> None:
    rep = replay(world, detect, timedelta(days=1))
    rings = {r["ring_id"]: r for r in rep.rings.iter_rows(named=True)}
    early, late = rings["farm-early"], rings["farm-late"]
    assert early["first_detected"] is not None and late["first_detected"] is not None
    assert early["first_detected"] < late["first_detected"]
    # the late farm signs up on day 6.2: it cannot be seen before the cut at the end of day 7
    assert late["first_detected"] >= datetime(2025, 3, 10, tzinfo=timezone.utc)
    assert 0 < early["days_to_detect"] <= 2 and 0 < late["days_to_detect"] <= 2
    cuts = rep.cuts
    assert cuts.height == 10 and cuts["error"].null_count() == cuts.height
    assert cuts["accounts"].is_sorted() and cuts["accounts"][-1] == 330
    assert cuts["rings_present"].to_list()[:6] == [1] * 6 and cuts["rings_present"][-1] == 2
    s = rep.summary["per_kind"]["distillation_farm"]
    assert (s["rings"], s["detected"]) == (2, 2)
    assert s["median_days"] == pytest.approx(rep.rings["days_to_detect"].median())


def test_replay_command_writes_json_and_parquet(world: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rep"
    assert main(["replay", str(world), "--out", str(out), "--step", "2d"]) == 0
    printed = capsys.readouterr().out
    assert "Time to detect per fraud kind" in printed and "distillation_farm" in printed
    doc = json.loads((out / "replay.json").read_text())
    assert doc["meta"]["step_days"] == 2.0 and len(doc["cuts"]) == 5
    assert {r["ring_id"] for r in doc["rings"]} == {"farm-early", "farm-late"}
    assert pl.read_parquet(out / "rings.parquet").height == 2
    assert pl.read_parquet(out / "cuts.parquet").height == 5
    assert not any(p.name.startswith(".rep") for p in tmp_path.iterdir())  # no temporary left behind


def test_replay_bad_input_exits_2(world: Path, tmp_path: Path, capsys) -> None:
    assert main(["replay", str(world), "--out", str(tmp_path / "o"), "--step", "soon"]) == 2
    assert "--step" in capsys.readouterr().err
    nolabels = craft_world(tmp_path / "w2", n_benign=20, days=2, farm_starts={"a": 0.1})
    (nolabels / "labels.parquet").unlink()
    assert main(["replay", str(nolabels), "--out", str(tmp_path / "o")]) == 2
    assert "no labels.parquet" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
