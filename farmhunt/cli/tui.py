"""`farmhunt tui RESULTS [--world WORLD] [--db FILE|URL] [--verify-audit]`: open the investigator console.

Heavy imports (textual, polars) stay inside the command body so that the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path

import typer


def tui(
    results: Path = typer.Argument(..., metavar="RESULTS", help="Results directory written by 'farmhunt detect'."),
    world: Path | None = typer.Option(
        None, "--world", "-w", help="World directory (default: the one recorded in RESULTS/run.json)."
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        metavar="FILE|URL",
        help="Decisions database: a SQLite file (default: RESULTS.decisions.sqlite beside the results) or a "
        "postgresql://user@host/dbname URL for a team (needs psycopg: the 'postgres' extra).",
    ),
    mask: bool = typer.Option(False, "--mask", help="Mask emails and phone numbers in evidence packs by default."),
    export_decisions: Path | None = typer.Option(
        None, "--export-decisions", help="Write the decisions as a labelled set (.csv or .parquet) and exit."
    ),
    verify_audit: bool = typer.Option(
        False,
        "--verify-audit",
        help="Check the decisions' hash-chained audit log and exit: 0 intact, 1 broken (the first bad row).",
    ),
) -> None:
    """Work the case queue riskiest first: drill down to clusters, accounts and requests, pivot on shared
    values, decide, export evidence.

    Decisions are saved at once (SQLite, or PostgreSQL for a team) with a tamper-evident audit log; `?` in
    the console lists every key.
    """
    from tui.decisions import DecisionStore, DecisionStoreError, default_db_path, export_labels
    from tui.decisions.postgres import is_postgres_url

    target = db or str(default_db_path(results))
    if verify_audit:
        if not is_postgres_url(target) and not Path(target).is_file():
            raise DecisionStoreError(f"no decisions database at '{target}' (pass --db FILE or URL)")
        with DecisionStore(target) as store:
            verdict = store.verify_audit()
        typer.echo(str(verdict), err=not verdict.ok)
        if not verdict.ok:
            raise typer.Exit(1)
        return

    from tui.data import CaseData, console_engine

    console_engine()
    data = CaseData(results, world)
    store = DecisionStore(target, results=str(data.results.path))
    try:
        if export_decisions is not None:
            out = export_labels(store, data.results.accounts, export_decisions)
            typer.echo(f"decisions exported to {out}")
            return
        from tui.app import FarmhuntApp

        FarmhuntApp(data, store, mask_default=mask).run()
    finally:
        store.close()
