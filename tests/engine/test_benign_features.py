"""Benign-cohort features (engine/polars/benign.py) on small hand-built tables: card standing, tenure,
established payers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from farmhunt.core.world import World
from farmhunt.engine.polars.benign import (
    card_standing,
    established_payer,
    everyday_share,
    hour_concentration,
    payer_features,
    tenure_days,
)

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _world(accounts: list[tuple[str, str]], payments: list[tuple]) -> World:
    """accounts: (account_id, country); payments: (account_id, card, funding, card_country, amount, status)."""
    acc = pl.DataFrame(accounts, schema=["account_id", "country"], orient="row")
    pay = pl.DataFrame(
        payments,
        schema=["account_id", "card_fingerprint", "card_funding", "card_country", "amount_usd", "status"],
        orient="row",
    )
    return World(Path("."), {"accounts": acc.lazy(), "payments": pay.lazy()}, {})


# A company card paying three seats (one of them abroad), a family's prepaid card, a stolen card paying
# two accounts with a dispute, a card tested with a $1 charge and then spent, a card declined once in
# four, and one person's own card.
ACCOUNTS = [("c1", "DE"), ("c2", "DE"), ("c3", "FR"), ("p1", "US"), ("p2", "US"), ("s1", "US"), ("s2", "US"),
            ("t1", "US"), ("t2", "US"), ("d1", "GB"), ("d2", "GB"), ("o1", "US")]
PAYMENTS = [
    ("c1", "corp", "credit", "DE", 300.0, "succeeded"), ("c2", "corp", "credit", "DE", 300.0, "succeeded"),
    ("c3", "corp", "credit", "DE", 310.0, "succeeded"), ("c1", "corp", "credit", "DE", 295.0, "succeeded"),
    ("p1", "fam", "prepaid", "US", 20.0, "succeeded"), ("p2", "fam", "prepaid", "US", 20.0, "succeeded"),
    ("s1", "stolen", "credit", "US", 60.0, "succeeded"), ("s2", "stolen", "credit", "US", 60.0, "disputed"),
    ("t1", "tested", "debit", "US", 1.0, "succeeded"), ("t2", "tested", "debit", "US", 60.0, "succeeded"),
    ("d1", "shaky", "debit", "GB", 20.0, "declined"), ("d2", "shaky", "debit", "GB", 20.0, "succeeded"),
    ("d1", "shaky", "debit", "GB", 20.0, "succeeded"), ("d2", "shaky", "debit", "GB", 20.0, "succeeded"),
    ("o1", "own", "credit", "US", 20.0, "succeeded"),
]


def test_card_standing_clean_only_for_a_shared_billing_card_in_good_standing() -> None:
    cards = card_standing(_world(ACCOUNTS, PAYMENTS)).collect().sort("card_fingerprint")
    assert dict(zip(cards["card_fingerprint"], cards["clean"])) == {
        "corp": True,  # three accounts, credit, no declines or disputes, issued where two of them live
        "fam": False,  # prepaid
        "stolen": False,  # a dispute
        "tested": False,  # a $1 test charge
        "shaky": False,  # 1 of 4 declined (25% > 5%)
        "own": False,  # pays for one account only: nothing shared to vouch for
    }
    assert dict(zip(cards["card_fingerprint"], cards["card_accounts"]))["corp"] == 3


def test_card_standing_card_from_another_country_than_its_accounts_is_not_clean() -> None:
    acc = [("a", "US"), ("b", "BR")]
    pay = [("a", "k", "credit", "NG", 50.0, "succeeded"), ("b", "k", "credit", "NG", 50.0, "succeeded")]
    assert card_standing(_world(acc, pay)).collect()["clean"].to_list() == [False]


def test_payer_features_share_of_payments_on_clean_shared_cards() -> None:
    acc = [("a", "US"), ("b", "US")]
    pay = [
        ("a", "corp", "credit", "US", 50.0, "succeeded"),
        ("b", "corp", "credit", "US", 50.0, "succeeded"),
        ("a", "own", "prepaid", "US", 50.0, "succeeded"),  # a's second card: half of a's payments are clean
        ("a", "corp", "credit", "US", 50.0, "succeeded"),
        ("a", "corp", "credit", "US", 50.0, "succeeded"),
    ]
    out = payer_features(_world(acc, pay)).collect().sort("account_id")
    assert out["clean_payer_share"].to_list() == [0.75, 1.0]
    assert out["pays"].to_list() == [True, True]


def test_tenure_days_from_signup_to_first_request_never_negative() -> None:
    f = pl.DataFrame(
        {
            "created_at": [T0 - timedelta(days=90), T0, T0 + timedelta(hours=12), T0],
            "first_request": [T0, T0 + timedelta(hours=36), T0, None],
        }
    )
    assert f.select(tenure_days())["tenure_days"].to_list() == [90.0, 1.5, 0.0, 0.0]


def test_established_payer_needs_payment_clean_cards_only_and_tenure() -> None:
    f = pl.DataFrame(
        {
            "pays": [True, True, True, False, None],
            "clean_payer_share": [1.0, 0.75, 1.0, 1.0, None],
            "tenure_days": [45.0, 45.0, 10.0, 45.0, 400.0],
        }
    )
    # established; one prepaid payment on the side; too young; never paid successfully; no payments at all
    assert f.select(established_payer(30.0))["established_payer"].to_list() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert f.select(established_payer(5.0))["established_payer"].to_list() == [1.0, 0.0, 1.0, 0.0, 0.0]


def test_everyday_share_needs_volume_and_no_chargebacks() -> None:
    f = pl.DataFrame(
        {
            "n_requests": [40, 40, 9, 40],
            "capability_share": [0.1, 0.9, 0.0, 0.0],
            "chargeback_rate": [0.0, 0.0, 0.0, 0.25],
        }
    )
    # a popular app's user; a distiller; too few requests to tell; everyday topics beside a dispute
    assert f.select(everyday_share())["everyday_share"].to_list() == [0.9, 0.1, 0.0, 0.0]


def test_hour_concentration_of_a_batch_window_and_of_flat_traffic() -> None:
    f = pl.DataFrame({"n_requests": [500, 500, 19], "hour_entropy": [0.35, 0.98, 0.1]})
    # a nightly CI window; flat 24/7; too few requests to show a rhythm
    assert f.select(hour_concentration())["hour_concentration"].to_list() == [0.65, 0.02, 0.0]
