"""The request index: what needs every request, built part by part of the request store in small steps.

It holds every account's requests by UTC hour of day and by day, and, for a store written before the
store's users files (`farmhunt.engine.store.USERS`: who used each IP and key, sorted by the value, read
by a range read instead), which accounts used each request IP and each API key (code, acct pairs). It
is built in the background, a step at a time: a slice of at most SLICE_ROWS rows of one part for one
pass (IP pairs, key pairs, hour counts or day counts); a part is done when its last slice is, and its
slices' answers are merged then. The IP pairs of every part come first, because an IP pivot needs them
all, then each part's hours and days. A step is kept short (seed scale: 0.03-0.05 s of CPU; a whole
part was 0.2-0.4 s) because polars runs every query on one shared thread pool: a screen's question
asked while a step runs waits for it, and on a loaded machine a whole-part step made a screen wait a
second. Every question is answered exactly at any moment: from the index for the parts already done,
and by reading the store for the parts that are not (one filtered column scan, or the asked accounts'
own parts), so no screen waits for the whole pass.

Hours are kept in UTC; the local hour (the account's declared country's offset) is applied when asked,
which keeps the build independent of the world tables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import polars as pl

from farmhunt.engine.store import STORE_SCHEMA, RequestStore, part_of

#: The index's passes over the parts, in build order.
PASSES = ("ip", "key_id", "hours", "days")
_US_HOUR = 3_600_000_000
_US_DAY = 86_400_000_000
PAIR_SCHEMA = {"ip": {"ip": pl.UInt64, "acct": pl.UInt32}, "key_id": {"key_id": pl.UInt64, "acct": pl.UInt32}}
HOURS_SCHEMA = {"acct": pl.UInt32, "utc_hour": pl.Int8, "n": pl.UInt32}
DAYS_SCHEMA = {"acct": pl.UInt32, "day": pl.Date, "n": pl.UInt32}
#: Rows of a part one step reads at most (a seed-scale part of 2.9M rows is built in 8 steps).
SLICE_ROWS = 400_000


def _utc_hour() -> pl.Expr:
    return ((pl.col("ts").cast(pl.Int64) // _US_HOUR) % 24).cast(pl.Int8).alias("utc_hour")


def _day() -> pl.Expr:
    return (pl.col("ts").cast(pl.Int64) // _US_DAY).cast(pl.Int32).cast(pl.Date).alias("day")


def _hours(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.group_by("acct", _utc_hour()).agg(pl.len().cast(pl.UInt32).alias("n"))


def _days(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.group_by("acct", _day()).agg(pl.len().cast(pl.UInt32).alias("n"))


def _merge(what: str, pieces: list[pl.DataFrame]) -> pl.DataFrame:
    """One part's answer from its slices' answers (an account's requests may be in several slices)."""
    if len(pieces) == 1:
        return pieces[0]
    both = pl.concat(pieces)
    if what in ("hours", "days"):
        key = "utc_hour" if what == "hours" else "day"
        return both.group_by("acct", key).agg(pl.col("n").sum().cast(pl.UInt32))
    return both.unique()


class RequestIndex:
    """The index of one request store, built by `step()` calls (any thread; each step runs once)."""

    def __init__(self, store: RequestStore, pairs: bool = True, slice_rows: int = SLICE_ROWS) -> None:
        """`pairs`: build the IP and key passes too (a store without users files). `slice_rows`: rows of a
        part one step reads at most."""
        self.store = store
        self.files = [store.path / f for f in store.part_files()] if store.n_rows else []
        n = len(self.files)
        self.passes = PASSES if pairs else ("hours", "days")
        self._done: dict[str, list[pl.DataFrame | None]] = {"ip": [None] * n, "key_id": [None] * n}
        self._hours: list[pl.DataFrame | None] = [None] * n
        self._days: list[pl.DataFrame | None] = [None] * n
        self._slice_rows = slice_rows
        #: Slices of each part and their rows (read from the part's metadata when a step first needs it).
        self._slices: list[int | None] = [None] * n
        self._slice_len: list[int] = [0] * n
        #: Answers of the slices of a part built so far, by (pass, part).
        self._pieces: dict[tuple[str, int], list[pl.DataFrame]] = {}
        #: (pass, part, slice); slice None: all of them, expanded when the step is taken.
        # (the hours and days of a part one after the other: a group's members counted so far have both,
        # `counts(built_only=True)`, for a large group's chart drawn during the build)
        pairs_first = [(p, i, None) for p in self.passes if p not in ("hours", "days") for i in range(n)]
        self._todo: list[tuple[str, int, int | None]] = pairs_first + [
            (p, i, None) for i in range(n) for p in ("hours", "days")
        ]
        self._running = 0
        self._cond = threading.Condition()
        self._builder = threading.Lock()  # one thread builds at a time (a step holds a part in memory)
        #: Seconds spent in steps (all threads), and wall seconds from the first step to the last.
        self.step_seconds = 0.0
        self._t0: float | None = None
        self.seconds = 0.0

    # ------------------------------------------------------------------ building
    def _part(self, i: int) -> pl.LazyFrame:
        return pl.scan_parquet(self.files[i], schema=STORE_SCHEMA)

    def _slices_of(self, i: int) -> int:
        """Into how many slices part `i` is read (from its metadata, once)."""
        n = self._slices[i]
        if n is None:
            rows = pl.scan_parquet(self.files[i]).select(pl.len()).collect().item()
            n = max(1, -(-rows // self._slice_rows))
            self._slice_len[i] = -(-rows // n)
            self._slices[i] = n
        return n

    def _read(self, what: str, i: int, k: int) -> pl.DataFrame:
        """Slice `k` of part `i`'s answer for pass `what`."""
        part = self._part(i)
        if self._slices_of(i) > 1:
            part = part.slice(k * self._slice_len[i], self._slice_len[i])
        if what == "hours":
            return _hours(part.select("acct", "ts")).collect()
        if what == "days":
            return _days(part.select("acct", "ts")).collect()
        return part.select(what, "acct").unique().collect()

    def _failed(self, steps: list[tuple[str, int, int | None]]) -> None:
        """A step failed: its pieces are to be built again (first)."""
        with self._cond:
            self._todo[:0] = steps
            self._running -= 1
            self._cond.notify_all()

    def step(self) -> bool:
        """Build the next piece (one slice of one part for one pass). False when nothing is left to start."""
        with self._cond:
            if not self._todo:
                return False
            what, i, k = self._todo.pop(0)
            self._running += 1
            if self._t0 is None:
                self._t0 = time.perf_counter()
        t = time.perf_counter()
        try:
            if k is None:  # the part's first step: its other slices are next
                n = self._slices_of(i)
                k = 0
                with self._cond:
                    self._todo[:0] = [(what, i, j) for j in range(1, n)]
            piece = self._read(what, i, k)
        except BaseException:
            self._failed([(what, i, k)])  # (k None: the slices are not known yet)
            raise
        with self._cond:
            pieces = self._pieces.setdefault((what, i), [])
            pieces.append(piece)
            last = len(pieces) == self._slices_of(i)
            if last:
                del self._pieces[(what, i)]
        if last:
            try:
                done = _merge(what, pieces)
            except BaseException:
                self._failed([(what, i, j) for j in range(self._slices_of(i))])  # (built again)
                raise
        with self._cond:
            if last:
                self._pass(what)[i] = done
            self._running -= 1
            self.step_seconds += time.perf_counter() - t
            if not self._todo and not self._running:
                self.seconds = time.perf_counter() - (self._t0 or t)
            self._cond.notify_all()
        return True

    def build(self, pause: Callable[[], None] | None = None) -> None:
        """Run the remaining steps (calling `pause()` before each), or wait for the thread that does
        (one builder at a time: parallel builders would multiply the memory and share the same cores)."""
        with self._builder:
            while True:
                if pause is not None:
                    pause()
                if not self.step():
                    break
        with self._cond:
            self._cond.wait_for(lambda: not self._running)

    def complete(self, what: str | None = None) -> bool:
        """Every pass done (or pass `what`: "ip", "key_id", "hours", "days")."""
        with self._cond:
            if what is None:
                return not self._todo and not self._running
            return all(p is not None for p in self._pass(what))

    def _pass(self, what: str) -> list[pl.DataFrame | None]:
        return self._hours if what == "hours" else self._days if what == "days" else self._done[what]

    def progress(self) -> str:
        """How far the build is, e.g. "IPs 53/53, keys 53/53, hours 12/53, days 0/53" (without the IP and
        key passes: "hours 12/53, days 0/53")."""
        with self._cond:
            got = [sum(p is not None for p in self._pass(w)) for w in self.passes]
        n = len(self.files)
        names = {"ip": "IPs", "key_id": "keys", "hours": "hours", "days": "days"}
        return ", ".join(f"{names[w]} {g}/{n}" for w, g in zip(self.passes, got))

    # ------------------------------------------------------------------ answers (exact at any moment)
    def users(self, column: str, codes: pl.Series) -> pl.DataFrame:
        """(column, acct) pairs of the requests whose `column` ("ip" or "key_id") has one of these codes,
        unique, sorted: the built parts' pairs, and one filtered scan of the parts not built yet."""
        want = codes.cast(pl.UInt64).implode()
        with self._cond:
            parts = list(self._done[column])
        have = [p.filter(pl.col(column).is_in(want)) for p in parts if p is not None]
        rest = [self.files[i] for i, p in enumerate(parts) if p is None]
        if rest:
            scan = pl.scan_parquet(rest, schema=STORE_SCHEMA).select(column, "acct")
            # (streaming: integer columns only, 10-30% less CPU than in memory over 50 parts)
            have.append(scan.filter(pl.col(column).is_in(want)).unique().collect(engine="streaming"))
        out = pl.concat(have) if have else pl.DataFrame(schema=PAIR_SCHEMA[column])
        return out.sort(column, "acct")

    def _parts_of(self, accts: pl.Series) -> list[int]:
        return sorted(set(part_of(self.store.bounds, accts.cast(pl.UInt32)).to_list())) if self.files else []

    def pending(self, accts: pl.Series) -> list[int]:
        """The parts holding these accounts' requests whose hours or days are not built yet (what
        `counts` would read from the store)."""
        in_parts = self._parts_of(accts)
        with self._cond:
            return [i for i in in_parts if self._hours[i] is None or self._days[i] is None]

    def counts(self, accts: pl.Series, built_only: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Requests of these accounts (acct codes) by UTC hour (acct, utc_hour, n) and by day (acct,
        day, n): from the index for built parts, from the accounts' own parts otherwise (`built_only`:
        not; only the accounts whose part has both its hours and days built are counted, see
        `pending`)."""
        accts = accts.cast(pl.UInt32)
        if accts.is_empty() or not self.files:
            return pl.DataFrame(schema=HOURS_SCHEMA), pl.DataFrame(schema=DAYS_SCHEMA)
        want = accts.implode()
        in_parts = self._parts_of(accts)
        with self._cond:
            if built_only:
                in_parts = [i for i in in_parts if self._hours[i] is not None and self._days[i] is not None]
            built = {w: {i: f for i in in_parts if (f := self._pass(w)[i]) is not None} for w in ("hours", "days")}
        out = []
        for what, count in (("hours", _hours), ("days", _days)):
            got = [f.filter(pl.col("acct").is_in(want)) for f in built[what].values()]
            rest = [self.files[i] for i in in_parts if i not in built[what]]
            if rest:
                part = pl.scan_parquet(rest, schema=STORE_SCHEMA).select("acct", "ts")
                got.append(count(part.filter(pl.col("acct").is_in(want))).collect(engine="streaming"))
            out.append(pl.concat(got) if got else pl.DataFrame(schema=HOURS_SCHEMA if what == "hours" else DAYS_SCHEMA))
        return out[0], out[1]

    def all_hours(self) -> pl.DataFrame | None:
        """(acct, utc_hour, n) of every account once the counts pass is done, else None."""
        with self._cond:
            if any(h is None for h in self._hours):
                return None
            parts = [h for h in self._hours if h is not None]
        return pl.concat(parts) if parts else pl.DataFrame(schema=HOURS_SCHEMA)

    def estimated_bytes(self) -> int:
        """Memory the built parts hold."""
        with self._cond:
            frames = [*self._done["ip"], *self._done["key_id"], *self._hours, *self._days]
        return sum(f.estimated_size() for f in frames if f is not None)
