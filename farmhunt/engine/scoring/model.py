"""Cluster and account risk, predicted kind, and the evidence behind each score.

Scoring is an additive log-odds model over named, interpretable signals. Each signal compares a
cluster aggregate of the account features with the population baseline, turns the excess into a
strength in [0, 1], and contributes `weight * strength` to the cluster's log-odds. Benign signals
(a declared organisation, office hours, an education network) contribute negatively, so a real
enterprise team or a campus is explained *down*, with the evidence saying why. The evidence list is
the contributions ordered by absolute size: exactly what made the score.

Accounts outside flagged clusters are scored on their own (reseller and card-testing behaviour that
one account can show alone), with an IsolationForest anomaly score as a small extra term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest

from farmhunt.engine.results import feature_columns
from farmhunt.engine.settings import ScoringSettings


@dataclass(frozen=True)
class Signal:
    """One piece of evidence: a cluster aggregate, its strength ramp, weight and family."""

    name: str
    column: str
    family: str  # distillation_farm, reseller_pool, card_testing, benign_org, shared
    weight: float
    low: str | float  # strength 0 at or below this (a float, or a population baseline name)
    high: float  # strength 1 at or above this
    text: str  # format with value, baseline


#: Ties inside a cluster: the share of members with an internal edge for the reason.
TIE_REASONS = (
    "sync",
    "card",
    "device",
    "phone",
    "request_ip",
    "email_pattern",
    "email_canonical",
    "signup_burst",
    "prompt_template",
    "org",
)

SIGNALS: tuple[Signal, ...] = (
    Signal(
        "synchronized",
        "tie_sync",
        "distillation_farm",
        2.0,
        0.0,
        0.8,
        "{value:.0%} of members act in lock-step time buckets with another member (population ~{baseline:.0%})",
    ),
    Signal(
        "templated_prompts",
        "templated_share",
        "distillation_farm",
        1.6,
        "templated_share",
        0.8,
        "median {value:.0%} of requests reuse a prompt template (population {baseline:.0%})",
    ),
    Signal(
        "flat_24_7",
        "night_share",
        "distillation_farm",
        1.3,
        "night_share",
        0.24,
        "median {value:.0%} of activity at local night, flat around the clock (population {baseline:.0%})",
    ),
    Signal(
        "output_heavy",
        "output_input_ratio",
        "distillation_farm",
        1.4,
        "output_input_ratio_hi",
        6.0,
        "median output/input token ratio {value:.1f} (population {baseline:.1f})",
    ),
    Signal(
        "capability_targeting",
        "capability_share",
        "distillation_farm",
        1.2,
        "capability_share",
        0.95,
        "median {value:.0%} of prompts on coding/agentic/cyber/math (population {baseline:.0%})",
    ),
    Signal(
        "single_model",
        "top_model_share",
        "distillation_farm",
        0.6,
        "top_model_share",
        1.0,
        "median {value:.0%} of requests on one model (population {baseline:.0%})",
    ),
    Signal(
        "prepaid_virtual_cards",
        "prepaid_virtual_share",
        "shared",
        1.0,
        "prepaid_virtual_share",
        0.8,
        "{value:.0%} of payments on prepaid or virtual cards (population {baseline:.0%})",
    ),
    Signal(
        "shared_cards",
        "tie_card",
        "shared",
        1.0,
        0.0,
        0.8,
        "{value:.0%} of members pay with a card another member uses",
    ),
    Signal(
        "shared_devices_phones",
        "tie_device_phone",
        "shared",
        1.5,
        0.0,
        0.8,
        "{value:.0%} of members share a device or phone with another member",
    ),
    Signal(
        "shared_relay_ips",
        "tie_request_ip",
        "reseller_pool",
        0.6,
        0.0,
        0.9,
        "{value:.0%} of members send traffic from an IP another member uses",
    ),
    Signal(
        "patterned_emails",
        "tie_email",
        "distillation_farm",
        0.8,
        0.0,
        0.8,
        "{value:.0%} of members have look-alike email addresses (same pattern, digits varied)",
    ),
    Signal(
        "signup_burst",
        "tie_signup_burst",
        "distillation_farm",
        0.7,
        0.0,
        0.8,
        "{value:.0%} of members signed up in a burst from one network",
    ),
    Signal(
        "hosting_networks",
        "hosting_share",
        "reseller_pool",
        1.0,
        "hosting_share",
        0.8,
        "{value:.0%} of traffic from hosting/datacenter networks (population {baseline:.0%})",
    ),
    Signal(
        "relay_volume",
        "requests_per_active_day",
        "reseller_pool",
        1.6,
        "requests_per_active_day_hi",
        300.0,
        "median {value:,.0f} requests per active day (population p95 {baseline:,.0f})",
    ),
    Signal(
        "topic_diversity",
        "topic_entropy",
        "reseller_pool",
        0.5,
        "topic_entropy_hi",
        0.95,
        "median topic entropy {value:.2f}: many end users' topics (population {baseline:.2f})",
    ),
    Signal(
        "chargebacks",
        "chargeback_rate",
        "reseller_pool",
        1.6,
        "chargeback_rate",
        0.3,
        "{value:.0%} of payments disputed or refunded (population {baseline:.1%})",
    ),
    Signal(
        "key_rotation",
        "key_rotation",
        "reseller_pool",
        0.7,
        "key_rotation",
        0.8,
        "{value:.0%} of members revoked and replaced keys (population {baseline:.0%})",
    ),
    Signal(
        "declined_payments",
        "decline_rate",
        "card_testing",
        3.0,
        "decline_rate_hi",
        0.6,
        "{value:.0%} of payments declined (population p95 {baseline:.0%})",
    ),
    Signal(
        "micro_payments",
        "micro_payment_share",
        "card_testing",
        1.0,
        "micro_payment_share",
        0.7,
        "{value:.0%} of payments under $2 (population {baseline:.0%})",
    ),
    Signal(
        "declared_organisation",
        "org_top_share",
        "benign_org",
        -3.0,
        0.2,
        0.9,
        "{value:.0%} of members belong to one declared organisation workspace",
    ),
    Signal(
        "office_hours",
        "office_hours_share",
        "benign_org",
        -1.5,
        "office_hours_share_hi",
        0.8,
        "median {value:.0%} of activity in local office hours (population p95 {baseline:.0%})",
    ),
    Signal(
        "education_network",
        "education_share",
        "benign_org",
        -1.5,
        0.2,
        0.7,
        "{value:.0%} of traffic from education networks (a campus behind NAT)",
    ),
    # Half the weight of the other benign signals: a day/night rhythm is the one an operator fakes for free.
    Signal(
        "diurnal_rhythm",
        "diurnal",
        "benign_org",
        -0.6,
        0.5,
        1.0,
        "activity follows a human day/night rhythm ({value:.0%} of members with clear night-time lulls)",
    ),
)
BIAS = -4.2  # log-odds of a cluster with no evidence at all
FAMILIES = ("distillation_farm", "reseller_pool", "card_testing")

_MEDIAN = (
    "templated_share",
    "night_share",
    "output_input_ratio",
    "capability_share",
    "top_model_share",
    "requests_per_active_day",
    "topic_entropy",
    "office_hours_share",
)
_MEAN = (
    "prepaid_virtual_share",
    "hosting_share",
    "chargeback_rate",
    "decline_rate",
    "micro_payment_share",
    "education_share",
)


#: Share features are rounded to 9 decimals: as integers in units of 1e-9 their sums are exact, so a
#: mean or sum does not depend on row order, chunking or threads (a float sum does, in the last bit).
_UNITS = 1e9


def exact_sum(e: pl.Expr) -> pl.Expr:
    """Sum of values rounded to 9 decimals, exactly: the same for any row order and chunking."""
    return (e * _UNITS).round().cast(pl.Int64).sum() / _UNITS


def exact_mean(e: pl.Expr) -> pl.Expr:
    """Mean of values rounded to 9 decimals (nulls left out), exact as `exact_sum`."""
    return exact_sum(e) / e.count()


def _mean(s: pl.Series) -> float:
    """`exact_mean` of a column; 0.0 when it has no values (as the float mean's None was)."""
    m = s.to_frame().select(exact_mean(pl.col(s.name))).item() if s.null_count() < s.len() else None
    return float(m) if m is not None else 0.0


def baselines(features: pl.DataFrame) -> dict[str, float]:
    """Population baselines: medians (and 95th percentiles, `_hi`) over accounts that used the API."""
    active = features.filter(pl.col("n_requests") > 0)
    if active.is_empty():
        active = features
    paying = features.filter(pl.col("n_payments") > 0)
    out: dict[str, float] = {}
    for c in _MEDIAN + ("hosting_share", "education_share"):
        out[c] = float(active[c].median() or 0.0)
        out[f"{c}_hi"] = float(active[c].quantile(0.95) or 0.0)
    for c in ("prepaid_virtual_share", "chargeback_rate", "decline_rate", "micro_payment_share"):
        src = paying if not paying.is_empty() else features
        out[c] = _mean(src[c])
        out[f"{c}_hi"] = float(src[c].quantile(0.95) or 0.0)
    out["key_rotation"] = float((features["n_keys_revoked"] > 0).mean() or 0.0)
    out["diurnal"] = 0.5
    return out


def _key_rotation() -> pl.Expr:
    # An account that revoked at least one key.
    return (pl.col("n_keys_revoked") > 0).cast(pl.Float64).alias("key_rotation")


def _diurnal() -> pl.Expr:
    # A member with a clear night-time lull: under half the night share of flat 24/7 activity.
    return ((pl.col("night_share") < 0.12) & (pl.col("n_requests") >= 20)).cast(pl.Float64)


def _internal_ends(membership: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Both ends of every edge inside a cluster: account_id, reasons (one row per edge and end)."""
    m = membership.select("account_id", "cluster_id")
    internal = (
        edges.join(m.rename({"account_id": "src"}), on="src")
        .join(m.rename({"account_id": "dst", "cluster_id": "c2"}), on="dst")
        .filter(pl.col("cluster_id") == pl.col("c2"))
        .select("src", "dst", "reasons")
    )
    return pl.concat(
        [
            internal.select(pl.col("src").alias("account_id"), "reasons"),
            internal.select(pl.col("dst").alias("account_id"), "reasons"),
        ]
    )


def member_ties(membership: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Per clustered account, which reasons tie it to another member of its own cluster (0/1 columns)."""
    m = membership.select("account_id", "cluster_id")
    both = _internal_ends(membership, edges).explode("reasons")
    ties = both.group_by("account_id").agg([(pl.col("reasons") == r).any().alias(f"tie_{r}") for r in TIE_REASONS])
    return m.join(ties, on="account_id", how="left").with_columns(
        [pl.col(f"tie_{r}").fill_null(False) for r in TIE_REASONS]
    )


def cluster_aggregates(
    features: pl.DataFrame, membership: pl.DataFrame, edges: pl.DataFrame, orgs: pl.DataFrame
) -> pl.DataFrame:
    """Cluster-level aggregates of member features and ties: what the signals read."""
    ties = member_ties(membership, edges)
    mem = (
        ties.join(features, on="account_id", how="left")
        .join(orgs, on="account_id", how="left")
        .with_columns(
            _key_rotation(),
            _diurnal().alias("diurnal"),
            (pl.col("tie_device") | pl.col("tie_phone")).alias("tie_device_phone"),
            (pl.col("tie_email_pattern") | pl.col("tie_email_canonical")).alias("tie_email"),
        )
    )
    org_top = (
        mem.drop_nulls("org_id")
        .group_by("cluster_id", "org_id")
        .agg(pl.len().alias("k"))
        .group_by("cluster_id")
        .agg(pl.col("k").max().alias("org_top"))
    )
    agg = mem.group_by("cluster_id").agg(
        pl.len().alias("size"),
        *[pl.col(c).median().alias(c) for c in _MEDIAN],
        *[exact_mean(pl.col(c)).alias(c) for c in _MEAN],
        *[pl.col(f"tie_{r}").mean().alias(f"tie_{r}") for r in TIE_REASONS],
        pl.col("tie_device_phone").mean(),
        pl.col("tie_email").mean(),
        pl.col("key_rotation").mean(),
        pl.col("diurnal").mean(),
        pl.col("n_requests").sum().alias("requests"),
        exact_sum(pl.col("spend_usd")).alias("spend_usd"),
        pl.col("created_at").min().alias("first_signup"),
        pl.col("created_at").max().alias("last_signup"),
    )
    return (
        agg.join(org_top, on="cluster_id", how="left")
        .with_columns((pl.col("org_top").fill_null(0) / pl.col("size")).alias("org_top_share"))
        .drop("org_top")
        .sort("cluster_id")
    )


def _strength(sig: Signal, base: dict[str, float]) -> pl.Expr:
    low = base.get(sig.low, 0.0) if isinstance(sig.low, str) else sig.low
    high = max(sig.high, low + 1e-6)
    return ((pl.col(sig.column).fill_null(0.0) - low) / (high - low)).clip(0.0, 1.0)


def _baseline_value(sig: Signal, base: dict[str, float]) -> float:
    return base.get(sig.low, 0.0) if isinstance(sig.low, str) else base.get(sig.column, 0.0)


def score_clusters(
    aggregates: pl.DataFrame,
    base: dict[str, float],
    settings: ScoringSettings,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Risk, predicted kind and flag per cluster, and the evidence table (ranked contributions)."""
    if aggregates.is_empty():
        empty_ev = pl.DataFrame(
            schema={
                "cluster_id": pl.Int64,
                "rank": pl.Int32,
                "signal": pl.String,
                "value": pl.Float64,
                "baseline": pl.Float64,
                "contribution": pl.Float64,
                "text": pl.String,
            }
        )
        empty = aggregates.with_columns(
            pl.lit(None, pl.Float64).alias("risk"),
            pl.lit(None, pl.String).alias("predicted_kind"),
            pl.lit(None, pl.Boolean).alias("flagged"),
        )
        return empty, empty_ev
    contrib = aggregates.select("cluster_id", *[(sig.weight * _strength(sig, base)).alias(sig.name) for sig in SIGNALS])
    fam = {f: [s.name for s in SIGNALS if s.family == f] for f in (*FAMILIES, "benign_org", "shared")}
    logit = BIAS + pl.sum_horizontal([pl.col(s.name) for s in SIGNALS])
    # Coordination alone (shared instruments) is not abuse: shared-family evidence counts only as far
    # as the cluster also shows some abusive behaviour of a fraud family.
    behaviour = pl.max_horizontal([pl.sum_horizontal([pl.col(n) for n in fam[f]]) for f in FAMILIES])
    shared = pl.sum_horizontal([pl.col(n) for n in fam["shared"]])
    logit = logit - shared + shared * (behaviour / 2.0).clip(0.0, 1.0)
    scored = contrib.with_columns(
        (1.0 / (1.0 + (-logit).exp())).alias("risk"),
        *[pl.sum_horizontal([pl.col(n) for n in fam[f]]).alias(f"score_{f}") for f in (*FAMILIES, "benign_org")],
    )
    best = pl.concat_list([pl.col(f"score_{f}") for f in FAMILIES]).list.arg_max()
    kind = (
        pl.when(pl.col("risk") >= settings.flag_threshold)
        .then(best.replace_strict(dict(enumerate(FAMILIES)), return_dtype=pl.String))
        .when(pl.col("score_benign_org") <= -1.0)
        .then(pl.lit("benign_org"))
        .otherwise(pl.lit("unknown"))
    )
    scored = scored.with_columns(
        kind.alias("predicted_kind"), (pl.col("risk") >= settings.flag_threshold).alias("flagged")
    )
    clusters = aggregates.join(scored.select("cluster_id", "risk", "predicted_kind", "flagged"), on="cluster_id")
    evidence = _evidence(aggregates, contrib, base, settings)
    return clusters, evidence


def _evidence(
    aggregates: pl.DataFrame, contrib: pl.DataFrame, base: dict[str, float], settings: ScoringSettings
) -> pl.DataFrame:
    long = contrib.unpivot(index="cluster_id", variable_name="signal", value_name="contribution")
    values = aggregates.select("cluster_id", *[pl.col(s.column).cast(pl.Float64).alias(s.name) for s in SIGNALS])
    values = values.unpivot(index="cluster_id", variable_name="signal", value_name="value")
    meta = pl.DataFrame(
        {
            "signal": [s.name for s in SIGNALS],
            "baseline": [_baseline_value(s, base) for s in SIGNALS],
            "template": [s.text for s in SIGNALS],
        }
    )
    ev = (
        long.join(values, on=["cluster_id", "signal"])
        .join(meta, on="signal")
        .filter(pl.col("contribution").abs() > 1e-9)
        .sort(["cluster_id", "contribution", "signal"], descending=[False, True, False])
    )
    ev = ev.with_columns(
        pl.col("contribution").abs().rank("ordinal", descending=True).over("cluster_id").cast(pl.Int32).alias("rank")
    ).filter(pl.col("rank") <= settings.evidence_top)
    texts = [
        t.format(value=v if v is not None else 0.0, baseline=b)
        for t, v, b in zip(ev["template"].to_list(), ev["value"].to_list(), ev["baseline"].to_list())
    ]
    return (
        ev.with_columns(pl.Series("text", texts, dtype=pl.String))
        .select("cluster_id", "rank", "signal", "value", "baseline", "contribution", "text")
        .sort("cluster_id", "rank")
    )


def _behaviour(family: str) -> list[Signal]:
    """A fraud family's signals that one account shows on its own (no ties, no shared instruments)."""
    return [s for s in SIGNALS if s.family == family and not s.column.startswith("tie_")]


def peripheral_members(
    features: pl.DataFrame,
    membership: pl.DataFrame,
    edges: pl.DataFrame,
    clusters: pl.DataFrame,
    base: dict[str, float],
    settings: ScoringSettings,
) -> pl.DataFrame:
    """Members of flagged clusters that hang on a single edge and show little of the cluster's own
    behaviour (below `peripheral_share` of the cluster's score for its kind): account_id, peripheral.

    Among a million accounts an unrelated account meets a farm through one chance tie (a shared
    residential proxy IP, a coincident burst of activity); it is listed with the cluster, not flagged.
    """
    degree = _internal_ends(membership, edges).group_by("account_id").agg(pl.len().alias("degree"))
    score = {f: pl.sum_horizontal([s.weight * _strength(s, base) for s in _behaviour(f)]) for f in FAMILIES}
    kind_score = pl.coalesce([pl.when(pl.col("predicted_kind") == f).then(score[f]) for f in FAMILIES])
    flagged = clusters.filter("flagged").select("cluster_id", "predicted_kind", kind_score.alias("cluster_behaviour"))
    mem = (
        membership.join(flagged, on="cluster_id")
        .join(degree, on="account_id", how="left")
        .join(features.with_columns(_key_rotation()), on="account_id", how="left")
    )
    return mem.select(
        "account_id",
        (
            (pl.col("degree").fill_null(0) <= 1)
            & (kind_score.fill_null(0.0) < settings.peripheral_share * pl.col("cluster_behaviour").fill_null(0.0))
        ).alias("peripheral"),
    )


#: Account-level signals: behaviour one account can show on its own (reseller, card testing).
ACCOUNT_SIGNALS: tuple[Signal, ...] = tuple(
    s
    for s in SIGNALS
    if s.name
    in {
        "hosting_networks",
        "relay_volume",
        "topic_diversity",
        "chargebacks",
        "key_rotation",
        "declined_payments",
        "micro_payments",
        "prepaid_virtual_cards",
        "output_heavy",
        "office_hours",
    }
)
ACCOUNT_BIAS = -5.0


def account_risk(features: pl.DataFrame, base: dict[str, float], settings: ScoringSettings) -> pl.DataFrame:
    """Per-account risk for accounts judged alone: rule log-odds plus an IsolationForest anomaly term."""
    feats = features.with_columns(_key_rotation())
    logit = ACCOUNT_BIAS + pl.sum_horizontal([s.weight * _strength(s, base) for s in ACCOUNT_SIGNALS])
    cols = feature_columns(features.schema)
    anomaly = np.zeros(features.height)
    if features.height >= 50 and cols:
        x = features.select([pl.col(c).cast(pl.Float64).fill_null(0.0).fill_nan(0.0) for c in cols]).to_numpy()
        x = np.sign(x) * np.log1p(np.abs(x))  # heavy-tailed counts on a log scale
        forest = IsolationForest(n_estimators=settings.isolation_trees, random_state=settings.seed)
        raw = -forest.fit(x).score_samples(x)  # higher = more anomalous, ~0.35..0.8
        anomaly = np.clip((raw - np.median(raw)) / max(float(np.quantile(raw, 0.999) - np.median(raw)), 1e-9), 0, 1)
    return feats.select("account_id").with_columns(
        pl.Series("anomaly", anomaly, dtype=pl.Float64),
        feats.select((1.0 / (1.0 + (-(logit + 1.5 * pl.Series(anomaly))).exp())).alias("r"))["r"].alias("account_risk"),
    )
