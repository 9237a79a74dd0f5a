"""Account features: one row per account describing how it signs up, pays and uses the API.

All work is polars; the request table is aggregated from the request store one part at a time
(each part holds whole accounts, so per-account aggregates are exact), the small tables lazily. The
features feed the cluster aggregates of scoring and the account-level risk.
"""

from __future__ import annotations

import polars as pl

from farmhunt.core.contract import ip_prefix
from farmhunt.core.timezones import COUNTRY_UTC_OFFSET
from farmhunt.core.world import World
from farmhunt.engine.polars.benign import (
    established_payer,
    everyday_share,
    hour_concentration,
    payer_features,
    tenure_days,
)
from farmhunt.engine.polars.cards import CARD_COUNTS, CARD_SHARES, card_features
from farmhunt.engine.polars.families import family_breadth, read_families
from farmhunt.engine.polars.streams import (
    STREAM_FEATURE_COUNTS,
    STREAM_FEATURE_SHARES,
    save_streams,
    stream_features,
    stream_pass,
)
from farmhunt.engine.polars.templates import template_share
from farmhunt.engine.settings import FeatureSettings, TemplateSettings
from farmhunt.engine.store import RequestStore, codes_of

NO_NEIGHBOUR_S = 10 * 365 * 86_400
ASN_KIND_SHARES = ("hosting", "residential", "mobile", "business", "education")


def account_utc_offset(accounts: pl.LazyFrame) -> pl.LazyFrame:
    """account_id -> offset (hours) of its declared country, for local-time features."""
    return accounts.select(
        "account_id",
        pl.col("country")
        .str.to_uppercase()
        .replace_strict(COUNTRY_UTC_OFFSET, default=0, return_dtype=pl.Int64)
        .alias("offset"),
    )


