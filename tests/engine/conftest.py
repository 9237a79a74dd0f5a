"""One local[2] Spark session per test session, started only when a collected test needs Spark.

The conformance suite asks the registry for `get_engine("spark")`, which runs on the active session:
so the session is started here, before those tests, with settings that keep a small job fast.
Outside CI a missing pyspark or Java skips the Spark tests (with what to install); under CI=true
they must run, so a missing requirement fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SPARK_HINT = (
    "pip install 'farmhunt[spark]' (pyspark, pandas) and a Java 17 runtime (apt-get install openjdk-17-jre-headless)"
)
SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "2g",
    "spark.python.worker.reuse": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "1000000",
}


def spark_missing() -> str | None:
    """Why Spark cannot run here (None when it can)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return f"pyspark is not installed: {SPARK_HINT}"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return f"no java on PATH: {SPARK_HINT}"
    return None


def require_spark() -> None:
    """Skip outside CI when Spark is missing; under CI=true fail instead."""
    why = spark_missing()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the Spark tests must run but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session", autouse=True)
def spark_session(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's SparkSession (local[2]) when any collected test mentions spark, else None."""
    wanted = any("spark" in item.nodeid for item in request.session.items)
    if not wanted or spark_missing() is not None:
        yield None
        return
    from farmhunt.engine.spark import session

    spark = session("local[2]", SPARK_TEST_CONF)
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo preset (seed 7) scaled to ~300k requests: every ring kind, small enough for the suite."""
    from synth.estimate import scale_to_requests
    from synth.generate import generate
    from synth.presets import load_config

    out = tmp_path_factory.mktemp("spark-exact") / "demo-300k"
    generate(scale_to_requests(load_config("demo", seed=7), 300_000), out)
    return out


@pytest.fixture(scope="session")
def polars_runs(demo_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`farmhunt detect` results of the polars engine on the tiny fixture and on `demo_world` (shared by the
    Spark tests, which compare their tables with these byte for byte)."""
    from farmhunt.engine.pipeline import detect_path
    from tests.paths import TINY

    tmp = tmp_path_factory.mktemp("polars-runs")
    out = {}
    for name, world in (("tiny", TINY), ("demo", demo_world)):
        detect_path(world, tmp / name, engine="polars")
        out[name] = tmp / name
    return out
