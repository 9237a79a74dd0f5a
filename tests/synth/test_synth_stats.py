"""synth: statistical properties that can fail, and the label-leakage test (on the committed tiny world)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from synth.identity import COUNTRIES

from tests.paths import TINY as WORLD


@pytest.fixture(scope="module")
def t() -> dict[str, pl.DataFrame]:
    names = ("accounts", "payments", "api_keys", "requests", "labels")
    return {n: pl.read_parquet(WORLD / f"{n}.parquet").with_columns(pl.col(pl.Categorical).cast(pl.String))
            for n in names}


def _ring(t: dict[str, pl.DataFrame], ring_id: str) -> pl.Series:
    return t["labels"].filter(pl.col("ring_id") == ring_id)["account_id"]


def _benign(t: dict[str, pl.DataFrame]) -> pl.Series:
    return t["labels"].filter(pl.col("ring_kind") == "benign")["account_id"]


def test_benign_diurnal_cycle_in_local_time(t: dict[str, pl.DataFrame]) -> None:
    tz = pl.DataFrame({"country": list(COUNTRIES), "tz": [float(v[1][0]) for v in COUNTRIES.values()]})
    req = (t["requests"].filter(pl.col("account_id").is_in(_benign(t).implode()))
           .join(t["accounts"].select("account_id", "country"), on="account_id").join(tz, on="country"))
    local = ((req["ts"].dt.hour().cast(pl.Float64) + req["tz"]) % 24).floor().cast(pl.Int64)
    hist = np.bincount(local.to_numpy(), minlength=24) / len(local)
    assert hist[2:6].mean() < 0.35 * hist[10:17].mean()   # quiet nights, busy days
    assert hist.max() < 0.1


def test_farm_is_flat_synchronised_and_output_heavy(t: dict[str, pl.DataFrame]) -> None:
    farm = t["requests"].filter(pl.col("account_id").is_in(_ring(t, "distillation_farm-001").implode()))
    hours = np.bincount(farm["ts"].dt.hour().to_numpy(), minlength=24)
    assert hours.max() / hours.min() < 2.0
    # Synchronised: the farm's requests pile up in few 1-minute buckets compared with benign traffic.
    def top_bucket_share(df: pl.DataFrame) -> float:
        counts = df.group_by(pl.col("ts").dt.truncate("1m")).len()["len"].sort(descending=True)
        return counts.head(max(1, counts.len() // 10)).sum() / counts.sum()
    benign = t["requests"].filter(pl.col("account_id").is_in(_benign(t).implode()))
    assert top_bucket_share(farm) > top_bucket_share(benign) + 0.1
    ratio = lambda df: (df["output_tokens"] / df["input_tokens"]).median()  # noqa: E731
    assert ratio(farm) > 2 * ratio(benign)
    assert (farm["model"] == "atlas-pro").mean() > 0.8


def test_farm_shares_devices_and_cards_at_configured_rates(t: dict[str, pl.DataFrame]) -> None:
    # distillation_farm-001: 120 accounts, camouflage 0.1, defaults: 8 accounts per device, 4 per card.
    ids = _ring(t, "distillation_farm-001")
    acc = t["accounts"].filter(pl.col("account_id").is_in(ids.implode()))
    per_device = acc.height / acc["device_id"].n_unique()
    assert 3.0 <= per_device <= 8.5
    pay = t["payments"].filter(pl.col("account_id").is_in(ids.implode()))
    per_card = pay["account_id"].n_unique() / pay["card_fingerprint"].n_unique()
    assert 1.8 <= per_card <= 4.5
    assert pay["card_funding"].is_in(["prepaid", "virtual"]).mean() > 0.5
    ben = t["accounts"].filter(pl.col("account_id").is_in(_benign(t).implode()))
    assert ben.height / ben["device_id"].n_unique() < 1.05


def _entropy(df: pl.DataFrame) -> pl.DataFrame:
    p = df.group_by("account_id", "topic").len().with_columns(
        (pl.col("len") / pl.col("len").sum().over("account_id")).alias("p"))
    return p.group_by("account_id").agg((-(pl.col("p") * pl.col("p").log())).sum().alias("h"), pl.col("len").sum())


def test_resellers_far_heavier_and_more_diverse_than_benign(t: dict[str, pl.DataFrame]) -> None:
    kinds = t["labels"].select("account_id", "ring_kind")
    e = _entropy(t["requests"]).join(kinds, on="account_id")
    res, ben = e.filter(pl.col("ring_kind") == "reseller_pool"), e.filter(pl.col("ring_kind") == "benign")
    assert res["len"].median() > 20 * ben["len"].median()
    ben_active = ben.filter(pl.col("len") >= 20)
    assert res["h"].mean() > ben_active["h"].mean() + 0.4


def test_enterprise_teams_share_one_org_and_card(t: dict[str, pl.DataFrame]) -> None:
    for rid in ("enterprise_team-001", "enterprise_team-002"):
        ids = _ring(t, rid)
        acc = t["accounts"].filter(pl.col("account_id").is_in(ids.implode()))
        assert acc["org_id"].null_count() == 0 and acc["org_id"].n_unique() == 1
        assert acc["email"].str.split("@").list.last().n_unique() == 1
        pay = t["payments"].filter(pl.col("account_id").is_in(ids.implode()))
        assert pay["card_fingerprint"].n_unique() == 1 and pay["account_id"].n_unique() >= 0.8 * len(ids)
    # and no benign account belongs to an org
    assert t["accounts"].filter(pl.col("account_id").is_in(_benign(t).implode()))["org_id"].null_count() == \
        _benign(t).len()


def test_card_testing_bursts_of_declines(t: dict[str, pl.DataFrame]) -> None:
    ids = _ring(t, "card_testing-001")
    pay = t["payments"].filter(pl.col("account_id").is_in(ids.implode()))
    assert (pay["status"] == "declined").mean() > 0.7
    assert pay["card_fingerprint"].n_unique() > 0.9 * pay.height
    assert pay["card_bin"].str.slice(0, 4).n_unique() <= 2   # neighbouring BINs
    assert pay["amount_usd"].max() < 5


def _id_features(s: pl.Series, values: bool = True) -> np.ndarray:
    """Format features of an id string (length, digit count) and, for unique ids, its value."""
    s = s.fill_null("")
    body = s.str.replace(r"^[a-z]+_", "")
    head = body.str.slice(0, 4).str.to_integer(base=16, strict=False).fill_null(-1)
    tail = body.str.slice(-4).str.to_integer(base=16, strict=False).fill_null(-1)
    digits = s.str.count_matches(r"[0-9]")
    fmt = [s.str.len_chars().to_numpy(), digits.to_numpy()]
    return np.column_stack(fmt + ([head.to_numpy(), tail.to_numpy()] if values else []))


def test_no_label_leakage_in_ids_and_row_positions(t: dict[str, pl.DataFrame]) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lab = t["labels"].with_row_index("label_row")
    first_key = t["api_keys"].with_row_index("key_row").group_by("account_id").agg(pl.col("key_id").first())
    first_pay = t["payments"].group_by("account_id").agg(pl.col("payment_id").first(),
                                                         pl.col("card_fingerprint").first())
    # Accounts with a payment only: whether an account pays at all is behaviour, not bookkeeping.
    df = (t["accounts"].select("account_id", "device_id").join(lab, on="account_id")
          .join(first_key, on="account_id", how="left").join(first_pay, on="account_id", how="inner"))
    # Device and card ids are shared within rings by design (that is the signal, not a leak), so only
    # their format is used; unique ids (account, key, payment) contribute their values too.
    X = np.column_stack([_id_features(df[c]) for c in ("account_id", "key_id", "payment_id")]
                        + [_id_features(df[c], values=False) for c in ("device_id", "card_fingerprint")]
                        + [df["label_row"].to_numpy()])
    y = df["is_fraud"].to_numpy()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    for model in (make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
                  RandomForestClassifier(200, min_samples_leaf=5, random_state=0, n_jobs=2)):
        p = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
        assert roc_auc_score(y, p) < 0.6
