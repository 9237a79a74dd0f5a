"""`farmhunt replay WORLD --out DIR [--step 1d]`: time to detect, cut by cut, with the engine itself."""

from __future__ import annotations

from pathlib import Path

import typer


def replay(
    world: Path = typer.Argument(..., help="World directory with labels.parquet (a generated world)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Directory to write (replaced atomically): replay.json, cuts.parquet, rings.parquet."
    ),
    step: str = typer.Option("1d", "--step", help="Cut every STEP: 1d, 12h, 30m, 1w ..."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML file overriding detection settings."),
    coverage: float = typer.Option(0.9, help="Member coverage at which a ring counts as detected."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or tables."),
    force: bool = typer.Option(
        False, "--force", help="Replace a non-empty --out directory that is not an earlier replay output."
    ),
) -> None:
    """Run detection on WORLD as it was at the end of each step and report, for every ring, the
    first cut that detects it and how many days after its first activity that is; plus recall,
    precision and the hard-negative rate at each cut. Summary: median days to detect per kind.
    """
    from rich.console import Console
    from rich.table import Table

    from farmhunt.core.atomic import check_out
    from farmhunt.core.safe_text import cell
    from farmhunt.engine.pipeline import detect as detect_world
    from farmhunt.engine.settings import load_settings
    from farmhunt.evaluation.outputs import fmt
    from farmhunt.evaluation.replay import parse_step, write_replay
    from farmhunt.evaluation.replay import replay as run_replay

    inputs = (world, config)
    check_out(out, "replay", inputs=inputs, force=force, probe=True)
    console = Console(quiet=quiet)
    delta = parse_step(step)
    settings = load_settings(config)
    with console.status("loading ...") as status:

        def progress(i: int, n: int, t) -> None:
            status.update(f"cut {i + 1}/{n}: world until {t:%Y-%m-%d %H:%M} ...")

        rep = run_replay(world, detect_world, delta, settings, coverage, progress)
    path = write_replay(rep, out, force=force, inputs=inputs)

    t = Table(title="Cuts", title_justify="left")
    for c in ("day", "accounts", "flagged", "recall", "precision", "rings detected", "hard-neg. rate", "s"):
        t.add_column(c, justify="right")
    for r in rep.cuts.iter_rows(named=True):
        if r.get("error"):
            t.add_row(fmt(r["day"], 2), fmt(r["accounts"]), cell(r["error"]), "", "", "", "", "")
            continue
        t.add_row(
            fmt(r["day"], 2),
            fmt(r["accounts"]),
            fmt(r["flagged"]),
            fmt(r["recall"]),
            fmt(r["precision"]),
            f"{r['rings_detected']}/{r['rings_present']}",
            fmt(r["hard_negative_rate"], 4),
            fmt(r["seconds"], 1),
        )
    console.print(t)
    s = Table(
        title="Time to detect per fraud kind (days from first activity to first detecting cut)", title_justify="left"
    )
    for c in ("kind", "detected/rings", "median days", "max days"):
        s.add_column(c, justify="left" if c == "kind" else "right")
    for k, v in rep.summary["per_kind"].items():
        s.add_row(cell(k), f"{v['detected']}/{v['rings']}", fmt(v["median_days"], 2), fmt(v["max_days"], 2))
    a = rep.summary["all"]
    s.add_row("[bold]all[/]", f"{a['detected']}/{a['rings']}", fmt(a["median_days"], 2), fmt(a["max_days"], 2))
    console.print(s)
    if rep.meta["failed_cuts"]:
        Console(stderr=True).print(
            f"[yellow]warning:[/] detection failed on {rep.meta['failed_cuts']} cut(s) "
            "(shown above); those cuts count as detecting nothing"
        )
    console.print(f"written to {path}", markup=False, highlight=False)
