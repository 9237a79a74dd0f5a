"""The request store format and its reader: the request table re-encoded once as integers, split by account.

The request table is the only big table (hundreds of millions of rows). Decoding its text columns
(account ids, IPs, user agents...) from Parquet is what costs, and every feature, template and
synchronisation pass would pay it again. So detection reads the table once, in batches, and writes
a compact copy where

* `acct` (UInt32) is the account's position in the sorted accounts table,
* every other text column (key_id, model, ip, user_agent, topic) is a 64-bit hash code of its text
  (`text_code`),
* numbers and times keep the contract's dtypes.

Text is hashed once per distinct value of a batch (Parquet's dictionary), not once per row. The same
pass checks the table: empty, nulls in required columns, account, key and ASN ids that do not exist.

The copy is split into parts by ranges of `acct`, so one account's requests are all in one part: the
console reads one part to page through an account. Code -> text lookups for the columns an
investigator reads (model, topic, ip, key_id) are kept beside the parts. Codes are only compared
within one store: readers go from text to code through these lookups, never by hashing again.

Beside them, *who used what* (`USERS`, written by `write_users` once the parts are written): every
distinct (request IP, account) pair as (ip_num, acct), ip_num the IPv4 address as a number (the contract
allows IPv4 only), and every distinct (key code, acct) pair, each file sorted by the value in row groups
of `USERS_ROW_GROUP` rows with min/max statistics. A numeric IPv4 makes a CIDR network one contiguous
range, so the console's pivot on an IP or a network (and on a key) is a range read of a row group or a
few, never a scan of the parts. Stores written before these files have none (`RequestStore.users` is None).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import polars as pl

from farmhunt.core.contract import REQUESTS, ip_number, ip_prefix

#: Text columns of the request table stored as 64-bit codes.
CODED = ("key_id", "model", "ip", "user_agent", "topic")
#: Coded columns whose text is kept in a lookup (what the console shows of a request).
LOOKUPS = ("key_id", "model", "ip", "topic")
STORE_SCHEMA = pl.Schema(
    {
        "acct": pl.UInt32(),
        "ts": pl.Datetime("us", "UTC"),
        "key_id": pl.UInt64(),
        "model": pl.UInt64(),
        "input_tokens": pl.Int32(),
        "output_tokens": pl.Int32(),
        "ip": pl.UInt64(),
        "asn": pl.Int32(),
        "user_agent": pl.UInt64(),
        "prompt_hash": pl.UInt64(),
        "topic": pl.UInt64(),
    }
)
#: What `RequestStore.requests_of` returns: the contract's request columns but the user agent.
_DECODED = pl.Schema({c: t for c, t in REQUESTS.columns.items() if c != "user_agent"})
INDEX_FILE = "store.json"
#: Who used which request IP and which key: file of each (see module doc).
USERS = {"ip": "users_ip.parquet", "key_id": "users_key_id.parquet"}
USERS_SCHEMA = {
    "ip": pl.Schema({"ip_num": pl.UInt32(), "acct": pl.UInt32()}),
    "key_id": pl.Schema({"key_id": pl.UInt64(), "acct": pl.UInt32()}),
}
#: Rows per row group of the users files: a pivot on one value reads one group (about 100 KB) or two.
USERS_ROW_GROUP = 16_384
_HASH_SEED = 0x5EED


@overload
def text_code(values: pl.Expr) -> pl.Expr: ...
@overload
def text_code(values: pl.Series) -> pl.Series: ...
def text_code(values: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """The store's 64-bit code of text values (an expression or a String series)."""
    return values.cast(pl.String).hash(seed=_HASH_SEED)


def codes_of(texts: list[str]) -> list[int]:
    """Codes of literal texts, to compare against a coded column (e.g. the capability topics)."""
    return text_code(pl.Series(texts, dtype=pl.String)).to_list()


