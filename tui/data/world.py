"""The world as the console reads it: small tables held in memory once, requests from the request store.

Seed-scale worlds have no row-group statistics to skip on, so a lazy filter on `accounts.parquet`
(1M rows) reads the whole file on every question (0.3-1 s each). The console instead reads each small
table (accounts, payments, API keys, prompts, ASNs) once, with text columns as plain strings, and
answers every question with in-memory filters (milliseconds). Requests (up to hundreds of millions of
rows) are never held: one account's come from its part of the request store. What needs every request
(which accounts used an IP or a key, hour-of-day and daily counts per account, the population's hours)
is computed once, in one pass over the store's parts (`RequestIndex`), in a background thread started
with the console; a question that needs it before it is done waits for it.

Without a request store (results computed from another world copy) the world's request table is
scanned lazily, as before: correct, slower.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from farmhunt.core.contract import TABLES
from farmhunt.core.timezones import utc_offset
from farmhunt.core.world import World, as_strings
from farmhunt.engine.store import LOOKUPS, STORE_SCHEMA, RequestStore, part_of
from tui.data.common import full_hours, ip_int

#: World tables held in memory (everything but requests).
IN_MEMORY = ("accounts", "payments", "api_keys", "prompts", "asns")


@dataclass(frozen=True)
class RequestIndex:
    """What needs every request, computed once: (ip code, acct) and (key code, acct) pairs, sorted by
    code; per account, requests by local hour and by day; the population's local hours; how long the
    pass took."""

    ip_pairs: pl.DataFrame  # ip (UInt64), acct (UInt32)
    key_pairs: pl.DataFrame  # key_id (UInt64), acct (UInt32)
    hours: pl.DataFrame  # acct, hour (Int8, local), n (UInt32)
    days: pl.DataFrame  # acct, day (Date), n (UInt32)
    population_hours: pl.DataFrame  # hour, n, share
    seconds: float


class WorldTables:
    """World tables in memory (loaded on first use, once) and the request store's per-account parts."""

    def __init__(self, world: World, store: RequestStore | None) -> None:
        self.world = world
        self.store = store
        self._tables: dict[str, pl.DataFrame] = {}
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in (*IN_MEMORY, "acct", "index")}
        self._locks.update({f"lookup_{c}": threading.Lock() for c in LOOKUPS})
        self._guard = threading.Lock()
        self._index: RequestIndex | None = None
        self._index_error: BaseException | None = None

    # ------------------------------------------------------------------ loading once
    def once(self, key: str, build: Callable[[], Any]) -> Any:
        if key in self._tables:
            return self._tables[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._tables:
                self._tables[key] = build()
            return self._tables[key]

    def table(self, name: str) -> pl.DataFrame:
        """World table `name` (one of IN_MEMORY) in memory, canonical dtypes (text as String)."""
        if name not in IN_MEMORY:
            raise KeyError(name)
        if name not in self.world:
            return pl.DataFrame(schema=dict(TABLES[name].columns))

        def build() -> pl.DataFrame:
            df = self.strings(name, self.world.native(name)).collect()
            if name == "accounts":
                df = df.with_columns(pl.col("email").str.to_lowercase().alias("_email_lc"))
            return df

        return self.once(name, build)

    def warm(self, with_index: bool = True) -> None:
        """Load every in-memory table, then (with a store) build the request index. For a background thread."""
        for name in IN_MEMORY:
            self.table(name)
        if self.store is not None:
            self.acct_map()
            self.lookup("ip")
            if with_index:
                try:
                    self.index()
                except Exception:  # noqa: BLE001 - reported again to the screen that asks for the index
                    pass

    def strings(self, name: str, lf: pl.LazyFrame) -> pl.LazyFrame:
        text = [c for c, t in TABLES[name].columns.items() if t == pl.String]
        return as_strings(lf, *text)

    def rows(self, name: str, col: str, value: str | pl.Series) -> pl.LazyFrame:
        """Rows of world table `name` whose `col` equals `value` (or is in the Series), canonical dtypes: from
        memory once the table is loaded, else lazily from its file."""
        cond = pl.col(col) == value if isinstance(value, str) else pl.col(col).is_in(value.implode())
        if name in IN_MEMORY and name in self._tables:
            return self._tables[name].lazy().filter(cond).select(list(TABLES[name].columns))
        # Not in memory yet (the background load is still running, or none was started): a lazy filter
        # on the file answers now, where waiting for the whole table could take longer.
        return self.strings(name, self.world.native(name).filter(cond))

    # ------------------------------------------------------------------ request store
    def acct_map(self) -> pl.DataFrame:
        """acct -> account_id of every account (the store's), in memory."""
        assert self.store is not None
        return self.once("acct", lambda: self.store.accounts().collect())

    def lookup(self, column: str) -> pl.DataFrame:
        """code -> text of a store lookup, in memory (IPs also as their 32-bit number: `ip_num`)."""
        assert self.store is not None
        store = self.store

        def build() -> pl.DataFrame:
            lf = store.lookup(column)
            if column == "ip":
                lf = lf.with_columns(ip_int(pl.col("text")).alias("ip_num"))
            return lf.collect()

        return self.once(f"lookup_{column}", build)

    def accts_of(self, ids: Sequence[str]) -> pl.DataFrame:
        """(account_id, acct) of these accounts."""
        s = pl.Series("account_id", list(ids), pl.String)
        return self.acct_map().filter(pl.col("account_id").is_in(s.implode()))

    def requests_of(self, ids: Sequence[str], columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The requests of these accounts in time order, text decoded (the store's `requests_of`, with the
        account map and lookups in memory): reads only the parts holding them."""
        if self.store is None:
            s = pl.Series("account_id", list(ids), pl.String)
            lf = self.rows("requests", "account_id", s)
            keep = [c for c in TABLES["requests"].columns if c != "user_agent"]
            if columns is not None:
                keep = [c for c in keep if c in columns or c in ("ts", "account_id")]
            return lf.select(keep).collect()
        store = self.store
        decoded = [c for c in TABLES["requests"].columns if c != "user_agent"]
        want = [c for c in decoded if columns is None or c in columns or c in ("ts", "account_id")]
        accts = self.accts_of(ids)
        schema = {c: TABLES["requests"].columns[c] for c in want}
        if accts.is_empty() or store.n_rows == 0:
            return pl.DataFrame(schema=schema)
        parts = sorted(set(part_of(store.bounds, accts["acct"]).to_list()))
        files = store.part_files()
        rows = (
            pl.scan_parquet([store.path / files[p] for p in parts], schema=STORE_SCHEMA)
            .filter(pl.col("acct").is_in(accts["acct"].implode()))
            .select("acct", *[c for c in want if c != "account_id"])
            .collect()
        )
        out = rows.join(accts, on="acct", how="left")
        for col in (c for c in LOOKUPS if c in want):
            text = self.lookup(col).select("code", "text").filter(pl.col("code").is_in(out[col].unique().implode()))
            out = out.join(text.rename({"code": col, "text": f"__{col}"}), on=col, how="left")
        return out.sort("ts", "account_id", maintain_order=True).select(
            *[pl.col(f"__{c}").alias(c) if c in LOOKUPS else pl.col(c) for c in want]
        )

    def users_of(self, column: str, codes: pl.Series) -> pl.DataFrame:
        """(column, acct) pairs of the requests whose `column` ("ip" or "key_id") has one of these codes:
        from the request index when it is built, else one filtered scan of that column of the store (while
        the index is still being built in the background: seconds, not the index's minute)."""
        assert self.store is not None
        if self._index is not None:
            pairs = self._index.ip_pairs if column == "ip" else self._index.key_pairs
            return pairs.filter(pl.col(column).is_in(codes.implode()))
        return self.store.scan().select(column, "acct").filter(pl.col(column).is_in(codes.implode())).unique().collect()

    # ------------------------------------------------------------------ the one pass over every request
    def index_ready(self) -> bool:
        return self._index is not None

    def index(self) -> RequestIndex:
        """The request index (built on first call, once; see `RequestIndex`). Needs a request store."""
        assert self.store is not None
        if self._index is not None:
            return self._index
        with self._locks["index"]:
            if self._index is None:
                self._index = self._build_index()
            return self._index

    def _build_index(self) -> RequestIndex:
        assert self.store is not None
        t0 = time.perf_counter()
        off = self.table("accounts").select("account_id", utc_offset(pl.col("country")).alias("off"))
        acct_off = self.acct_map().join(off, on="account_id", how="left").select("acct", pl.col("off").fill_null(0))
        ips, keys, hours, days = [], [], [], []
        for f in self.store.part_files():
            part = pl.scan_parquet(self.store.path / f, schema=STORE_SCHEMA).select("acct", "ts", "ip", "key_id")
            local = ((pl.col("ts").dt.hour().cast(pl.Int16) + pl.col("off")) % 24).cast(pl.Int8)
            with_off = part.join(acct_off.lazy(), on="acct", how="left")
            a, b, c, d = pl.collect_all(
                [
                    part.select("ip", "acct").unique(),
                    part.select("key_id", "acct").unique(),
                    with_off.group_by("acct", local.alias("hour")).agg(pl.len().cast(pl.UInt32).alias("n")),
                    part.group_by("acct", pl.col("ts").dt.date().alias("day")).agg(pl.len().cast(pl.UInt32).alias("n")),
                ]
            )
            ips.append(a)
            keys.append(b)
            hours.append(c)
            days.append(d)
        schema_h = {"acct": pl.UInt32, "hour": pl.Int8, "n": pl.UInt32}
        hours_df = pl.concat(hours) if hours else pl.DataFrame(schema=schema_h)
        pop = hours_df.group_by("hour").agg(pl.col("n").sum().cast(pl.Int64))
        return RequestIndex(
            ip_pairs=(pl.concat(ips) if ips else pl.DataFrame(schema={"ip": pl.UInt64, "acct": pl.UInt32})).sort(
                "ip", "acct"
            ),
            key_pairs=(pl.concat(keys) if keys else pl.DataFrame(schema={"key_id": pl.UInt64, "acct": pl.UInt32})).sort(
                "key_id", "acct"
            ),
            hours=hours_df.sort("acct", "hour"),
            days=(
                pl.concat(days) if days else pl.DataFrame(schema={"acct": pl.UInt32, "day": pl.Date, "n": pl.UInt32})
            ).sort("acct", "day"),
            population_hours=full_hours(pop),
            seconds=time.perf_counter() - t0,
        )
