"""Benign-cohort features that are expensive to fake: who pays for the accounts, and since when.

A company's CI fleet, a research lab, an enterprise team or one person's accounts act together for honest
reasons: they are synchronized, templated and share infrastructure like a farm. What a farm cannot show
cheaply is one paying entity in good standing behind established accounts: a credit or debit card
issued in the members' own country that pays for several accounts, with no declines, disputes,
refunds or test charges on it (a stolen or tested card shows them), on accounts that were customers for
weeks before the traffic seen here. An org id, office hours or a day/night rhythm cost nothing; a clean
card paying the real bill of every account, and months of tenure, do.

Per account (joined into the account features):

* `tenure_days`: days from signup to the account's first request in the data (0 without requests);
* `clean_payer_share`: share of the account's payments made on a *clean shared card* (see `card_standing`);
* `established_payer`: 1.0 when the account pays (at least one succeeded payment), every payment is on a
  clean shared card, and its tenure is at least `FeatureSettings.established_days`; else 0.0;
* `everyday_share`: share of requests on everyday topics (writing, chat, translation, ...: not the
  capability topics a distiller harvests), for accounts with at least `MIN_TOPIC_REQUESTS` requests and
  no disputed or refunded payment (else 0: too few to tell, or payment fraud beside it). A popular app's
  users send its template about everyday work; a farm that wanted these outputs would not be a
  distillation farm;
* `hour_concentration`: 1 - hour-of-day entropy for accounts with `MIN_RHYTHM_REQUESTS` requests (else 0):
  a scheduler's batch window sits in a few hours of the day. Cheap to fake: scoring caps it.
"""

from __future__ import annotations

import polars as pl

from farmhunt.core.world import World

#: A card's payments are clean up to these rates (a corporate card paying hundreds of seats declines now and
#: then); test charges (payments under $2) are never clean.
MAX_CARD_DECLINE_RATE = 0.05
MAX_CARD_CHARGEBACK_RATE = 0.02
MICRO_PAYMENT_USD = 2.0
#: Funding types of a card a real customer is billed on (prepaid and virtual cards are cheap to burn).
BILLING_FUNDING = ("credit", "debit")
#: Fewer requests than these show no daily rhythm / topic mix worth reading.
MIN_RHYTHM_REQUESTS = 20
MIN_TOPIC_REQUESTS = 10


def card_standing(world: World) -> pl.LazyFrame:
    """Per card fingerprint: accounts it pays for, and `clean` (a shared card in good standing).

    A card is clean and shared when it pays for at least two accounts, all its payments are on a credit
    or debit card, at most 5% are declined and 2% disputed or refunded, none is a test charge under $2,
    and at least one of its accounts declares the card's own country (the holder; a company card pays
    for remote staff abroad too, a stolen card's accounts are all foreign to it).
    """
    pay = world["payments"].join(world["accounts"].select("account_id", "country"), on="account_id", how="left")
    status = pl.col("status")
    return pay.group_by("card_fingerprint").agg(
        pl.col("account_id").n_unique().alias("card_accounts"),
        (
            (pl.col("account_id").n_unique() >= 2)
            & pl.col("card_funding").is_in(list(BILLING_FUNDING)).all()
            & ((status == "declined").mean() <= MAX_CARD_DECLINE_RATE)
            & (status.is_in(["disputed", "refunded"]).mean() <= MAX_CARD_CHARGEBACK_RATE)
            & (pl.col("amount_usd") >= MICRO_PAYMENT_USD).all()
            & (pl.col("card_country") == pl.col("country")).any()
        ).alias("clean"),
    )


def payer_features(world: World) -> pl.LazyFrame:
    """account_id, clean_payer_share, pays: how much of an account's payments are on clean shared cards."""
    return (
        world["payments"]
        .join(card_standing(world).select("card_fingerprint", "clean"), on="card_fingerprint", how="left")
        .group_by("account_id")
        .agg(
            pl.col("clean").fill_null(False).mean().alias("clean_payer_share"),
            (pl.col("status") == "succeeded").any().alias("pays"),
        )
    )


def tenure_days() -> pl.Expr:
    """Days from signup to the first request (0 without requests, never negative): `tenure_days`."""
    days = (pl.col("first_request") - pl.col("created_at")).dt.total_seconds() / 86_400.0
    return days.fill_null(0.0).clip(lower_bound=0.0).round(9).alias("tenure_days")


def established_payer(established_days: float) -> pl.Expr:
    """1.0 for an account that pays, only on clean shared cards, with `established_days` of tenure before
    its first request; reads `pays`, `clean_payer_share` and `tenure_days`."""
    return (
        (
            pl.col("pays").fill_null(False)
            & (pl.col("clean_payer_share").fill_null(0.0) >= 1.0)
            & (pl.col("tenure_days") >= established_days)
        )
        .cast(pl.Float64)
        .alias("established_payer")
    )


def everyday_share() -> pl.Expr:
    """1 - capability_share for accounts with `MIN_TOPIC_REQUESTS` requests or more and no disputed or
    refunded payment, else 0: `everyday_share` (reads n_requests, capability_share, chargeback_rate)."""
    return (
        pl.when((pl.col("n_requests") >= MIN_TOPIC_REQUESTS) & (pl.col("chargeback_rate") == 0.0))
        .then((1.0 - pl.col("capability_share")).clip(0.0, 1.0).round(9))
        .otherwise(0.0)
        .alias("everyday_share")
    )


def hour_concentration() -> pl.Expr:
    """1 - hour_entropy for accounts with `MIN_RHYTHM_REQUESTS` requests or more, else 0: a batch window's
    activity sits in a few hours of the day (0 = flat over 24 hours): `hour_concentration`."""
    return (
        pl.when(pl.col("n_requests").fill_null(0) >= MIN_RHYTHM_REQUESTS)
        .then((1.0 - pl.col("hour_entropy")).clip(0.0, 1.0).round(9))
        .otherwise(0.0)
        .alias("hour_concentration")
    )
