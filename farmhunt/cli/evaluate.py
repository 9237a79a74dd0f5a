"""`farmhunt eval RESULTS --labels WORLD`: score a results directory against the world's ground truth."""

from __future__ import annotations

from pathlib import Path

import typer


def eval_(
    results: Path = typer.Argument(..., help="Results directory written by 'farmhunt detect'."),
    labels: Path = typer.Option(..., "--labels", "-l", help="World directory holding labels.parquet."),
    json_out: Path | None = typer.Option(None, "--json", help="Write every figure as JSON here."),
    junit: Path | None = typer.Option(None, "--junit", help="Write one JUnit test case per threshold here."),
    report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    baselines: bool = typer.Option(
        False, "--baselines", help="Also score connected components, IsolationForest and FRAUDAR."
    ),
    replay: Path | None = typer.Option(
        None, "--replay", help="A 'farmhunt replay' output directory: time to detect goes into the JSON and report."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML file of thresholds."),
    section: str | None = typer.Option(
        None, "--section", help="Section of --config to use (e.g. 'demo' in fixtures/gates.toml)."
    ),
    min_recall: float | None = typer.Option(None, help="Fail unless account recall >= this."),
    min_precision: float | None = typer.Option(None, help="Fail unless account precision >= this."),
    max_hard_negative_rate: float | None = typer.Option(
        None, help="Fail unless the share of hard-negative accounts flagged <= this."
    ),
    min_rings_detected: float | None = typer.Option(
        None, help="Fail unless this share of fraud rings (size >= --ring-min-size) is detected."
    ),
    ring_min_size: int | None = typer.Option(None, help="Rings smaller than this do not count [1]."),
    coverage: float | None = typer.Option(None, help="Member coverage at which a ring is detected [0.9]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only threshold failures."),
    force: bool = typer.Option(
        False, "--force", help="Replace existing --json/--junit/--report files that eval did not write."
    ),
) -> None:
    """Score RESULTS against the ground truth of the world at --labels.

    Prints account-level, ring-level, hard-negative, case-queue and clustering-agreement tables.
    Exit 0 when every threshold holds, 1 when any fails (each is named), 2 for bad input.
    """
    from rich.console import Console

    from farmhunt.core.atomic import check_out
    from farmhunt.core.safe_text import printable
    from farmhunt.engine.results import load_results
    from farmhunt.evaluation.inputs import load_replay, load_thresholds, load_world_labels, world_info
    from farmhunt.evaluation.metrics import evaluate_results, run_info
    from farmhunt.evaluation.outputs import eval_document, print_evaluation, write_json, write_junit
    from farmhunt.evaluation.thresholds import check_thresholds

    inputs = (results, labels, replay, config)
    for path, kind, option in (
        (json_out, "eval_json", "--json"),
        (junit, "eval_junit", "--junit"),
        (report, "eval_report", "--report"),
    ):
        if path is not None:
            check_out(path, kind, inputs=inputs, force=force, option=option, probe=True)
    console = Console(quiet=quiet)
    err = Console(stderr=True)
    thresholds = load_thresholds(
        config,
        section,
        min_recall=min_recall,
        min_precision=min_precision,
        max_hard_negative_rate=max_hard_negative_rate,
        min_rings_detected=min_rings_detected,
        ring_min_size=ring_min_size,
        coverage=coverage,
    )
    res = load_results(results)
    lab = load_world_labels(labels)
    replay_doc = load_replay(replay) if replay is not None else None
    winfo = world_info(labels)
    recorded = res.run.get("world", {}).get("manifest_sha256")
    if recorded and winfo["manifest_sha256"] and recorded != winfo["manifest_sha256"]:
        err.print(
            printable(
                f"warning: {results} was computed from a world whose manifest differs from "
                f"{labels}/manifest.json (sha256 {str(recorded)[:12]} vs {winfo['manifest_sha256'][:12]})"
            ),
            markup=False,
            highlight=False,
        )
    ev = evaluate_results(res, lab, thresholds.eval_settings)
    checks = check_thresholds(ev, thresholds)
    base_evs = _baselines(res, lab, labels, thresholds, console) if baselines else {}
    print_evaluation(console, ev, checks, base_evs)
    if replay_doc:
        _print_replay_summary(console, replay_doc)
    doc = eval_document(ev, checks, base_evs, run_info(res.run), winfo, replay_doc)
    if json_out:
        write_json(doc, json_out, force=force, inputs=inputs)
    if junit:
        write_junit(checks, junit, force=force, inputs=inputs)
    if report:
        from farmhunt.evaluation.report import write_report

        write_report(report, ev, checks, base_evs, run_info(res.run), winfo, replay_doc, force=force, inputs=inputs)
    failed = [c for c in checks if not c.passed]
    for c in failed:
        err.print(f"threshold failed: {printable(c.describe())}", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)
    if checks:
        console.print(f"[green]all {len(checks)} thresholds hold[/]")


def _baselines(res, lab, world: Path, thresholds, console) -> dict:
    from farmhunt.evaluation.metrics import evaluate
    from farmhunt.evaluation.peers import run_baselines

    with console.status("scoring baselines (components, isolation_forest, fraudar) ..."):
        budget = int(res.accounts["flagged"].sum())
        dets = run_baselines(world, res.accounts, budget)
        return {name: evaluate(d, lab, None, thresholds.eval_settings, name, name) for name, d in dets.items()}


def _print_replay_summary(console, doc: dict) -> None:
    from rich.table import Table

    from farmhunt.core.safe_text import cell
    from farmhunt.evaluation.outputs import fmt

    t = Table(title="Time to detect (replay)", title_justify="left")
    for c in ("kind", "rings", "detected", "median days", "max days"):
        t.add_column(c, justify="left" if c == "kind" else "right")
    for k, v in doc.get("summary", {}).get("per_kind", {}).items():
        t.add_row(cell(k), fmt(v["rings"]), fmt(v["detected"]), fmt(v["median_days"], 2), fmt(v["max_days"], 2))
    console.print(t)
