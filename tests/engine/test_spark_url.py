"""Worlds at a URL (`file://` here; `s3a://`, `hdfs://` the same way through the user's Spark conf): read
through Spark, validated by the contract, the request table encoded by the executors, and the polars
engine's tables byte for byte. Bad URLs and broken tables: a clear message, exit 2, nothing written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.atomic import temp_dir
from farmhunt.core.world import is_url
from farmhunt.engine.pipeline import detect_path
from farmhunt.engine.registry import get_engine
from tests.engine.conftest import require_spark
from tests.paths import TINY

TABLES = ("accounts", "clusters", "evidence", "edges")


@pytest.fixture(scope="module")
def spark_engine(spark_session):  # noqa: ANN001 - the conftest's SparkSession (or None)
    require_spark()
    return get_engine("spark")


def _url(path: Path) -> str:
    return f"file://{path.resolve()}"


def _same_store(got: Path, want: Path) -> None:
    """The executors' request store holds the driver's rows in the same order, part by part."""
    assert (
        json.loads((got / "store.json").read_text())["bounds"]
        == json.loads((want / "store.json").read_text())["bounds"]
    )
    names = sorted(p.name for p in want.glob("*.parquet"))
    assert sorted(p.name for p in got.glob("*.parquet")) == names
    for name in names:
        a, b = pl.read_parquet(got / name), pl.read_parquet(want / name)
        assert a.equals(b), f"store file {name} differs"
    assert not (got / "_spark").exists()


def test_is_url() -> None:
    assert is_url("s3a://bucket/world") and is_url("hdfs://nn:8020/w") and is_url("file:///tmp/w")
    assert not is_url("worlds/demo") and not is_url("/tmp/w") and not is_url(Path("s3a://b/w"))  # type: ignore[arg-type]


def test_cli_detect_on_a_file_url_writes_the_polars_tables_byte_for_byte_on_tiny(
    spark_engine, polars_runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "url"
    argv = ["detect", _url(TINY), "--out", str(out), "-q", "--engine", "spark", "--spark-master", "local[2]"]
    assert main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["engine"] == "spark" and run["world"]["path"] == _url(TINY)
    assert (
        run["world"]["manifest_sha256"]
        == json.loads((polars_runs["tiny"] / "run.json").read_text())["world"]["manifest_sha256"]
    )
    for table in TABLES:
        got, want = (out / f"{table}.parquet").read_bytes(), (polars_runs["tiny"] / f"{table}.parquet").read_bytes()
        assert got == want, f"{table}.parquet differs between a file:// world on Spark and the polars engine"
    _same_store(out / "requests", polars_runs["tiny"] / "requests")


def test_a_demo_world_at_a_url_gives_the_polars_tables_byte_for_byte(
    spark_engine, polars_runs: dict[str, Path], demo_world: Path, tmp_path: Path
) -> None:
    with temp_dir("farmhunt-world-") as stage:
        world = spark_engine.load_world(_url(demo_world), stage)
        assert not (stage / "requests.parquet").exists()  # the driver never copies the request table
        res = detect_path(world, tmp_path / "out", engine=spark_engine)
    assert res.accounts["flagged"].sum() > 0 and res.edges.height > 1000
    for table in TABLES:
        got = (tmp_path / "out" / f"{table}.parquet").read_bytes()
        assert got == (polars_runs["demo"] / f"{table}.parquet").read_bytes(), f"{table}.parquet differs (demo)"
    _same_store(tmp_path / "out" / "requests", polars_runs["demo"] / "requests")


def test_a_spark_written_world_of_directories_gives_the_same_tables(
    spark_engine, polars_runs: dict[str, Path], tmp_path: Path
) -> None:
    """Tables as Spark writes them (a directory of Parquet files each): the same rows in the same order."""
    world = tmp_path / "dirs"
    world.mkdir()
    for f in TINY.glob("*.parquet"):
        table = pl.read_parquet(f)
        (world / f.name).mkdir()
        half = table.height // 2
        table.slice(0, half).write_parquet(world / f.name / "part-00000.parquet")
        table.slice(half).write_parquet(world / f.name / "part-00001.parquet")
        (world / f.name / "_SUCCESS").write_bytes(b"")
    shutil.copy(TINY / "manifest.json", world / "manifest.json")
    out = tmp_path / "out"
    argv = ["detect", _url(world), "--out", str(out), "-q", "--engine", "spark", "--no-verify"]
    assert main(argv) == 0
    for table in TABLES:
        got, want = (out / f"{table}.parquet").read_bytes(), (polars_runs["tiny"] / f"{table}.parquet").read_bytes()
        assert got == want, f"{table}.parquet differs for a world of Spark-written directories"


def _broken(tmp_path: Path, how: str) -> Path:
    world = tmp_path / f"broken-{how}"
    shutil.copytree(TINY, world)
    if how == "no-payments":
        (world / "payments.parquet").unlink()
    elif how == "no-requests":
        (world / "requests.parquet").unlink()
    elif how == "requests-column":
        pl.read_parquet(TINY / "requests.parquet").drop("topic").write_parquet(world / "requests.parquet")
    elif how == "requests-values":
        req = pl.read_parquet(TINY / "requests.parquet")
        req = req.with_columns(
            pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("acct_ghost")).otherwise("account_id").alias("account_id"),
            pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("poetry")).otherwise("topic").alias("topic"),
        )
        req.write_parquet(world / "requests.parquet")
    elif how == "accounts-values":
        acc = pl.read_parquet(TINY / "accounts.parquet")
        acc = acc.with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("free-ish")).otherwise("plan").alias("plan")
        )
        acc.write_parquet(world / "accounts.parquet")
    return world


@pytest.mark.parametrize(
    "how, message",
    [
        ("no-payments", "payments.parquet: missing file (no .parquet or .csv)"),
        ("no-requests", "requests.parquet: missing file (no .parquet or .csv)"),
        ("requests-column", "requests.parquet, column 'topic': missing column"),
        ("accounts-values", "accounts.parquet, column 'plan': values not one of free, payg"),
        ("requests-values", "requests.parquet, column 'account_id': 1 distinct value(s) not found in accounts"),
    ],
)
def test_a_broken_world_at_a_url_exits_2_naming_file_and_column(
    spark_engine, how: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = _broken(tmp_path, how)
    out = tmp_path / "never"
    assert main(["detect", _url(world), "--out", str(out), "-q", "--engine", "spark", "--no-verify"]) == 2
    err = capsys.readouterr().err
    assert message in err and _url(world) in err and "Traceback" not in err
    if how == "requests-values":  # the executors' checks: every problem, with examples
        assert "acct_ghost" in err and "column 'topic': values not one of" in err and "poetry" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".never*"))  # no temporary left beside --out


@pytest.mark.parametrize(
    "url, message",
    [
        ("nosuchfs://bucket/world", "cannot be opened through Spark"),
        ("file:///nonexistent/farmhunt/world", "does not exist or is not a directory"),
    ],
)
def test_a_bad_url_exits_2_and_writes_nothing(
    spark_engine, url: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert main(["detect", url, "--out", str(out), "-q", "--engine", "spark"]) == 2
    err = capsys.readouterr().err
    assert message in err and url in err and "Traceback" not in err
    assert not out.exists()


def test_the_polars_engine_refuses_a_url_saying_to_use_spark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert main(["detect", "s3a://bucket/world", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "is a URL" in err and "--engine spark" in err
    assert not out.exists()
