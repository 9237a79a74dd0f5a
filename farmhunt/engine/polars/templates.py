"""Prompt templates from 64-bit SimHashes, by locality-sensitive banding.

A SimHash of a near-duplicate prompt differs from its template's in a few bits. Splitting the 64
bits into bands (4 bands of 16 bits by default), two hashes within 3 bits of each other always share
at least one band exactly. A band value used far more often than chance (and by several accounts)
marks a template. Chance is estimated from the data itself (the median count of band values), so the
test still holds when real prompt SimHashes are not uniformly distributed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import polars as pl

from farmhunt.core.errors import ConfigError
from farmhunt.engine.settings import TemplateSettings


def _bands(settings: TemplateSettings) -> list[tuple[int, pl.Expr]]:
    bits = settings.band_bits
    size = 2**bits
    return [(b, (pl.col("prompt_hash") // (2 ** (bits * b))) % size) for b in range(64 // bits)]


def band_counts(parts: Callable[[], Iterable[pl.LazyFrame]], settings: TemplateSettings) -> pl.DataFrame:
    """Requests per SimHash band value: band, value, n_requests (values never seen left out).

    A bincount per band and part: band values are small integers (2**bits of them).
    """
    bits = settings.band_bits
    if not 1 <= bits <= 20 or 64 % bits:
        raise ConfigError(f"templates.band_bits = {bits}: must divide 64 and be at most 20")
    size, nb = 2**bits, 64 // bits
    totals = np.zeros((nb, size), np.int64)
    for part in parts():
        h = part.select("prompt_hash").collect().to_series().to_numpy()
        for b in range(nb):
            totals[b] += np.bincount(
                ((h >> np.uint64(bits * b)) & np.uint64(size - 1)).astype(np.int64), minlength=size
            )
    band, value = np.nonzero(totals)
    return pl.DataFrame(
        {"band": band.astype(np.int32), "value": value.astype(np.uint64), "n_requests": totals[band, value]}
    )


def find_templates(parts: Callable[[], Iterable[pl.LazyFrame]], settings: TemplateSettings) -> pl.DataFrame:
    """Band values that mark prompt templates: band, value, n_requests, n_accounts (a small table).

    `parts()` yields the coded request table (accounts as `acct`) in parts that each hold whole
    accounts (`RequestStore.parts`). Two passes: counts of every band value (cheap), then distinct
    accounts only for the few values that are hot, added up over parts.
    """
    counts = band_counts(parts, settings)
    schema = {"band": pl.Int32, "value": pl.UInt64, "n_requests": pl.UInt32, "n_accounts": pl.UInt32}
    if counts.is_empty():
        return pl.DataFrame(schema=schema)
    size = 2**settings.band_bits
    chance = counts.group_by("band").agg(
        pl.max_horizontal(pl.col("n_requests").sum() / size, pl.col("n_requests").median()).alias("chance")
    )
    hot = (
        counts.join(chance, on="band")
        .filter(
            pl.col("n_requests") >= settings.min_excess * pl.max_horizontal("chance", 1.0), pl.col("n_requests") >= 20
        )
        .select("band", "value", "n_requests")
    )
    if hot.is_empty():
        return pl.DataFrame(schema=schema)
    per_part = [
        pl.concat(
            [
                part.select("acct", expr.alias("value"))
                .filter(pl.col("value").is_in(hot.filter(pl.col("band") == b)["value"].implode()))
                .group_by("value")
                .agg(pl.col("acct").n_unique().alias("n_accounts"))
                .with_columns(pl.lit(b, pl.Int32).alias("band"))
                for b, expr in _bands(settings)
            ]
        ).collect()
        for part in parts()
    ]
    users = pl.concat(per_part).group_by("band", "value").agg(pl.col("n_accounts").sum())
    return (
        hot.join(users, on=["band", "value"], how="left")
        .with_columns(pl.col("n_accounts").fill_null(0).cast(pl.UInt32), pl.col("n_requests").cast(pl.UInt32))
        .select(list(schema))
        .sort("band", "value")
    )


def _is_templated(templates: pl.DataFrame, settings: TemplateSettings) -> pl.Expr:
    hits = [expr.is_in(templates.filter(pl.col("band") == b)["value"].implode()) for b, expr in _bands(settings)]
    return pl.any_horizontal(hits) if hits else pl.lit(False)


def template_share(requests: pl.LazyFrame, templates: pl.DataFrame, settings: TemplateSettings) -> pl.LazyFrame:
    """Per account (`acct`): `templated_share`, the share of its requests whose prompt matches a template,
    and `template_breadth`, how many distinct template band values it touches beyond chance.

    Breadth is the behaviour of a prompt bank: a farm's account draws dozens of distinct prompts of a
    shared bank, each once or twice, where a popular app's user repeats its few templates and an
    ordinary user touches a template now and then by chance. The chance part is what random prompts
    would hit: each request meets a template value of band b with probability |templates of b| / 2**bits,
    so `n_requests * sum_b |templates of b| / 2**bits` distinct values are subtracted (floored at 0).
    """
    size = 2**settings.band_bits
    hits = []
    for b, expr in _bands(settings):
        values = templates.filter(pl.col("band") == b)["value"]
        hits.append(pl.when(expr.is_in(values.implode())).then(expr).alias(f"__hit{b}"))
    if not hits:
        return requests.group_by("acct").agg(
            pl.lit(0.0).alias("templated_share"), pl.lit(0.0).alias("template_breadth")
        )
    p_random = templates.height / size
    cols = [pl.col(h.meta.output_name()) for h in hits]
    return (
        requests.select("acct", *hits)
        .group_by("acct")
        .agg(
            pl.any_horizontal([c.is_not_null() for c in cols]).mean().alias("templated_share"),
            pl.sum_horizontal([c.drop_nulls().n_unique() for c in cols]).alias("__distinct"),
            pl.len().alias("__n"),
        )
        .select(
            "acct",
            "templated_share",
            (pl.col("__distinct") - pl.col("__n") * p_random).clip(0.0).alias("template_breadth"),
        )
    )


def account_templates(
    requests: pl.LazyFrame,
    templates: pl.DataFrame,
    settings: TemplateSettings,
) -> pl.LazyFrame:
    """(acct, template) pairs for templates used by several accounts; template = 'band:value'.

    An account is tied to a template only when it *uses* it: at least `template_min_uses` requests
    and `template_min_share` of its traffic. A heavy organic user whose random hash meets a template's
    band once or twice by chance is not tied to it.
    """
    shared = templates.filter(pl.col("n_accounts") >= settings.min_accounts)
    totals = requests.group_by("acct").agg(pl.len().alias("__total"))
    parts = []
    for b, expr in _bands(settings):
        values = shared.filter(pl.col("band") == b)["value"]
        if values.is_empty():
            continue
        parts.append(
            requests.select("acct", expr.alias("value"))
            .filter(pl.col("value").is_in(values.implode()))
            .group_by("acct", "value")
            .agg(pl.len().alias("__uses"))
            .with_columns(pl.lit(b).alias("__band"))
        )
    if not parts:
        return pl.LazyFrame(schema={"acct": pl.UInt32, "value": pl.String})
    return (
        pl.concat(parts)
        .join(totals, on="acct")
        .filter(pl.col("__uses") >= settings.min_uses, pl.col("__uses") >= settings.min_share * pl.col("__total"))
        .select("acct", (pl.col("__band").cast(pl.String) + ":" + pl.col("value").cast(pl.String)).alias("value"))
    )
