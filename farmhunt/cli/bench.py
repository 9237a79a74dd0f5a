"""`farmhunt bench`: time detection per stage against a bare polars reference query, one JSON per run."""

from __future__ import annotations

from pathlib import Path

import typer


def bench(
    preset: str = typer.Option("demo", "--preset", "-p", help="Generator preset: tiny, demo, adversarial, seed-scale."),
    requests: int | None = typer.Option(
        None, "--requests", "-n", min=1000, help="Scale the preset to about this many requests (e.g. 10000000)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Generator seed (default: the preset's)."),
    out: Path = typer.Option(
        Path("bench"), "--out", "-o", help="Directory for generated worlds (OUT/worlds/...) and bench-*.json."
    ),
    reuse: bool = typer.Option(
        False, "--reuse", help="Reuse a previously generated world of the same preset, size and seed."
    ),
    world: Path | None = typer.Option(None, "--world", help="Benchmark this existing world (no generation)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML file overriding detection settings."),
    force: bool = typer.Option(False, "--force", help="Use a non-empty --out directory that bench did not write."),
    engine: str = typer.Option(
        "polars", "--engine", "-e", help="Also run this engine (e.g. spark): both engines on the same world, one run."
    ),
    spark_master: str | None = typer.Option(None, "--spark-master", help="With --engine spark: the master URL."),
    spark_conf: list[str] | None = typer.Option(None, "--spark-conf", help="With --engine spark: k=v (repeatable)."),
    keep: Path | None = typer.Option(
        None, "--keep", help="With --engine: keep both results directories in this new directory (KEEP/polars, ...)."
    ),
) -> None:
    """Generate (or reuse) a world, run detect, and print per stage: seconds, request rows per
    second and peak resident memory; plus the reference (a bare polars group-by over the same
    requests file, best of 3) and detect time as a multiple of it. Writes OUT/bench-*.json.
    """
    from rich.console import Console
    from rich.table import Table

    from farmhunt.core.atomic import check_out
    from farmhunt.core.safe_text import cell, printable
    from farmhunt.engine.pipeline import detect_path
    from farmhunt.engine.settings import load_settings
    from farmhunt.evaluation.bench import BenchSpec, run_bench, write_bench
    from farmhunt.evaluation.outputs import fmt

    # bench only adds files to OUT (worlds/, bench-*.json), so a --world inside it is fine (reuse)
    check_out(out, "bench", inputs=(config,), force=force, probe=True)
    console = Console()
    settings = load_settings(config)
    spec = BenchSpec(
        preset=preset,
        requests=requests,
        seed=seed,
        out=out,
        reuse=reuse,
        world=world,
        engine=engine,
        spark_master=spark_master,
        spark_conf=tuple(spark_conf or ()),
        keep=keep,
    )
    if engine != "polars":
        return _bench_engines(console, spec, config)
    with console.status("benchmark ...") as status:
        doc = run_bench(spec, detect_path, settings, log=lambda s: status.update(s))
    path = write_bench(doc, out)

    w = doc["world"]
    rows = w["rows"]
    console.print(
        printable(f"world {w['path']}: {rows.get('accounts', 0):,} accounts, {rows['requests']:,} requests")
        + (f" (generated in {w['generation_seconds']:.1f} s)" if w["generation_seconds"] else ""),
        markup=False,
        highlight=False,
    )
    t = Table(title="detect, per stage", title_justify="left")
    for c in ("stage", "seconds", "request rows/s", "peak RSS (MB)"):
        t.add_column(c, justify="left" if c == "stage" else "right")
    for name, st in doc["detect"]["stages"].items():
        t.add_row(
            cell(name),
            f"{st['seconds']:.2f}",
            fmt(round(st["rows_per_second"]) if st["rows_per_second"] else None),
            f"{st['peak_rss_mb']:,.0f}",
        )
    d = doc["detect"]
    t.add_row(
        "[bold]detect (wall)[/]",
        f"{d['seconds']:.2f}",
        fmt(round(d["rows_per_second"] or 0)),
        f"{d['peak_rss_mb']:,.0f}",
    )
    console.print(t)
    ref = doc["reference"]
    console.print(
        f"reference (bare polars group-by over requests, best of 3): {ref['seconds']:.3f} s "
        f"(runs {', '.join(f'{x:.3f}' for x in ref['runs'])})"
    )
    console.print(f"[bold]detect = {doc['ratio_to_reference']:.1f} x reference[/]")
    console.print(f"written to {printable(path)}", markup=False, highlight=False)


def _bench_engines(console, spec, config: Path | None) -> None:
    """`--engine X`: polars and X on the same world, per stage side by side, peak driver memory, edges."""
    from rich.table import Table

    from farmhunt.cli.detect import engine_from_options
    from farmhunt.core.safe_text import printable
    from farmhunt.evaluation.bench import compare_engines, prepare_world, write_bench

    engine_from_options(spec.engine, spec.spark_master, list(spec.spark_conf))  # options checked first
    with console.status("benchmark ...") as status:
        world, gen_seconds = prepare_world(spec, log=lambda s: status.update(s))
        doc = compare_engines(spec, world, config, log=lambda s: status.update(s))
    doc = {"schema": "farmhunt.evaluation.bench/engines-1", "world": {"path": str(world.resolve())}, **doc}
    doc["world"]["generation_seconds"] = gen_seconds
    doc["preset"], doc["requested_requests"] = spec.preset if spec.world is None else None, spec.requests
    path = write_bench(doc, spec.out)
    names = list(doc["engines"])
    e0 = doc["engines"][names[0]]
    console.print(f"world {world}: {e0['counts']['requests']:,} requests, {e0['counts']['accounts']:,} accounts")
    t = Table(title="detect per stage (seconds), both engines on the same world", title_justify="left")
    t.add_column("stage")
    for n in names:
        t.add_column(n, justify="right")
    order = ("load", "store", "templates", "features", "linkage", "communities", "scoring", "results")
    seen = {s for n in names for s in doc["engines"][n]["stages"]}
    stages = [s for s in order if s in seen] + sorted(seen - set(order))
    for s in stages:
        t.add_row(s, *[f"{doc['engines'][n]['stages'].get(s, {}).get('seconds', 0):.2f}" for n in names])
    t.add_row("[bold]wall (incl. start-up)[/]", *[f"{doc['engines'][n]['wall_seconds']:.2f}" for n in names])
    t.add_row("driver peak RSS (MB)", *[f"{doc['engines'][n]['driver_peak_rss_mb']:,.0f}" for n in names])
    t.add_row("edges", *[f"{doc['engines'][n]['edges']:,}" for n in names])
    console.print(t)
    same = doc["byte_identical"]
    console.print("byte-identical tables: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
    console.print(f"written to {printable(path)}", markup=False, highlight=False)
