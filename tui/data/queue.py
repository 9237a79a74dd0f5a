"""The case queue: `cases.parquet` in rank order (then, on request, every cluster outside a case), with
each case's status; and the look-ups a case row needs (its clusters, its members)."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from tui.data import CaseData

_QUEUE_COLUMNS = [
    "key",
    "case_id",
    "cluster_id",
    "lone_account",
    "kind",
    "risk",
    "size",
    "flagged_accounts",
    "n_clusters",
    "reason",
    "rank",
]


def status_frame(d: dict, key: str, dtype: pl.DataType, name: str) -> pl.DataFrame:
    """A decisions dict as a two-column frame (key, name) to join on."""
    return pl.DataFrame({key: list(d), name: list(d.values())}, schema={key: dtype, name: pl.String})


class QueueQueries:
    """The queue part of `CaseData`."""

    def cluster_table(self: CaseData) -> pl.DataFrame:
        """Every cluster with its top evidence and case, riskiest first."""
        r = self.results
        top = (
            r.evidence.sort("cluster_id", "rank")
            .group_by("cluster_id", maintain_order=True)
            .agg(pl.col("text").first().alias("top_evidence"))
        )
        extra = [c for c in ("density", "hub_share", "internal_edges") if c in r.clusters.columns]
        cases = self.cases.select("case_id", pl.col("clusters")).explode("clusters").drop_nulls("clusters")
        return (
            r.clusters.select("cluster_id", "predicted_kind", "size", "risk", "flagged", *extra)
            .join(top, on="cluster_id", how="left")
            .join(cases.rename({"clusters": "cluster_id"}), on="cluster_id", how="left")
            .with_columns(pl.col("top_evidence").fill_null(""))
            .sort(["risk", "size", "cluster_id"], descending=[True, True, False])
        )

    def kinds(self: CaseData) -> list[str]:
        return sorted(set(self.cases["kind"].drop_nulls().to_list()) | set(self.clusters["predicted_kind"].to_list()))

    @cached_property
    def queue_base(self: CaseData) -> pl.DataFrame:
        """The cases in rank order with their lone account and reason (statuses not applied); built once."""
        c = self.cases
        acc = self.results.accounts
        if "case_id" in acc.columns:
            lone = c.filter(pl.col("n_clusters") == 0)["case_id"].implode()
            lone_acc = acc.filter(pl.col("case_id").is_in(lone)).select(
                "case_id", pl.col("account_id").alias("lone_account")
            )
        else:
            lone_acc = pl.DataFrame(schema={"case_id": pl.String, "lone_account": pl.String})
        q = (
            c.join(lone_acc, on="case_id", how="left")
            .with_columns(
                pl.format("case:{}", pl.col("case_id")).alias("key"),
                pl.col("clusters").list.first().alias("cluster_id"),
            )
            .sort("rank")
        )
        # A lone account's reason: detection's first evidence row for it (one join), else its features.
        t = self.account_evidence_table
        if t is not None and t.height:
            first = (
                t.sort("account_id", "rank")
                .group_by("account_id", maintain_order=True)
                .agg(pl.col("text").first().alias("_lone_text"))
            )
            q = q.join(
                first.rename({"account_id": "lone_account"}), on="lone_account", how="left", maintain_order="left"
            )
        else:
            q = q.with_columns(pl.lit(None, pl.String).alias("_lone_text"))
        missing = q.filter(pl.col("top_reason").is_null() & pl.col("_lone_text").is_null())["lone_account"]
        fallback = {a: self._lone_reason(a) for a in missing.drop_nulls().to_list()}
        q = q.with_columns(
            pl.coalesce(
                "top_reason",
                "_lone_text",
                pl.col("lone_account").replace_strict(fallback, default=None, return_dtype=pl.String),
                pl.lit(""),
            ).alias("reason")
        )
        return q.select(_QUEUE_COLUMNS)

    def queue(
        self: CaseData,
        show_all: bool = False,
        kind: str | None = None,
        min_risk: float = 0.0,
        status: str | None = None,
        case_statuses: dict[str, str] | None = None,
        cluster_statuses: dict[int, str] | None = None,
        account_statuses: dict[str, str] | None = None,
    ) -> pl.DataFrame:
        """The case queue, in `cases.parquet` order (rank); with `show_all` every cluster outside a case
        follows, riskiest first. Columns: key, case_id, cluster_id, kind, risk, size, flagged_accounts,
        n_clusters, reason, status. A case without its own decision shows its only cluster's (or its lone
        account's) status."""
        q = self.queue_base
        if show_all:
            rest = self.clusters.filter(pl.col("case_id").is_null()).select(
                pl.format("cluster:{}", pl.col("cluster_id")).alias("key"),
                pl.lit(None, pl.String).alias("case_id"),
                "cluster_id",
                pl.lit(None, pl.String).alias("lone_account"),
                pl.col("predicted_kind").alias("kind"),
                "risk",
                "size",
                pl.lit(0, pl.Int64).alias("flagged_accounts"),
                pl.lit(1, pl.Int32).alias("n_clusters"),
                pl.col("top_evidence").alias("reason"),
                pl.lit(None, pl.Int32).alias("rank"),
            )
            q = pl.concat([q, rest], how="vertical_relaxed")
        ks = {int(k): v for k, v in (cluster_statuses or {}).items()}
        q = (
            q.join(
                status_frame(case_statuses or {}, "case_id", pl.String, "_case"),
                on="case_id",
                how="left",
                maintain_order="left",
            )
            .join(
                status_frame(ks, "cluster_id", pl.Int64, "_cluster"), on="cluster_id", how="left", maintain_order="left"
            )
            .join(
                status_frame(account_statuses or {}, "lone_account", pl.String, "_lone"),
                on="lone_account",
                how="left",
                maintain_order="left",
            )
            .with_columns(
                pl.coalesce(
                    "_case",
                    pl.when(pl.col("n_clusters") <= 1).then(pl.col("_cluster")),
                    "_lone",
                    pl.lit("new"),
                ).alias("status")
            )
            .drop("_case", "_cluster", "_lone")
        )
        if kind:
            q = q.filter(pl.col("kind") == kind)
        if min_risk > 0:
            q = q.filter(pl.col("risk") >= min_risk)
        if status:
            q = q.filter(pl.col("status") == status)
        return q

    @lru_cache(maxsize=4096)
    def _lone_reason(self: CaseData, aid: str | None) -> str:
        if aid is None:
            return ""
        ev = self.account_evidence(aid)
        return ev["text"][0] if ev.height else ""

    def has_cluster(self: CaseData, cid: int) -> bool:
        return cid in self._cluster_ids

    def has_case(self: CaseData, case_id: str) -> bool:
        return case_id in self._case_ids

    def has_account(self: CaseData, aid: str) -> bool:
        """The world has account `aid`: from the results' accounts (in memory) when they list it, else
        from the world's accounts table."""
        if not self.results.accounts.filter(pl.col("account_id") == aid).is_empty():
            return True
        try:
            self.account(aid)
        except KeyError:
            return False
        return True

    def cluster_row(self: CaseData, cid: int) -> dict:
        rows = self.clusters.filter(pl.col("cluster_id") == cid)
        if rows.is_empty():
            raise KeyError(cid)
        return rows.row(0, named=True)

    def case_row(self: CaseData, case_id: str) -> dict:
        """The case's queue row (no status: the screens read it from the decisions store)."""
        rows = self.queue_base.filter(pl.col("case_id") == case_id)
        if rows.is_empty():
            raise KeyError(case_id)
        return rows.row(0, named=True)

    def case_clusters(self: CaseData, case_id: str) -> pl.DataFrame:
        """The clusters of a case in the case's order: cluster_id, kind, risk, size, density, top evidence."""
        rows = self.cases.filter(pl.col("case_id") == case_id)
        if rows.is_empty():
            raise KeyError(case_id)
        ids = pl.DataFrame({"cluster_id": rows["clusters"][0]}, schema={"cluster_id": pl.Int64})
        return ids.join(self.clusters, on="cluster_id", how="inner", maintain_order="left")

    @lru_cache(maxsize=64)
    def case_member_ids(self: CaseData, case_id: str) -> tuple[str, ...]:
        acc = self.results.accounts
        if "case_id" in acc.columns:  # (select, then filter: ninety columns)
            ids = acc.select("account_id", "case_id").filter(pl.col("case_id") == case_id)["account_id"]
        else:
            ids = pl.Series([], dtype=pl.String)
        return tuple(ids.sort().to_list())
