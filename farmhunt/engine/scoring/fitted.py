"""Scoring as a fit and a transform, in scikit-learn's manner.

`ScoringModel(settings, table).fit(features)` fits the population state: the baselines every signal
compares against and the IsolationForest anomaly term (refitted from `isolation_trees` and `seed`; its
scores are kept). `transform(...)` applies the signal table to clusters and accounts and makes the
account decision. The weights and biases are the signal table (`signals.toml`, or a model file written
by `farmhunt train`); `save_model` / `load_model` write and read that state as TOML:

    [model]              provenance (command, seeds, worlds, cross-validated figures)
    bias / [account]     fitted biases, account anomaly weight
    [weights] [account.weights]   fitted signal weights (cluster level, account level)
    [baselines]          optional: frozen population baselines (otherwise fitted on each world)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from farmhunt.core.atomic import atomic_file
from farmhunt.core.errors import ConfigError
from farmhunt.core.tomlconfig import read_toml
from farmhunt.engine.scoring.associates import associate_evidence, associates, judged_membership
from farmhunt.engine.scoring.decisions import account_decisions
from farmhunt.engine.scoring.model import (
    account_evidence,
    account_risk,
    anomaly_scores,
    baselines,
    cluster_aggregates,
    peripheral_members,
    score_clusters,
)
from farmhunt.engine.scoring.signals import SignalTable, default_table
from farmhunt.engine.settings import CaseSettings, ScoringSettings


@dataclass
class Scored:
    """What scoring produced: scored clusters, their evidence, accounts (decided) and account evidence."""

    clusters: pl.DataFrame
    evidence: pl.DataFrame
    accounts: pl.DataFrame
    account_evidence: pl.DataFrame


@dataclass
class ScoringModel:
    """The scoring stage: `fit` on a world's account features, then `transform` its clusters and accounts."""

    settings: ScoringSettings = field(default_factory=ScoringSettings)
    table: SignalTable = field(default_factory=default_table)
    #: Frozen baselines (from a saved model); None fits them on each world.
    frozen_baselines: dict[str, float] | None = None
    #: Linkage reason -> case channel, for associates (`associates.py`); None: the default channels.
    channels: dict[str, str] | None = None
    baselines_: dict[str, float] | None = None
    anomaly_: np.ndarray | None = None

    def fit(self, features: pl.DataFrame, anomaly: np.ndarray | None = None) -> ScoringModel:
        """Fit the population baselines and the anomaly term on `features` (or reuse a given `anomaly`)."""
        self.baselines_ = dict(self.frozen_baselines) if self.frozen_baselines is not None else baselines(features)
        self.anomaly_ = anomaly if anomaly is not None else anomaly_scores(features, self.settings)
        return self

    def transform(
        self,
        features: pl.DataFrame,
        membership: pl.DataFrame,
        edges: pl.DataFrame,
        aggregates: pl.DataFrame,
    ) -> Scored:
        """Score clusters (from `aggregates`, see `aggregate`) and accounts; decide each account."""
        if self.baselines_ is None or self.anomaly_ is None:
            raise RuntimeError("ScoringModel.transform before fit")
        base, s, t = self.baselines_, self.settings, self.table
        clusters, evidence = score_clusters(aggregates, base, s, table=t)
        lone = account_risk(features, base, s, table=t, anomaly=self.anomaly_)
        channels = self.channels if self.channels is not None else CaseSettings().channels
        assoc = associates(membership, clusters, edges, channels, s.associate_min_channels)
        judged = peripheral_members(
            features, judged_membership(membership, assoc), clusters, base, s, table=t, edges=edges
        )
        # An associate is flagged with its host cluster when it passes as a member there; else it is
        # an account of its own cluster like any other.
        accepted = assoc.join(judged.filter(~pl.col("peripheral")), on="account_id", how="semi")
        peripheral = judged.join(assoc, on="account_id", how="anti")
        accounts = account_decisions(features, membership, clusters, lone, peripheral, s, accepted)
        alone = _judged_alone(membership, clusters, lone, peripheral, s.flag_threshold)
        acc_ev = pl.concat(
            [
                account_evidence(features, lone, alone, base, s, table=t),
                associate_evidence(accepted, clusters, s.associate_min_channels),
            ]
        ).sort("account_id", "rank")
        clusters = clusters.with_columns(pl.col("size").cast(pl.Int64)).sort(
            ["risk", "cluster_id"], descending=[True, False]
        )
        clusters = clusters.select(
            "cluster_id",
            "size",
            "risk",
            "predicted_kind",
            "flagged",
            pl.exclude("cluster_id", "size", "risk", "predicted_kind", "flagged"),
        )
        return Scored(clusters, evidence, accounts, acc_ev)

    def aggregate(
        self, features: pl.DataFrame, membership: pl.DataFrame, edges: pl.DataFrame, orgs: pl.DataFrame
    ) -> pl.DataFrame:
        """Cluster aggregates the signals read (`model.cluster_aggregates` with this model's table)."""
        return cluster_aggregates(features, membership, edges, orgs, table=self.table)


