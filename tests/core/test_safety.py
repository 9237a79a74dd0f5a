"""Safety rules that let work through: printable text, earlier outputs replaced, --force, --no-verify, empty prompts."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.atomic import atomic_dir, check_out, recognise
from farmhunt.core.validate import ContractError
from farmhunt.core.world import load_world, verify_manifest
from farmhunt.core.errors import OutputError
from farmhunt.core.safe_text import example, printable
from farmhunt.engine.settings import DetectSettings, load_settings
from tests.paths import TINY


def test_printable_escapes_controls_and_caps_length() -> None:
    assert printable("a\x1b]0;x\x07b") == "a\\e]0;x\\x07b"
    assert printable("del\x7f c1\x9b bidi\u202e") == "del\\x7f c1\\x9b bidi\\u202e"
    assert printable("two\nlines\tand\r") == "two\\nlines\\tand\\r"
    assert printable("two\nlines\t", keep_layout=True) == "two\nlines\t"
    assert printable("[/] [link=x]y") == "[/] [link=x]y"  # markup is not this function's business: it is literal
    assert example("x" * 1_000_000) == "'" + "x" * 78 + "…"
    assert len(example("x" * 1_000_000)) == 80


def test_rerun_replaces_only_its_own_kind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for n in (1, 2):
        with atomic_dir(out, kind="results") as tmp:
            (tmp / "run.json").write_text(json.dumps({"farmhunt_version": str(n)}))
    assert json.loads((out / "run.json").read_text())["farmhunt_version"] == "2"
    assert recognise(out) == "results"
    with pytest.raises(OutputError, match="not an earlier output of farmhunt synth"):
        check_out(out, "world")
    # without a kind (the evidence pack's call): replaced only by output of the same kind
    with pytest.raises(OutputError, match="holds a results output"):
        with atomic_dir(out) as tmp:
            (tmp / "manifest.json").write_text(json.dumps({"cluster_id": 1, "files": {}}))
    assert recognise(out) == "results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_force_replaces_a_foreign_directory_only(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "keep").write_text("mine")
    with pytest.raises(OutputError, match="'keep'"):
        check_out(d, "results")
    with atomic_dir(d, kind="results", force=True) as tmp:
        (tmp / "run.json").write_text(json.dumps({"farmhunt_version": "x"}))
    assert sorted(p.name for p in d.iterdir()) == ["run.json"]
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match="existing file"):
        check_out(f, "results", force=True)


def test_empty_prompts_is_like_missing(tmp_path: Path) -> None:
    w = tmp_path / "w"
    shutil.copytree(TINY, w)
    pl.read_parquet(w / "prompts.parquet").head(0).write_parquet(w / "prompts.parquet")
    (w / "manifest.json").unlink()
    world = load_world(w, defer=("requests",))
    assert "prompts" not in world and "accounts" in world


def test_manifest_verified_and_no_verify(tmp_path: Path, capsys, monkeypatch) -> None:
    verify_manifest(load_world(TINY, defer=("requests",)))  # the committed fixture matches its manifest
    w = tmp_path / "w"
    shutil.copytree(TINY, w)
    raw = bytearray((w / "prompts.parquet").read_bytes())
    raw[100] ^= 1  # inside the first page: the file still reads, its hash differs
    (w / "prompts.parquet").write_bytes(bytes(raw))
    with pytest.raises(ContractError, match="prompts.parquet: SHA-256 differs"):
        verify_manifest(load_world(w, defer=("requests",)))
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in w.iterdir()}
    monkeypatch.chdir(tmp_path)
    assert main(["detect", "w", "--out", "out", "-q"]) == 2
    assert "prompts.parquet: SHA-256 differs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    try:
        rc = main(["detect", "w", "--out", "out", "-q", "--no-verify"])
    except ContractError:  # the flipped byte may also break the page: then it is reported as a bad file
        rc = 2
    err = capsys.readouterr().err
    assert rc == 0 or "prompts.parquet" in err, err
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in w.iterdir()}


def test_default_settings_are_in_range(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[linkage.weights]\ncard = 2\n[features]\nnight_hours = [22, 23, 0]\n")
    s = load_settings(cfg)
    assert s.linkage.weights["card"] == 2.0 and s.linkage.weights["device"] == DetectSettings().linkage.weights["device"]
    assert s.features.night_hours == (22, 23, 0)
