"""Card-testing behaviour per account, from the payments table alone.

Card testing is a fraudster checking which stolen card numbers work before spending them. Whatever tool
runs it, it leaves three traces a benign payer does not: small authorisations (a few dollars, far under
any real top-up) that are declined; many different cards tried on one account, from several countries;
and cards that pass a small test on one account and are then spent on another (the ring's spender). The
first two hold for a ring spread thin over many free accounts (each tests only a few cards, over days)
as much as for a burst on one account, so they carry across designs; the third ties a tester to the
spender of its card. All polars, one group-by per feature.
"""

from __future__ import annotations

import polars as pl

from farmhunt.core.contract import World

#: Per-account card-testing columns (counts as integers, flags as 0.0/1.0 floats).
CARD_COUNTS = ("small_auth_declines", "n_card_countries")
CARD_SHARES = ("declined_small_auth", "tested_card_spent", "multi_country_cards")


def card_features(world: World, small_usd: float) -> pl.LazyFrame:
    """account_id, small_auth_declines, n_card_countries, declined_small_auth, tested_card_spent,
    multi_country_cards.

    * `small_auth_declines`: declined payments under `small_usd`; `declined_small_auth` is 1.0 when there is one.
    * `n_card_countries`: distinct issuing countries of the account's cards; `multi_country_cards` 1.0 at 2+
      countries with a declined payment among them (a traveller's second card does not decline).
    * `tested_card_spent`: 1.0 when the account is either end of a card that was first tried with a small
      authorisation on one account and later paid a real amount (succeeded, at least `small_usd`) on another.
    """
    pay = world["payments"].select("account_id", "ts", "amount_usd", "card_fingerprint", "card_country", "status")
    small = pl.col("amount_usd") < small_usd
    declined = pl.col("status") == "declined"
    per_account = pay.group_by("account_id").agg(
        (small & declined).sum().cast(pl.Int64).alias("small_auth_declines"),
        pl.col("card_country").drop_nulls().n_unique().cast(pl.Int64).alias("n_card_countries"),
        declined.any().alias("_any_declined"),
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
        pay.filter((pl.col("status") == "succeeded") & ~small)
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
