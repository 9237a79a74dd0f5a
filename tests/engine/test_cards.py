"""Card-testing features (engine/polars/cards.py) on a hand-built payments table, values asserted.

Testers, a spender of a tested card, and benign look-alikes that share or own several cards: a
household paying from one card, a traveller with a second card abroad, a payer whose big top-up was
declined, a user whose own first payment was small.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from farmhunt.core.world import World
from farmhunt.engine.polars.cards import card_features

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _world(rows: list[tuple[str, int, float, str, str, str]]) -> World:
    """payments rows: account, hour offset, amount, card, card country, status."""
    pay = pl.DataFrame(
        {
            "payment_id": [f"p{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "ts": [T0 + timedelta(hours=r[1]) for r in rows],
            "amount_usd": [r[2] for r in rows],
            "card_fingerprint": [r[3] for r in rows],
            "card_bin": ["411111"] * len(rows),
            "card_country": [r[4] for r in rows],
            "card_funding": ["credit"] * len(rows),
            "status": [r[5] for r in rows],
        }
    )
    names = sorted({r[0] for r in rows})
    acc = pl.DataFrame({"account_id": names, "country": ["us"] * len(names)})  # declared country, any case
    return World(path=Path("."), tables={"payments": pay.lazy(), "accounts": acc.lazy()}, files={})


ROWS = [
    # tester: three fresh cards from two countries, small amounts, two declined; card c2 works
    ("tester", 0, 1.00, "c1", "US", "declined"),
    ("tester", 5, 1.50, "c2", "BR", "succeeded"),
    ("tester", 9, 2.00, "c3", "US", "declined"),
    # spender: tops up for real with the tester's working card, a day later
    ("spender", 30, 60.0, "c2", "BR", "succeeded"),
    # a second tester's working card, spent by a second spender whose top-up is later disputed
    ("tester2", 0, 0.80, "c11", "MX", "succeeded"),
    ("spender2", 40, 80.0, "c11", "MX", "disputed"),
    # household: two accounts on one card, a normal first top-up
    ("home1", 0, 20.0, "c4", "US", "succeeded"),
    ("home2", 48, 20.0, "c4", "US", "succeeded"),
    # traveller: a second card from abroad, nothing declined
    ("traveller", 0, 30.0, "c5", "US", "succeeded"),
    ("traveller", 50, 30.0, "c6", "FR", "succeeded"),
    # a big top-up declined (insufficient funds), then paid
    ("broke", 0, 50.0, "c7", "DE", "declined"),
    ("broke", 2, 50.0, "c7", "DE", "succeeded"),
    # a small first payment on one's own card, then a real one on it: no other account involved
    ("small_self", 0, 3.0, "c8", "IN", "succeeded"),
    ("small_self", 24, 40.0, "c8", "IN", "succeeded"),
    # a reseller on a stolen foreign card: three top-ups, two come back as chargebacks
    ("reseller", 0, 250.0, "c9", "BR", "disputed"),
    ("reseller", 100, 250.0, "c9", "BR", "disputed"),
    ("reseller", 200, 250.0, "c9", "BR", "succeeded"),
    # a benign dispute on one's own card
    ("disputer", 0, 30.0, "c10", "US", "succeeded"),
    ("disputer", 90, 30.0, "c10", "US", "refunded"),
]


def _features() -> dict[str, dict[str, float]]:
    out = card_features(_world(ROWS), small_usd=5.0).collect().sort("account_id")
    return {r["account_id"]: r for r in out.iter_rows(named=True)}


def test_tester_and_spender_values() -> None:
    f = _features()
    assert f["tester"]["small_auth_declines"] == 2
    assert f["tester"]["declined_small_auth"] == 1.0
    assert f["tester"]["n_card_countries"] == 2
    assert f["tester"]["multi_country_cards"] == 1.0
    assert f["tester"]["tested_card_spent"] == 1.0
    # the spender shows no decline of its own, only the passed-on card
    assert f["spender"]["small_auth_declines"] == 0
    assert f["spender"]["declined_small_auth"] == 0.0
    assert f["spender"]["tested_card_spent"] == 1.0
    assert f["spender"]["multi_country_cards"] == 0.0
    assert f["tester"]["foreign_chargeback_rate"] == 0.0  # declines are not chargebacks


def test_spent_includes_payments_charged_back_later() -> None:
    f = _features()
    assert f["tester2"]["tested_card_spent"] == 1.0 and f["spender2"]["tested_card_spent"] == 1.0
    assert f["tester2"]["declined_small_auth"] == 0.0  # its one test worked
    assert f["spender2"]["foreign_chargeback_rate"] == 1.0


def test_foreign_chargebacks() -> None:
    f = _features()
    assert abs(f["reseller"]["foreign_chargeback_rate"] - 2 / 3) < 1e-12
    assert f["disputer"]["foreign_chargeback_rate"] == 0.0  # disputed on the payer's own country's card
    assert f["reseller"]["declined_small_auth"] == 0.0 and f["reseller"]["tested_card_spent"] == 0.0


def test_benign_lookalikes_show_none() -> None:
    f = _features()
    for a in ("home1", "home2", "traveller", "broke", "small_self", "disputer"):
        assert f[a]["declined_small_auth"] == 0.0, a
        assert f[a]["tested_card_spent"] == 0.0, a
        assert f[a]["multi_country_cards"] == 0.0, a
        assert f[a]["foreign_chargeback_rate"] == 0.0, a
    assert f["traveller"]["n_card_countries"] == 2  # two countries, but nothing declined
    assert f["broke"]["small_auth_declines"] == 0  # declined, but a real amount


def test_small_limit_is_a_setting() -> None:
    out = card_features(_world(ROWS), small_usd=1.2).collect()
    f = {r["account_id"]: r for r in out.iter_rows(named=True)}
    assert f["tester"]["small_auth_declines"] == 1  # only the $1.00 decline is under $1.20
    assert f["tester"]["tested_card_spent"] == 0.0 and f["spender"]["tested_card_spent"] == 0.0  # c2's $1.50


def test_deterministic_under_row_order() -> None:
    a = card_features(_world(ROWS), small_usd=5.0).collect().sort("account_id")
    b = card_features(_world(ROWS[::-1]), small_usd=5.0).collect().sort("account_id")
    assert a.equals(b)
