"""Card-testing behaviour per account, from the payments table alone.

Card testing is a fraudster checking which stolen card numbers work before spending them. Whatever tool
runs it, it leaves three traces a benign payer does not: small authorisations (a few dollars, far under
any real top-up) that are declined; many different cards tried on one account, from several countries;
and cards that pass a small test on one account and are then spent on another (the ring's spender). The
first two hold for a ring spread thin over many free accounts (each tests only a few cards, over days)
as much as for a burst on one account, so they carry across designs; the third ties a tester to the
spender of its card. Stolen cards also come back as chargebacks, on cards issued abroad: a reseller's
and a spender's trace, expensive to fake. All polars.
"""

from __future__ import annotations

import polars as pl

from farmhunt.core.world import World

#: Per-account card-testing columns (counts as integers, flags as 0.0/1.0 floats).
CARD_COUNTS = ("small_auth_declines", "n_card_countries")
CARD_SHARES = ("declined_small_auth", "tested_card_spent", "multi_country_cards", "foreign_chargeback_rate")


def card_features(world: World, small_usd: float) -> pl.LazyFrame:
    """account_id, small_auth_declines, n_card_countries, declined_small_auth, tested_card_spent,
    multi_country_cards, foreign_chargeback_rate (from the payments and the accounts' declared country).

    * `small_auth_declines`: declined payments under `small_usd`; `declined_small_auth` is 1.0 when there is one.
    * `n_card_countries`: distinct issuing countries of the account's cards; `multi_country_cards` 1.0 at 2+
      countries with a declined payment among them (a traveller's second card does not decline).
    * `tested_card_spent`: 1.0 when the account is either end of a card that was first tried with a small
      authorisation on one account and later paid a real amount (at least `small_usd`, went through: succeeded,
      or disputed or refunded later) on another.
    * `foreign_chargeback_rate`: share of the account's payments disputed or refunded on a card issued outside
      the account's declared country: stolen cards bought abroad, the reseller's and the spender's trace (a
      benign dispute is rare, and on the payer's own card).
    """
    pay = world["payments"].select("account_id", "ts", "amount_usd", "card_fingerprint", "card_country", "status")
    country = world["accounts"].select("account_id", pl.col("country").str.to_uppercase().alias("_country"))
    small = pl.col("amount_usd") < small_usd
    declined = pl.col("status") == "declined"
    foreign = pl.col("card_country").str.to_uppercase() != pl.col("_country")
    charged_back = pl.col("status").is_in(["disputed", "refunded"])
    per_account = (
        pay.join(country, on="account_id", how="left")
        .group_by("account_id")
        .agg(
            (small & declined).sum().cast(pl.Int64).alias("small_auth_declines"),
            (charged_back & foreign.fill_null(False)).mean().alias("foreign_chargeback_rate"),
            pl.col("card_country").drop_nulls().n_unique().cast(pl.Int64).alias("n_card_countries"),
            declined.any().alias("_any_declined"),
        )
    )
    # A card's first attempt anywhere (ties broken by account id: deterministic) and who made it.
    first = (
        pay.group_by("card_fingerprint")
        .agg(
            pl.col("account_id").sort_by("ts", "account_id").first().alias("tester"),
            pl.col("amount_usd").sort_by("ts", "account_id").first().alias("first_amount"),
        )
        .filter(pl.col("first_amount") < small_usd)
    )
    spent = (
        # Spent: a real amount that went through (a chargeback later is a payment that went through too).
        pay.filter(pl.col("status").is_in(["succeeded", "disputed", "refunded"]) & ~small)
        .join(first, on="card_fingerprint")
        .filter(pl.col("account_id") != pl.col("tester"))
    )
    ends = pl.concat([spent.select("account_id"), spent.select(pl.col("tester").alias("account_id"))]).unique()
    return (
        per_account.join(ends.with_columns(pl.lit(1.0).alias("tested_card_spent")), on="account_id", how="left")
        .with_columns(
            (pl.col("small_auth_declines") > 0).cast(pl.Float64).alias("declined_small_auth"),
            ((pl.col("n_card_countries") >= 2) & pl.col("_any_declined")).cast(pl.Float64).alias("multi_country_cards"),
            pl.col("tested_card_spent").fill_null(0.0),
        )
        .select("account_id", *CARD_COUNTS, *CARD_SHARES)
    )
