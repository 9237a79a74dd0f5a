"""`farmhunt ... --help` reads like a mature tool's (farmhunt/cli/help.py): flags without a placeholder,
values with plain metavars, ranges in words, docstring paragraphs re-flowed, 80 columns without a terminal."""

from __future__ import annotations

import re

import pytest

from farmhunt.cli import main

COMMANDS = ["synth", "detect", "eval", "replay", "bench", "train", "sweep", "tui"]


def help_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_no_type_placeholders(command: str, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    text = help_of(capsys, command)
    for placeholder in ("<bool>", "<str>", "<path>", "<int", "<float>", "<list", "[x>=", "{"):
        assert placeholder not in text, f"{command} --help shows {placeholder!r}"
    assert max(len(line) for line in text.splitlines()) <= 80  # not a terminal: 80 columns
    assert re.search(r"--help\s+Show this message", text)  # a flag: nothing between name and help


def test_metavars_and_flags(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "detect")
    assert "Usage: farmhunt detect [OPTIONS] WORLD" in text
    assert re.search(r"--out\s+-o\s+DIR\s+Results directory", text)
    assert re.search(r"--spark-conf\s+KEY=VALUE", text)
    assert re.search(r"--spark-master\s+URL", text)
    assert re.search(r"--top\s+N\s+Clusters", text)
    assert re.search(r"--quiet\s+-q\s+No progress", text)
    # The docstring's hard line break is gone: the paragraph wraps to the width.
    assert "Leiden communities, scoring." in text.replace("\n", " ").replace("  ", " ")
    bench = help_of(capsys, "bench")
    assert "at least 1,000" in bench and "[x>=1000]" not in bench
    assert re.search(r"--requests\s+-n\s+N\s+Scale", bench)
    tui = help_of(capsys, "tui")
    assert "Usage: farmhunt tui [OPTIONS] RESULTS" in tui
    assert re.search(r"--db\s+FILE\|URL", tui) and re.search(r"--mask\s+Mask", tui)
    train = help_of(capsys, "train")
    assert re.search(r"--out\s+-o\s+FILE", train)


def test_command_list_is_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys)
    assert re.search(r"--version\s+Print the version", text)
    assert "Find, score and explain account farms and reseller pools in WORLD" in text
    assert "Stages:" not in text  # the command list shows the first sentence only