def _judged_alone(
    membership: pl.DataFrame, clusters: pl.DataFrame, lone: pl.DataFrame, peripheral: pl.DataFrame, threshold: float
) -> pl.Series:
    """Accounts whose decision is their own and worth explaining: peripheral members of flagged clusters,
    and accounts outside flagged clusters whose own risk reaches `threshold` (the cluster flag bar)."""
    flagged = clusters.filter("flagged").select("cluster_id")
    in_flagged = membership.join(flagged, on="cluster_id").select("account_id")
    per = peripheral.filter("peripheral")["account_id"]
    risky = lone.filter(pl.col("account_risk") >= threshold).join(in_flagged, on="account_id", how="anti")
    return pl.concat([per, risky["account_id"]]).unique().sort().rename("account_id")


# ----------------------------------------------------------------------------------------------- model files


def model_document(
    table: SignalTable, provenance: dict[str, Any], frozen_baselines: dict[str, float] | None = None
) -> dict[str, Any]:
    """The TOML document of a fitted model: weights, biases, provenance, optional frozen baselines."""
    doc: dict[str, Any] = {
        "model": provenance,
        "bias": table.bias,
        "weights": {s.name: s.weight for s in table.signals},
        "account": {
            "bias": table.account.bias,
            "anomaly_weight": table.account.anomaly_weight,
            "weights": dict(table.account.weights),
        },
    }
    if frozen_baselines is not None:
        doc["baselines"] = dict(frozen_baselines)
    return doc


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"cannot write non-finite number {v!r} to a model file")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {type(v).__name__} to a model file")


