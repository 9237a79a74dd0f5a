"""Paths every test folder uses: the repository root and the committed fixtures."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
TINY = FIXTURES / "tiny"
GATES = FIXTURES / "gates.toml"
