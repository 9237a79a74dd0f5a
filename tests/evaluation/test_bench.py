"""`farmhunt bench` on small data: the JSON's keys and values are sane (no timed assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.evaluation.test_replay import craft_world

from farmhunt.engine.pipeline import detect_path
from farmhunt.evaluation.bench import BenchSpec, run_bench, write_bench
from farmhunt.cli import main



@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return craft_world(tmp_path_factory.mktemp("bench") / "world", n_benign=120, days=4,
                       farm_starts={"a": 0.5})


def test_bench_document(world: Path, tmp_path: Path) -> None:
    doc = run_bench(BenchSpec(world=world, out=tmp_path), detect_path)
    rows = doc["world"]["rows"]
    assert rows["accounts"] == 135 and rows["requests"] > 1000
    assert doc["world"]["generation_seconds"] is None
    ref = doc["reference"]
    assert ref["groups"] == 135 and len(ref["runs"]) == 3 and ref["seconds"] == min(ref["runs"]) > 0
    d = doc["detect"]
    assert {"load", "features", "linkage", "communities", "scoring"} <= set(d["stages"])
    for st in d["stages"].values():
        assert st["seconds"] >= 0 and st["peak_rss_mb"] > 10
    assert d["peak_rss_mb"] == max(st["peak_rss_mb"] for st in d["stages"].values())
    assert d["seconds"] >= d["stage_seconds_sum"] * 0.9
    assert doc["ratio_to_reference"] == pytest.approx(d["seconds"] / ref["seconds"], rel=0.01)  # rounded
    assert d["counts"]["accounts"] == 135
    path = write_bench(doc, tmp_path / "out")
    assert path.name.startswith("bench-world-") and json.loads(path.read_text())["schema"] == "farmhunt.evaluation.bench/1"


def test_bench_command(world: Path, tmp_path: Path, capsys) -> None:
    assert main(["bench", "--world", str(world), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "x reference" in out and "features" in out
    files = list(tmp_path.glob("bench-*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["ratio_to_reference"] > 0


def test_bench_bad_world_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["bench", "--world", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_generates_a_scaled_world(tmp_path: Path) -> None:
    doc = run_bench(BenchSpec(preset="tiny", requests=20_000, seed=3, out=tmp_path), detect_path)
    w = doc["world"]
    assert w["generation_seconds"] > 0 and Path(w["path"]) == (tmp_path / "worlds" / "tiny-20k-s3").resolve()
    assert 5_000 < w["rows"]["requests"] < 80_000  # scaled to about 20k requests
    again = run_bench(BenchSpec(preset="tiny", requests=20_000, seed=3, out=tmp_path, reuse=True), detect_path)
    assert again["world"]["reused"] and again["world"]["generation_seconds"] is None
    assert again["world"]["manifest_sha256"] == w["manifest_sha256"]