def hour_of_week(ts: pl.Expr) -> pl.Expr:
    """UTC hour of the week of a time (0 = Monday 00h)."""
    epoch = ts.dt.epoch("s")
    return ((epoch // 86_400 + 3) % 7) * 24 + (epoch % 86_400) // 3_600  # 1970-01-01 was a Thursday


def request_features(
    store: RequestStore,
    world: World,
    templates: pl.DataFrame,
    settings: FeatureSettings,
    template_settings: TemplateSettings,
) -> pl.LazyFrame:
    """Per-account usage features from the request store, computed part by part (`RequestStore.per_account`).

    Local-time features count requests per UTC hour of the week first and shift by the account's
    country offset afterwards, so the request table is never joined to the accounts.
    """
    kinds = world["asns"].select("asn", pl.col("kind").alias("asn_kind")).collect()
    epoch = pl.col("ts").dt.epoch("s")
    stream_plan, stream_values = stream_pass(
        world, store, templates, settings, template_settings, account_utc_offset(world["accounts"])
    )
    main, ips, week, mix, tmpl, streams = store.per_account(
        lambda r: (
            r.join(kinds.lazy(), on="asn", how="left")
            .group_by("acct")
            .agg(
                pl.len().alias("n_requests"),
                pl.col("ts").min().alias("first_request"),
                pl.col("ts").max().alias("last_request"),
                (epoch // 86_400).n_unique().alias("active_days"),
                (epoch // 3_600).n_unique().alias("active_hours"),
                pl.col("input_tokens").cast(pl.Int64).sum().alias("input_tokens"),
                pl.col("output_tokens").cast(pl.Int64).sum().alias("output_tokens"),
                pl.col("asn").n_unique().alias("n_asns"),
                pl.col("user_agent").n_unique().alias("n_user_agents"),
                pl.col("key_id").n_unique().alias("n_keys_used"),
                pl.col("prompt_hash").n_unique().alias("n_prompt_hashes"),
                *[(pl.col("asn_kind") == k).mean().alias(f"{k}_share") for k in ASN_KIND_SHARES],
            )
        ),
        lambda r: r.select("acct", "ip").unique(),
        lambda r: r.group_by("acct", hour_of_week(pl.col("ts")).alias("how")).agg(pl.len().alias("n")),
        lambda r: r.group_by("acct", "topic", "model").agg(pl.len().alias("n")),
        lambda r: template_share(r, templates, template_settings),
        stream_plan,
    )
    values = pl.concat(stream_values)
    save_streams(store, streams, values)
    offsets = store.accounts().join(account_utc_offset(world["accounts"]), on="account_id").select("acct", "offset")
    local_week = (
        week.lazy()
        .join(offsets, on="acct", how="left")
        .select("acct", ((pl.col("how") + pl.col("offset").fill_null(0)) % 168).alias("how"), "n")
    )
    hour, day = pl.col("how") % 24, pl.col("how") // 24
    share = lambda cond: pl.col("n").filter(cond).sum() / pl.col("n").sum()  # noqa: E731
    timing = local_week.group_by("acct").agg(
        share(hour.is_in(list(settings.night_hours))).alias("night_share"),
        share(day >= 5).alias("weekend_share"),
        share((hour >= 9) & (hour < 18) & (day < 5)).alias("office_hours_share"),
    )
    hours = (
        local_week.group_by("acct", hour.alias("h"))
        .agg(pl.col("n").sum())
        .group_by("acct")
        .agg(
            (_entropy_expr() / pl.lit(24).log()).alias("hour_entropy"),
            (pl.col("n").max() / pl.col("n").sum()).alias("peak_hour_share"),
        )
    )
    networks = (
        ips.lazy()
        .join(store.ip_prefixes(), on="ip", how="left")
        .group_by("acct")
        .agg(pl.len().alias("n_ips"), pl.col("prefix").n_unique().alias("n_prefixes"))
    )
    capability = codes_of(list(settings.capability_topics))
    topics = (
        mix.lazy()
        .group_by("acct", "topic")
        .agg(pl.col("n").sum())
        .group_by("acct")
        .agg(
            (_entropy_expr() / pl.lit(9).log()).alias("topic_entropy"),
            pl.len().alias("n_topics"),
            share(pl.col("topic").is_in(capability)).alias("capability_share"),
        )
    )
    models = (
        mix.lazy()
        .group_by("acct", "model")
        .agg(pl.col("n").sum())
        .group_by("acct")
        .agg((pl.col("n").max() / pl.col("n").sum()).alias("top_model_share"), pl.len().alias("n_models"))
    )
    joined = (
        main.lazy()
        .join(timing, on="acct", how="left")
        .join(hours, on="acct", how="left")
        .join(networks, on="acct", how="left")
        .join(topics, on="acct", how="left")
        .join(models, on="acct", how="left")
        .join(tmpl.lazy(), on="acct", how="left")
        .join(family_breadth(read_families(store.path)).lazy(), on="acct", how="left")
        .join(stream_features(streams, values, store, world), on="acct", how="left")
        .with_columns(
            (pl.col("n_requests") / pl.col("active_hours")).alias("requests_per_active_hour"),
            (pl.col("n_requests") / pl.col("active_days")).alias("requests_per_active_day"),
            ((pl.col("output_tokens") + 1) / (pl.col("input_tokens") + 1)).alias("output_input_ratio"),
            (pl.col("n_prompt_hashes") / pl.col("n_requests")).alias("prompt_diversity"),
        )
    )
    return store.with_account_id(joined)


def family_depth(low: float, high: float) -> pl.Expr:
    """`family_depth`: `family_breadth` counted as far as those families hold a real share of the account's
    prompts (0 at `family_share` <= `low`, in full at >= `high`). A heavy user meets other people's
    near-copies by chance in proportion to its volume (hundreds of prompts, dozens in families, a small
    share); a bank member's prompts are mostly paraphrases of the bank."""
    share = pl.col("family_share").fill_null(0.0)
    ramp = ((share - low) / max(high - low, 1e-9)).clip(0.0, 1.0)
    return (pl.col("family_breadth").fill_null(0.0) * ramp).cast(pl.Float64).round(9).alias("family_depth")


def _entropy_expr() -> pl.Expr:
    p = pl.col("n") / pl.col("n").sum()
    return -(p * p.log()).sum()


def payment_features(world: World) -> pl.LazyFrame:
    """Per-account payment features: instruments, prepaid/virtual share, declines, disputes, geography."""
    pay = world["payments"]
    ip_country = world["accounts"].select("account_id", "country")
    return (
        pay.join(ip_country, on="account_id", how="left")
        .group_by("account_id")
        .agg(
            pl.len().alias("n_payments"),
            pl.col("card_fingerprint").n_unique().alias("n_cards"),
            pl.col("card_bin").n_unique().alias("n_card_bins"),
            pl.col("card_funding").is_in(["prepaid", "virtual"]).mean().alias("prepaid_virtual_share"),
            (pl.col("status") == "declined").sum().alias("n_declines"),
            (pl.col("status") == "declined").mean().alias("decline_rate"),
            (pl.col("status") == "disputed").sum().alias("n_disputes"),
            (pl.col("status").is_in(["disputed", "refunded"])).mean().alias("chargeback_rate"),
            pl.col("amount_usd").filter(pl.col("status") == "succeeded").sum().alias("spend_usd"),
            (pl.col("amount_usd") < 2.0).mean().alias("micro_payment_share"),
            (pl.col("card_country") != pl.col("country")).mean().alias("card_country_mismatch"),
        )
    )


def key_features(world: World) -> pl.LazyFrame:
    """Per-account API-key features: how many keys, how many revoked (rotation)."""
    return (
        world["api_keys"]
        .group_by("account_id")
        .agg(
            pl.len().alias("n_keys"),
            pl.col("revoked_at").is_not_null().sum().alias("n_keys_revoked"),
        )
    )


def signup_features(world: World) -> pl.LazyFrame:
    """Seconds from each signup to the nearest other signup on the same device and the same /24 network."""
    acc = world["accounts"].select(
        "account_id", "created_at", "device_id", ip_prefix(pl.col("signup_ip")).alias("prefix")
    )
    out = acc.select("account_id")
    for key, name in (("device_id", "signup_gap_device_s"), ("prefix", "signup_gap_prefix_s")):
        t = pl.col("created_at").dt.epoch("s")
        gaps = (
            acc.sort(key, "created_at")
            .with_columns(
                pl.min_horizontal((t - t.shift(1).over(key)).abs(), (t.shift(-1).over(key) - t).abs()).alias(name)
            )
            .select("account_id", name)
        )
        out = out.join(gaps, on="account_id", how="left")
    return out


def account_features(
    world: World,
    store: RequestStore,
    templates: pl.DataFrame,
    settings: FeatureSettings,
    template_settings: TemplateSettings,
) -> pl.LazyFrame:
    """All account features, one row per account of `world` (accounts with no usage get zeros).

    `store` holds the world's requests (`request_store.build_store`); `templates` is the
    prompt-template table of `templates.find_templates`.
    """
    acc = world["accounts"].select(
        "account_id",
        "created_at",
        "country",
        "plan",
        pl.col("org_id").is_not_null().alias("has_org"),
        pl.col("phone").is_not_null().alias("has_phone"),
    )
    feats = (
        acc.join(request_features(store, world, templates, settings, template_settings), on="account_id", how="left")
        .join(payment_features(world), on="account_id", how="left")
        .join(key_features(world), on="account_id", how="left")
        .join(signup_features(world), on="account_id", how="left")
        .join(card_features(world, settings.small_payment_usd), on="account_id", how="left")
        .join(payer_features(world), on="account_id", how="left")
    )
    counts = [
        "n_requests",
        "active_days",
        "active_hours",
        "input_tokens",
        "output_tokens",
        "n_ips",
        "n_prefixes",
        "n_asns",
        "n_user_agents",
        "n_keys_used",
        "n_models",
        "n_topics",
        "n_prompt_hashes",
        "n_payments",
        "n_cards",
        "n_card_bins",
        "n_declines",
        "n_disputes",
        "n_keys",
        "n_keys_revoked",
        *STREAM_FEATURE_COUNTS,
        *CARD_COUNTS,
    ]
    shares = [
        "night_share",
        "weekend_share",
        "office_hours_share",
        "capability_share",
        "hour_entropy",
        "peak_hour_share",
        "topic_entropy",
        "top_model_share",
        "requests_per_active_hour",
        "requests_per_active_day",
        "output_input_ratio",
        "prompt_diversity",
        "templated_share",
        "template_breadth",
        "family_breadth",
        "family_share",
        "prepaid_virtual_share",
        "decline_rate",
        "chargeback_rate",
        "spend_usd",
        "micro_payment_share",
        "card_country_mismatch",
        *[f"{k}_share" for k in ASN_KIND_SHARES],
        *STREAM_FEATURE_SHARES,
        *CARD_SHARES,
        "clean_payer_share",
    ]
    feats = feats.with_columns(
        (pl.col("second_stream_requests").fill_null(0) / pl.col("n_requests").clip(1)).alias("second_stream_share"),
        tenure_days(),
        family_depth(settings.family_share_low, settings.family_share_high),
    )
    feats = feats.with_columns(
        pl.col("clean_payer_share").fill_null(0.0), established_payer(settings.established_days)
    ).drop("pays")
    return (
        feats.with_columns(
            *[pl.col(c).fill_null(0).cast(pl.Int64) for c in counts],
            # Rounded: streaming aggregation sums floats in a varying order; results must not vary.
            *[pl.col(c).fill_null(0.0).cast(pl.Float64).round(9) for c in shares],
            (pl.col("last_request") - pl.col("first_request")).dt.total_seconds().fill_null(0).alias("active_span_s"),
            # No other signup on the device or network: as far from a burst as can be.
            *[
                pl.col(c).fill_null(NO_NEIGHBOUR_S).cast(pl.Int64)
                for c in ("signup_gap_device_s", "signup_gap_prefix_s")
            ],
        )
        .with_columns(hour_concentration(), everyday_share())
        .sort("account_id")
    )
