"""The world contract's validator: canonical dtypes, and every problem reported with file and column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from farmhunt.core.contract import ACCOUNTS, API_KEYS, ASNS, PAYMENTS, PROMPTS, REQUESTS
from farmhunt.core.validate import ContractError, iso_to_datetime
from farmhunt.core.world import load_world

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _tiny_world(d: Path, fmt: str = "parquet") -> Path:
    tables = {
        ACCOUNTS: {"account_id": ["a1", "a2"], "created_at": [T0, T0], "email": ["x@e.com", "y@e.com"],
                   "name": ["X", "Y"], "country": ["US", "DE"], "signup_ip": ["1.2.3.4", "5.6.7.8"],
                   "device_id": ["d1", "d2"], "phone": [None, "+4912345"], "org_id": [None, None],
                   "plan": ["free", "payg"]},
        PAYMENTS: {"payment_id": ["p1"], "account_id": ["a2"], "ts": [T0], "amount_usd": [5.0],
                   "card_fingerprint": ["c1"], "card_bin": ["411111"], "card_country": ["DE"],
                   "card_funding": ["credit"], "status": ["succeeded"]},
        API_KEYS: {"key_id": ["k1", "k2"], "account_id": ["a1", "a2"], "created_at": [T0, T0],
                   "revoked_at": [None, None]},
        REQUESTS: {"ts": [T0, T0], "account_id": ["a1", "a2"], "key_id": ["k1", "k2"], "model": ["m", "m"],
                   "input_tokens": [10, 20], "output_tokens": [5, 6], "ip": ["1.2.3.4", "5.6.7.8"],
                   "asn": [7, 7], "user_agent": ["ua", "ua"], "prompt_hash": [1, 2**63 + 5],
                   "topic": ["chat", "coding"]},
        ASNS: {"asn": [7], "org": ["ISP"], "kind": ["residential"]},
        PROMPTS: {"ts": [T0], "account_id": ["a1"], "prompt_hash": [1], "text": ["hello"]},
    }
    d.mkdir(parents=True, exist_ok=True)
    for spec, data in tables.items():
        df = pl.DataFrame(data, schema=spec.schema)
        if fmt == "csv":
            df.write_csv(d / f"{spec.name}.csv")
        else:
            df.write_parquet(d / f"{spec.name}.parquet")
    return d


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_world_loads_with_canonical_dtypes(tmp_path: Path, fmt: str) -> None:
    w = load_world(_tiny_world(tmp_path / "w", fmt))
    req = w["requests"].collect()
    assert req.schema == REQUESTS.schema
    assert req["prompt_hash"].to_list() == [1, 2**63 + 5]
    assert w["accounts"].collect()["created_at"].to_list() == [T0, T0]


def test_categorical_strings_are_accepted(tmp_path: Path) -> None:
    d = _tiny_world(tmp_path / "w")
    pl.read_parquet(d / "requests.parquet").with_columns(pl.col("topic").cast(pl.Categorical)).write_parquet(
        d / "requests.parquet")
    assert load_world(d)["requests"].collect_schema()["topic"] == pl.String


def test_every_problem_is_reported(tmp_path: Path) -> None:
    d = _tiny_world(tmp_path / "w", "csv")
    (d / "asns.csv").unlink()
    acc = pl.read_csv(d / "accounts.csv", infer_schema=False)
    acc = pl.concat([acc, acc.head(1)]).with_columns(pl.lit("yesterday").alias("created_at"))
    acc.write_csv(d / "accounts.csv")
    req = pl.read_csv(d / "requests.csv", infer_schema=False).with_columns(pl.lit("ghost").alias("account_id"))
    req.drop("model").write_csv(d / "requests.csv")
    pl.read_csv(d / "payments.csv", infer_schema=False).with_columns(pl.lit("zz").alias("account_id")).write_csv(
        d / "payments.csv")
    with pytest.raises(ContractError) as err:
        load_world(d)
    msg = str(err.value)
    assert "asns.parquet: missing file" in msg
    assert "accounts.csv, column 'created_at': unparsable timestamps (3 rows); e.g. 'yesterday'" in msg
    assert "accounts.csv, column 'account_id': duplicate key values (1 row); e.g. 'a1'" in msg
    assert "requests.csv, column 'model': missing column" in msg
    assert "payments.csv, column 'account_id': 1 distinct value(s) not found in accounts.account_id" in msg
    assert len(err.value.problems) == 5


def test_wrong_dtype_and_empty_table(tmp_path: Path) -> None:
    d = _tiny_world(tmp_path / "w")
    pl.read_parquet(d / "requests.parquet").with_columns(pl.col("input_tokens").cast(pl.Float64)).write_parquet(
        d / "requests.parquet")
    pl.read_parquet(d / "api_keys.parquet").head(0).write_parquet(d / "api_keys.parquet")
    with pytest.raises(ContractError) as err:
        load_world(d)
    msg = str(err.value)
    assert "requests.parquet, column 'input_tokens': wrong dtype Float64 (expected Int32)" in msg
    assert "api_keys.parquet: empty table" in msg


def test_iso_timestamps_in_many_spellings() -> None:
    s = pl.Series("t", ["2026-01-01T00:00:00Z", "2026-01-01 02:00:00+02:00", "2026-01-01T00:00:00.000000+0000",
                        "2026-01-01", "not a time"])
    out = pl.select(iso_to_datetime(pl.lit(s))).to_series().to_list()
    assert out[:4] == [T0] * 4 and out[4] is None


def test_cut_world_keeps_only_the_past(tmp_path: Path) -> None:
    w = load_world(_tiny_world(tmp_path / "w"))
    cut = w.cut(T0 - dt.timedelta(seconds=1))
    assert cut["requests"].collect().height == 0
    assert w.cut(T0 + dt.timedelta(seconds=1))["requests"].collect().height == 2
