"""synth: presets validate, determinism, labels match the config, bad configs, CLI, committed fixture."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import polars as pl
import pytest

from farmhunt.core.contract import BENIGN_KIND, FRAUD_KINDS, HARD_NEGATIVE_KINDS, WORLD_TABLES
from farmhunt.core.world import load_world
from farmhunt.core.errors import ConfigError
from synth.config import config_from_dict
from synth.presets import load_config, preset
from synth.estimate import scale_to_requests
from synth.generate import generate

from tests.paths import ROOT


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate(preset("tiny"), out)
    return out


def _hashes(world: Path) -> dict[str, str]:
    return {k: v["sha256"] for k, v in json.loads((world / "manifest.json").read_text())["files"].items()}


def test_tiny_validates_and_has_required_rings(tiny: Path) -> None:
    w = load_world(tiny, tables=WORLD_TABLES)
    labels = w["labels"].collect()
    rings = labels.filter(pl.col("ring_id").is_not_null()).group_by("ring_id", "ring_kind").len()
    sizes = {k: sorted(rings.filter(pl.col("ring_kind") == k)["len"].to_list()) for k in rings["ring_kind"].unique()}
    assert len(sizes["distillation_farm"]) == 2 and max(sizes["distillation_farm"]) >= 100
    assert sizes["reseller_pool"] == [3, 8, 20]
    assert sizes["card_testing"] == [25] and sizes["enterprise_team"] == [25, 60] and sizes["campus_nat"] == [150]
    assert len(sizes["multi_account_user"]) == 10 and all(2 <= s <= 4 for s in sizes["multi_account_user"])
    assert sizes["automation"] == [1, 1, 1] and sizes["popular_app"] == [80]
    n_req = w["requests"].select(pl.len()).collect().item()
    assert 100_000 <= n_req <= 300_000
    assert sum(p.stat().st_size for p in tiny.iterdir()) < 8 * 2**20


def test_labels_match_config_and_manifest(tiny: Path) -> None:
    cfg = preset("tiny")
    labels = pl.read_parquet(tiny / "labels.parquet")
    accounts = pl.read_parquet(tiny / "accounts.parquet")
    assert labels.height == accounts.height and set(labels["account_id"]) == set(accounts["account_id"])
    assert labels.filter(pl.col("ring_kind") == BENIGN_KIND)["ring_id"].null_count() == cfg.benign.accounts
    assert set(labels["ring_kind"]) == {BENIGN_KIND, *FRAUD_KINDS, *HARD_NEGATIVE_KINDS}
    assert (labels["is_fraud"] == labels["ring_kind"].is_in(list(FRAUD_KINDS))).all()
    manifest = json.loads((tiny / "manifest.json").read_text())
    counts = dict(labels.group_by("ring_id").len().iter_rows())
    for ring in manifest["rings"]:
        spec = cfg.rings[ring["config_index"]]
        assert ring["kind"] == spec.kind
        assert counts[ring["ring_id"]] == ring["size"]
        if spec.size is not None:
            assert ring["size"] == spec.size
        else:
            assert spec.size_min <= ring["size"] <= spec.size_max
    for i, spec in enumerate(cfg.rings):
        assert sum(r["config_index"] == i for r in manifest["rings"]) == spec.count
    for name, f in manifest["files"].items():
        assert pl.scan_parquet(tiny / name).select(pl.len()).collect().item() == f["rows"]


def test_same_seed_identical_other_seed_differs(tiny: Path, tmp_path: Path) -> None:
    generate(preset("tiny"), tmp_path / "again")
    assert _hashes(tmp_path / "again") == _hashes(tiny)
    other = preset("tiny")
    other.seed = 2
    generate(other, tmp_path / "other")
    a, b = _hashes(tmp_path / "other"), _hashes(tiny)
    assert all(a[k] != b[k] for k in a if k != "asns.parquet")


def test_committed_fixture_is_fresh(tiny: Path) -> None:
    fixture = ROOT / "fixtures" / "tiny"
    assert (fixture / "manifest.json").exists(), "run `make fixtures`"
    assert _hashes(fixture) == _hashes(tiny), "fixtures/tiny is stale: run `make fixtures` and commit it"


@pytest.mark.parametrize("name", ["demo", "adversarial"])
def test_demo_presets_validate(name: str, tmp_path: Path) -> None:
    summary = generate(preset(name), tmp_path / name)
    w = load_world(tmp_path / name, tables=WORLD_TABLES)
    assert 15_000 <= summary["rows"]["accounts"] <= 25_000
    assert 600_000 <= summary["rows"]["requests"] <= 2_000_000
    sizes = w["labels"].collect().group_by("ring_id").len()["len"]
    assert sizes.max() >= 20
    if name == "adversarial":
        assert all(0.6 <= r.camouflage <= 0.9 for r in preset(name).rings)


def test_seed_scale_shape_validates_when_scaled_down(tmp_path: Path) -> None:
    full = preset("seed-scale")
    assert full.benign.accounts == 1_000_000 and full.days == 44
    assert full.rings[0].size == 25_000
    small = scale_to_requests(full, 400_000)
    assert [r.kind for r in small.rings] == [r.kind for r in full.rings]
    summary = generate(small, tmp_path / "ss")
    load_world(tmp_path / "ss", tables=WORLD_TABLES)
    assert 150_000 <= summary["rows"]["requests"] <= 1_000_000


def test_csv_world_validates(tmp_path: Path) -> None:
    cfg = preset("tiny")
    cfg.days = 3
    generate(cfg, tmp_path / "csv", fmt="csv")
    w = load_world(tmp_path / "csv", tables=WORLD_TABLES)
    assert w["requests"].select(pl.len()).collect().item() > 1000


BAD = [
    ({"benign": {"accounts": 100, "colour": 1}}, "benign.colour"),
    ({"rings": [{"kind": "crypto_mixer", "size": 5}]}, "rings[0].kind"),
    ({"rings": [{"kind": "reseller_pool", "size": -3}]}, "rings[0].size"),
    ({"benign": {"accounts": 100}, "rings": [{"kind": "campus_nat", "size": 500}]}, "rings[0].size"),
    ({"rings": [{"kind": "distillation_farm", "size": 50, "camouflage": 1.5}]}, "rings[0].camouflage"),
    ({"rings": [{"kind": "distillation_farm", "size": 50, "params": {"wave_size": 3}}]}, "rings[0].params.wave_size"),
    ({"rings": [{"kind": "distillation_farm", "size": 50, "params": {"ip_mode": "tor"}}]}, "params.ip_mode"),
    ({"days": 0}, "days"),
]


@pytest.mark.parametrize("data,key", BAD)
def test_bad_config_names_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(copy.deepcopy(data), base=preset("tiny"))
    assert key in str(err.value)


def test_cli_bad_toml_writes_nothing(tmp_path: Path) -> None:
    from farmhunt.cli import main

    toml = tmp_path / "bad.toml"
    toml.write_text('[[rings]]\nkind = "distillation_farm"\nsize = 999999\n')
    out = tmp_path / "world"
    assert main(["synth", "--preset", "tiny", "--config", str(toml), "--out", str(out)]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == [toml]


def test_cli_toml_overrides_preset(tmp_path: Path) -> None:
    from farmhunt.cli import main

    toml = tmp_path / "w.toml"
    toml.write_text('days = 2\n[benign]\naccounts = 300\n[[rings]]\nkind = "distillation_farm"\nsize = 40\n'
                    'camouflage = 0.3\n[rings.params]\nrequests_per_day = 30.0\n')
    cfg = load_config("tiny", toml, seed=5)
    assert cfg.days == 2 and cfg.seed == 5 and len(cfg.rings) == 1 and cfg.rings[0].params["requests_per_day"] == 30.0
    assert main(["synth", "--preset", "tiny", "--config", str(toml), "--seed", "5", "--out", str(tmp_path / "w"),
                 "-q"]) == 0
    m = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert m["seed"] == 5 and m["config"]["days"] == 2 and m["rings"][0]["size"] == 40


def test_requests_use_their_own_accounts_keys_while_valid(tiny: Path) -> None:
    req = pl.read_parquet(tiny / "requests.parquet", columns=["ts", "account_id", "key_id"]).with_columns(
        pl.col(pl.Categorical).cast(pl.String))
    j = req.join(pl.read_parquet(tiny / "api_keys.parquet"), on="key_id", suffix="_key")
    assert j.height == req.height
    assert (j["account_id"] == j["account_id_key"]).all()
    assert (j["created_at"] <= j["ts"]).all()
    assert (j["revoked_at"].is_null() | (j["ts"] < j["revoked_at"])).all()


def test_multi_day_chunks_validate_in_time_order(tmp_path: Path) -> None:
    cfg = preset("tiny")
    cfg.days, cfg.chunk_days = 5, 2
    generate(cfg, tmp_path / "w")
    w = load_world(tmp_path / "w", tables=WORLD_TABLES)
    ts = w["requests"].select("ts").collect()["ts"]
    assert ts.len() > 1000 and ts.is_sorted()
    assert ts.dt.date().n_unique() == 5


def test_faker_snapshot_is_what_the_installed_faker_provides() -> None:
    import faker

    from synth.identity import faker_data, snapshot_faker_data

    snap = faker_data()
    if faker.VERSION != snap["faker_version"]:
        why = (f"faker {faker.VERSION} installed, synth/faker_data.json is from {snap['faker_version']}: "
               "`make test` installs that version (the test extra pins it); `python -m synth.identity "
               "--refresh-faker-data` takes a new faker's lists (and changes worlds)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: this test must run, but {why}")
        pytest.skip(why)
    assert snapshot_faker_data() == snap


def test_names_per_country_and_emails_made_of_them(tiny: Path) -> None:
    from synth.identity import COUNTRIES, build_pools, faker_data

    pools = build_pools(3)
    person = faker_data()["person"]
    per = len(pools.first) // len(COUNTRIES)
    for ci, (locale, *_rest) in enumerate(COUNTRIES.values()):
        assert set(pools.first[ci * per:(ci + 1) * per]) <= set(person[locale]["first"])
        assert set(pools.last[ci * per:(ci + 1) * per]) <= set(person[locale]["last"])
    assert all(a.isascii() and a.isalnum() for a in [*pools.first_ascii, *pools.last_ascii])
    acc = pl.read_parquet(tiny / "accounts.parquet").join(pl.read_parquet(tiny / "labels.parquet"), on="account_id")
    benign = acc.filter(pl.col("ring_kind") == "benign")
    local = benign["email"].str.split("@").list.first()
    first = benign["name"].str.split(" ").list.first().map_elements(_fold, return_dtype=pl.String)
    last = benign["name"].str.split(" ").list.last().map_elements(_fold, return_dtype=pl.String)
    has_name = [f in e or la in e for e, f, la in zip(local, first, last)]
    assert sum(has_name) / len(has_name) > 0.7   # all shapes but nicknames use the name


def _fold(s: str) -> str:
    from synth.identity import ascii_fold

    return ascii_fold(s) or "user"


def test_id_and_ip_strings_and_dictionary_gathers() -> None:
    import ipaddress

    import numpy as np
    import pyarrow as pa

    from synth.generate import hex_ids, ip_strings
    from synth.writer import StringTable, compact_codes

    rng = np.random.default_rng(0)
    ids = hex_ids(rng, 1000, "key_", 12)
    assert ids.n_unique() == 1000 and ids.str.contains(r"^key_[0-9a-f]{24}$").all()
    ips = rng.integers(0, 2**32, 1000)
    assert ip_strings(ips).to_list() == [str(ipaddress.IPv4Address(int(v))) for v in ips]
    for values in (ids.to_arrow(), pa.array(["a", "", "ccc", "dd"] * 5), pa.array(["x", "yy"], pa.large_string())):
        idx = rng.integers(0, len(values), 50)
        assert StringTable(values).take(idx).to_pylist() == [values[int(i)].as_py() for i in idx]
    codes = rng.integers(0, 100, 500)
    small, keep = compact_codes(codes, 100)
    assert (keep[small] == codes).all() and (np.diff(keep) > 0).all()
