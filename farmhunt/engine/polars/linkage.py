"""The account-linkage graph: weighted account-account edges, each keeping its reasons.

Size (~450 lines): shared values, value edges, sync and content edges and their combination share
one edge schema and the hub caps; prompt families, streams and templates already live in their own modules.

Two kinds of evidence make edges:

* **Shared values** (`shared_values`): a card, device, phone, signup IP or /24, request IP, canonical
  email, email pattern or domain, declared org, prompt template, or a signup burst (same network,
  same time window). A value shared by `n` accounts gives each pair the signal's base weight divided
  by log2(n): a value shared by 3 accounts says far more than one shared by 3,000.
* **Synchronized activity** (`sync_edges`): in the spirit of SynchroTrap, accounts active in the same
  fine time buckets far more often than chance. Candidate pairs come from MinHash locality-sensitive
  banding over each account's set of active buckets; a pair is kept when its Jaccard similarity beats
  the similarity two independent accounts of the same activity would have by chance.

Hubs: a group larger than `max_clique` (a campus NAT address, a popular app's template, a corporate
card) does not become a clique. Each member is linked to `hub_degree` other members chosen by a
deterministic hash order, so edges grow linearly with the group; groups above `max_group` make no
edges at all. Edge weights are the sum over signals of the strongest value each signal shares.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import polars as pl

from farmhunt.core.contract import ip_prefix
from farmhunt.core.values import canonical_email, email_pattern
from farmhunt.core.world import World
from farmhunt.engine.polars.families import bank_pairs, family_pairs, prompt_banks, read_families
from farmhunt.engine.polars.features import account_utc_offset
from farmhunt.engine.polars.streams import STREAM_SIGNALS, stream_values
from farmhunt.engine.polars.templates import account_templates
from farmhunt.engine.settings import LinkageSettings, TemplateSettings
from farmhunt.engine.store import RequestStore, text_code

EDGE_SCHEMA = {"src": pl.String, "dst": pl.String, "signal": pl.String, "weight": pl.Float64}


def shared_values(world: World, usage: RequestUsage, settings: LinkageSettings) -> pl.LazyFrame:
    """Distinct (account_id, signal, value) rows for every enabled value-sharing signal."""
    acc = world["accounts"]
    on = set(settings.signals)
    parts: list[pl.LazyFrame] = []

    def add(signal: str, frame: pl.LazyFrame, value: pl.Expr) -> None:
        if signal in on:
            parts.append(
                frame.select("account_id", pl.lit(signal).alias("signal"), value.cast(pl.String).alias("value"))
            )

    add("device", acc, pl.col("device_id"))
    add("phone", acc, pl.col("phone"))
    add("signup_ip", acc, pl.col("signup_ip"))
    add("signup_prefix", acc, ip_prefix(pl.col("signup_ip")))
    if on & {"email_canonical", "email_namesake"}:
        parts.append(email_identities(acc, settings).filter(pl.col("signal").is_in(list(on))))
    add("email_pattern", acc, email_pattern(pl.col("email")))
    add("email_domain", acc, pl.col("email").str.to_lowercase().str.extract(r"@(.*)$", 1))
    add("org", acc, pl.col("org_id"))
    add("card", world["payments"], pl.col("card_fingerprint"))
    add("request_ip", usage.account_ips, pl.col("ip"))  # the IP's code stands for it: only equality matters
    if "signup_burst" in on:
        parts.append(signup_bursts(world, usage.ip_asn, settings))
    if "prompt_template" in on:
        parts.append(usage.account_templates.select("account_id", pl.lit("prompt_template").alias("signal"), "value"))
    if usage.streams is not None and on & set(STREAM_SIGNALS):  # second streams' relays and templates only
        parts.append(usage.streams.filter(pl.col("signal").is_in(sorted(on & set(STREAM_SIGNALS)))))
    if not parts:
        return pl.LazyFrame(schema={"account_id": pl.String, "signal": pl.String, "value": pl.String})
    return pl.concat(parts).drop_nulls().filter(pl.col("value") != "").unique()


def email_identities(accounts: pl.LazyFrame, settings: LinkageSettings) -> pl.LazyFrame:
    """(account_id, signal, canonical email): "email_canonical" where a shared mailbox is unlikely to be
    chance, "email_namesake" where it is (a weak, corroborating signal).

    Unrelated people with a common name pick the same address at a big provider (`kofirossi@`,
    `dmitri.singh@`). How common a name is shows in the population itself: the same letters-only stem
    (digits, dots, dashes and underscores dropped) at *other* domains. With `m` accounts using the stem
    elsewhere and a share `q` of all accounts at this domain, about `lam = m * q / (1 - q)` namesakes are
    expected here by chance. The `n` holders of an address are namesakes when `lam` is at least
    `email_namesake_share` of the `n - 1` others; a stem nobody else uses (`xq7k.v2@`), or a mailbox
    far more crowded than the name's popularity explains, stays strong.
    """
    canon = canonical_email(pl.col("email"))
    ids = accounts.select(
        "account_id",
        canon.alias("value"),
        canon.str.extract(r"^(.*)@", 1).str.replace_all(r"[^a-z]", "").alias("__stem"),
        canon.str.extract(r"@(.*)$", 1).alias("__dom"),
    ).drop_nulls("value")
    total = pl.len().over(pl.lit(1)).cast(pl.Float64)
    ids = ids.with_columns(
        pl.len().over("value").alias("__n"),
        pl.len().over("__stem").alias("__ns"),
        (pl.len().over("__dom") / total).alias("__q"),
    )
    lam = (pl.col("__ns") - pl.col("__n")) * pl.col("__q") / (1.0 - pl.col("__q")).clip(1e-3)
    chance = (pl.col("__stem").str.len_chars() > 0) & (
        lam >= settings.email_namesake_share * (pl.col("__n") - 1).clip(1)
    )
    return ids.select(
        "account_id",
        pl.when(chance).then(pl.lit("email_namesake")).otherwise(pl.lit("email_canonical")).alias("signal"),
        "value",
    )


def signup_bursts(world: World, ip_asn: pl.LazyFrame, settings: LinkageSettings) -> pl.LazyFrame:
    """(account_id, "signup_burst", value) for signups in a burst: more signups from one network in one
    window than that network's own signup rate explains (at least 3, and `burst_excess` times the rate).

    The network is the signup address's ASN when the address appears in requests, else its /24.
    `ip_asn`: (ip code, asn) of the addresses seen in requests.
    """
    window = settings.signup_burst_minutes * 60
    acc = (
        world["accounts"]
        .with_columns(text_code(pl.col("signup_ip")).alias("ip"))
        .join(ip_asn, on="ip", how="left")
        .select(
            "account_id",
            "created_at",
            pl.coalesce(pl.col("asn").cast(pl.String), ip_prefix(pl.col("signup_ip"))).alias("net"),
            (pl.col("created_at").dt.epoch("s") // window).alias("w"),
        )
    )
    span = acc.select(
        ((pl.col("created_at").max() - pl.col("created_at").min()).dt.total_seconds() / window + 1).alias("span")
    )
    rate = (
        acc.group_by("net")
        .agg(pl.len().alias("total"))
        .join(span, how="cross")
        .with_columns((pl.col("total") / pl.col("span")).alias("expected"))
    )
    counts = (
        acc.group_by("net", "w")
        .agg(pl.len().alias("k"))
        .join(rate, on="net")
        .filter(pl.col("k") >= 3, pl.col("k") >= settings.burst_excess * pl.col("expected"))
    )
    return acc.join(counts.select("net", "w"), on=["net", "w"]).select(
        "account_id",
        pl.lit("signup_burst").alias("signal"),
        (pl.col("net") + "@" + pl.col("w").cast(pl.String)).alias("value"),
    )


def _pair_edges(members: pl.LazyFrame, weight: pl.Expr, settings: LinkageSettings) -> pl.LazyFrame:
    """Edges inside groups: (signal, value, account_id, n) -> (src, dst, signal, weight).

    Groups of up to `max_clique` members become cliques; larger ones (hubs) link each member to its
    `hub_degree` successors in a deterministic pseudo-random order.
    """
    small = members.filter(pl.col("n") <= settings.max_clique)
    clique = (
        small.join(small.select("signal", "value", pl.col("account_id").alias("dst")), on=["signal", "value"])
        .filter(pl.col("account_id") < pl.col("dst"))
        .select(pl.col("account_id").alias("src"), "dst", "signal", weight.alias("weight"))
    )
    big = (
        members.filter(pl.col("n") > settings.max_clique)
        .with_columns(pl.struct("account_id", "value").hash(seed=7).alias("__h"))
        .with_columns(pl.col("__h").rank("ordinal").over("signal", "value").cast(pl.Int64).alias("__r"))
    )
    hub_parts = []
    for step in range(1, settings.hub_degree + 1):
        nxt = big.select(
            "signal",
            "value",
            ((pl.col("__r") - step - 1) % pl.col("n") + 1).alias("__r"),
            pl.col("account_id").alias("dst"),
        )
        hub_parts.append(
            big.join(nxt, on=["signal", "value", "__r"]).select(
                pl.min_horizontal("account_id", "dst").alias("src"),
                pl.max_horizontal("account_id", "dst").alias("dst"),
                "signal",
                weight.alias("weight"),
            )
        )
    return pl.concat([clique, *hub_parts]).filter(pl.col("src") != pl.col("dst"))


def value_edges(values: pl.LazyFrame, settings: LinkageSettings) -> pl.LazyFrame:
    """Rarity-weighted edges from shared values (see module docstring)."""
    base = pl.col("signal").replace_strict(settings.weights, default=0.0, return_dtype=pl.Float64)
    members = values.with_columns(pl.len().over("signal", "value").alias("n")).filter(
        pl.col("n") >= 2, pl.col("n") <= settings.max_group
    )
    weight = base / pl.col("n").cast(pl.Float64).log(2)
    # Drop groups whose per-pair weight is below the floor before expanding them into pairs.
    members = members.filter(weight >= settings.min_weight)
    return _pair_edges(members, weight, settings)


_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash (numpy uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def sync_signatures(requests: pl.LazyFrame, span: tuple[int, int], settings: LinkageSettings) -> pl.DataFrame:
    """Per account (`acct`) worth comparing: how many `sync_bucket_seconds` buckets it is active in, and
    `sync_minhashes` MinHash values of that set of buckets.

    `span`: first and last bucket of the whole world. Accounts active in fewer than `sync_min_buckets`
    or in more than `sync_max_density` of all buckets (a bot, a relay coincides with everyone) are
    left out. Per account, so computable part by part; vectorised with numpy over sorted
    (account, bucket) keys, one `minimum.reduceat` per hash.
    """
    k = settings.sync_minhashes
    schema = {"acct": pl.UInt32, "n_buckets": pl.UInt32, **{f"m{i}": pl.UInt64 for i in range(k)}}
    bucket = pl.col("ts").dt.epoch("s") // settings.sync_bucket_seconds - span[0]
    keys = (
        requests.select((pl.col("acct").cast(pl.UInt64) * 2**32 + bucket.cast(pl.UInt64)).alias("key"))
        .collect()
        .to_series()
        .unique()
        .sort()
        .to_numpy()
    )
    if keys.size == 0:
        return pl.DataFrame(schema=schema)
    acct = (keys >> np.uint64(32)).astype(np.uint32)
    starts = np.flatnonzero(np.r_[True, acct[1:] != acct[:-1]])
    n = np.diff(np.r_[starts, keys.size])
    ok = (n >= settings.sync_min_buckets) & (n <= settings.sync_max_density * (span[1] - span[0] + 1))
    if not ok.any():
        return pl.DataFrame(schema=schema)
    h = _mix((keys & np.uint64(2**32 - 1))[np.repeat(ok, n)] + np.uint64(span[0]))
    n_ok = n[ok]
    at = np.r_[0, np.cumsum(n_ok)[:-1]]
    salts = [np.uint64(_GOLDEN * (i + 1) % 2**64) for i in range(k)]
    mins = {f"m{i}": np.minimum.reduceat(_mix(h ^ salt), at) for i, salt in enumerate(salts)}
    return pl.DataFrame({"acct": acct[starts[ok]], "n_buckets": n_ok.astype(np.uint32), **mins}, schema=schema)


def sync_edges(
    signatures: pl.DataFrame, accounts: pl.LazyFrame, span: tuple[int, int], settings: LinkageSettings
) -> pl.LazyFrame:
    """SynchroTrap-style edges between accounts active in the same time buckets beyond chance.

    `signatures`: `sync_signatures` of every account; `accounts`: acct -> account_id; `span`: first
    and last bucket of the world.
    """
    if "sync" not in settings.signals or signatures.height < 2:
        return pl.LazyFrame(schema=EDGE_SCHEMA)
    n_buckets_total = float(span[1] - span[0] + 1)
    k = settings.sync_minhashes
    sig = signatures.lazy().join(accounts, on="acct").drop("acct").collect()
    rows = settings.sync_band_rows
    bands = pl.concat(
        [
            sig.lazy().select(
                "account_id",
                pl.lit("sync").alias("signal"),
                (
                    pl.lit(f"{b}:")
                    + pl.struct([f"m{i}" for i in range(b * rows, (b + 1) * rows)]).hash(seed=99).cast(pl.String)
                ).alias("value"),
            )
            for b in range(k // rows)
        ]
    )
    members = bands.with_columns(pl.len().over("signal", "value").alias("n")).filter(
        pl.col("n") >= 2, pl.col("n") <= settings.max_group
    )
    # Candidate pairs: accounts sharing a band; big bands are linked as hubs, like big shared values.
    wide = dataclasses.replace(settings, max_clique=settings.sync_max_bucket, hub_degree=max(settings.hub_degree, 4))
    cands = _pair_edges(members, pl.lit(0.0), wide).select("src", "dst").unique()
    s = sig.lazy()
    eq = pl.sum_horizontal([(pl.col(f"m{i}") == pl.col(f"m{i}_d")).cast(pl.Int32) for i in range(k)]) / k
    pairs = (
        cands.join(s, left_on="src", right_on="account_id")
        .join(s, left_on="dst", right_on="account_id", suffix="_d")
        .with_columns(
            eq.alias("jaccard"),
            (pl.col("n_buckets") / n_buckets_total).alias("p1"),
            (pl.col("n_buckets_d") / n_buckets_total).alias("p2"),
        )
        .with_columns(
            (pl.col("p1") * pl.col("p2") / (pl.col("p1") + pl.col("p2") - pl.col("p1") * pl.col("p2"))).alias("chance")
        )
        .with_columns(((pl.col("jaccard") - pl.col("chance")) / (1 - pl.col("chance")).clip(1e-9)).alias("lift"))
    )
    return pairs.filter(pl.col("lift") >= settings.sync_min_lift).select(
        "src", "dst", pl.lit("sync").alias("signal"), (settings.weights["sync"] * pl.col("lift")).alias("weight")
    )


def family_edges(families: pl.DataFrame, accounts: pl.LazyFrame, settings: LinkageSettings) -> pl.LazyFrame:
    """Content edges from specific prompt families: `prompt_family` and `family_bank` (src, dst, signal, weight).

    * `prompt_family`, pairwise: two accounts sharing at least `family_min_shared` specific prompt
      families (each used by at most `family_max_accounts` accounts; wider ones link nobody), and at most
      `family_max_overlap` of the smaller one's families, weighted by the shared families' specificity (idf).
      Only bank-style uses count (at most `family_max_uses` distinct prompts of the family each).
    * `family_bank`, by the bank: two members of one prompt bank (`families.prompt_banks`: a large set
      of families that the pairwise-linked accounts co-use; a member uses `bank_min_shared` of them)
      sharing at least one of its families, where the pairwise rule does not link them. This links a
      bank's low-volume members, who use only 2-4 of its families; a popular app's users share a small
      set of families, never a bank.

    `families`: `families.prompt_families` (acct, family, n_accounts, idf); `accounts`: acct -> account_id.
    """
    if not {"prompt_family", "family_bank"} & set(settings.signals) or families.is_empty():
        return pl.LazyFrame(schema=EDGE_SCHEMA)
    # Bank-style sharing only: a few paraphrases of each of a few of many families. A family used with
    # many distinct near-duplicates is a template (prompt_template links it); pairs sharing (nearly) all
    # their families are a popular app's users, a CI fleet's or a lab's own jobs: templates, not a bank.
    families = families.filter(pl.col("uses") <= settings.family_max_uses)
    breadth = families.group_by("acct").agg(pl.len().alias("__b"))
    pairs = (
        family_pairs(families, settings.family_max_accounts)
        .join(breadth.rename({"acct": "a", "__b": "__ba"}), on="a")
        .join(breadth.rename({"acct": "b", "__b": "__bb"}), on="b")
        .filter(
            pl.col("n_shared") >= settings.family_min_shared,
            pl.col("n_shared") <= settings.family_max_overlap * pl.min_horizontal("__ba", "__bb"),
        )
        .select("a", "b", "idf_sum", pl.lit("prompt_family").alias("signal"))
    )
    parts = [pairs] if "prompt_family" in settings.signals else []
    if "family_bank" in settings.signals:
        members = prompt_banks(families, pairs, settings)
        banked = (
            bank_pairs(members, settings.family_max_accounts)
            .join(pairs.select("a", "b"), on=["a", "b"], how="anti")
            .group_by("a", "b")
            .agg(pl.col("idf_sum").sum())
            .select("a", "b", "idf_sum", pl.lit("family_bank").alias("signal"))
        )
        parts.append(banked)
    if not parts:
        return pl.LazyFrame(schema=EDGE_SCHEMA)
    ids = accounts.collect()
    base = pl.col("signal").replace_strict(settings.weights, default=0.0, return_dtype=pl.Float64)
    w = base * (pl.col("idf_sum") / settings.family_idf_target).clip(0.0, 1.0)
    named = (
        pl.concat(parts)
        .lazy()
        .join(ids.lazy().rename({"acct": "a", "account_id": "x"}), on="a")
        .join(ids.lazy().rename({"acct": "b", "account_id": "y"}), on="b")
    )
    return named.select(
        pl.min_horizontal("x", "y").alias("src"),
        pl.max_horizontal("x", "y").alias("dst"),
        "signal",
        w.round(9).alias("weight"),
    )


def combine_edges(signal_edges: pl.LazyFrame, settings: LinkageSettings) -> pl.LazyFrame:
    """One edge per account pair: per signal the strongest value counts; weights add up across signals.

    A pair linked only by weak signals (`settings.corroborate`) makes no edge.
    """
    per_signal = signal_edges.group_by("src", "dst", "signal").agg(pl.col("weight").max()).sort("src", "dst", "signal")
    # Summed in a fixed order and rounded: parallel float sums must not change clusters between runs.
    edges = (
        per_signal.group_by("src", "dst", maintain_order=True)
        .agg(pl.col("weight").sum().round(9), pl.col("signal").alias("reasons"))
        .filter(pl.col("weight") >= settings.min_weight)
    )
    if settings.corroborate:
        weak = pl.lit(pl.Series(list(settings.corroborate), dtype=pl.String)).implode()
        edges = edges.filter(pl.col("reasons").list.set_difference(weak).list.len() > 0)
    return edges.sort("src", "dst")


@dataclass(frozen=True)
class RequestUsage:
    """What linkage needs from the request table, gathered in one pass over the request store."""

    account_ips: pl.LazyFrame  # account_id, ip (code): distinct
    ip_asn: pl.LazyFrame  # ip (code), asn
    account_templates: pl.LazyFrame  # account_id, value ("band:value" of a template the account uses)
    signatures: pl.DataFrame  # acct, n_buckets, m0.. (`sync_signatures`)
    families: pl.LazyFrame  # account_id, family, n_accounts, idf (`families.prompt_families`)
    span: tuple[int, int]  # first and last sync bucket of the world
    streams: pl.LazyFrame | None = None  # account_id, signal, value of second streams (`streams.stream_values`)


def request_usage(
    store: RequestStore, templates: pl.DataFrame, template_settings: TemplateSettings, settings: LinkageSettings
) -> RequestUsage:
    """One pass over the store's parts for every request-side input of linkage."""
    first, last = store.ts_range
    span = (first // settings.sync_bucket_seconds, last // settings.sync_bucket_seconds)
    ips, ip_asn, uses, sigs = store.per_account(
        lambda r: r.select("acct", "ip").unique(),
        lambda r: r.group_by("ip").agg(pl.col("asn").min()),
        lambda r: account_templates(r, templates, template_settings),
        lambda r: sync_signatures(r, span, settings),
    )
    return RequestUsage(
        account_ips=store.with_account_id(ips.lazy()),
        ip_asn=ip_asn.lazy().group_by("ip").agg(pl.col("asn").min()),
        account_templates=store.with_account_id(uses.lazy()),
        signatures=sigs,
        families=store.with_account_id(read_families(store.path).lazy()),
        span=span,
    )


def build_edges(
    world: World,
    store: RequestStore,
    templates: pl.DataFrame,
    template_settings: TemplateSettings,
    settings: LinkageSettings,
) -> pl.LazyFrame:
    """The linkage graph of `world`: edges src, dst, weight, reasons (src < dst, one per pair)."""
    return build_linkage(world, store, templates, template_settings, settings)[0]


def build_linkage(
    world: World,
    store: RequestStore,
    templates: pl.DataFrame,
    template_settings: TemplateSettings,
    settings: LinkageSettings,
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """The linkage graph and the shared values it was built from.

    Returns (edges: src, dst, weight, reasons; shared: account_id, signal, value, n_accounts), where
    `shared` holds every value that two or more (at most `max_group`) accounts share: what the console
    shows as a cluster's ties and pivots on. `store` holds the world's requests (`build_store`).
    """
    values, other, shared = linkage_inputs(world, store, templates, template_settings, settings)
    edges = pl.concat([value_edges(values.lazy(), settings).collect(engine="streaming"), other])
    return combine_edges(edges.lazy(), settings), shared


def linkage_inputs(
    world: World,
    store: RequestStore,
    templates: pl.DataFrame,
    template_settings: TemplateSettings,
    settings: LinkageSettings,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """What the edges are made of: (shared values, the other signals' edges, the shared-values table).

    The first is expanded into pairs by `value_edges` and everything is combined by `combine_edges`;
    an engine may run those two steps partitioned (by value, then by pair), as the Spark engine does.
    The other edges are synchronized activity and prompt families (each already one row per pair).
    """
    usage = request_usage(store, templates, template_settings, settings)
    if set(STREAM_SIGNALS) & set(settings.signals):
        offsets = account_utc_offset(world["accounts"])
        usage = dataclasses.replace(usage, streams=stream_values(world, store, templates, template_settings, offsets))
    # Materialised once: polars would otherwise plan the shared inputs more than once.
    values = shared_values(world, usage, settings).collect(engine="streaming")
    sync = sync_edges(usage.signatures, store.accounts(), usage.span, settings)
    content = family_edges(read_families(store.path), store.accounts(), settings)
    other = pl.concat([sync.collect(engine="streaming"), content.collect(engine="streaming")])
    shared = (
        values.with_columns(pl.len().over("signal", "value").cast(pl.UInt32).alias("n_accounts"))
        .filter(pl.col("n_accounts") >= 2, pl.col("n_accounts") <= settings.max_group)
        .sort("signal", "value", "account_id")
    )
    return values, other, shared
