"""`farmhunt eval RESULTS --labels WORLD`: score a results directory against the world's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def load_thresholds(path: Path | None, section: str | None = None, **overrides: Any):
    """Thresholds from a TOML file (optionally one section of it, e.g. `demo` in gates.toml), then
    overridden by the non-None keyword arguments (the CLI options). Unknown keys are errors."""
    from farmhunt.errors import ConfigError
    from farmhunt.evaluation import Thresholds
    from farmhunt.tomlconfig import from_dict, read_toml

    t = Thresholds()
    if path is not None:
        data: Any = read_toml(path)
        if section:
            if section not in data or not isinstance(data[section], dict):
                raise ConfigError(f"{path}: no section [{section}] (sections: {', '.join(sorted(data)) or 'none'})")
            data = data[section]
        if isinstance(data.get("thresholds"), dict):  # gates.toml layout: [name.world] + [name.thresholds]
            data = data["thresholds"]
        try:
            t = from_dict(Thresholds, data, base=t)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        t = from_dict(Thresholds, changes, base=t)
    return t


def load_world_labels(world: Path):
    """The world's labels, or an `InputError` saying the file is missing."""
    from farmhunt.contract import find_table_file, load_labels
    from farmhunt.errors import InputError

    if not world.is_dir():
        raise InputError(f"labels: world directory '{world}' does not exist")
    if find_table_file(world, "labels") is None:
        raise InputError(f"labels: '{world}' has no labels.parquet (or labels.csv): "
                         "evaluation needs a world with ground truth (a generated one)")
    return load_labels(world)


def world_info(world: Path) -> dict[str, Any]:
    """Path and manifest hash of a world, for the evaluation document."""
    import hashlib

    from farmhunt.contract import MANIFEST_FILE

    m = world / MANIFEST_FILE
    return {"path": str(world.resolve()),
            "manifest_sha256": hashlib.sha256(m.read_bytes()).hexdigest() if m.exists() else None}


def register(app: typer.Typer) -> None:
    """Add `eval` to the `farmhunt` app."""

    @app.command("eval")
    def eval_(
        results: Path = typer.Argument(..., help="Results directory written by 'farmhunt detect'."),
        labels: Path = typer.Option(..., "--labels", "-l", help="World directory holding labels.parquet."),
        json_out: Path | None = typer.Option(None, "--json", help="Write every figure as JSON here."),
        junit: Path | None = typer.Option(None, "--junit", help="Write one JUnit test case per threshold here."),
        report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
        baselines: bool = typer.Option(False, "--baselines",
                                       help="Also score connected components, IsolationForest and FRAUDAR."),
        replay: Path | None = typer.Option(None, "--replay", help="A 'farmhunt replay' output directory: "
                                                                  "time to detect goes into the JSON and report."),
        config: Path | None = typer.Option(None, "--config", "-c", help="TOML file of thresholds."),
        section: str | None = typer.Option(None, "--section",
                                           help="Section of --config to use (e.g. 'demo' in fixtures/gates.toml)."),
        min_recall: float | None = typer.Option(None, help="Fail unless account recall >= this."),
        min_precision: float | None = typer.Option(None, help="Fail unless account precision >= this."),
        max_hard_negative_rate: float | None = typer.Option(
            None, help="Fail unless the share of hard-negative accounts flagged <= this."),
        min_rings_detected: float | None = typer.Option(
            None, help="Fail unless this share of fraud rings (size >= --ring-min-size) is detected."),
        ring_min_size: int | None = typer.Option(None, help="Rings smaller than this do not count [1]."),
        coverage: float | None = typer.Option(None, help="Member coverage at which a ring is detected [0.9]."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only threshold failures."),
    ) -> None:
        """Score RESULTS against the ground truth of the world at --labels.

        Prints account-level, ring-level, hard-negative, case-queue and clustering-agreement tables.
        Exit 0 when every threshold holds, 1 when any fails (each is named), 2 for bad input.
        """
        from rich.console import Console

        from farmhunt.eval_output import eval_document, print_evaluation, write_json, write_junit
        from farmhunt.evaluation import check_thresholds, evaluate_results, run_info
        from farmhunt.results import load_results

        console = Console(quiet=quiet)
        err = Console(stderr=True)
        thresholds = load_thresholds(config, section, min_recall=min_recall, min_precision=min_precision,
                                     max_hard_negative_rate=max_hard_negative_rate,
                                     min_rings_detected=min_rings_detected, ring_min_size=ring_min_size,
                                     coverage=coverage)
        res = load_results(results)
        lab = load_world_labels(labels)
        replay_doc = _load_replay(replay) if replay is not None else None
        winfo = world_info(labels)
        recorded = res.run.get("world", {}).get("manifest_sha256")
        if recorded and winfo["manifest_sha256"] and recorded != winfo["manifest_sha256"]:
            err.print(f"[yellow]warning:[/] {results} was computed from a world whose manifest differs from "
                      f"{labels}/manifest.json (sha256 {recorded[:12]} vs {winfo['manifest_sha256'][:12]})")
        ev = evaluate_results(res, lab, thresholds.eval_settings)
        checks = check_thresholds(ev, thresholds)
        base_evs = _baselines(res, lab, labels, thresholds, console) if baselines else {}
        print_evaluation(console, ev, checks, base_evs)
        if replay_doc:
            _print_replay_summary(console, replay_doc)
        doc = eval_document(ev, checks, base_evs, run_info(res.run), winfo, replay_doc)
        if json_out:
            write_json(doc, json_out)
        if junit:
            write_junit(checks, junit)
        if report:
            from farmhunt.report import write_report

            write_report(report, ev, checks, base_evs, run_info(res.run), winfo, replay_doc)
        failed = [c for c in checks if not c.passed]
        for c in failed:
            err.print(f"[bold red]threshold failed:[/] {c.describe()}")
        if failed:
            raise typer.Exit(1)
        if checks:
            console.print(f"[green]all {len(checks)} thresholds hold[/]")


def _baselines(res, lab, world: Path, thresholds, console) -> dict:
    from farmhunt.baselines import run_baselines
    from farmhunt.evaluation import evaluate

    with console.status("scoring baselines (components, isolation_forest, fraudar) ..."):
        budget = int(res.accounts["flagged"].sum())
        dets = run_baselines(world, res.accounts, budget)
        return {name: evaluate(d, lab, None, thresholds.eval_settings, name, name) for name, d in dets.items()}


def _load_replay(path: Path) -> dict:
    """The replay document written by `farmhunt replay` (replay.json in its output directory)."""
    import json

    from farmhunt.errors import InputError

    f = path / "replay.json" if path.is_dir() else path
    if not f.exists():
        raise InputError(f"--replay: '{f}' does not exist (run 'farmhunt replay WORLD --out DIR' first)")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"--replay: '{f}' is not valid JSON: {exc}") from exc


def _print_replay_summary(console, doc: dict) -> None:
    from rich.table import Table

    from farmhunt.eval_output import fmt

    t = Table(title="Time to detect (replay)", title_justify="left")
    for c in ("kind", "rings", "detected", "median days", "max days"):
        t.add_column(c, justify="left" if c == "kind" else "right")
    for k, v in doc.get("summary", {}).get("per_kind", {}).items():
        t.add_row(k, fmt(v["rings"]), fmt(v["detected"]), fmt(v["median_days"], 2), fmt(v["max_days"], 2))
    console.print(t)
