"""Traffic streams: a leaked key or a taken-over account seen as a second stream beside the owner's.

The unit of analysis is the **stream**: an account's requests on one API key from networks (ASNs) the
account did not use in its established history. Per account, an ASN is *new* when it first appears at
least `baseline_hours` after the account's first request (the change point: a first appearance of a
network, computed exactly and vectorised, one group-by per part; a per-account change-point search
such as `ruptures` would be a Python loop per account and finds nothing a first appearance misses here).
Per (account, key), the requests from new ASNs form the candidate stream; the rest is the owner's.

A candidate is a **second stream** when it has volume (`min_requests`), the owner has organic history
before it (`min_owner_before`) and goes on beside it (`min_owner_after`: a company moving to a new cloud
leaves its old network; a victim's owner does not), and it differs from the owner in at least
`min_criteria` of these ways:

* around the clock: local night share (declared country's time) at least `night_min` and above the owner's,
  spread over the day (hour entropy at least `entropy_min`: a nightly batch job is at night, not 24/7);
* templated: at least `templated_min` of its prompts match a template, more than the owner's share;
* output-heavy: output/input token ratio `output_lift` times the owner's;
* volume: requests per active day `volume_lift` times the owner's;
* other networks: hosting share `hosting_lift` above the owner's, `min_new_asns` networks, or (when the
  world's `asns` table has the optional `country` column, GeoIP) half its traffic from countries that are
  neither the declared one nor those of the owner's own networks;
* impossible travel: in at least `travel_min` of its `travel_bucket_seconds` buckets the key is used from
  two or more ASNs (the owner and the relay, or several relays, within minutes).

A traveller (a week on a hotel network, human hours, own prompts), a CI fleet or a popular app (same
networks and templates from their first day) and a move to a new cloud (the old network stops) fail
these tests by construction. The second streams' relay IPs and templates (`stream_values`) link the
victims of one operator; computed from the abusive streams only, the owners' organic traffic does not
knit unrelated customers together.

The features stage computes the streams once, part by part (each part holds whole accounts), and keeps
them beside the request store (`STREAMS_FILE`, `STREAM_VALUES_FILE`) for linkage and the console.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from farmhunt.core.world import World
from farmhunt.engine.polars.templates import _is_templated, account_templates
from farmhunt.engine.settings import FeatureSettings, StreamSettings, TemplateSettings
from farmhunt.engine.store import RequestStore

STREAMS_FILE = "streams.parquet"
STREAM_VALUES_FILE = "stream_values.parquet"
STREAM_SIGNALS = ("stream_relay", "stream_template")

#: One row per candidate stream (account position, key code): what made it a second stream or not.
STREAM_SCHEMA = pl.Schema(
    {
        "acct": pl.UInt32(),
        "key_id": pl.UInt64(),
        "n_requests": pl.UInt32(),
        "since": pl.Datetime("us", "UTC"),
        "until": pl.Datetime("us", "UTC"),
        "n_asns": pl.UInt32(),
        "asns": pl.List(pl.Int32),
        "n_ips": pl.UInt32(),
        "hosting_share": pl.Float64(),
        "foreign_share": pl.Float64(),
        "night_share": pl.Float64(),
        "hour_entropy": pl.Float64(),
        "templated_share": pl.Float64(),
        "output_input_ratio": pl.Float64(),
        "requests_per_day": pl.Float64(),
        "travel_share": pl.Float64(),
        "owner_before": pl.UInt32(),
        "owner_after": pl.UInt32(),
        "criteria": pl.Int32(),
        "second": pl.Boolean(),
    }
)
VALUE_SCHEMA = pl.Schema({"acct": pl.UInt32, "signal": pl.String, "value": pl.String})
#: The per-account stream features (see `stream_features`); counts fill with 0, shares with 0.0.
STREAM_FEATURE_COUNTS = ("second_stream", "second_stream_keys", "second_stream_asns", "second_stream_requests")
STREAM_FEATURE_SHARES = (
    "second_stream_share",
    "second_stream_score",
    "second_stream_night_share",
    "second_stream_templated_share",
    "second_stream_hosting_share",
    "second_stream_travel_share",
)


def _entropy(n: pl.Expr) -> pl.Expr:
    p = n / n.sum()
    return -(p * p.log()).sum()


def streams_of_part(
    part: pl.LazyFrame,
    kinds: pl.DataFrame,
    offsets: pl.DataFrame,
    templates: pl.DataFrame,
    template_settings: TemplateSettings,
    s: StreamSettings,
    night_hours: tuple[int, ...],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidate streams of one store part (STREAM_SCHEMA) and the second streams' linkage values
    (VALUE_SCHEMA: relay IP codes and 'band:value' templates).

    `kinds`: asn -> asn_kind, asn_country (null without `asns.country`); `offsets`: acct -> offset (hours
    of the declared country), declared (country).
    Everything after the first group-by runs only on accounts with a new network of some volume.
    """
    r = part.select("acct", "ts", "key_id", "asn", "ip", "input_tokens", "output_tokens", "prompt_hash")
    nets = (
        r.group_by("acct", "asn")
        .agg(pl.col("ts").min().alias("first_seen"), pl.len().alias("n"))
        .with_columns(pl.col("first_seen").min().over("acct").alias("t0"))
        .with_columns(
            (pl.col("first_seen") >= pl.col("t0") + pl.duration(hours=s.baseline_hours)).alias("new"),
        )
        .collect()
    )
    cand = nets.filter("new").group_by("acct").agg(pl.col("n").sum()).filter(pl.col("n") >= s.min_requests)
    if cand.is_empty():
        return pl.DataFrame(schema=STREAM_SCHEMA), pl.DataFrame(schema=VALUE_SCHEMA)
    epoch = pl.col("ts").dt.epoch("s")
    rows = (
        r.join(cand.lazy().select("acct"), on="acct", how="semi")
        .join(nets.lazy().select("acct", "asn", "new"), on=["acct", "asn"], how="left")
        .join(offsets.lazy(), on="acct", how="left")
        .join(kinds.lazy(), on="asn", how="left")
        .with_columns(
            (((epoch % 86_400) // 3_600 + pl.col("offset").fill_null(0)) % 24).alias("hour"),
            (epoch // 86_400).alias("day"),
            (epoch // s.travel_bucket_seconds).alias("bucket"),
            (pl.col("asn_kind") == "hosting").alias("hosting"),
            _is_templated(templates, template_settings).alias("tpl"),
        )
        .collect()
    )
    # Foreign: a network of a country that is neither the declared one nor one of the owner's own networks'.
    owner_countries = rows.lazy().filter(~pl.col("new")).select("acct", "asn_country").drop_nulls().unique()
    rows = (
        rows.lazy()
        .join(owner_countries.with_columns(pl.lit(True).alias("__own")), on=["acct", "asn_country"], how="left")
        .with_columns(
            pl.when(pl.col("asn_country").is_not_null())
            .then((pl.col("asn_country") != pl.col("declared").fill_null("")) & pl.col("__own").is_null())
            .alias("foreign")
        )
        .drop("__own")
        .collect()
    )
    night = pl.col("hour").is_in(list(night_hours)).mean()
    ratio = (pl.col("output_tokens").cast(pl.Int64).sum() + 1) / (pl.col("input_tokens").cast(pl.Int64).sum() + 1)
    owner = (
        rows.lazy()
        .filter(~pl.col("new"))
        .group_by("acct")
        .agg(
            pl.len().alias("owner_n"),
            night.alias("owner_night"),
            pl.col("tpl").mean().alias("owner_tpl"),
            ratio.alias("owner_ratio"),
            pl.col("hosting").mean().alias("owner_hosting"),
            (pl.len() / pl.col("day").n_unique()).alias("owner_rate"),
        )
    )
    stream_rows = rows.lazy().filter("new")
    keyed = ["acct", "key_id"]
    stream = stream_rows.group_by(keyed).agg(
        pl.len().cast(pl.UInt32).alias("n_requests"),
        pl.col("ts").min().alias("since"),
        pl.col("ts").max().alias("until"),
        pl.col("asn").n_unique().cast(pl.UInt32).alias("n_asns"),
        pl.col("asn").unique().sort().alias("asns"),
        pl.col("ip").n_unique().cast(pl.UInt32).alias("n_ips"),
        pl.col("hosting").mean().cast(pl.Float64).alias("hosting_share"),
        pl.col("foreign").mean().cast(pl.Float64).alias("foreign_share"),
        night.cast(pl.Float64).alias("night_share"),
        pl.col("tpl").mean().cast(pl.Float64).alias("templated_share"),
        ratio.cast(pl.Float64).alias("output_input_ratio"),
        (pl.len() / pl.col("day").n_unique()).cast(pl.Float64).alias("requests_per_day"),
    )
    hours = (
        stream_rows.group_by(*keyed, "hour")
        .agg(pl.len().alias("n"))
        .group_by(keyed)
        .agg((_entropy(pl.col("n")) / pl.lit(24.0).log()).alias("hour_entropy"))
    )
    # Impossible travel: buckets, from the stream's start, in which the key is used from >= 2 ASNs.
    since = stream.select(*keyed, "since")
    travel = (
        rows.lazy()
        .join(since, on=keyed)
        .filter(pl.col("ts") >= pl.col("since"))
        .group_by(*keyed, "bucket")
        .agg(pl.col("asn").n_unique().alias("k"))
        .group_by(keyed)
        .agg((pl.col("k") >= 2).mean().cast(pl.Float64).alias("travel_share"))
    )
    owner_times = (
        rows.lazy()
        .filter(~pl.col("new"))
        .select("acct", "ts")
        .join(since, on="acct")
        .group_by(keyed)
        .agg(
            (pl.col("ts") < pl.col("since")).sum().cast(pl.UInt32).alias("owner_before"),
            (pl.col("ts") >= pl.col("since")).sum().cast(pl.UInt32).alias("owner_after"),
        )
    )
    o_ratio = pl.col("owner_ratio").fill_null(1.0)
    criteria = [
        (pl.col("night_share") >= s.night_min)
        & (pl.col("night_share") > pl.col("owner_night").fill_null(0.0) + 0.05)
        & (pl.col("hour_entropy") >= s.entropy_min),
        (pl.col("templated_share") >= s.templated_min)
        & (pl.col("templated_share") > pl.col("owner_tpl").fill_null(0.0) + 0.1),
        pl.col("output_input_ratio") >= s.output_lift * o_ratio,
        pl.col("requests_per_day") >= s.volume_lift * pl.col("owner_rate").fill_null(0.0),
        (pl.col("hosting_share") >= pl.col("owner_hosting").fill_null(0.0) + s.hosting_lift)
        | (pl.col("n_asns") >= s.min_new_asns)
        | (pl.col("foreign_share").fill_null(0.0) >= 0.5),
        pl.col("travel_share") >= s.travel_min,
    ]
    out = (
        stream.join(hours, on=keyed, how="left")
        .join(travel, on=keyed, how="left")
        .join(owner_times, on=keyed, how="left")
        .join(owner, on="acct", how="left")
        .with_columns(
            pl.col("travel_share").fill_null(0.0),
            pl.col("hour_entropy").fill_null(0.0),
            pl.col("owner_before").fill_null(0),
            pl.col("owner_after").fill_null(0),
        )
        # Rounded: parallel float sums vary in order; the decision and the table must not vary.
        .with_columns(pl.col(pl.Float64).round(9))
        .with_columns(pl.sum_horizontal([c.fill_null(False).cast(pl.Int32) for c in criteria]).alias("criteria"))
        .with_columns(
            (
                (pl.col("n_requests") >= s.min_requests)
                & (pl.col("owner_before") >= s.min_owner_before)
                & (pl.col("owner_after") >= s.min_owner_after)
                & (pl.col("criteria") >= s.min_criteria)
            ).alias("second")
        )
        .select(list(STREAM_SCHEMA))
        .sort(keyed)
        .collect()
    )
    second = out.filter("second").select(keyed)
    if second.is_empty():
        return out, pl.DataFrame(schema=VALUE_SCHEMA)
    abusive = stream_rows.join(second.lazy(), on=keyed, how="semi")
    relay = abusive.select("acct", pl.lit("stream_relay").alias("signal"), pl.col("ip").cast(pl.String).alias("value"))
    tmpl = account_templates(abusive, templates, template_settings).select(
        "acct", pl.lit("stream_template").alias("signal"), "value"
    )
    values = pl.concat([relay, tmpl]).unique().sort("acct", "signal", "value").collect()
    return out, values.cast(VALUE_SCHEMA)


def stream_pass(
    world: World,
    store: RequestStore,
    templates: pl.DataFrame,
    settings: FeatureSettings,
    template_settings: TemplateSettings,
    utc_offsets: pl.LazyFrame,
) -> tuple[Callable[[pl.LazyFrame], pl.DataFrame], list[pl.DataFrame]]:
    """A per-part plan for `RequestStore.per_account` returning the part's candidate streams, and the
    list it appends the part's second-stream linkage values to (so the pass shares the features' read).

    `utc_offsets`: account_id -> offset (hours) of its declared country (`features.account_utc_offset`).
    """
    asns = world["asns"]
    country = pl.col("country") if "country" in asns.collect_schema() else pl.lit(None, pl.String)
    kinds = asns.select(
        "asn", pl.col("kind").alias("asn_kind"), country.str.to_uppercase().alias("asn_country")
    ).collect()
    declared = world["accounts"].select("account_id", pl.col("country").str.to_uppercase().alias("declared"))
    offsets = (
        store.accounts()
        .join(utc_offsets, on="account_id", how="left")
        .join(declared, on="account_id", how="left")
        .select("acct", pl.col("offset").cast(pl.Int64), "declared")
        .collect()
    )
    values: list[pl.DataFrame] = [pl.DataFrame(schema=VALUE_SCHEMA)]

    def plan(part: pl.LazyFrame) -> pl.DataFrame:
        st, va = streams_of_part(
            part, kinds, offsets, templates, template_settings, settings.streams, settings.night_hours
        )
        values.append(va)
        return st

    return plan, values


def compute_streams(
    world: World,
    store: RequestStore,
    templates: pl.DataFrame,
    settings: FeatureSettings,
    template_settings: TemplateSettings,
    utc_offsets: pl.LazyFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidate streams and second-stream linkage values of every account, part by part."""
    plan, values = stream_pass(world, store, templates, settings, template_settings, utc_offsets)
    streams = [plan(part) for part in store.parts()]
    return pl.concat([pl.DataFrame(schema=STREAM_SCHEMA), *streams]), pl.concat(values)


def save_streams(store: RequestStore, streams: pl.DataFrame, values: pl.DataFrame) -> None:
    """Keep the streams beside the request store (inside the results' own temporary directory, like the
    store itself: the whole results directory is what is renamed into place)."""
    for name, frame in ((STREAMS_FILE, streams), (STREAM_VALUES_FILE, values)):
        frame.write_parquet(store.path / name)


def stream_values(
    world: World,
    store: RequestStore,
    templates: pl.DataFrame,
    template_settings: TemplateSettings,
    utc_offsets: pl.LazyFrame,
) -> pl.LazyFrame:
    """(account_id, signal, value) of the second streams, for linkage: read from beside the store when
    the features stage kept them there, else computed with the default feature settings."""
    f = store.path / STREAM_VALUES_FILE
    if f.exists():
        values = pl.scan_parquet(f)
    else:
        values = compute_streams(world, store, templates, FeatureSettings(), template_settings, utc_offsets)[1].lazy()
    return store.with_account_id(values)


def stream_features(streams: pl.DataFrame, values: pl.DataFrame, store: RequestStore, world: World) -> pl.LazyFrame:
    """Per account (`acct`) with a second stream: second_stream (1), since (first request), keys and ASNs,
    requests, its strongest stream's score (criteria / 6) and night, templated, hosting and travel
    shares, and `second_stream_evidence`, a sentence an investigator reads:

        key K shows a second stream since D (new networks: hosting AS X Org, AS Y Org; 24% at night;
        78% templated), its relays or templates shared with 40 other accounts' second streams
    """
    second = streams.lazy().filter("second")
    shared = (
        values.lazy()
        .with_columns((pl.len().over("signal", "value") - 1).alias("others"))
        .group_by("acct")
        .agg(pl.col("others").max())
    )
    orgs = world["asns"].select(
        pl.col("asn"), pl.format("{} AS{} {}", pl.col("kind"), pl.col("asn"), pl.col("org")).alias("net")
    )
    nets = (
        second.select("acct", "key_id", pl.col("asns").alias("asn"))
        .explode("asn")
        .join(orgs, on="asn", how="left")
        .group_by("acct", "key_id")
        .agg(pl.col("net").sort().head(3).str.join(", ").alias("nets"))
    )
    keys = store.lookup("key_id").select(pl.col("code").alias("key_id"), pl.col("text").alias("key"))
    # The account's strongest second stream (most criteria, then most requests) speaks for it.
    top = (
        second.join(nets, on=["acct", "key_id"], how="left")
        .join(keys, on="key_id", how="left")
        .sort("acct", "criteria", "n_requests", "key_id", descending=[False, True, True, False])
        .group_by("acct", maintain_order=True)
        .first()
        .join(shared, on="acct", how="left")
        .select(
            "acct",
            pl.format(
                "key {} shows a second stream since {} ({} requests; new networks: {}; {}% at night; {}% templated;"
                " output/input {}), its relays or templates shared with {} other accounts' second streams",
                pl.col("key").fill_null("?"),
                pl.col("since").dt.strftime("%Y-%m-%d %H:%M"),
                pl.col("n_requests"),
                pl.col("nets").fill_null("?"),
                (pl.col("night_share") * 100).round(0).cast(pl.Int64),
                (pl.col("templated_share") * 100).round(0).cast(pl.Int64),
                pl.col("output_input_ratio").round(1),
                pl.col("others").fill_null(0),
            ).alias("second_stream_evidence"),
        )
    )
    per = second.group_by("acct").agg(
        pl.lit(1).alias("second_stream"),
        pl.col("since").min().alias("second_stream_since"),
        pl.col("key_id").n_unique().alias("second_stream_keys"),
        pl.col("asns").list.explode(keep_nulls=False, empty_as_null=False).n_unique().alias("second_stream_asns"),
        pl.col("n_requests").sum().alias("second_stream_requests"),
        (pl.col("criteria").max() / 6.0).alias("second_stream_score"),
        pl.col("night_share").max().alias("second_stream_night_share"),
        pl.col("templated_share").max().alias("second_stream_templated_share"),
        pl.col("hosting_share").max().alias("second_stream_hosting_share"),
        pl.col("travel_share").max().alias("second_stream_travel_share"),
    )
    return per.join(top, on="acct", how="left")
