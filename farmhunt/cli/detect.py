"""`farmhunt detect WORLD --out RESULTS`: run detection with a per-stage progress display and a summary."""

from __future__ import annotations

from pathlib import Path

import typer


def detect(
    world: Path = typer.Argument(..., help="World directory (Parquet or CSV tables of the data contract)."),
    out: Path = typer.Option(..., "--out", "-o", help="Results directory to write (replaced atomically)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML file overriding detection settings."),
    previous: Path | None = typer.Option(
        None, "--previous", help="Earlier results: clusters overlapping an earlier cluster keep its id."
    ),
    engine: str = typer.Option(
        "polars",
        "--engine",
        "-e",
        help="Engine for the big-table stages: polars (this machine) or spark (a Spark cluster).",
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Scoring model file (weights, biases) written by 'farmhunt train'."
    ),
    top: int = typer.Option(10, help="Clusters shown in the closing summary."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display or summary."),
) -> None:
    """Find, score and explain account farms and reseller pools in WORLD; write RESULTS.

    Stages: load+validate, prompt templates, account features, linkage graph, Leiden communities,
    scoring. Bad input exits with code 2 and writes nothing.
    """
    from rich.console import Console

    from farmhunt.engine.pipeline import detect_path
    from farmhunt.engine.scoring.fitted import load_model
    from farmhunt.engine.settings import load_settings

    console = Console(stderr=True, quiet=quiet)
    settings = load_settings(config)
    loaded = load_model(model) if model is not None else None
    with console.status("starting") as status:

        def progress(stage: str, event: str) -> None:
            if event == "start":
                status.update(f"[bold]{stage}[/] ...")
            else:
                console.log(f"{stage} done")

        results = detect_path(world, out, settings, progress, previous, engine, loaded)
    if not quiet:
        print_summary(Console(), results, top)


def print_summary(console, results, top: int) -> None:
    """The closing table: top clusters by risk with their strongest evidence, then stage timings."""
    import polars as pl
    from rich.table import Table

    run = results.run
    counts = run["counts"]
    table = Table(
        title=f"Top clusters ({counts['flagged_clusters']} flagged of {counts['clusters']}; "
        f"{counts['flagged_accounts']:,} accounts flagged of {counts['accounts']:,})"
    )
    for col, kw in (
        ("cluster_id", {"no_wrap": True}),
        ("kind", {"no_wrap": True}),
        ("size", {"justify": "right"}),
        ("risk", {"justify": "right"}),
        ("flagged", {}),
        ("top evidence", {"overflow": "fold"}),
    ):
        table.add_column(col, **kw)
    first = results.evidence.filter(pl.col("rank") == 1).select("cluster_id", "text")
    head = (
        results.clusters.head(top)
        .join(first, on="cluster_id", how="left")
        .sort(["risk", "cluster_id"], descending=[True, False])
    )
    for r in head.iter_rows(named=True):
        table.add_row(
            str(r["cluster_id"]),
            r["predicted_kind"],
            f"{r['size']:,}",
            f"{r['risk']:.2f}",
            "yes" if r["flagged"] else "no",
            r["text"] or "",
        )
    console.print(table)
    stages = Table(title="Stages")
    for col in ("stage", "seconds", "peak RSS (MB)"):
        stages.add_column(col, justify="right" if col != "stage" else "left")
    for name, st in run["stages"].items():
        stages.add_row(name, f"{st['seconds']:.2f}", f"{st['peak_rss_mb']:.0f}")
    console.print(stages)
    console.print(f"largest cluster: {run['largest_cluster_size']:,} accounts; results in {results.path}")
