"""The world as the console reads it: small tables held in memory once, requests from the request store.

Seed-scale worlds have no row-group statistics to skip on, so a lazy filter on `accounts.parquet`
(1M rows) reads the whole file on every question (0.1-0.3 s each). The console instead reads each small
table (accounts, payments, API keys, prompts, ASNs) once, with text columns as plain strings, and
answers every question with in-memory filters (milliseconds). Requests (up to hundreds of millions of
rows) are never held: one account's come from its part of the request store. What needs every request
(which accounts used an IP or a key, hour-of-day and daily counts per account, the population's hours)
is the request index (`tui.data.index`), built part by part; who used which IP or key comes from the
store's users files (range reads), or, for a store written before them, from the index too.

All of that loads in a background thread (`warm`), in small steps that wait while a screen is asking
(`tui.data.priority`). No screen waits for it: until a table is in memory a question about it is a lazy
filter on its file, and the request index answers exactly at any moment (built parts from memory, the
rest from the store).

Without a request store (results computed from another world copy) the world's request table is
scanned lazily, as before: correct, slower.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
from polars.exceptions import PanicException

from farmhunt.core.contract import TABLES, ip_number
from farmhunt.core.timezones import utc_offset
from farmhunt.core.world import World, as_strings
from farmhunt.engine.store import LOOKUPS, STORE_SCHEMA, USERS, USERS_SCHEMA, RequestStore, part_of
from tui.data.common import full_hours
from tui.data.index import RequestIndex
from tui.data.priority import Priority

#: World tables held in memory (everything but requests).
IN_MEMORY = ("accounts", "payments", "api_keys", "prompts", "asns")
#: Rows per step when the background load reads a world table.
LOAD_SLICE = 131_072


class WorldTables:
    """World tables in memory (loaded on first use, once) and the request store's per-account parts."""

    def __init__(self, world: World, store: RequestStore | None, priority: Priority | None = None) -> None:
        self.world = world
        self.store = store
        self.priority = priority or Priority()
        self._tables: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: Who used which IP and key, from the store's users files (None: a store written before them,
        #: the request index builds those pairs instead).
        self._users = {c: store.users(c) for c in USERS} if store is not None else {}
        pairs = any(u is None for u in self._users.values())
        self._index = RequestIndex(store, pairs=pairs) if store is not None else None

    # ------------------------------------------------------------------ loading once
    def once(self, key: str, build: Callable[[], Any], wait: bool = True) -> Any:
        """`build()`'s result, computed once. Without `wait`, None while another thread computes it."""
        if key in self._tables:
            return self._tables[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=wait):
            return None
        try:
            if key not in self._tables:
                self._tables[key] = build()
            return self._tables[key]
        finally:
            lock.release()

    def loaded(self, key: str) -> bool:
        return key in self._tables

    def table(self, name: str) -> pl.DataFrame:
        """World table `name` (one of IN_MEMORY) in memory, canonical dtypes (text as String); loads it
        (or waits for the background load) when it is not yet. Screens use `frame` and `rows`."""
        if name not in IN_MEMORY:
            raise KeyError(name)
        if name not in self.world:
            return pl.DataFrame(schema=dict(TABLES[name].columns))
        return self.once(name, lambda: self._file(name).collect())

    def _file(self, name: str) -> pl.LazyFrame:
        """World table `name` read lazily from its file (accounts with `_email_lc` and the signup IP as
        its 32-bit number, `_ip_num`, for network pivots)."""
        lf = self.strings(name, self.world.native(name))
        if name == "accounts":
            lf = lf.with_columns(
                pl.col("email").str.to_lowercase().alias("_email_lc"), ip_number(pl.col("signup_ip")).alias("_ip_num")
            )
        return lf

    def frame(self, name: str) -> pl.LazyFrame:
        """World table `name` as a lazy frame: from memory once loaded, else from its file (a question
        asked during the background load does not wait for the table)."""
        if name not in self.world:
            return pl.LazyFrame(schema=dict(TABLES[name].columns))
        if name in self._tables:
            return self._tables[name].lazy()
        return self._file(name)

    def warm(self, with_index: bool = True) -> None:
        """Load every in-memory table, the store's account map and lookups, then build the request index;
        a step at a time, each after the screens' questions (for a background thread)."""
        pause = self.priority.pause
        steps: list[Callable[[], object]] = [lambda: self.load_in_slices("accounts", pause)]
        if self.store is not None:  # (the IP lookup before the other tables: a network pivot filters it)
            steps += [self.acct_map, lambda: self.lookup("ip"), lambda: self.lookup("key_id")]
        steps += [lambda n=name: self.load_in_slices(n, pause) for name in IN_MEMORY if name != "accounts"]
        for load in steps:
            pause()
            _retried(load)
        if self.store is not None:
            if with_index and self._index is not None:
                try:
                    _retried(lambda: self._index.build(pause) if self._index is not None else None)
                    pause()
                    self.population_hours()
                except (Exception, PanicException):  # noqa: BLE001 - asked again (and reported) by a screen
                    pass

    def load_in_slices(self, name: str, pause: Callable[[], None]) -> None:
        """Load world table `name` into memory (as `table` does) a slice of LOAD_SLICE rows at a time,
        calling `pause()` between slices: at seed scale the accounts table is 0.65 s of CPU in one piece,
        which a screen's question opened meanwhile would wait behind. The same rows in the same order as
        one read (a CSV world, which cannot seek, is read in one piece)."""
        if name in self._tables or name not in self.world:
            return
        if self.world.files[name].suffix != ".parquet":
            self.table(name)
            return
        n = self._file(name).select(pl.len()).collect().item()
        pieces = []
        for start in range(0, n, LOAD_SLICE):
            if start:
                pause()
            pieces.append(self._file(name).slice(start, LOAD_SLICE).collect())
        self.once(name, lambda: pl.concat(pieces) if pieces else self._file(name).collect())

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
        store = self.store
        return self.once("acct", lambda: store.accounts().collect())

    def _lookup_file(self, column: str) -> pl.LazyFrame:
        assert self.store is not None
        lf = self.store.lookup(column)
        if column == "ip" and self._users.get("ip") is None:  # (a network pivot of an older store filters it)
            lf = lf.with_columns(ip_number(pl.col("text")).alias("ip_num"))
        return lf

    def lookup(self, column: str) -> pl.DataFrame:
        """code -> text of a store lookup, in memory (for a store without users files, IPs also as their
        32-bit number: `ip_num`)."""
        return self.once(f"lookup_{column}", lambda: self._lookup_file(column).collect())

    def lookup_frame(self, column: str) -> pl.LazyFrame:
        """A store lookup as a lazy frame: from memory once loaded, else from its file."""
        key = f"lookup_{column}"
        return self._tables[key].lazy() if key in self._tables else self._lookup_file(column)

    def accts_of(self, ids: Sequence[str]) -> pl.DataFrame:
        """(account_id, acct) of these accounts."""
        assert self.store is not None
        s = pl.Series("account_id", list(ids), pl.String).implode()
        if "acct" in self._tables:
            return self._tables["acct"].filter(pl.col("account_id").is_in(s))
        return self.store.accounts().filter(pl.col("account_id").is_in(s)).collect()

    def account_ids(self, accts: pl.DataFrame) -> pl.DataFrame:
        """`accts` (with column acct) joined to account_id (inner)."""
        assert self.store is not None
        if "acct" in self._tables:
            return accts.join(self._tables["acct"], on="acct")
        want = accts["acct"].unique().implode()
        ids = self.store.accounts().filter(pl.col("acct").is_in(want)).collect()
        return accts.join(ids, on="acct")

    def requests_of(self, ids: Sequence[str], columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The requests of these accounts in time order, text decoded (the store's `requests_of`, with the
        account map and lookups in memory once loaded): reads only the parts holding them."""
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
            used = out[col].unique().implode()
            text = self.lookup_frame(col).select("code", "text").filter(pl.col("code").is_in(used)).collect()
            out = out.join(text.rename({"code": col, "text": f"__{col}"}), on=col, how="left")
        return out.sort("ts", "account_id", maintain_order=True).select(
            *[pl.col(f"__{c}").alias(c) if c in LOOKUPS else pl.col(c) for c in want]
        )

    # ------------------------------------------------------------------ what needs every request
    @property
    def index(self) -> RequestIndex:
        """The request index (`tui.data.index`; exact at any moment, built in the background). Needs a
        request store."""
        assert self._index is not None
        return self._index

    def index_ready(self) -> bool:
        """The request index is completely built."""
        return self._index is not None and self._index.complete()

    def ip_users(self, lo: int, hi: int) -> pl.DataFrame:
        """(ip_num, acct) pairs of the requests from an IPv4 address numbered in [lo, hi], sorted: a range
        read of the store's users file (a few row groups), or for an older store the request index
        (built parts from memory, the others scanned)."""
        if hi < lo or hi < 0:
            return pl.DataFrame(schema=USERS_SCHEMA["ip"])
        lo = max(lo, 0)
        users = self._users.get("ip")
        if users is not None:
            return users.filter(pl.col("ip_num").is_between(lo, hi)).collect()
        codes = (
            self.lookup_frame("ip")
            .filter(pl.col("ip_num").is_between(lo, hi))
            .select(pl.col("code").alias("ip"), pl.col("ip_num").cast(pl.UInt32))
            .collect()
        )
        pairs = self.index.users("ip", codes["ip"]).join(codes, on="ip")
        return pairs.select("ip_num", "acct").sort("ip_num", "acct")

    def key_users(self, codes: pl.Series) -> pl.DataFrame:
        """(key_id, acct) pairs of the requests with one of these key codes, sorted: a range read of the
        store's users file, or for an older store the request index."""
        users = self._users.get("key_id")
        if users is None:
            return self.index.users("key_id", codes)
        codes = codes.cast(pl.UInt64)
        if codes.is_empty():
            return pl.DataFrame(schema=USERS_SCHEMA["key_id"])
        # (the range lets the reader skip row groups by their statistics; is_in alone does not)
        lo, hi = codes.min(), codes.max()
        return (
            users.filter(pl.col("key_id").is_between(lo, hi), pl.col("key_id").is_in(codes.implode()))
            .collect()
            .sort("key_id", "acct")
        )

    def counts_of(self, ids: Sequence[str], built_only: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Requests of these accounts by local hour (acct, hour, n) and by day (acct, day, n): the request
        index, each account's hours moved to its declared country's local time (`built_only`: only the
        accounts whose store part the index has built, nothing read from the store)."""
        accts = self.accts_of(ids)
        hours, days = self.index.counts(accts["acct"], built_only=built_only)
        off = (
            self.rows("accounts", "account_id", accts["account_id"])
            .select("account_id", utc_offset(pl.col("country")).alias("off"))
            .collect()
        )
        acct_off = accts.join(off, on="account_id", how="left").select("acct", pl.col("off").fill_null(0))
        return _local(hours, acct_off), days

    def uncounted(self, ids: Sequence[str]) -> tuple[int, list[int]]:
        """How many of these accounts have requests the request index has not counted yet (their store
        part's hours or days not built), and those parts."""
        accts = self.accts_of(ids)["acct"]
        pending = self.index.pending(accts)
        if not pending:
            return 0, []
        left = part_of(self.store.bounds, accts.cast(pl.UInt32)).is_in(pl.Series(pending).implode()).sum()
        return int(left), pending

    def population_hours(self, wait: bool = True) -> pl.DataFrame | None:
        """Every request's local hour of day (hour, n, share), computed once from the request index's hour
        counts (the background load does it last). Without `wait`: None until then; with it, the rest
        of the index is built (or waited for) in this thread."""
        if "population" in self._tables or not wait:
            return self._tables.get("population")
        self.index.build(self.priority.pause)
        return self.once("population", self._population)

    def _population(self) -> pl.DataFrame:
        hours = self.index.all_hours()
        assert hours is not None
        off = self.table("accounts").select("account_id", utc_offset(pl.col("country")).alias("off"))
        acct_off = self.acct_map().join(off, on="account_id", how="left").select("acct", pl.col("off").fill_null(0))
        local = _local(hours, acct_off)
        return full_hours(local.group_by("hour").agg(pl.col("n").sum().cast(pl.Int64)))

    def key_lock(self, key: object) -> threading.Lock:
        """A lock of its own for `key`: one thread computes an answer while the others asking wait for it
        (then read it from the cache) instead of computing it again."""
        with self._guard:
            return self._locks.setdefault(str(hash(key)), threading.Lock())


def _retried(fn: Callable[[], object]) -> None:
    """`fn()`, once more if polars panics (seen once at seed scale: an internal assertion in a string
    kernel that did not recur on the same data); a second failure is left to the screens, which then
    read the files."""
    try:
        fn()
    except PanicException:
        try:
            fn()
        except (Exception, PanicException):  # noqa: BLE001
            pass


def _local(hours: pl.DataFrame, acct_off: pl.DataFrame) -> pl.DataFrame:
    """(acct, utc_hour, n) -> (acct, hour, n) in each account's local time (offset `off` per acct)."""
    return (
        hours.join(acct_off, on="acct", how="left")
        .select(
            "acct",
            ((pl.col("utc_hour").cast(pl.Int16) + pl.col("off").fill_null(0)) % 24).cast(pl.Int8).alias("hour"),
            "n",
        )
        .group_by("acct", "hour")
        .agg(pl.col("n").sum().cast(pl.UInt32))
    )
