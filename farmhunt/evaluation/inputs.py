"""What evaluation reads besides results: thresholds (TOML + overrides), the world's labels, replay output."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_thresholds(path: Path | None, section: str | None = None, **overrides: Any):
    """Thresholds from a TOML file (optionally one section of it, e.g. `demo` in gates.toml), then
    overridden by the non-None keyword arguments (the CLI options). Unknown keys are errors."""
    from farmhunt.core.errors import ConfigError
    from farmhunt.core.tomlconfig import from_dict, read_toml
    from farmhunt.evaluation.thresholds import Thresholds

    t = Thresholds()
    if path is not None:
        data: Any = read_toml(path)
        if section:
            if section not in data or not isinstance(data[section], dict):
                raise ConfigError(f"{path}: no section [{section}] (sections: {', '.join(sorted(data)) or 'none'})")
            data = data[section]
        if isinstance(data.get("thresholds"), dict):  # gates.toml layout: [name.world] + [name.thresholds]
            data = data["thresholds"]
        try:
            t = from_dict(Thresholds, data, base=t)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        t = from_dict(Thresholds, changes, base=t)
    return t


def load_world_labels(world: Path):
    """The world's labels, or an `InputError` saying the file is missing."""
    from farmhunt.core.errors import InputError
    from farmhunt.core.world import find_table_file, load_labels

    if not world.is_dir():
        raise InputError(f"labels: world directory '{world}' does not exist")
    if find_table_file(world, "labels") is None:
        raise InputError(
            f"labels: '{world}' has no labels.parquet (or labels.csv): "
            "evaluation needs a world with ground truth (a generated one)"
        )
    return load_labels(world)


def world_info(world: Path) -> dict[str, Any]:
    """Path and manifest hash of a world, for the evaluation document."""
    from farmhunt.core.world import manifest_sha256

    return {"path": str(world.resolve()), "manifest_sha256": manifest_sha256(world)}


def load_replay(path: Path) -> dict:
    """The replay document written by `farmhunt replay` (replay.json in its output directory)."""
    import json

    from farmhunt.core.errors import InputError

    f = path / "replay.json" if path.is_dir() else path
    if not f.exists():
        raise InputError(f"--replay: '{f}' does not exist (run 'farmhunt replay WORLD --out DIR' first)")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"--replay: '{f}' is not valid JSON: {exc}") from exc
