"""The built-in world presets by name, and `load_config`: preset, then TOML overrides, then the seed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from farmhunt.core.errors import ConfigError
from farmhunt.core.tomlconfig import read_toml
from synth import config
from synth.config import WorldConfig, config_from_dict
from synth.sweep import sweep_config


def _sweep() -> WorldConfig:
    return sweep_config(0, 0)


PRESETS = {
    "tiny": config.tiny,
    "demo": config.demo,
    "seed-scale": config.seed_scale,
    "adversarial": config.adversarial,
    "sweep": _sweep,
}


def preset(name: str) -> WorldConfig:
    """A fresh copy of a built-in preset; unknown names are a `ConfigError`."""
    if name not in PRESETS:
        raise ConfigError(f"'preset': unknown preset {name!r} (known: {', '.join(PRESETS)})")
    cfg = PRESETS[name]()
    cfg.validate()
    return cfg


def load_config(preset_name: str = "tiny", toml_path: str | Path | None = None,
                seed: int | None = None) -> WorldConfig:
    """Preset, then TOML overrides on top (a TOML `rings` list replaces the preset's), then the seed."""
    if preset_name == "sweep" and seed is not None:  # sweep world 0 of that seed (its knobs depend on the seed)
        cfg, seed = sweep_config(seed, 0), None
    else:
        cfg = preset(preset_name)
    if toml_path is not None:
        cfg = config_from_dict(read_toml(toml_path), base=cfg)
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    cfg.validate()
    return cfg
