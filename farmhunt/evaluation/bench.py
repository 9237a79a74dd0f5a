"""Benchmark harness: generate (or reuse) a world, run detect, time every stage against a reference.

The *reference* is a bare polars query over the same requests file, timed in the same process
right before detection: ``scan_parquet(requests).group_by("account_id").agg(pl.len(),
pl.col("output_tokens").sum())`` (best of three). Machines are noisy; detect time as a multiple of
that reference is the figure to compare across commits. Each run writes one JSON file
(``bench-<preset>-<UTC time>.json``) so that a history can be plotted.

Generation runs in a child process (``python -m farmhunt synth ...``) so that the peak resident
memory reported for detection is detection's own (plus the small reference query).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from farmhunt.core.atomic import atomic_file
from farmhunt.core.contract import MANIFEST_FILE
from farmhunt.core.errors import InputError
from farmhunt.core.world import find_table_file

BENCH_SCHEMA = "farmhunt.evaluation.bench/1"


@dataclass(frozen=True)
class BenchSpec:
    """What to benchmark: a preset (optionally scaled to a request count) or an existing world."""

    preset: str = "demo"
    requests: int | None = None  # scale the preset to about this many requests
    seed: int | None = None
    out: Path = Path("bench")
    reuse: bool = False  # reuse a previously generated world of the same preset/size/seed
    world: Path | None = None  # benchmark this existing world instead of generating one
    engine: str = "polars"  # another engine: both it and polars run on the same world (`compare_engines`)
    spark_master: str | None = None
    spark_conf: tuple[str, ...] = ()
    keep: Path | None = None  # with another engine: keep both results directories here (KEEP/polars, KEEP/<engine>)

    def __post_init__(self) -> None:
        if self.engine != "spark" and (self.spark_master or self.spark_conf):
            raise InputError("'--spark-master' and '--spark-conf' need '--engine spark'")
        if self.keep is not None and self.engine == "polars":
            raise InputError("'--keep' needs another engine than polars (e.g. '--engine spark')")
        if self.keep is not None and self.keep.exists() and (not self.keep.is_dir() or any(self.keep.iterdir())):
            raise InputError(f"--keep: '{self.keep}' is not empty (bench keeps new results only in a new directory)")

    @property
    def name(self) -> str:
        size = f"-{_human(self.requests)}" if self.requests else ""
        seed = f"-s{self.seed}" if self.seed is not None else ""
        return f"{self.preset}{size}{seed}"


def _human(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


def generate(spec: BenchSpec, world: Path, log: Callable[[str], None] = lambda s: None) -> float:
    """Generate the world of `spec` into `world` in a child process; returns the seconds it took.

    It is `farmhunt synth --preset P [--seed S] [--requests N] --out DIR`: the generator's own command.
    """
    args = [sys.executable, "-m", "farmhunt", "synth", "--preset", spec.preset, "--out", str(world), "--quiet"]
    if spec.seed is not None:
        args += ["--seed", str(spec.seed)]
    if spec.requests:
        args += ["--requests", str(spec.requests)]
    log(f"generating {spec.name} into {world} ...")
    world.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError(
            f"world generation failed (exit {proc.returncode}) for preset {spec.preset!r}:\n"
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return time.perf_counter() - t0


def reference_seconds(requests: Path, repeats: int = 3) -> tuple[float, list[float], int]:
    """Best of `repeats` timings of the bare group-by over the requests file (and its group count)."""
    times, groups = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        df = pl.scan_parquet(requests).group_by("account_id").agg(pl.len(), pl.col("output_tokens").sum()).collect()
        times.append(round(time.perf_counter() - t0, 6))
        groups = df.height
    return min(times), times, groups


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).resolve().parent, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def prepare_world(spec: BenchSpec, log: Callable[[str], None] = lambda s: None) -> tuple[Path, float | None]:
    """The world of `spec`: the given one, a reused one, or a newly generated one (and its seconds)."""
    if spec.world is not None:
        if not spec.world.is_dir():
            raise InputError(f"--world: '{spec.world}' does not exist or is not a directory")
        return spec.world, None
    world = spec.out / "worlds" / spec.name
    if spec.reuse and (world / MANIFEST_FILE).exists():
        log(f"reusing {world}")
        return world, None
    return world, generate(spec, world, log)


def run_bench(
    spec: BenchSpec, detect_path: Callable[..., Any], settings: Any = None, log: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    """Generate or reuse the world, time the reference and detection; return the bench document.

    `detect_path(world, out, settings)` is the engine's (the CLI passes `farmhunt.engine.pipeline.detect_path`).
    """

    world, gen_seconds = prepare_world(spec, log)
    req = find_table_file(world, "requests")
    if req is None or req.suffix != ".parquet":
        raise InputError(f"{world}: bench needs requests.parquet (the reference query reads Parquet)")
    rows = {
        name: pl.scan_parquet(f).select(pl.len()).collect().item()
        for name in ("accounts", "payments", "requests")
        if (f := find_table_file(world, name)) is not None and f.suffix == ".parquet"
    }
    log("reference query ...")
    ref, ref_all, groups = reference_seconds(req)
    log("detect ...")
    t0 = time.perf_counter()
    results = detect_path(world, None, settings)
    wall = time.perf_counter() - t0
    stages = {
        name: {**st, "rows_per_second": (rows["requests"] / st["seconds"]) if st["seconds"] > 0 else None}
        for name, st in results.run["stages"].items()
    }
    manifest = world / MANIFEST_FILE
    return {
        "schema": BENCH_SCHEMA,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preset": spec.preset if spec.world is None else None,
        "requested_requests": spec.requests,
        "seed": spec.seed,
        "world": {
            "path": str(world.resolve()),
            "reused": spec.reuse and gen_seconds is None and spec.world is None,
            "generation_seconds": round(gen_seconds, 3) if gen_seconds is not None else None,
            "manifest_sha256": results.run["world"].get("manifest_sha256") if manifest.exists() else None,
            "rows": rows,
        },
        "reference": {
            "query": "scan_parquet(requests).group_by('account_id').agg(pl.len(), "
            "pl.col('output_tokens').sum()).collect()",
            "seconds": round(ref, 6),
            "runs": ref_all,
            "groups": groups,
        },
        "detect": {
            "seconds": round(wall, 4),
            "stage_seconds_sum": round(sum(s["seconds"] for s in stages.values()), 3),
            "peak_rss_mb": max((s["peak_rss_mb"] for s in stages.values()), default=None),
            "rows_per_second": rows["requests"] / wall if wall > 0 else None,
            "stages": stages,
            "counts": results.run.get("counts"),
            "largest_cluster_size": results.run.get("largest_cluster_size"),
        },
        "ratio_to_reference": wall / ref if ref > 0 else None,
        "machine": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "polars_threads": pl.thread_pool_size(),
        },
        "git_commit": _git_commit(),
    }


TABLES = ("accounts", "clusters", "evidence", "edges")


def detect_in_child(
    world: Path, out: Path, engine: str, config: Path | None = None, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """`farmhunt detect WORLD --out OUT --engine ENGINE` in a child process: its run.json and wall time.

    A child per engine, so each one's peak resident memory (per stage, in run.json) is its own: the
    driver's, for Spark (the JVM and the executors are other processes).
    """
    args = [sys.executable, "-m", "farmhunt", "detect", str(world), "--out", str(out), "-q", "--engine", engine]
    if config is not None:
        args += ["--config", str(config)]
    t0 = time.perf_counter()
    proc = subprocess.run([*args, *extra], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise InputError(f"detect --engine {engine} failed (exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    return {"wall_seconds": round(wall, 3), "run": run}


def compare_engines(
    spec: BenchSpec, world: Path, config: Path | None = None, log: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    """Detect on `world` with polars and with `spec.engine`, one child process each, in one run.

    Per engine: per-stage seconds and driver peak memory, wall time, edge count; and whether the four
    result tables are byte-identical between the two. The results are kept in `spec.keep` when it is set
    (for instance to compare them with another run), else in a temporary directory removed afterwards.
    """
    extra: list[str] = []
    if spec.engine == "spark":
        if spec.spark_master:
            extra += ["--spark-master", spec.spark_master]
        for kv in spec.spark_conf:
            extra += ["--spark-conf", kv]
    out: dict[str, Any] = {}
    if spec.keep is not None:
        spec.keep.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.nullcontext(str(spec.keep))
        if spec.keep is not None
        else tempfile.TemporaryDirectory(prefix="farmhunt-bench-")
    ) as tmp:
        for name in ("polars", spec.engine):
            log(f"detect --engine {name} ...")
            got = detect_in_child(world, Path(tmp) / name, name, config, extra if name != "polars" else ())
            run = got["run"]
            out[name] = {
                "wall_seconds": got["wall_seconds"],
                "stages": {k: v for k, v in run["stages"].items()},
                "stage_seconds_sum": round(sum(v["seconds"] for v in run["stages"].values()), 3),
                "driver_peak_rss_mb": max(v["peak_rss_mb"] for v in run["stages"].values()),
                "edges": run["counts"]["edges"],
                "counts": run["counts"],
            }
        identical = {
            t: (Path(tmp) / "polars" / f"{t}.parquet").read_bytes()
            == (Path(tmp) / spec.engine / f"{t}.parquet").read_bytes()
            for t in TABLES
        }
    return {"engines": out, "byte_identical": identical}


def write_bench(doc: dict[str, Any], out: Path) -> Path:
    """Write the bench document as `out/bench-<name>-<UTC time>.json` (atomically); returns its path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = doc.get("preset") or Path(doc["world"]["path"]).name
    if doc.get("requested_requests"):
        name += f"-{_human(doc['requested_requests'])}"
    path = out / f"bench-{name}-{stamp}.json"
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=str))
    return path
