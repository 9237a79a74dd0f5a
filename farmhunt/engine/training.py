"""`farmhunt train`: fit the scoring weights on labelled worlds, and re-score saved results with new weights.

Detection's features, linkage and communities do not depend on the weights, so each world is detected
once (with the shipped table) and the fit reads its results: cluster aggregates, account features, the
anomaly term and the baselines recorded in run.json. `rescore` applies another signal table to saved
results exactly as `detect --model` would (tested: with the shipped table it reproduces them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from farmhunt.core.errors import InputError
from farmhunt.core.world import load_labels
from farmhunt.engine.results import Results
from farmhunt.engine.scoring.fit import (
    FitSettings,
    account_logit,
    account_samples,
    cluster_logit,
    cluster_samples,
    fit_account_weights,
    fit_cluster_weights,
    precision_bias,
)
from farmhunt.engine.scoring.fitted import ScoringModel
from farmhunt.engine.scoring.model import peripheral_members, score_clusters
from farmhunt.engine.scoring.signals import SignalTable, default_table
from farmhunt.engine.settings import ScoringSettings

#: accounts.parquet columns that are detection's decisions, not features.
_DECISION = ("cluster_id", "host_cluster_id", "risk", "flagged", "predicted_kind", "anomaly", "account_risk")
#: clusters.parquet columns that are scores, not aggregates.
_SCORES = ("risk", "predicted_kind", "flagged")


def designs(world: str | Path) -> dict[str, str]:
    """ring_id -> design (the manifest's `design`, else the ring kind) of a generated world."""
    m = Path(world) / "manifest.json"
    if not m.exists():
        return {}
    rings = json.loads(m.read_text()).get("rings", [])
    return {r["ring_id"]: str(r.get("design") or r["kind"]) for r in rings if "ring_id" in r}


def camouflage(world: str | Path) -> dict[str, float]:
    """ring_id -> camouflage level recorded by the generator (empty when it records none)."""
    m = Path(world) / "manifest.json"
    if not m.exists():
        return {}
    rings = json.loads(m.read_text()).get("rings", [])
    return {r["ring_id"]: float(r["camouflage"]) for r in rings if "ring_id" in r and "camouflage" in r}


def labelled_members(
    results: Results, labels: pl.DataFrame, ring_design: dict[str, str], decisions: pl.DataFrame | None = None
) -> pl.DataFrame:
    """account_id, cluster_id, is_fraud, design; investigators' decisions (label 1/0) override the labels."""
    lab = labels.select("account_id", "ring_id", "ring_kind", pl.col("is_fraud").cast(pl.Boolean))
    if decisions is not None:
        d = decisions.filter(pl.col("label").is_not_null()).select(
            "account_id", (pl.col("label") == 1).alias("decided")
        )
        lab = lab.join(d, on="account_id", how="left").with_columns(
            pl.coalesce("decided", "is_fraud").alias("is_fraud")
        )
    mapping = pl.DataFrame(
        {"ring_id": list(ring_design), "design": list(ring_design.values())},
        schema={"ring_id": pl.String, "design": pl.String},
    )
    lab = lab.join(mapping, on="ring_id", how="left").with_columns(
        pl.coalesce("design", pl.when(pl.col("ring_id").is_null()).then(pl.lit("benign")).otherwise("ring_kind")).alias(
            "design"
        )
    )
    return (
        results.accounts.select("account_id", "cluster_id")
        .join(lab, on="account_id", how="left")
        .with_columns(pl.col("is_fraud").fill_null(False), pl.col("design").fill_null("benign"))
    )


def features_of(results: Results) -> pl.DataFrame:
    """The account features table detection scored (accounts.parquet without its decisions)."""
    return results.accounts.drop([c for c in _DECISION if c in results.accounts.columns])


def rescore(results: Results, table: SignalTable, settings: ScoringSettings | None = None) -> Results:
    """`results` scored again with `table` (same baselines, anomaly term, clusters and edges)."""
    s = settings or ScoringSettings()
    acc = results.accounts
    features = features_of(results)
    membership = acc.filter(pl.col("cluster_id").is_not_null()).select("account_id", "cluster_id")
    aggregates = results.clusters.drop([c for c in _SCORES if c in results.clusters.columns]).sort("cluster_id")
    model = ScoringModel(s, table, frozen_baselines=results.run.get("baselines") or None)
    model.fit(features, anomaly=acc["anomaly"].to_numpy() if "anomaly" in acc.columns else None)
    scored = model.transform(features, membership, results.edges, aggregates)
    return replace(
        results,
        accounts=scored.accounts,
        clusters=scored.clusters,
        evidence=scored.evidence,
        account_evidence=scored.account_evidence,
        path=None,
    )


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _alone_samples(w: TrainingWorld, table: SignalTable, s: ScoringSettings) -> pl.DataFrame:
    """`account_samples` of the accounts `table`'s cluster model leaves to be judged alone in world `w`."""
    base_vals = w.results.run.get("baselines", {})
    aggregates = w.results.clusters.drop([x for x in _SCORES if x in w.results.clusters.columns]).sort("cluster_id")
    clusters, _ = score_clusters(aggregates, base_vals, s, table=table)
    features = features_of(w.results)
    membership = w.members.drop_nulls("cluster_id").select("account_id", "cluster_id")
    per = peripheral_members(features, membership, clusters, base_vals, s, table=table, edges=w.results.edges)
    flagged = clusters.filter("flagged").select("cluster_id")
    in_flagged = membership.join(flagged, on="cluster_id").join(per.filter("peripheral"), on="account_id", how="anti")
    feats = features.join(in_flagged.select("account_id"), on="account_id", how="anti")
    anomaly = w.results.accounts.select("account_id", "anomaly")
    return account_samples(w.name, feats, anomaly, w.members, base_vals, table)


@dataclass
class TrainingWorld:
    """One labelled world's detection results with its labels and ring designs."""

    name: str
    results: Results
    members: pl.DataFrame  # labelled_members
    camouflage: dict[str, float]


def load_training_world(
    name: str, world: Path, results: Results, decisions: pl.DataFrame | None = None
) -> TrainingWorld:
    """Labels and designs of `world` attached to its results (a world without labels is an InputError)."""
    if not (world / "labels.parquet").exists() and not (world / "labels.csv").exists():
        raise InputError(f"train: world '{world}' has no labels.parquet: training needs labelled worlds")
    labels = load_labels(world)
    return TrainingWorld(name, results, labelled_members(results, labels, designs(world), decisions), camouflage(world))


def fit_table(
    worlds: list[TrainingWorld],
    base: SignalTable | None = None,
    fit: FitSettings | None = None,
    scoring: ScoringSettings | None = None,
    exclude_group: str | None = None,
) -> tuple[SignalTable, dict[str, Any]]:
    """Fit cluster and account weights on `worlds` (optionally without one design); the table and a summary."""
    t = base or default_table()
    f = fit or FitSettings()
    s = scoring or ScoringSettings()
    cs = []
    for w in worlds:
        base_vals = w.results.run.get("baselines", {})
        aggregates = w.results.clusters.drop([c for c in _SCORES if c in w.results.clusters.columns])
        cs.append(cluster_samples(w.name, aggregates, w.members, base_vals, t))
    clusters = pl.concat(cs)
    if exclude_group is not None:
        clusters = clusters.filter(pl.col("group") != exclude_group)
    weights, bias = fit_cluster_weights(clusters, t, f)
    fitted = t.with_weights(weights, bias, {}, t.account.bias)
    cut = _logit(s.flag_threshold)
    fitted_bias = bias
    if f.target_precision is not None:
        margin = cluster_logit(clusters, fitted) - bias
        w_c = clusters["weight"].to_numpy().astype(float)
        bias = precision_bias(margin, clusters["y"].to_numpy(), w_c, bias, cut, f.target_precision)
        fitted = t.with_weights(weights, bias, {}, t.account.bias)
    # Account level: the accounts the fitted cluster model leaves to be judged alone (outside flagged
    # clusters, and peripheral members of flagged ones).
    accounts = pl.concat([_alone_samples(w, fitted, s) for w in worlds])
    if exclude_group is not None:
        accounts = accounts.filter(pl.col("group") != exclude_group)
    acc_w, acc_bias, anomaly_w = fit_account_weights(accounts, fitted, f)
    fitted = fitted.with_weights(weights, bias, acc_w, acc_bias)
    fitted = replace(fitted, account=replace(fitted.account, anomaly_weight=anomaly_w))
    fitted_acc_bias = acc_bias
    target_acc = f.target_account_precision if f.target_account_precision is not None else f.target_precision
    if target_acc is not None:
        margin = account_logit(accounts, fitted) - acc_bias
        w_a = accounts["weight"].to_numpy().astype(float)
        acc_bias = precision_bias(
            margin, accounts["y"].to_numpy(), w_a, acc_bias, _logit(s.account_flag_threshold), target_acc
        )
        fitted = fitted.with_weights(weights, bias, acc_w, acc_bias)
    summary = {
        "cluster_samples": clusters.height,
        "cluster_fraud": int(clusters["y"].sum()),
        "account_samples": accounts.height,
        "account_fraud": int(accounts["y"].sum()),
        "C": f.C,
        "seed": f.seed,
        "benign_weight": f.benign_weight,
        "target_precision": f.target_precision if f.target_precision is not None else "",
        "target_account_precision": target_acc if target_acc is not None else "",
        "fitted_bias": fitted_bias,
        "fitted_account_bias": fitted_acc_bias,
    }
    return fitted, summary