def to_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """Minimal TOML writer for model documents (scalars, lists, nested tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            name = f"{prefix}{k}"
            lines.append(f"\n[{name}]")
            body = to_toml(v, prefix=f"{name}.")
            lines.append(body)
    return "\n".join(x for x in lines if x != "")


def save_model(
    path: str | Path, table: SignalTable, provenance: dict[str, Any], frozen_baselines: dict[str, float] | None = None
) -> Path:
    """Write a fitted model file (TOML) atomically."""
    text = "# farmhunt scoring model (written by `farmhunt train`; apply with `farmhunt detect --model`)\n"
    text += to_toml(model_document(table, provenance, frozen_baselines)) + "\n"
    with atomic_file(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


@dataclass(frozen=True)
class LoadedModel:
    """A model file read back: the signal table with its weights, its provenance, optional baselines."""

    table: SignalTable
    provenance: dict[str, Any]
    baselines: dict[str, float] | None


def load_model(path: str | Path, base: SignalTable | None = None) -> LoadedModel:
    """Read a model file onto `base` (the shipped table); unknown keys or signals are a ConfigError."""
    data = read_toml(path)
    t = base or default_table()
    allowed = {"model", "bias", "weights", "account", "baselines"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")
    names = {s.name for s in t.signals}
    weights = data.get("weights", {})
    acc = data.get("account", {})
    acc_w = acc.get("weights", {})
    acc_names = {n for n, _ in t.account.weights}
    for key, table, known in (("weights", weights, names), ("account.weights", acc_w, acc_names)):
        for n, v in table.items():
            if n not in known:
                raise ConfigError(f"{path}: '{key}.{n}': unknown signal (known: {', '.join(sorted(known))})")
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"{path}: '{key}.{n}': expected a finite number, got {v!r}")
    for k in ("bias",):
        if k in data and (isinstance(data[k], bool) or not isinstance(data[k], int | float)):
            raise ConfigError(f"{path}: '{k}': expected a number, got {data[k]!r}")
    bad = sorted(set(acc) - {"bias", "anomaly_weight", "weights"})
    if bad:
        raise ConfigError(f"{path}: unknown key 'account.{bad[0]}'")
    table = t.with_weights(
        {k: float(v) for k, v in weights.items()},
        float(data.get("bias", t.bias)),
        {k: float(v) for k, v in acc_w.items()},
        float(acc.get("bias", t.account.bias)),
    )
    if "anomaly_weight" in acc:
        from dataclasses import replace

        table = replace(table, account=replace(table.account, anomaly_weight=float(acc["anomaly_weight"])))
    base_vals = data.get("baselines")
    if base_vals is not None:
        bad = [k for k, v in base_vals.items() if isinstance(v, bool) or not isinstance(v, int | float)]
        if bad:
            raise ConfigError(f"{path}: 'baselines.{bad[0]}': expected a number")
        base_vals = {k: float(v) for k, v in base_vals.items()}
    return LoadedModel(table, dict(data.get("model", {})), base_vals)


# ------------------------------------------------------------------------------------- shipping a fit

FIT_MARK = "# fitted:"  # provenance lines of the weights pasted into signals.toml start with this


def _fmt_weight(v: float) -> str:
    return repr(round(float(v), 4) + 0.0)  # + 0.0: no "-0.0"


def write_signal_weights(path: str | Path, table: SignalTable, provenance: dict[str, Any]) -> Path:
    """Paste `table`'s weights and biases into the signals TOML at `path`, in place and atomically.

    Only the values change: the top-level `bias`, `[account]` bias and anomaly_weight, every
    `[account.weights]` entry and every `[[signal]]` weight (rounded to 4 decimals); comments, ramps,
    texts and order stay. Provenance (command, seeds, worlds) replaces the `# fitted:` lines after the
    top-level bias. The file is read back and must parse to exactly the rounded table (else ConfigError,
    nothing written). A signal of the file missing from `table` is a ConfigError (refit first).
    """
    import re
    import tomllib

    from farmhunt.engine.scoring.signals import parse_signal_table

    p = Path(path)
    lines = p.read_text(encoding="utf-8").splitlines()
    weights = {s.name: s.weight for s in table.signals}
    acc = dict(table.account.weights)
    kv = re.compile(r"^(\s*)([A-Za-z0-9_]+)(\s*=\s*)([^#\n]*?)(\s*(#.*)?)$")
    section, current, out = "", None, []
    pending: list[int] = []  # index in `out` of a [[signal]] weight line waiting for its name
    for line in lines:
        if line.startswith(FIT_MARK):
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            section, current = stripped, None
            out.append(line)
            continue
        m = kv.match(line)
        if not m:
            out.append(line)
            continue
        ind, key, eq, _val, tail = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5) or ""
        new: str | None = None
        if section == "" and key == "bias":
            new = _fmt_weight(table.bias)
        elif section == "[account]" and key == "bias":
            new = _fmt_weight(table.account.bias)
        elif section == "[account]" and key == "anomaly_weight":
            new = _fmt_weight(table.account.anomaly_weight)
        elif section == "[account.weights]":
            if key not in acc:
                raise ConfigError(f"{p}: 'account.weights.{key}' is not in the fitted model: refit first")
            new = _fmt_weight(acc[key])
        elif section == "[[signal]]" and key == "name":
            current = tomllib.loads(line)["name"]
            if current not in weights:
                raise ConfigError(f"{p}: signal {current!r} is not in the fitted model: refit first")
            for i in pending:
                out[i] = out[i].replace("@@W@@", _fmt_weight(weights[current]))
            pending = []
        elif section == "[[signal]]" and key == "weight":
            if current is None:
                out.append(f"{ind}{key}{eq}@@W@@{tail}")
                pending.append(len(out) - 1)
                continue
            new = _fmt_weight(weights[current])
        out.append(f"{ind}{key}{eq}{new}{tail}" if new is not None else line)
        if section == "" and key == "bias":
            out += [f"{FIT_MARK} {k} = {_toml_value(v)}" for k, v in provenance.items()]
    text = "\n".join(out) + "\n"
    expected = table.with_weights(
        {k: round(v, 4) for k, v in weights.items()},
        round(table.bias, 4),
        {k: round(v, 4) for k, v in acc.items()},
        round(table.account.bias, 4),
    )
    from dataclasses import replace

    expected = replace(
        expected, account=replace(expected.account, anomaly_weight=round(table.account.anomaly_weight, 4))
    )
    back = parse_signal_table(tomllib.loads(text))
    if back != expected:
        raise ConfigError(f"{p}: pasting the fitted weights did not reproduce the model (a hand-edited layout?)")
    with atomic_file(p) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return p
