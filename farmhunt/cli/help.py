"""How `--help` reads: flags without a placeholder, values with a plain metavar (PATH, DIR, FILE, N, URL,
KEY=VALUE), docstring paragraphs re-flowed to the width (80 columns without a terminal), ranges in words.

Applied to every command by the command class (`HelpCommand`) given at registration, so the commands'
modules keep their options as they are; an explicit `metavar=` in a command wins.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

#: Metavars by parameter name (any command), then by (command, name).
NAMES: dict[str, str] = {
    "world": "WORLD",
    "worlds": "WORLD...",
    "results": "RESULTS",
    "previous": "RESULTS",
    "labels": "WORLD",
    "config": "FILE",
    "model": "FILE",
    "json_out": "FILE",
    "junit": "FILE",
    "report": "FILE",
    "decisions": "FILE",
    "export_decisions": "FILE",
    "replay": "DIR",
    "train": "DIR",
    "test": "DIR",
    "validation": "DIR",
    "out": "DIR",
    "preset": "NAME",
    "engine": "NAME",
    "section": "NAME",
    "fmt": "FORMAT",
    "step": "STEP",
    "spark_master": "URL",
    "spark_conf": "KEY=VALUE",
    "db": "FILE|URL",
}
BY_COMMAND: dict[tuple[str, str], str] = {
    ("train", "out"): "FILE",
    ("sweep", "results"): "DIR",
    ("train", "results"): "DIR",
}
#: Metavars by value type when the name says nothing.
TYPES = {"int": "N", "float": "NUM", "str": "TEXT", "Path": "PATH"}


def reflow(text: str | None) -> str | None:
    """Join the lines of each paragraph (a docstring's hard breaks) so that the help wraps to the width."""
    if not text:
        return text
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _range_words(p: TyperOption | TyperArgument) -> str:
    lo, hi = getattr(p, "min", None), getattr(p, "max", None)
    if lo is not None and hi is not None:
        return f"{lo:,} to {hi:,}"
    if lo is not None:
        return f"at least {lo:,}"
    if hi is not None:
        return f"at most {hi:,}"
    return ""


def _metavar(command: str, p: TyperOption | TyperArgument) -> str:
    name = p.name or ""
    if (command, name) in BY_COMMAND:
        return BY_COMMAND[(command, name)]
    if name in NAMES:
        return NAMES[name]
    desc = p.type_descriptor
    if isinstance(p, TyperArgument):
        return name.upper()
    if desc.is_path:
        return "PATH"
    ann = desc.annotation
    return TYPES.get(getattr(ann, "__name__", ""), "VALUE")


class _Argument(TyperArgument):
    """An argument shown as its metavar alone: WORLD in the usage line (required) or [WORLD] (optional)."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        return name if self.required else f"[{name}]"

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Option(TyperOption):
    """An option whose range is said in its help text, not as `[x>=1000]`."""

    def _get_number_range_help_str(self) -> str | None:
        return None


def polish(command: str, params: list[Any]) -> None:
    """Give every parameter of `command` a plain metavar (flags none) and its range in words."""
    for p in params:
        if getattr(p, "_polished", False) or not isinstance(p, TyperOption | TyperArgument):
            continue
        p._polished = True
        if isinstance(p, TyperOption) and p.is_flag:
            p.metavar = ""
        elif p.metavar is None:
            p.metavar = _metavar(command, p)
        rng = _range_words(p) if p.type_descriptor.is_ranged else ""
        if rng:
            text = (p.help or "").rstrip(".")
            p.help = f"{text[:-1]}; {rng})." if text.endswith(")") else f"{text} ({rng})." if text else f"{rng}."
        if isinstance(p, TyperArgument):
            p.__class__ = _Argument
        else:
            p.__class__ = _Option
            p.help = reflow(p.help)


def first_sentence(text: str | None) -> str | None:
    """The command list's line: the help up to its first full stop or semicolon."""
    if not text:
        return text
    return re.split(r"(?<=[.;])\s", text.split("\n\n")[0], maxsplit=1)[0].rstrip(".;")


class HelpCommand(TyperCommand):
    """A Typer command whose help follows this module's rules."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)
        self.short_help = self.short_help or first_sentence(self.help)
        polish(self.name or "", self.params)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        polish(self.name or "", params)  # the --help option is made here
        return params


class HelpGroup(TyperGroup):
    """The root group, same rules (its `--version` is a flag)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)
        polish(self.name or "", self.params)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        polish(self.name or "", params)
        return params
