"""The import-layer contract holds on this tree, and breaks on a planted forbidden import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT

LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp: Path) -> Path:
    tree = tmp / "tree"
    for name in ("farmhunt", "synth", "tui"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_contract_holds_and_breaks_on_a_console_importing_a_stage(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    ok = _lint(tree)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 broken" in ok.stdout
    data = tree / "tui" / "data" / "__init__.py"  # the console's data facade
    data.write_text(data.read_text() + "\nimport farmhunt.engine.polars.linkage  # planted\n")
    bad = _lint(tree)
    assert bad.returncode == 1
    assert "The console and evaluation read results, never the engine's stages BROKEN" in bad.stdout
    assert "tui.data -> farmhunt.engine.polars.linkage" in bad.stdout


def test_contract_breaks_on_the_generator_importing_the_engine(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    gen = tree / "synth" / "generate.py"
    gen.write_text(gen.read_text() + "\nimport farmhunt.engine.settings  # planted\n")
    bad = _lint(tree)
    assert bad.returncode == 1
    assert "The generator imports only farmhunt.core BROKEN" in bad.stdout
