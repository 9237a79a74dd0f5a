"""A case or a cluster: members (with inherited statuses), evidence, ties as detection linked them, and
the linkage graph's structure. Profiles come from the in-memory world tables (`tui.data.world`)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import polars as pl

from tui.data.common import SIGNAL_WORDS, TIE_ORDER, words
from tui.data.queue import status_frame

if TYPE_CHECKING:
    from tui.data import CaseData


class GroupQueries:
    """The case and cluster part of `CaseData`."""

    @staticmethod
    def effective_statuses(
        df: pl.DataFrame,
        account_statuses: dict[str, str],
        case_statuses: dict[str, str],
        cluster_statuses: dict[int, str],
    ) -> pl.DataFrame:
        """`df` (account_id, case_id, cluster_id) with status (own, else the case's, else the cluster's,
        else new: the rule of `DecisionStore.effective_status`) and status_from ('', 'case', 'cluster')."""

        out = df
        for d, key, dtype, name in (
            (account_statuses, "account_id", pl.String, "_own"),
            (case_statuses, "case_id", pl.String, "_case"),
            ({int(k): v for k, v in cluster_statuses.items()}, "cluster_id", pl.Int64, "_cluster"),
        ):
            if key in out.columns:
                out = out.join(status_frame(d, key, dtype, name), on=key, how="left", maintain_order="left")
            else:
                out = out.with_columns(pl.lit(None, pl.String).alias(name))
        return out.with_columns(
            pl.coalesce("_own", "_case", "_cluster", pl.lit("new")).alias("status"),
            pl.when(pl.col("_own").is_not_null())
            .then(pl.lit(""))
            .when(pl.col("_case").is_not_null())
            .then(pl.lit("case"))
            .when(pl.col("_cluster").is_not_null())
            .then(pl.lit("cluster"))
            .otherwise(pl.lit(""))
            .alias("status_from"),
        ).drop("_own", "_case", "_cluster")

    @lru_cache(maxsize=64)
    def member_ids(self: CaseData, cid: int) -> tuple[str, ...]:
        # (select, then filter: the results' accounts have ninety columns and a million rows)
        ids = self.results.accounts.select("account_id", "cluster_id").filter(pl.col("cluster_id") == cid)
        ids = ids["account_id"].sort()
        return tuple(ids.to_list())

    def members(self: CaseData, cid: int) -> pl.DataFrame:
        """Members of cluster `cid` with profile, request count and spend, highest risk first."""
        return self.members_of(self.member_ids(cid))

    @lru_cache(maxsize=64)
    def members_of(self: CaseData, ids_t: tuple[str, ...]) -> pl.DataFrame:
        """These accounts with their results (case, cluster, risk), profile, request count and spend."""
        ids = pl.Series("account_id", ids_t, dtype=pl.String)
        extra = [c for c in ("n_requests", "spend_usd") if c in self.results.accounts.columns]
        res = self.results.accounts.select("account_id", *self._result_cols, *extra).filter(
            pl.col("account_id").is_in(ids.implode())
        )
        prof = (
            self.rows("accounts", "account_id", ids)
            .select("account_id", "email", "created_at", "country", "plan", "phone", "device_id", "signup_ip", "org_id")
            .collect()
        )
        out = res.join(prof, on="account_id", how="left")
        if "n_requests" not in out.columns or "spend_usd" not in out.columns:
            out = out.drop("n_requests", "spend_usd", strict=False).join(self._volume(ids), on="account_id", how="left")
        return out.with_columns(pl.col("n_requests").fill_null(0), pl.col("spend_usd").fill_null(0.0)).sort(
            ["risk", "account_id"], descending=[True, False]
        )

    def _volume(self: CaseData, ids: pl.Series) -> pl.DataFrame:
        n = self.requests_of(ids, ()).group_by("account_id").agg(pl.len().cast(pl.Int64).alias("n_requests"))
        s = (
            self.rows("payments", "account_id", ids)
            .filter(pl.col("status") == "succeeded")
            .group_by("account_id")
            .agg(pl.col("amount_usd").sum().alias("spend_usd"))
        )
        a, b = pl.collect_all([n, s])
        return a.join(b, on="account_id", how="full", coalesce=True)

    def evidence(self: CaseData, cid: int) -> pl.DataFrame:
        return self.results.evidence.filter(pl.col("cluster_id") == cid).sort("rank")

    def evidence_of(self: CaseData, cids: tuple[int, ...]) -> pl.DataFrame:
        """Evidence of several clusters (a case): the clusters in the order given, each one's in rank order."""
        order = pl.DataFrame(
            {"cluster_id": list(cids), "_o": list(range(len(cids)))}, schema={"cluster_id": pl.Int64, "_o": pl.Int64}
        )
        return self.results.evidence.join(order, on="cluster_id").sort("_o", "rank").drop("_o")

    @lru_cache(maxsize=64)
    def ties(self: CaseData, cid: int, limit: int = 500) -> pl.DataFrame:
        """What ties the members together, as detection linked on it (ties.parquet): what (in words),
        value, members (sharing it); the evidence pack's table. `ties_of` adds in_world and signal."""
        return self.ties_of((cid,), limit).select("what", "value", "members")

    @lru_cache(maxsize=64)
    def ties_of(self: CaseData, cids: tuple[int, ...], limit: int = 300) -> pl.DataFrame:
        t = self.tie_table
        schema = {"what": pl.String, "value": pl.String, "members": pl.Int64, "in_world": pl.Int64, "signal": pl.String}
        if t.is_empty():
            return pl.DataFrame(schema=schema)
        order = {k: i for i, k in enumerate(TIE_ORDER)}
        t = t.filter(pl.col("cluster_id").is_in(pl.Series(cids, dtype=pl.Int64).implode()))
        return (
            t.group_by("signal", "value")
            .agg(pl.col("n_members").sum().cast(pl.Int64).alias("members"), pl.col("n_accounts").max().cast(pl.Int64))
            .with_columns(
                pl.col("signal").replace_strict(SIGNAL_WORDS, default=pl.col("signal")).alias("what"),
                pl.col("signal").replace_strict(order, default=len(order), return_dtype=pl.Int32).alias("_o"),
                pl.col("n_accounts").alias("in_world"),
            )
            .sort(["members", "_o", "value"], descending=[True, False, False])
            .select(list(schema))
            .head(limit)
        )

    @lru_cache(maxsize=64)
    def graph(self: CaseData, cid: int, nx_limit: int = 20_000) -> dict:
        """Linkage structure of the cluster: density and hub share as detection measured them
        (clusters.parquet), edges, components, hubs and edge reasons from edges.parquet."""
        ids = pl.Series(self.member_ids(cid), dtype=pl.String).implode()
        e = self.results.edges.filter(pl.col("src").is_in(ids), pl.col("dst").is_in(ids))
        row = self.cluster_row(cid)
        n = len(self.member_ids(cid))
        m = e.height
        deg = (
            pl.concat([e.select(pl.col("src").alias("a")), e.select(pl.col("dst").alias("a"))])
            .group_by("a")
            .len()
            .sort(["len", "a"], descending=[True, False])
        )
        reasons = (
            e.select(pl.col("reasons").explode())
            .drop_nulls()
            .group_by("reasons")
            .len()
            .sort(["len", "reasons"], descending=[True, False])
        )
        components: int | None = None
        if m <= nx_limit:
            import networkx as nx

            from farmhunt.engine.results import cluster_graph

            components = nx.number_connected_components(cluster_graph(e, list(self.member_ids(cid))))
        density = row.get("density")
        return {
            "nodes": n,
            "edges": m,
            "density": float(density) if density is not None else (2 * m / (n * (n - 1)) if n > 1 else 0.0),
            "hub_share": row.get("hub_share"),
            "components": components,
            "hubs": [(a, d) for a, d in deg.head(5).iter_rows()],
            "reasons": [(words(r), c) for r, c in reasons.iter_rows()],
            "isolated": n - deg.height,
        }
