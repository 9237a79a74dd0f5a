"""Activity charts: requests by hour of day in each account's local time (its declared country's offset,
the rule detection uses), requests per day and signups per day of a group, and the population's hours.

With a request store these read the request index (`tui.data.index`: counts per account and hour,
and per account and day, built part by part in the background), so a 25,000-account farm's charts cost
a join, not a read of every request; parts not indexed yet are read for the asked accounts only."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import polars as pl

from farmhunt.core.timezones import utc_offset
from tui.data.common import full_hours

if TYPE_CHECKING:
    from tui.data import CaseData


#: A group's activity asked during the background load reads at most this many store parts the request
#: index has not counted yet (seed scale: about 0.06 s of CPU each); a larger group is drawn from its
#: members counted so far and drawn again as the load goes on (`activity_so_far`).
READ_PARTS = 4


class ChartQueries:
    """The chart part of `CaseData`."""

    @lru_cache(maxsize=64)
    def activity(self: CaseData, cid: int) -> dict[str, pl.DataFrame]:
        return self.activity_of(self.member_ids(cid))

    @lru_cache(maxsize=64)
    def account_activity(self: CaseData, aid: str) -> dict[str, pl.DataFrame]:
        return self.activity_of((aid,))

    def activity_of(self: CaseData, ids_t: tuple[str, ...]) -> dict[str, pl.DataFrame]:
        """Hour of day in each account's local time, daily request volume and daily signups of these
        accounts: {"hours" (hour, n, share), "daily" (day, n), "signups" (day, n)}. Computed once per
        group (a case and its only cluster ask at the same time)."""
        with self.tables.key_lock(("activity", ids_t)):
            return self._activity_of(ids_t)

    def activity_so_far(
        self: CaseData, ids_t: tuple[str, ...], partial: bool = True
    ) -> tuple[dict[str, pl.DataFrame], int]:
        """The activity of these accounts as far as it is known now, and how many of them have requests
        left out of it. Exact (none left out: `activity_of`) without `partial` (no background load is
        counting the rest), when the request index has counted their store parts, or when at most
        READ_PARTS of those parts are left to read; else the requests are those of the members whose
        parts are counted (signups: every member's) and the rest are left out: ask again as the
        background load goes on (a large case's members' requests are in every part, and reading them
        all during the load is seconds of CPU that every screen waits behind)."""
        if self.store is None or not partial:
            return self.activity_of(ids_t), 0
        left, pending = self.tables.uncounted(ids_t)
        if len(pending) <= READ_PARTS:
            return self.activity_of(ids_t), 0
        return self._activity(ids_t, built_only=True), left

    @lru_cache(maxsize=64)
    def _activity_of(self: CaseData, ids_t: tuple[str, ...]) -> dict[str, pl.DataFrame]:
        return self._activity(ids_t)

    def _activity(self: CaseData, ids_t: tuple[str, ...], built_only: bool = False) -> dict[str, pl.DataFrame]:
        ids = pl.Series("account_id", ids_t, dtype=pl.String)
        profiles = self.rows("accounts", "account_id", ids)
        signups = profiles.group_by(pl.col("created_at").dt.date().alias("day")).agg(pl.len().alias("n"))
        if self.store is not None:
            # The request index: exact at any moment (built parts from memory, the others from the store;
            # `built_only`: the built parts only).
            h_acct, d_acct = self.tables.counts_of(ids_t, built_only=built_only)
            hours = h_acct.lazy().group_by("hour").agg(pl.col("n").sum().cast(pl.Int64).alias("n"))
            daily = d_acct.lazy().group_by("day").agg(pl.col("n").sum().cast(pl.UInt32).alias("n"))
        else:
            offsets = profiles.select("account_id", utc_offset(pl.col("country")).alias("off"))
            req = self.requests_of(ids, ()).join(offsets, on="account_id", how="left")
            hours = req.group_by(
                ((pl.col("ts").dt.hour().cast(pl.Int64) + pl.col("off").fill_null(0)) % 24).alias("hour")
            ).agg(pl.len().alias("n"))
            daily = req.group_by(pl.col("ts").dt.date().alias("day")).agg(pl.len().alias("n"))
        h, d, s = pl.collect_all([hours, daily, signups])
        return {"hours": full_hours(h), "daily": d.sort("day"), "signups": s.sort("day")}

    def population_hours(self: CaseData, wait: bool = True) -> pl.DataFrame | None:
        """Hour-of-day share over all requests in local time (computed once: the request index, or one
        streaming pass over the world's requests when there is no store). Without `wait`, None while
        that is not done yet."""
        if self.store is not None:
            return self.tables.population_hours(wait)
        if not wait and self._population_hours is None:
            return None
        with self._lock:
            if self._population_hours is None:
                off = self.world["accounts"].select("account_id", utc_offset(pl.col("country")).alias("off"))
                req = self.world["requests"].select("account_id", "ts").join(off, on="account_id", how="left")
                local = (pl.col("ts").dt.hour().cast(pl.Int64) + pl.col("off").fill_null(0)) % 24
                h = req.group_by(local.alias("hour")).agg(pl.len().alias("n")).collect(engine="streaming")
                self._population_hours = full_hours(h)
            return self._population_hours
