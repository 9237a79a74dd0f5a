"""The CI recall gate: generate fixed-seed worlds (`tiny`, `demo`), detect, evaluate with the
committed thresholds of `fixtures/gates.toml`, print the figures into the CI log, and fail when a
threshold fails. A deliberately weakened detector (linkage switched off) must fail the gate, which
proves the gate can fail.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from farmhunt.evaluation.inputs import load_thresholds
from farmhunt.core.world import load_labels, load_world
from farmhunt.evaluation.metrics import Evaluation, evaluate_results
from farmhunt.evaluation.thresholds import Check, Thresholds, check_thresholds
from farmhunt.engine.pipeline import detect
from farmhunt.engine.settings import DetectSettings
from farmhunt.core.tomlconfig import read_toml
from synth.presets import load_config
from synth.generate import generate

from tests.paths import GATES
pytestmark = pytest.mark.gate


def _gate(name: str) -> tuple[dict, Thresholds]:
    world = read_toml(GATES)[name]["world"]
    return world, load_thresholds(GATES, name)


@pytest.fixture(scope="session")
def gate_world(tmp_path_factory: pytest.TempPathFactory):
    """Generate each gate world once per session (fixed preset and seed from gates.toml)."""
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            spec, _ = _gate(name)
            out = tmp_path_factory.getbasetemp() / "gate-worlds" / name
            t0 = time.perf_counter()
            generate(load_config(spec["preset"], seed=spec["seed"]), out)
            assert (out / "labels.parquet").exists(), f"generating the {name} gate world failed"
            print(f"\n[gate] generated {name} world in {time.perf_counter() - t0:.1f} s")
            cache[name] = out
        return cache[name]

    return get


def _run(world: Path, settings: DetectSettings | None, thresholds: Thresholds) -> tuple[Evaluation, list[Check]]:
    results = detect(load_world(world), settings)
    ev = evaluate_results(results, load_labels(world), thresholds.eval_settings)
    return ev, check_thresholds(ev, thresholds)


def _figures(title: str, ev: Evaluation, checks: list[Check], seconds: float) -> str:
    a, rs, hn = ev.account, ev.rings_summary, ev.hard_negatives
    per_kind = ", ".join(f"{k} {v:.3f}" for k, v in a["recall_per_kind"].items())
    hn_kinds = ", ".join(f"{k} {v['rate']:.4f}" for k, v in hn["per_kind"].items())
    lines = [
        f"[gate] {title}: detect+eval {seconds:.1f} s, {a['accounts']:,} accounts, {a['fraud']:,} fraud, "
        f"{a['flagged']:,} flagged",
        f"[gate]   recall {a['recall']:.4f}  precision {a['precision']:.4f}  F1 {a['f1']:.4f}  "
        f"AP {a['average_precision'] or 0:.4f}",
        f"[gate]   recall per kind: {per_kind}",
        f"[gate]   rings detected (size >= {rs['ring_min_size']}): {rs['counted_detected']}/{rs['counted']}; "
        f"all {rs['detected']}/{rs['rings']}; missed: "
        + (", ".join(f"{m['ring_id']} ({m['ring_kind']}, {m['size']}, cov {m['coverage']:.2f})"
                     for m in rs["missed"]) or "none"),
        f"[gate]   hard-negative flag rate {hn['hard_negatives']['rate'] or 0:.4f} ({hn_kinds}); "
        f"benign {hn['benign']['rate'] or 0:.4f}",
        f"[gate]   cases {ev.case_queue['cases']}, case precision {ev.case_queue['precision'] or 0:.3f}, "
        f"review cost {ev.case_queue['review_cost'] or 0:.3f}, ARI {ev.agreement['ari'] or 0:.3f}",
    ]
    lines += [f"[gate]   {'pass' if c.passed else 'FAIL'}  {c.describe()}" for c in checks]
    return "\n".join(lines)


@pytest.mark.parametrize("name", ["tiny", "demo"])
def test_recall_gate(name: str, gate_world, capsys: pytest.CaptureFixture) -> None:
    world = gate_world(name)
    _, thresholds = _gate(name)
    t0 = time.perf_counter()
    ev, checks = _run(world, None, thresholds)
    with capsys.disabled():
        print("\n" + _figures(f"{name} (fixtures/gates.toml [{name}])", ev, checks, time.perf_counter() - t0))
    assert len(checks) == 4
    failed = [c.describe() for c in checks if not c.passed]
    assert not failed, f"recall gate '{name}' failed: " + "; ".join(failed)


def test_weakened_detector_fails_the_gate(gate_world, capsys: pytest.CaptureFixture) -> None:
    """With every linkage signal switched off, the tiny gate must fail: the gate can fail."""
    world = gate_world("tiny")
    _, thresholds = _gate("tiny")
    s = DetectSettings()
    weak = dataclasses.replace(s, linkage=dataclasses.replace(s.linkage, signals=()))
    t0 = time.perf_counter()
    ev, checks = _run(world, weak, thresholds)
    with capsys.disabled():
        print("\n" + _figures("tiny, WEAKENED detector (no linkage signals)", ev, checks, time.perf_counter() - t0))
    assert any(not c.passed for c in checks), "the weakened detector passed the gate: the gate cannot fail"


def test_gate_thresholds_file_is_strict(tmp_path: Path) -> None:
    """Every gate section has a world and the four thresholds; eval reads the same file."""
    data = read_toml(GATES)
    assert {"tiny", "demo"} <= set(data)
    for name in data:
        t = load_thresholds(GATES, name)
        assert t.any() and None not in (t.min_recall, t.min_precision, t.max_hard_negative_rate,
                                         t.min_rings_detected)
        assert set(data[name]["world"]) == {"preset", "seed"}
