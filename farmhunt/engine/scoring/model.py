"""Cluster and account risk, predicted kind, and the evidence behind each score.

Size (~470 lines): baselines, gated cluster contributions, account scores and their evidence rows share
the signal table's ramps and one evidence schema; the table itself, the fit and the decision are elsewhere.

Scoring is an additive log-odds model over named, interpretable signals. Each signal compares a
cluster aggregate of the account features with the population baseline, turns the excess into a
strength in [0, 1], and contributes `weight * strength` to the cluster's log-odds. Benign signals
(a declared organisation, office hours, an education network) contribute negatively, so a real
enterprise team or a campus is explained *down*, with the evidence saying why. The evidence list is
the contributions ordered by absolute size: exactly what made the score. The signals, weights and
biases are data: `signals.toml`, loaded by `signals.py`; every function takes another table via `table=`.

Accounts outside flagged clusters are scored on their own (reseller and card-testing behaviour that
one account can show alone), with an IsolationForest anomaly score as a small extra term.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest

from farmhunt.core.contract import RESULT_EVIDENCE
from farmhunt.core.errors import ConfigError
from farmhunt.engine.results import feature_columns
from farmhunt.engine.scoring.signals import FAMILIES, Signal, SignalTable, default_table
from farmhunt.engine.settings import ScoringSettings

#: The shipped signal table (`signals.toml`); the functions below take another one through `table=`.
DEFAULT_TABLE = default_table()
SIGNALS: tuple[Signal, ...] = DEFAULT_TABLE.signals
BIAS = DEFAULT_TABLE.bias  # log-odds of a cluster with no evidence at all
TIE_REASONS = DEFAULT_TABLE.ties
ACCOUNT_SIGNALS: tuple[Signal, ...] = DEFAULT_TABLE.account_signals
ACCOUNT_BIAS = DEFAULT_TABLE.account.bias


#: Share features are rounded to 9 decimals: as integers in units of 1e-9 their sums are exact, so a
#: mean or sum does not depend on row order, chunking or threads (a float sum does, in the last bit).
_UNITS = 1e9


def exact_sum(e: pl.Expr) -> pl.Expr:
    """Sum of values rounded to 9 decimals, exactly: the same for any row order and chunking."""
    return (e * _UNITS).round().cast(pl.Int64).sum() / _UNITS


def ordered_sum(terms: Sequence[pl.Expr]) -> pl.Expr:
    """Row-wise sum of `terms`, nulls as 0 (as `pl.sum_horizontal`), added left to right: the same bits on
    every run.

    `pl.sum_horizontal` adds float columns in the order its thread pool happens to reduce them, so the
    last bit of a row's sum changes from run to run with the machine's load and the frame's chunking
    (a 997-chunk copy of the demo features gave 4 accounts another account_risk, 2.8e-16 apart, about
    one call in five on a loaded machine). A chain of binary additions has one fixed order.
    """
    exprs = [t.fill_null(0.0) for t in terms]
    return functools.reduce(operator.add, exprs) if exprs else pl.lit(0.0)


def exact_mean(e: pl.Expr) -> pl.Expr:
    """Mean of values rounded to 9 decimals (nulls left out), exact as `exact_sum`."""
    return exact_sum(e) / e.count()


def _stat(frame: pl.DataFrame, expr: pl.Expr) -> float:
    """One statistic of a frame as a float; 0.0 when it is undefined (no rows, all null)."""
    v = frame.select(expr).item()
    return float(v) if v is not None else 0.0


def _mean(s: pl.Series) -> float:
    """`exact_mean` of a column; 0.0 when it has no values (as the float mean's None was)."""
    m = s.to_frame().select(exact_mean(pl.col(s.name))).item() if s.null_count() < s.len() else None
    return float(m) if m is not None else 0.0


def baselines(features: pl.DataFrame, *, table: SignalTable | None = None) -> dict[str, float]:
    """Population baselines: medians (and 95th percentiles, `_hi`) over accounts that used the API."""
    t = table or DEFAULT_TABLE
    active = features.filter(pl.col("n_requests") > 0)
    if active.is_empty():
        active = features
    paying = features.filter(pl.col("n_payments") > 0)
    out: dict[str, float] = {}
    for c in t.baseline_active:
        out[c] = _stat(active, pl.col(c).median())
        out[f"{c}_hi"] = _stat(active, pl.col(c).quantile(0.95))
    for c in t.baseline_paying:
        src = paying if not paying.is_empty() else features
        out[c] = _mean(src[c])
        out[f"{c}_hi"] = _stat(src, pl.col(c).quantile(0.95))
    out["key_rotation"] = _stat(features, (pl.col("n_keys_revoked") > 0).mean())
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


def member_ties(
    membership: pl.DataFrame, edges: pl.DataFrame, reasons: tuple[str, ...] = DEFAULT_TABLE.ties
) -> pl.DataFrame:
    """Per clustered account, which reasons tie it to another member of its own cluster (0/1 columns)."""
    m = membership.select("account_id", "cluster_id")
    both = _internal_ends(membership, edges).explode("reasons")
    ties = both.group_by("account_id").agg([(pl.col("reasons") == r).any().alias(f"tie_{r}") for r in reasons])
    return m.join(ties, on="account_id", how="left").with_columns(
        [pl.col(f"tie_{r}").fill_null(False) for r in reasons]
    )


def cluster_aggregates(
    features: pl.DataFrame,
    membership: pl.DataFrame,
    edges: pl.DataFrame,
    orgs: pl.DataFrame,
    *,
    table: SignalTable | None = None,
) -> pl.DataFrame:
    """Cluster-level aggregates of member features and ties: what the signals read."""
    t = table or DEFAULT_TABLE
    missing = [c for c in (*t.median, *t.mean) if c not in features.columns]
    if missing:
        raise ConfigError(f"signal table 'aggregates': {missing[0]!r} is not an account feature column")
    ties = member_ties(membership, edges, t.ties)
    mem = (
        ties.join(features, on="account_id", how="left")
        .join(orgs, on="account_id", how="left")
        .with_columns(
            _key_rotation(),
            _diurnal().alias("diurnal"),
            (pl.col("tie_device") | pl.col("tie_phone")).alias("tie_device_phone"),
            (pl.col("tie_email_pattern") | pl.col("tie_email_canonical")).alias("tie_email"),
            (pl.col("tie_prompt_family") | pl.col("tie_family_bank")).alias("tie_content"),
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
        *[pl.col(c).median().alias(c) for c in t.median],
        *[exact_mean(pl.col(c)).alias(c) for c in t.mean],
        *[pl.col(f"tie_{r}").mean().alias(f"tie_{r}") for r in t.ties],
        pl.col("tie_device_phone").mean(),
        pl.col("tie_email").mean(),
        pl.col("tie_content").mean(),
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
    *,
    table: SignalTable | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Risk, predicted kind and flag per cluster, and the evidence table (ranked contributions)."""
    t = table or DEFAULT_TABLE
    signals = t.signals
    if aggregates.is_empty():
        empty_ev = pl.DataFrame(schema=RESULT_EVIDENCE.columns)
        empty = aggregates.with_columns(
            pl.lit(None, pl.Float64).alias("risk"),
            pl.lit(None, pl.String).alias("predicted_kind"),
            pl.lit(None, pl.Boolean).alias("flagged"),
        )
        return empty, empty_ev
    contrib = gated_contributions(
        aggregates.select("cluster_id", *[(sig.weight * _strength(sig, base)).alias(sig.name) for sig in signals]),
        signals,
    )
    fam = {f: [s.name for s in signals if s.family == f] for f in (*FAMILIES, "benign_org", "shared")}
    logit = t.bias + ordered_sum([pl.col(s.name) for s in signals])
    scored = contrib.with_columns(
        (1.0 / (1.0 + (-logit).exp())).alias("risk"),
        *[ordered_sum([pl.col(n) for n in fam[f]]).alias(f"score_{f}") for f in (*FAMILIES, "benign_org")],
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
    evidence = _evidence(aggregates, contrib, base, settings, signals)
    return clusters, evidence


def gated_contributions(contrib: pl.DataFrame, signals: tuple[Signal, ...]) -> pl.DataFrame:
    """Per-signal contributions after the two structural gates; they add up to the logit (minus the bias).

    * Coordination alone (shared instruments) is not abuse: shared-family evidence counts only as far as
      the cluster also shows abusive behaviour of a fraud family (`behaviour / 2`, clipped to [0, 1]).
    * Cheap benign evidence must not cancel expensive fraud evidence: the benign signals marked `cheap`
      (an org id, office hours, a day/night rhythm) together subtract at most what the cheap fraud
      signals (time shape, timing coordination) add; relay volume, chargebacks or card spread stay.
    """
    fam = {f: [s.name for s in signals if s.family == f] for f in (*FAMILIES, "shared")}
    behaviour = pl.max_horizontal([ordered_sum([pl.col(n) for n in fam[f]]) for f in FAMILIES if fam[f]])
    gate = (behaviour / 2.0).clip(0.0, 1.0)
    out = contrib.with_columns([(pl.col(n) * gate).alias(n) for n in fam["shared"]])
    cheap_benign = [s.name for s in signals if s.cheap and s.family == "benign_org"]
    cheap_fraud = [s.name for s in signals if s.cheap and s.family in FAMILIES]
    if cheap_benign:
        neg = -ordered_sum([pl.col(n) for n in cheap_benign])
        pos = ordered_sum([pl.col(n) for n in cheap_fraud]) if cheap_fraud else pl.lit(0.0)
        scale = pl.when(neg > pos).then(pos / neg).otherwise(1.0)
        out = out.with_columns([(pl.col(n) * scale).alias(n) for n in cheap_benign])
    return out


def _evidence(
    aggregates: pl.DataFrame,
    contrib: pl.DataFrame,
    base: dict[str, float],
    settings: ScoringSettings,
    signals: tuple[Signal, ...],
) -> pl.DataFrame:
    values = aggregates.select("cluster_id", *[pl.col(s.column).cast(pl.Float64).alias(s.name) for s in signals])
    meta = pl.DataFrame(
        {
            "signal": [s.name for s in signals],
            "baseline": [_baseline_value(s, base) for s in signals],
            "template": [s.text for s in signals],
        }
    )
    return _ranked(contrib, values, meta, "cluster_id", settings.evidence_top)


def _behaviour(family: str, signals: tuple[Signal, ...]) -> list[Signal]:
    """A fraud family's signals that one account shows on its own (no ties, no shared instruments)."""
    return [s for s in signals if s.family == family and not s.column.startswith("tie_")]


def _member_benign(signals: tuple[Signal, ...]) -> list[Signal]:
    """Benign evidence one member shows on its own that is expensive to fake (not `cheap`, no ties)."""
    return [s for s in signals if s.family == "benign_org" and not s.cheap and not s.column.startswith("tie_")]


#: Ties that put a member on an operator's infrastructure (relay IPs, prompt templates).
_RELAY_REASONS = ("request_ip", "prompt_template", "stream_relay", "stream_template")
#: Ties by the operator's prompt content: sharing its prompt bank is the farm's behaviour itself.
_CONTENT_REASONS = ("prompt_family", "family_bank", "prompt_template")
_ENDS_SCHEMA = pl.Schema({"account_id": pl.String(), "reasons": pl.List(pl.String)})


def peripheral_members(
    features: pl.DataFrame,
    membership: pl.DataFrame,
    clusters: pl.DataFrame,
    base: dict[str, float],
    settings: ScoringSettings,
    *,
    table: SignalTable | None = None,
    edges: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Members of flagged clusters that show little of the cluster's own behaviour (below
    `peripheral_share` of the cluster's score for its kind), whatever their degree: account_id, peripheral.

    Coordination is not abuse: a member must show the abuse itself. Among a million accounts unrelated
    people meet a farm through chance ties (a common name-only email, a carrier's NAT address, a
    coincident burst of activity), and such collisions come in cliques (five namesakes of one address),
    so an account's degree inside the cluster says little; its own behaviour does. It is listed with the
    cluster, not flagged with it, and judged alone. With `edges`, a member of a key_abuse cluster tied to
    another member by the operator's relay IPs or templates is kept (its own stream may have gone unseen).
    """
    signals = (table or DEFAULT_TABLE).signals
    relay = pl.col("reasons").list.set_intersection(pl.lit(list(_RELAY_REASONS), pl.List(pl.String))).list.len() > 0
    ends = _internal_ends(membership, edges) if edges is not None else pl.DataFrame(schema=_ENDS_SCHEMA)
    content = pl.col("reasons").list.set_intersection(pl.lit(list(_CONTENT_REASONS), pl.List(pl.String))).list.len() > 0
    card = pl.col("reasons").list.contains("card")
    relay_ties = ends.group_by("account_id").agg(
        relay.any().alias("relay_tie"), content.any().alias("content_tie"), card.any().alias("card_tie")
    )
    score = {f: ordered_sum([s.weight * _strength(s, base) for s in _behaviour(f, signals)]) for f in FAMILIES}
    kind_score = pl.coalesce([pl.when(pl.col("predicted_kind") == f).then(score[f]) for f in FAMILIES])
    flagged = clusters.filter("flagged").select("cluster_id", "predicted_kind", kind_score.alias("cluster_behaviour"))
    # A member's request shares are measured on its own few requests: shrunk toward the population
    # baseline by n / (n + prior) (empirical Bayes), so 11 requests with 3 at night are not "flat 24/7".
    # Done on the strength (its ramp starts at the baseline, so scaling it is shrinking the share, up to
    # the clip at full strength).
    # Not for a member tied in by the cluster's prompt content: those few requests are the operator's
    # (the cluster's medians pool all members' requests and are not shrunk either).
    shares = set((table or DEFAULT_TABLE).request_shares)
    shrink = _shrinkage("n_requests", settings.member_prior_requests, features)
    pay_shares = set((table or DEFAULT_TABLE).payment_shares)
    pay_shrink = _shrinkage("n_payments", settings.member_prior_payments, features)

    def own(f: str, weight: pl.Expr, pay: pl.Expr | None = None) -> pl.Expr:
        def w(s: Signal) -> pl.Expr | float:
            return weight if s.column in shares else pay if pay is not None and s.column in pay_shares else 1.0

        return ordered_sum([s.weight * _strength(s, base) * w(s) for s in _behaviour(f, signals)])

    member = {f: own(f, pl.when(pl.col("content_tie").fill_null(False)).then(1.0).otherwise(shrink)) for f in FAMILIES}
    kind_score = pl.coalesce([pl.when(pl.col("predicted_kind") == f).then(member[f]) for f in FAMILIES])
    mem = (
        membership.join(flagged, on="cluster_id")
        .join(features.with_columns(_key_rotation()), on="account_id", how="left")
        .join(relay_ties, on="account_id", how="left")
    )
    # The member's own expensive benign evidence (e.g. an established account billed on a clean shared
    # card) counts against its own behaviour, as it counts against a cluster's; cheap evidence does not.
    # Not for victims of key abuse: the owner of a leaked key is an established customer by definition.
    own_benign = [s for s in _member_benign(signals) if s.column in mem.columns]
    benign = ordered_sum([s.weight * _strength(s, base) for s in own_benign])
    if own_benign:
        kind_score = (
            pl.when(pl.col("predicted_kind") == "key_abuse").then(kind_score).otherwise((kind_score + benign).clip(0.0))
        )
    # Victims of one operator (key_abuse) show it by their own second stream (their behaviour score) or,
    # when their stream went unseen, by sending traffic through the operator's relays or templates.
    relayed_victim = (pl.col("predicted_kind") == "key_abuse") & pl.col("relay_tie").fill_null(False)
    # In a card-testing cluster the cards are the abuse: a member paying with a card another member tried
    # (a tested card passed on) is part of it, whatever its own few payments show.
    carded = (pl.col("predicted_kind") == "card_testing") & pl.col("card_tie").fill_null(False)
    # A member that shows another fraud family's behaviour on its own, strongly, is that abuse inside the
    # cluster: resellers relaying a distillation operator's prompts share its prompt families, and their
    # traffic (many end users' topics, relay volume, stolen cards) is a reseller's, not a farm's.
    # (Its few requests are its own there, not the operator's: shrunk whatever its ties; so are its payments.)
    other = _other_family({f: own(f, shrink, pay_shrink) for f in FAMILIES}, benign)
    return mem.select(
        "account_id",
        (
            (kind_score.fill_null(0.0) < settings.peripheral_share * pl.col("cluster_behaviour").fill_null(0.0))
            & ~relayed_victim
            & ~carded
            & (other.fill_null(0.0) < settings.member_other_family_score)
        ).alias("peripheral"),
    )


def _shrinkage(count: str, prior: float, features: pl.DataFrame) -> pl.Expr:
    """n / (n + prior), n the account's `count` column: how much of a share measured on n events counts
    (1 when prior is 0 or the column is absent)."""
    if prior <= 0 or count not in features.columns:
        return pl.lit(1.0)
    n = pl.col(count).fill_null(0).cast(pl.Float64)
    return n / (n + prior)


def _other_family(member: dict[str, pl.Expr], benign: pl.Expr) -> pl.Expr:
    """A member's best own score (after its expensive benign evidence) over the fraud families other than
    its cluster's kind, key abuse left out (a second stream is judged on its own, in `streams`)."""
    fams = [f for f in FAMILIES if f != "key_abuse"]
    return pl.max_horizontal(
        [pl.when(pl.col("predicted_kind") != f).then((member[f] + benign).clip(0.0)).otherwise(0.0) for f in fams]
    )


def anomaly_scores(features: pl.DataFrame, settings: ScoringSettings) -> np.ndarray:
    """IsolationForest anomaly per account in [0, 1] (0 at the population median, 1 at its 99.9th percentile).

    Fitted on `features` itself, from `settings.isolation_trees` and `settings.seed`: the fitted state is
    those two numbers (refit on the same features gives the same scores bit for bit).
    """
    cols = feature_columns(features.schema)
    anomaly = np.zeros(features.height)
    if features.height >= 50 and cols:
        x = features.select([pl.col(c).cast(pl.Float64).fill_null(0.0).fill_nan(0.0) for c in cols]).to_numpy()
        x = np.sign(x) * np.log1p(np.abs(x))  # heavy-tailed counts on a log scale
        forest = IsolationForest(n_estimators=settings.isolation_trees, random_state=settings.seed)
        raw = -forest.fit(x).score_samples(x)  # higher = more anomalous, ~0.35..0.8
        anomaly = np.clip((raw - np.median(raw)) / max(float(np.quantile(raw, 0.999) - np.median(raw)), 1e-9), 0, 1)
    return anomaly


def signal_strengths(
    frame: pl.DataFrame, base: dict[str, float], signals: tuple[Signal, ...], key: str
) -> pl.DataFrame:
    """`key` and one column per signal: its strength in [0, 1] (what `weight` multiplies)."""
    return frame.select(key, *[_strength(sig, base).alias(sig.name) for sig in signals])


def account_frame(features: pl.DataFrame) -> pl.DataFrame:
    """Account features plus the derived per-account columns the account-level signals read."""
    return features.with_columns(_key_rotation())


def account_risk(
    features: pl.DataFrame,
    base: dict[str, float],
    settings: ScoringSettings,
    *,
    table: SignalTable | None = None,
    anomaly: np.ndarray | None = None,
) -> pl.DataFrame:
    """Per-account risk for accounts judged alone: rule log-odds plus an IsolationForest anomaly term.

    `anomaly`: precomputed `anomaly_scores` (e.g. from saved results); by default fitted on `features`.
    """
    t = table or DEFAULT_TABLE
    feats = account_frame(features)
    logit = t.account.bias + ordered_sum([s.weight * _strength(s, base) for s in t.account_signals])
    if anomaly is None:
        anomaly = anomaly_scores(features, settings)
    return feats.select("account_id").with_columns(
        pl.Series("anomaly", anomaly, dtype=pl.Float64),
        feats.select((1.0 / (1.0 + (-(logit + t.account.anomaly_weight * pl.Series(anomaly))).exp())).alias("r"))[
            "r"
        ].alias("account_risk"),
    )


ANOMALY_TEXT = "unusual feature profile for this population (IsolationForest anomaly {value:.2f} of 1)"


def account_evidence(
    features: pl.DataFrame,
    lone: pl.DataFrame,
    accounts: pl.Series,
    base: dict[str, float],
    settings: ScoringSettings,
    *,
    table: SignalTable | None = None,
) -> pl.DataFrame:
    """account_evidence.parquet: for the given accounts (judged alone), the ranked contributions to their
    account-level log-odds, in the same form as clusters' evidence (rank, signal, value, baseline,
    contribution, text); the anomaly term is the signal "anomaly"."""
    t = table or DEFAULT_TABLE
    sigs = t.account_signals
    feats = account_frame(features).filter(pl.col("account_id").is_in(accounts.implode()))
    feats = feats.join(lone.select("account_id", "anomaly"), on="account_id", how="left")
    contrib = feats.select(
        "account_id",
        *[(s.weight * _strength(s, base)).alias(s.name) for s in sigs],
        (t.account.anomaly_weight * pl.col("anomaly").fill_null(0.0)).alias("anomaly"),
    )
    values = feats.select(
        "account_id", *[pl.col(s.column).cast(pl.Float64).alias(s.name) for s in sigs], pl.col("anomaly")
    )
    meta = pl.DataFrame(
        {
            "signal": [*(s.name for s in sigs), "anomaly"],
            "baseline": [*(_baseline_value(s, base) for s in sigs), 0.0],
            "template": [*(s.text for s in sigs), ANOMALY_TEXT],
        }
    )
    return _ranked(contrib, values, meta, "account_id", settings.evidence_top)


def _ranked(contrib: pl.DataFrame, values: pl.DataFrame, meta: pl.DataFrame, key: str, top: int) -> pl.DataFrame:
    long = contrib.unpivot(index=key, variable_name="signal", value_name="contribution")
    vals = values.unpivot(index=key, variable_name="signal", value_name="value")
    ev = (
        long.join(vals, on=[key, "signal"])
        .join(meta, on="signal")
        .filter(pl.col("contribution").abs() > 1e-9)
        .sort([key, "contribution", "signal"], descending=[False, True, False])
    )
    ev = ev.with_columns(
        pl.col("contribution").abs().rank("ordinal", descending=True).over(key).cast(pl.Int32).alias("rank")
    ).filter(pl.col("rank") <= top)
    texts = [
        t.format(value=v if v is not None else 0.0, baseline=b)
        for t, v, b in zip(ev["template"].to_list(), ev["value"].to_list(), ev["baseline"].to_list())
    ]
    return (
        ev.with_columns(pl.Series("text", texts, dtype=pl.String))
        .select(key, "rank", "signal", "value", "baseline", "contribution", "text")
        .sort(key, "rank")
    )
