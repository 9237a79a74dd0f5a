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

    @lru_cache(maxsize=64)
    def _activity_of(self: CaseData, ids_t: tuple[str, ...]) -> dict[str, pl.DataFrame]:
        ids = pl.Series("account_id", ids_t, dtype=pl.String)
        profiles = self.rows("accounts", "account_id", ids)
        signups = profiles.group_by(pl.col("created_at").dt.date().alias("day")).agg(pl.len().alias("n"))
        if self.store is not None:
            # The request index: exact at any moment (built parts from memory, the others from the store).
            h_acct, d_acct = self.tables.counts_of(ids_t)
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
