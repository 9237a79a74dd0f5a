"""`farmhunt synth`: generate a synthetic world from a preset and/or a TOML config."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def synth(
    preset: str = typer.Option("tiny", "--preset", help="Preset: tiny, demo, seed-scale, adversarial, sweep."),
    out: Path = typer.Option(..., "--out", help="Output world directory (replaced atomically)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the preset's and the config's)."),
    config: Path | None = typer.Option(None, "--config", help="TOML file applied on top of the preset."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    requests: int | None = typer.Option(
        None, "--requests", min=1000, help="Scale the world to about this many requests (accounts and rings alike)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    sweep: int | None = typer.Option(
        None,
        "--sweep",
        help="Write N scenario-sweep worlds OUT/world-000 ... (each a pure function of --seed and its index; "
        "--preset/--config ignored).",
    ),
    first: int = typer.Option(0, "--first", help="With --sweep: index of the first world."),
    bank_mix: bool = typer.Option(
        True,
        "--bank-mix/--no-bank-mix",
        help="With --sweep: other fraud designs draw from paraphrased prompt banks too "
        "(--no-bank-mix: the sweep worlds of earlier builds).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out directory that is not a world."),
) -> None:
    """Generate a synthetic provider world with labelled fraud rings and benign look-alikes."""
    if sweep is not None:
        _sweep(sweep, out, seed or 0, fmt, first, quiet, config, bank_mix)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from rich.text import Text

    from farmhunt.core.atomic import check_out
    from farmhunt.core.errors import ConfigError
    from farmhunt.core.safe_text import printable
    from synth.estimate import scale_to_requests
    from synth.generate import generate
    from synth.presets import load_config

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


def _sweep(
    n: int, out: Path, seed: int, fmt: str, first: int, quiet: bool, config: Path | None, bank_mix: bool = True
) -> None:
    """`farmhunt synth --sweep N`: N scenario worlds into OUT/world-XXX, one summary line each."""
    from rich.console import Console

    from farmhunt.core.errors import ConfigError
    from synth.sweep import write_sweep

    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"'--format': 'parquet' or 'csv', got {fmt!r}")
    if n < 1 or first < 0:
        raise ConfigError(f"'--sweep': N must be >= 1 and --first >= 0, got {n}, {first}")
    if config is not None:
        raise ConfigError("'--config': not used with --sweep (every sweep world draws its own config)")
    console = Console(quiet=quiet)
    t = time.perf_counter()

    def report(i: int, path: Path, s: dict, secs: float) -> None:
        console.print(
            f"{path}: {s['rows']['accounts']:,} accounts, {s['rows']['requests']:,} requests, "
            f"{len(s['rings'])} rings, {secs:.1f}s"
        )

    write_sweep(n, out, seed, fmt, first, report, bank_mix)
    console.print(f"{n} sweep worlds (seed {seed}) in {time.perf_counter() - t:.1f}s")
