"""`farmhunt sweep --train DIR --test DIR`: the generalisation report (per design, camouflage, leave-one-design-out)."""

from __future__ import annotations

from pathlib import Path

import typer


def _worlds(d: Path) -> list[Path]:
    from farmhunt.core.errors import InputError

    if not d.is_dir():
        raise InputError(f"sweep: directory '{d}' does not exist")
    ws = sorted(p for p in d.iterdir() if (p / "labels.parquet").exists() or (p / "labels.csv").exists())
    if not ws:
        raise InputError(f"sweep: '{d}' holds no labelled worlds (run 'farmhunt synth --sweep N --out {d}')")
    return ws


def sweep(
    train: list[Path] = typer.Option(
        ..., "--train", help="Directory of labelled training worlds (farmhunt synth --sweep); repeatable."
    ),
    test: Path = typer.Option(..., "--test", help="Directory of labelled test worlds (another sweep seed)."),
    validation: list[Path] = typer.Option(
        [], "--validation", help="Worlds of an independent generator: scored, never fitted on (repeatable)."
    ),
    results: Path | None = typer.Option(None, "--results", help="Cache directory of per-world detection results."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the fits."),
    c: float = typer.Option(1.0, "--C", help="Inverse L2 regularisation strength."),
    benign_weight: float = typer.Option(2.0, "--benign-weight", help="Weight of a non-fraud account in the fit."),
    target_precision: float | None = typer.Option(
        0.98,
        "--target-precision",
        help="Lower the fitted biases until the training flags reach this precision (0: off).",
    ),
    target_account_precision: float | None = typer.Option(
        None, "--target-account-precision", help="Precision target for accounts judged alone."
    ),
    shipped: Path | None = typer.Option(
        None,
        "--shipped",
        help="Compare against this signals TOML instead of the shipped one (e.g. the hand-set table).",
    ),
    lodo: bool = typer.Option(True, "--lodo/--no-lodo", help="Leave-one-design-out fits (one per fraud design)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the report as JSON."),
    report: Path | None = typer.Option(None, "--report", help="Write the tables as a self-contained HTML page."),
) -> None:
    """Fit on --train, test on --test with the shipped and the fitted weights; per kind, design and camouflage;
    leave each fraud design out of the fit and test on it. Prints Markdown tables."""
    from rich.console import Console

    from farmhunt.cli.train import cached_results
    from farmhunt.core.world import load_labels
    from farmhunt.engine.scoring.fit import FitSettings
    from farmhunt.engine.scoring.signals import default_table
    from farmhunt.engine.training import camouflage, designs, fit_table, labelled_members, rescore
    from farmhunt.evaluation.outputs import write_json
    from farmhunt.evaluation.report import write_sweep_report
    from farmhunt.evaluation.sweep import SweepWorld, markdown, sweep_report

    console = Console(stderr=True)

    def load(ws: list[Path], cache_prefix: str) -> list[SweepWorld]:
        out = []
        for w in ws:
            console.log(f"detecting {w}")
            cache = results / cache_prefix if results is not None else None
            out.append(SweepWorld(w.name, cached_results(w, cache), load_labels(w), designs(w), camouflage(w)))
        return out

    tr = [w for d in train for w in load(_worlds(d), "train" if d == train[0] else f"train-{d.name}")]
    te = load(_worlds(test), "test")
    val = load(list(validation), "validation")
    from farmhunt.engine.training import TrainingWorld

    def fit(worlds: list[SweepWorld], exclude: str | None):
        tws = [
            TrainingWorld(w.name, w.results, labelled_members(w.results, w.labels, w.designs), w.camouflage)
            for w in worlds
        ]
        fs = FitSettings(
            C=c,
            seed=seed,
            benign_weight=benign_weight,
            target_precision=target_precision or None,
            target_account_precision=target_account_precision or None,
        )
        return fit_table(tws, fit=fs, exclude_group=exclude)[0]

    from farmhunt.engine.scoring.signals import load_signal_table

    reference = load_signal_table(shipped) if shipped is not None else default_table()
    rep = sweep_report(tr, te, fit, rescore, reference, val, lodo, log=console.log)
    Console().print(markdown(rep), markup=False, highlight=False)
    if json_out is not None:
        write_json(rep.to_dict(), json_out)
    if report is not None:
        write_sweep_report(report, rep.to_dict())
