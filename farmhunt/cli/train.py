"""`farmhunt train WORLDS... --out model.toml`: fit the scoring weights on labelled worlds."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def cached_results(world: Path, cache: Path | None):
    """Detect `world`, or reuse `cache/<world name>` when it was computed from this very world (same
    manifest hash) with the same farmhunt version and detection settings; new results are written there.

    (A cache of another build used to be reused as long as the world matched: results without a column
    the current scoring reads then failed deep inside rescoring. Detection code changed without a
    version or settings change still needs a new cache directory.)"""
    import json

    from farmhunt import __version__
    from farmhunt.core.tomlconfig import to_dict
    from farmhunt.core.world import manifest_sha256
    from farmhunt.engine.pipeline import detect_path
    from farmhunt.engine.results import load_results
    from farmhunt.engine.settings import DetectSettings

    if cache is None:
        return detect_path(world)
    target = cache / world.name
    if target.is_dir():
        res = load_results(target)
        settings = json.loads(json.dumps(to_dict(DetectSettings())))
        if (
            res.run.get("world", {}).get("manifest_sha256") == manifest_sha256(world)
            and res.run.get("farmhunt_version") == __version__
            and res.run.get("settings") == settings
        ):
            return res
    cache.mkdir(parents=True, exist_ok=True)
    return detect_path(world, target)


def load_decisions(path: Path):
    """Investigators' exported decisions (account_id, label 1/0/null, ...); bad files are an InputError."""
    import polars as pl

    from farmhunt.core.errors import InputError

    if not path.is_file():
        raise InputError(f"--decisions: file '{path}' does not exist")
    try:
        df = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema_length=0)
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(f"--decisions: '{path}' cannot be read: {str(exc).splitlines()[0]}") from exc
    for col in ("account_id", "label"):
        if col not in df.columns:
            raise InputError(f"--decisions: '{path}' has no column '{col}'")
    label = df["label"].cast(pl.String).str.strip_chars()
    label = pl.when(label.is_in(["", "null", "None"])).then(None).otherwise(label)
    df = df.with_columns(pl.select(label).to_series().alias("label"))
    bad = df.filter(pl.col("label").is_not_null() & ~pl.col("label").is_in(["0", "1"]))
    if bad.height:
        raise InputError(f"--decisions: '{path}', column 'label': {bad.height} value(s) not 1, 0 or empty")
    return df.select(pl.col("account_id").cast(pl.String), pl.col("label").cast(pl.Int8))


def train(
    worlds: list[Path] = typer.Argument(..., help="Labelled world directories (generated: labels.parquet)."),
    out: Path = typer.Option(..., "--out", "-o", help="Model file to write (TOML; apply with detect --model)."),
    decisions: Path | None = typer.Option(
        None, "--decisions", help="Investigators' decisions export (account_id, label 1/0/empty, ...): extra labels."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the fit (recorded in the model)."),
    c: float = typer.Option(1.0, "--C", help="Inverse L2 regularisation strength of the logistic fit."),
    benign_weight: float = typer.Option(
        2.0,
        "--benign-weight",
        help="Weight of a non-fraud account against a fraud one in the fit (cost of a false flag).",
    ),
    target_precision: float | None = typer.Option(
        0.98,
        "--target-precision",
        help="Lower the biases until the training flags reach this precision (clusters, lone accounts; 0: off).",
    ),
    target_account_precision: float | None = typer.Option(
        None,
        "--target-account-precision",
        help="Precision target for accounts judged alone (default: --target-precision).",
    ),
    write_signals: Path | None = typer.Option(
        None,
        "--write-signals",
        help="Also paste the fitted weights and biases into this signals TOML in place (the shipped one: "
        "farmhunt/engine/scoring/signals.toml).",
    ),
    results: Path | None = typer.Option(
        None, "--results", help="Cache directory of per-world detection results (reused when the world matches)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or summary."),
) -> None:
    """Fit the signal weights (cluster and account level) with a sign-constrained logistic model on the
    clusters of labelled WORLDS; write them with their provenance to --out."""
    from rich.console import Console

    from farmhunt import __version__
    from farmhunt.core.errors import InputError
    from farmhunt.core.world import manifest_sha256
    from farmhunt.engine.scoring.fit import FitSettings
    from farmhunt.engine.scoring.fitted import save_model
    from farmhunt.engine.training import fit_table, load_training_world

    if c <= 0:
        raise InputError(f"'--C': must be > 0, got {c}")
    if benign_weight <= 0:
        raise InputError(f"'--benign-weight': must be > 0, got {benign_weight}")
    for name, v in (("--target-precision", target_precision), ("--target-account-precision", target_account_precision)):
        if v is not None and not 0 <= v <= 1:
            raise InputError(f"'{name}': must be in [0, 1], got {v}")
    if write_signals is not None and not write_signals.is_file():
        raise InputError(f"--write-signals: file '{write_signals}' does not exist")
    console = Console(stderr=True, quiet=quiet)
    dec = load_decisions(decisions) if decisions is not None else None
    loaded = []
    for w in worlds:
        if not w.is_dir():
            raise InputError(f"train: world directory '{w}' does not exist")
        console.log(f"detecting {w}")
        loaded.append(load_training_world(w.name, w, cached_results(w, results), dec))
    fs = FitSettings(
        C=c,
        seed=seed,
        benign_weight=benign_weight,
        target_precision=target_precision or None,
        target_account_precision=target_account_precision or None,
    )
    table, summary = fit_table(loaded, fit=fs)
    provenance = {
        "command": " ".join(["farmhunt", *sys.argv[1:]]) if sys.argv[0].endswith("farmhunt") else "farmhunt train",
        "farmhunt_version": __version__,
        "seed": seed,
        "C": c,
        "worlds": [str(w) for w in worlds],
        "manifest_sha256": [manifest_sha256(w) for w in worlds],
        "decisions": str(decisions) if decisions is not None else "",
        **{k: v for k, v in summary.items() if k not in ("C", "seed")},
    }
    save_model(out, table, provenance)
    if write_signals is not None:
        from farmhunt.engine.scoring.fitted import write_signal_weights

        keep = ("command", "farmhunt_version", "seed", "C", "benign_weight", "target_precision")
        write_signal_weights(write_signals, table, {k: provenance[k] for k in keep if k in provenance})
    if not quiet:
        out_console = Console()
        out_console.print(
            f"model written to {out} ({summary['cluster_samples']} clusters, {summary['account_samples']} accounts)",
            markup=False,
        )
        for s in table.signals:
            out_console.print(f"  {s.name:24s} {s.weight:+.3f}", markup=False)
        out_console.print(f"  {'bias':24s} {table.bias:+.3f}", markup=False)
