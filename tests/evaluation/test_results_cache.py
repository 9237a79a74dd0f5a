"""The detection-results cache of `farmhunt train` and `farmhunt sweep` (`--results CACHE`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from farmhunt.cli.train import cached_results
from tests.paths import TINY


def test_a_cache_is_reused_only_for_the_same_world_version_and_settings(tmp_path: Path) -> None:
    world = tmp_path / "tiny"
    shutil.copytree(TINY, world)
    cache = tmp_path / "cache"
    first = cached_results(world, cache)
    run_json = cache / "tiny" / "run.json"
    stamp = json.loads(run_json.read_text())["started_at"]
    again = cached_results(world, cache)  # same world, version and settings: reused, not detected again
    assert json.loads(run_json.read_text())["started_at"] == stamp
    assert again.accounts.equals(first.accounts)
    # a cache written with other settings (or by another version) is detected again
    for key, value in (("settings", {"linkage": {"min_weight": 0.5}}), ("farmhunt_version", "0.0.0")):
        doc = json.loads(run_json.read_text())
        doc[key] = value
        run_json.write_text(json.dumps(doc))
        fresh = cached_results(world, cache)
        now = json.loads(run_json.read_text())
        assert now[key] != value and now["started_at"] != stamp
        assert fresh.accounts.equals(first.accounts)
        stamp = now["started_at"]
