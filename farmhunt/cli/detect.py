"""`farmhunt detect WORLD --out RESULTS`: run detection with a per-stage progress display and a summary."""

from __future__ import annotations

from pathlib import Path

import typer


def detect(
    world: str = typer.Argument(
        ...,
        help="World directory (Parquet or CSV tables of the data contract); with --engine spark also any URL "
        "Spark can read (s3a://, hdfs://, abfss://, file://...).",
    ),
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
    spark_master: str | None = typer.Option(
        None,
        "--spark-master",
        help="With --engine spark: the Spark master URL (default: local[*]), e.g. spark://host:7077.",
    ),
    spark_conf: list[str] | None = typer.Option(
        None,
        "--spark-conf",
        help="With --engine spark: a Spark setting k=v (repeatable), e.g. spark.executor.memory=8g.",
    ),
    top: int = typer.Option(10, help="Clusters shown in the closing summary."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display or summary."),
    force: bool = typer.Option(
        False, "--force", help="Replace a non-empty --out directory that is not an earlier results directory."
    ),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Skip checking the tables against the SHA-256s in the world's manifest.json."
    ),
) -> None:
    """Find, score and explain account farms and reseller pools in WORLD; write RESULTS.

    Stages: load+validate, prompt templates, account features, linkage graph, Leiden communities,
    scoring. Bad input exits with code 2 and writes nothing.
    """
    from rich.console import Console

    from farmhunt.core.atomic import check_out, temp_dir
    from farmhunt.core.world import is_url
    from farmhunt.engine.pipeline import detect_path
    from farmhunt.engine.scoring.fitted import load_model
    from farmhunt.engine.settings import load_settings

    url = is_url(world)
    check_url_engine(world, engine)
    inputs = (None if url else Path(world), config, previous)
    check_out(out, "results", inputs=inputs, force=force, probe=True)
    console = Console(stderr=True, quiet=quiet)
    settings = load_settings(config)
    loaded = load_model(model) if model is not None else None
    chosen = engine_from_options(engine, spark_master, spark_conf)
    with console.status("starting") as status:

        def progress(stage: str, event: str) -> None:
            if event == "start":
                status.update(f"[bold]{stage}[/] ...")
            else:
                console.log(f"{stage} done")

        if not isinstance(chosen, str):
            status.update("[bold]starting Spark[/] ...")
            chosen = chosen()
        if url:  # read through Spark: small tables staged in a private temporary directory
            with temp_dir("farmhunt-world-") as stage:
                status.update("[bold]load[/] (through Spark) ...")
                loaded_world = chosen.load_world(world, stage)
                results = detect_path(
                    loaded_world, out, settings, progress, previous, chosen, loaded, verify=not no_verify, force=force
                )
        else:
            results = detect_path(
                Path(world),
                out,
                settings,
                progress,
                previous,
                chosen,
                loaded,
                verify=not no_verify,
                force=force,
                inputs=inputs,
            )
    if not quiet:
        print_summary(Console(), results, top)


def check_url_engine(world: str, engine: str) -> None:
    """A URL world needs `--engine spark` (a `ConfigError` saying so otherwise)."""
    from farmhunt.core.errors import ConfigError
    from farmhunt.core.safe_text import printable
    from farmhunt.core.world import is_url

    if is_url(world) and engine != "spark":
        raise ConfigError(
            f"WORLD '{printable(world, limit=200)}' is a URL: worlds at a URL are read through Spark, so add "
            f"'--engine spark' (the {engine} engine reads a local directory; or copy the world to one)"
        )


def spark_conf_dict(pairs: list[str] | None) -> dict[str, str]:
    """`--spark-conf k=v` options as a dict; a pair without '=' or with an empty key is a `ConfigError`."""
    from farmhunt.core.errors import ConfigError

    out: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"'--spark-conf {pair}': expected KEY=VALUE, e.g. spark.executor.memory=8g")
        out[key.strip()] = value
    return out


def engine_from_options(engine: str, spark_master: str | None, spark_conf: list[str] | None):
    """The engine name, or for spark a function starting it (the options checked before any work)."""
    from farmhunt.core.errors import ConfigError
    from farmhunt.engine.registry import get_engine

    conf = spark_conf_dict(spark_conf)
    if engine != "spark":
        if spark_master is not None or conf:
            raise ConfigError(f"'--spark-master' and '--spark-conf' need '--engine spark' (not {engine!r})")
        return engine
    return lambda: get_engine("spark", master=spark_master, conf=conf)


def print_summary(console, results, top: int) -> None:
    """The closing table: top clusters by risk with their strongest evidence, then stage timings."""
    import polars as pl
    from rich.table import Table

    from farmhunt.core.safe_text import cell

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
            cell(r["predicted_kind"]),
            f"{r['size']:,}",
            f"{r['risk']:.2f}",
            "yes" if r["flagged"] else "no",
            cell(r["text"], limit=None),
        )
    console.print(table)
    stages = Table(title="Stages")
    for col in ("stage", "seconds", "peak RSS (MB)"):
        stages.add_column(col, justify="right" if col != "stage" else "left")
    for name, st in run["stages"].items():
        stages.add_row(cell(name), f"{st['seconds']:.2f}", f"{st['peak_rss_mb']:.0f}")
    console.print(stages)
    console.print(
        f"largest cluster: {run['largest_cluster_size']:,} accounts; results in {results.path}",
        markup=False,
        highlight=False,
    )
