"""The request store: a lossless, account-partitioned encoding of the request table, and its checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.contract import REQUESTS
from farmhunt.core.validate import ContractError
from farmhunt.core.world import load_world
from farmhunt.engine.polars.request_store import build_store
from farmhunt.engine.store import STORE_SCHEMA, USERS, codes_of, ip_number, open_store, write_users

from tests.paths import TINY as FIXTURE
DECODED = [c for c in REQUESTS.columns if c != "user_agent"]


@pytest.fixture(scope="module")
def world():
    return load_world(FIXTURE, defer=("requests",))


@pytest.fixture(scope="module")
def store(world, tmp_path_factory):
    # Small parts, so that the tiny world is split like a big one.
    return build_store(world, tmp_path_factory.mktemp("store") / "requests", rows_per_part=20_000,
                       batch_rows=7_000)


def test_every_request_is_stored_once_in_its_accounts_part(world, store) -> None:
    n = world["requests"].select(pl.len()).collect().item()
    assert store.n_rows == n
    assert len(store.bounds) - 1 > 3  # really split
    coded = store.scan().collect()
    assert coded.schema == STORE_SCHEMA
    assert coded.height == n
    files = store.part_files()
    for i, f in enumerate(files):
        accts = pl.read_parquet(store.path / f)["acct"]
        if accts.len():
            assert accts.min() >= store.bounds[i] and accts.max() < store.bounds[i + 1]


def test_requests_of_an_account_match_the_world(world, store) -> None:
    busy = (world["requests"].group_by("account_id").len().sort("len", "account_id", descending=[True, False])
            .collect())
    for aid in (busy["account_id"][0], busy["account_id"][busy.height // 2], busy["account_id"][-1]):
        want = (world["requests"].filter(pl.col("account_id") == aid).select(DECODED)
                .sort("ts", "prompt_hash").collect())
        got = store.requests_of([aid]).sort("ts", "prompt_hash")
        assert got.height == want.height > 0
        assert got.equals(want), aid


def test_requests_of_reads_only_the_columns_asked(world, store) -> None:
    ids = world["accounts"].select("account_id").head(40).collect().to_series().to_list()
    few = store.requests_of(ids, ("ip",))
    assert few.columns == ["ts", "account_id", "ip"]
    full = store.requests_of(ids)
    assert few.equals(full.select(few.columns))
    assert set(full["account_id"]) <= set(ids) and full["ts"].is_sorted()


def test_codes_are_the_texts_hash(store) -> None:
    topics = pl.read_parquet(store.path / "lookup_topic.parquet")
    assert set(codes_of(topics["text"].to_list())) == set(topics["code"].to_list())


def test_store_reopens_and_searches_by_ip(world, store) -> None:
    again = open_store(store.path)
    assert again == store
    ip, aid = world["requests"].select("ip", "account_id").head(1).collect().row(0)
    assert aid in again.accounts_with("ip", ip).to_list()
    assert open_store(store.path.parent / "nowhere") is None


def test_same_requests_same_store(world, store, tmp_path: Path) -> None:
    other = build_store(world, tmp_path / "again", rows_per_part=20_000, batch_rows=7_000)
    assert other.scan().collect().equals(store.scan().collect())


def test_cut_world_keeps_only_earlier_requests(world, tmp_path: Path) -> None:
    lo, hi = world["requests"].select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).collect().row(0)
    until = lo + (hi - lo) / 2
    cut = world.cut(until)
    st = build_store(cut, tmp_path / "cut")
    want = cut["requests"].select(pl.len()).collect().item()
    assert 0 < st.n_rows == want < world["requests"].select(pl.len()).collect().item()
    assert st.scan().select(pl.col("ts").max()).collect().item() < until


def _broken_world(tmp_path: Path) -> Path:
    w = tmp_path / "w"
    shutil.copytree(FIXTURE, w)
    req = pl.read_parquet(w / "requests.parquet")
    req = req.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("acct_does_not_exist")).otherwise(pl.col("account_id"))
        .alias("account_id"),
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("model")).alias("model"))
    req.write_parquet(w / "requests.parquet")
    return w


def test_unknown_accounts_and_nulls_are_reported(tmp_path: Path) -> None:
    w = _broken_world(tmp_path)
    with pytest.raises(ContractError) as err:
        build_store(load_world(w, defer=("requests",)), tmp_path / "s")
    msg = str(err.value)
    assert "requests.parquet, column 'account_id': 1 distinct value(s) not found in accounts.account_id" in msg
    assert "'acct_does_not_exist'" in msg
    assert "requests.parquet, column 'model': null values in a required column (1" in msg


def test_detect_on_bad_requests_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    w = _broken_world(tmp_path)
    out = tmp_path / "out"
    assert main(["detect", str(w), "--out", str(out), "--quiet"]) == 2
    assert "requests.parquet: SHA-256 differs" in capsys.readouterr().err  # the manifest check comes first
    assert main(["detect", str(w), "--out", str(out), "--quiet", "--no-verify"]) == 2
    assert "acct_does_not_exist" in capsys.readouterr().err
    assert not out.exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_csv_world_gives_the_same_store(world, tmp_path: Path) -> None:
    csv = tmp_path / "csv"
    csv.mkdir()
    for name in ("accounts", "api_keys", "asns", "payments", "requests"):
        pl.read_parquet(FIXTURE / f"{name}.parquet").write_csv(csv / f"{name}.csv")
    from_csv = build_store(load_world(csv, defer=("requests",)), tmp_path / "s_csv")
    from_parquet = build_store(world, tmp_path / "s_pq")
    key = ["acct", "ts", "prompt_hash"]
    assert from_csv.scan().sort(key).collect().equals(from_parquet.scan().sort(key).collect())


def test_users_files_hold_every_distinct_pair_sorted_by_the_value(store, tmp_path: Path) -> None:
    """Who used each request IP and key: exactly the distinct (IP number, account) and (key, account)
    pairs of the requests, sorted, in row groups whose statistics let a range read skip the others; the
    same parts give the same bytes."""
    import pyarrow.parquet as pq

    nums = store.lookup("ip").select(pl.col("code").alias("ip"), ip_number(pl.col("text")).alias("ip_num"))
    scan = store.scan()
    ip = scan.select("ip", "acct").join(nums, on="ip").select("ip_num", "acct").unique().sort("ip_num", "acct")
    key = scan.select("key_id", "acct").unique().sort("key_id", "acct")
    ip, key = ip.collect(), key.collect()
    assert ip["ip_num"].null_count() == 0 and ip.height > 1_000 and key.height > 1_000
    assert store.users("ip").collect().equals(ip)
    assert store.users("key_id").collect().equals(key)
    copy = Path(shutil.copytree(store.path, tmp_path / "store"))
    write_users(copy, store.bounds, store.lookup("ip").collect())
    for f in USERS.values():
        assert (copy / f).read_bytes() == (store.path / f).read_bytes(), f
    write_users(copy, store.bounds, store.lookup("ip").collect(), row_group=500)
    meta = pq.ParquetFile(copy / USERS["ip"]).metadata
    assert meta.num_row_groups == -(-ip.height // 500) > 3
    stats = [meta.row_group(i).column(0).statistics for i in range(meta.num_row_groups)]
    assert all(a.has_min_max and a.max <= b.min for a, b in zip(stats, stats[1:]))
    small = open_store(copy)
    assert small is not None and (users := small.users("ip")) is not None
    lo, hi = int(ip["ip_num"][700]), int(ip["ip_num"][1_400])
    want = ip.filter(pl.col("ip_num").is_between(lo, hi))
    assert users.filter(pl.col("ip_num").is_between(lo, hi)).collect().equals(want) and want.height >= 701


def test_a_store_without_users_files_opens_and_says_so(store, tmp_path: Path) -> None:
    """Stores written before the users files: `users` is None (readers fall back to the parts)."""
    copy = Path(shutil.copytree(store.path, tmp_path / "old"))
    for f in USERS.values():
        (copy / f).unlink()
    old = open_store(copy)
    assert old is not None and old.users("ip") is None and old.users("key_id") is None
    assert old.scan().select(pl.len()).collect().item() == store.n_rows
