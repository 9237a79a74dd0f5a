"""`farmhunt tui RESULTS [--world WORLD] [--db FILE]`: open the investigator console.

Heavy imports (textual, polars) stay inside the command body so that the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path

import typer


def tui(
    results: Path = typer.Argument(..., help="Results directory written by 'farmhunt detect'."),
    world: Path | None = typer.Option(
        None, "--world", "-w", help="World directory (default: the one recorded in RESULTS/run.json)."
    ),
    db: Path | None = typer.Option(
        None, "--db", help="Decisions database (default: RESULTS.decisions.sqlite beside the results)."
    ),
    mask: bool = typer.Option(False, "--mask", help="Mask emails and phone numbers in evidence packs by default."),
    export_decisions: Path | None = typer.Option(
        None, "--export-decisions", help="Write the decisions as a labelled set (.csv or .parquet) and exit."
    ),
) -> None:
    """Triage clusters riskiest first, drill down to accounts and requests, decide, export evidence.

    Decisions are saved at once in SQLite with an audit log; `?` in the console lists every key.
    """
    from tui.data import CaseData
    from tui.decisions import DecisionStore, default_db_path, export_labels

    data = CaseData(results, world)
    store = DecisionStore(db or default_db_path(results), results=str(data.results.path))
    try:
        if export_decisions is not None:
            out = export_labels(store, data.results.accounts, export_decisions)
            typer.echo(f"decisions exported to {out}")
            return
        from tui.app import FarmhuntApp

        FarmhuntApp(data, store, mask_default=mask).run()
    finally:
        store.close()
