"""`farmhunt synth`: generate a synthetic world from a preset and/or a TOML config."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def synth(
    preset: str = typer.Option("tiny", "--preset", help="Preset: tiny, demo, seed-scale, adversarial."),
    out: Path = typer.Option(..., "--out", help="Output world directory (replaced atomically)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the preset's and the config's)."),
    config: Path | None = typer.Option(None, "--config", help="TOML file applied on top of the preset."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    requests: int | None = typer.Option(
        None, "--requests", min=1000, help="Scale the world to about this many requests (accounts and rings alike)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out directory that is not a world."),
) -> None:
    """Generate a synthetic provider world with labelled fraud rings and benign look-alikes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from rich.text import Text

    from farmhunt.core.atomic import check_out
    from farmhunt.core.errors import ConfigError
    from farmhunt.core.safe_text import printable
    from synth.config import load_config
    from synth.estimate import scale_to_requests
    from synth.generate import generate

    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"'--format': 'parquet' or 'csv', got {fmt!r}")
    check_out(out, "world", inputs=(config,), force=force, probe=True)
    cfg = load_config(preset, config, seed)
    if requests:
        cfg = scale_to_requests(cfg, float(requests))
    console = Console(stderr=True, quiet=quiet)
    t = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("building accounts", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{stage}", completed=done, total=total)

        summary = generate(cfg, out, fmt, progress, force=force, inputs=(config,))
    secs = time.perf_counter() - t
    if quiet:
        return
    out_console = Console()
    rows = Table(title=Text(f"World written to {printable(out)} (seed {cfg.seed}, {secs:.1f}s)"))
    rows.add_column("table"), rows.add_column("rows", justify="right")
    for name, n in summary["rows"].items():
        rows.add_row(name, f"{n:,}")
    out_console.print(rows)
    kinds = Table(title="Accounts per ring kind")
    kinds.add_column("ring_kind"), kinds.add_column("fraud"), kinds.add_column("rings", justify="right")
    kinds.add_column("accounts", justify="right")
    per: dict[str, list] = {}
    for r in summary["rings"]:
        e = per.setdefault(r["kind"], [r["is_fraud"], 0, 0])
        e[1] += 1
        e[2] += r["size"]
    kinds.add_row("benign", "no", "-", f"{summary['accounts_per_kind'].get('benign', 0):,}")
    for k, (fraud, nr, na) in per.items():
        kinds.add_row(k, "yes" if fraud else "no", str(nr), f"{na:,}")
    out_console.print(kinds)
    rate = summary["rows"]["requests"] / max(secs, 1e-9)
    out_console.print(f"{summary['rows']['requests']:,} requests in {secs:.1f}s ({rate:,.0f} rows/s)")