@dataclass(frozen=True)
class RequestStore:
    """A built store: its directory, the account index and the part boundaries."""

    path: Path
    n_rows: int
    bounds: tuple[int, ...]  # part i holds acct in [bounds[i], bounds[i + 1])
    ts_range: tuple[int, int] = (0, 0)  # first and last request time, epoch seconds

    def scan(self) -> pl.LazyFrame:
        """Every request, coded (see STORE_SCHEMA)."""
        if self.n_rows == 0:
            return pl.LazyFrame(schema=STORE_SCHEMA)
        return pl.scan_parquet([self.path / p for p in self.part_files()], schema=STORE_SCHEMA)

    def part_files(self) -> list[str]:
        return [f"part-{i:04d}.parquet" for i in range(len(self.bounds) - 1)]

    def parts(self, columns: Sequence[str] | None = None) -> Iterator[pl.LazyFrame]:
        """The coded requests one part at a time, each read into memory once (only `columns`, if given:
        a pass over two columns reads a tenth of the bytes).

        Every account's requests are in one part, so any per-account aggregate computed part by part
        and concatenated is exact; and a part's hash tables are small (fast, little memory).
        """
        for f in self.part_files():
            yield pl.read_parquet(self.path / f, columns=list(columns) if columns is not None else None).lazy()

    def per_account(self, *plans: Callable[[pl.LazyFrame], pl.LazyFrame | pl.DataFrame]) -> list[pl.DataFrame]:
        """Run per-account aggregations on every part (see `parts`) and concatenate each one's results.

        A plan returns a lazy frame (all of a part's are collected together) or an eager result.
        """
        out: list[list[pl.DataFrame]] = [[] for _ in plans]
        for part in self.parts():
            results = [plan(part) for plan in plans]
            lazy = [r for r in results if isinstance(r, pl.LazyFrame)]
            collected = iter(pl.collect_all(lazy))
            for acc, r in zip(out, results):
                acc.append(next(collected) if isinstance(r, pl.LazyFrame) else r)
        return [pl.concat(frames) for frames in out]

    def accounts(self) -> pl.LazyFrame:
        """acct -> account_id for every account of the world."""
        return pl.scan_parquet(self.path / "accounts.parquet")

    def with_account_id(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Replace column `acct` of an aggregate by the account's id (String)."""
        cols = [c for c in lf.collect_schema().names() if c != "acct"]
        return lf.join(self.accounts(), on="acct", how="left").select("account_id", *cols)

    def lookup(self, column: str) -> pl.LazyFrame:
        """code -> text of one of the LOOKUPS columns."""
        return pl.scan_parquet(self.path / f"lookup_{column}.parquet")

    def users(self, column: str) -> pl.LazyFrame | None:
        """Who used `column` ("ip": ip_num, acct; "key_id": key_id, acct; see module doc), sorted by the
        value; None for a store written before these files."""
        f = self.path / USERS[column]
        return pl.scan_parquet(f, schema=USERS_SCHEMA[column]) if f.exists() else None

    def requests_of(self, account_ids: Sequence[str], columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The requests of these accounts in time order, text decoded (no user agent).

        Reads only the parts holding them and only the `columns` asked for (default: all), then
        decodes the few codes they use.
        """
        want = [c for c in _DECODED if columns is None or c in columns or c in ("ts", "account_id")]
        ids = pl.Series("account_id", list(account_ids), pl.String)
        accts = self.accounts().filter(pl.col("account_id").is_in(ids.implode())).collect()
        if accts.is_empty() or self.n_rows == 0:
            return pl.DataFrame(schema={c: _DECODED[c] for c in want})
        parts = sorted(set(part_of(self.bounds, accts["acct"]).to_list()))
        files = self.part_files()
        rows = (
            pl.scan_parquet([self.path / files[p] for p in parts], schema=STORE_SCHEMA)
            .filter(pl.col("acct").is_in(accts["acct"].implode()))
            .select("acct", *[c for c in want if c != "account_id"])
            .collect()
        )
        out = rows.join(accts, on="acct", how="left")
        for col in (c for c in LOOKUPS if c in want):
            used = out[col].unique().implode()
            text = self.lookup(col).filter(pl.col("code").is_in(used)).collect()
            out = out.join(text.rename({"code": col, "text": f"__{col}"}), on=col, how="left")
        return out.sort("ts", "account_id", maintain_order=True).select(
            *[pl.col(f"__{c}").alias(c) if c in LOOKUPS else pl.col(c) for c in want]
        )

    def ip_prefixes(self) -> pl.LazyFrame:
        """ip code -> code of its /24 network (text up to the last dot), for every IP seen."""
        return self.lookup("ip").select(
            pl.col("code").alias("ip"), text_code(ip_prefix(pl.col("text"))).alias("prefix")
        )

    def accounts_with(self, column: str, text: str, limit: int = 10_000) -> pl.Series:
        """Ids of accounts with a request whose `column` (one of LOOKUPS) is `text` (at most `limit`)."""
        # Through the lookup, not `text_code`: a reader may run another polars version (another hash).
        codes = self.lookup(column).filter(pl.col("text") == text).select("code").collect().to_series()
        accts = self.scan().filter(pl.col(column).is_in(codes.implode())).select("acct").head(limit).unique()
        return accts.join(self.accounts(), on="acct").select("account_id").collect().to_series().sort()


def write_users(path: Path, bounds: tuple[int, ...], ip_lookup: pl.DataFrame, row_group: int = USERS_ROW_GROUP) -> None:
    """Write the store's users files (module doc) from its parts at `path` (one part in memory at a time:
    its `acct`, `ip` and `key_id` columns) and its IP lookup (code, text). Every account's requests are in
    one part, so each part's distinct pairs are distinct in the whole store; the files are sorted by every
    column, so the same requests give the same bytes whichever engine wrote the parts."""
    order = ip_lookup.select("code", ip_number(pl.col("text")).alias("ip_num")).sort("code")
    codes = order["code"]
    nums = order["ip_num"]
    ips: list[pl.DataFrame] = []
    keys: list[pl.DataFrame] = []
    for i in range(len(bounds) - 1):
        part = pl.scan_parquet(path / f"part-{i:04d}.parquet", schema=STORE_SCHEMA).select("acct", "ip", "key_id")
        ip, key = pl.collect_all([part.select("ip", "acct").unique(), part.select("key_id", "acct").unique()])
        # code -> ip_num by binary search in the sorted lookup (no hash table of every IP per part)
        pos = codes.search_sorted(ip["ip"]).clip(0, max(codes.len() - 1, 0))
        num = nums.gather(pos).zip_with(codes.gather(pos) == ip["ip"], pl.Series([None], dtype=pl.UInt32))
        ips.append(pl.DataFrame({"ip_num": num, "acct": ip["acct"]}))
        keys.append(key)
    for column, frames in (("ip", ips), ("key_id", keys)):
        schema = USERS_SCHEMA[column]
        table = pl.concat(frames).cast(dict(schema)) if frames else pl.DataFrame(schema=schema)  # type: ignore[arg-type]
        table = table.drop_nulls().sort(list(schema))
        # (inside the run's temporary output already: a plain rename, not `atomic_file`, which would
        # report the file as committed output if a signal came later)
        f = path / USERS[column]
        tmp = f.with_name(f".{f.name}.tmp-{os.getpid()}")
        table.write_parquet(tmp, row_group_size=row_group, statistics=True)
        os.replace(tmp, f)


def open_store(path: str | Path) -> RequestStore | None:
    """An existing store (for readers such as the console), or None when `path` holds none."""
    p = Path(path)
    f = p / INDEX_FILE
    if not f.exists():
        return None
    meta = json.loads(f.read_text())
    return RequestStore(p, int(meta["rows"]), tuple(meta["bounds"]), tuple(meta["ts_range"]))


def part_of(bounds: tuple[int, ...], acct: pl.Series) -> pl.Series:
    """Index of the part holding each account position (see `RequestStore.bounds`)."""
    return pl.Series(bounds[1:-1], dtype=pl.UInt32).search_sorted(acct, side="right")
