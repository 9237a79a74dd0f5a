"""One account: profile merged with its result row, payments, keys, paged requests (from the request
store's part holding it), sampled prompts, links to other clusters, and its evidence in plain words."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import polars as pl

from farmhunt.core.values import email_pattern
from tui.data.common import FEATURE_WORDS, REQUEST_PAGE

if TYPE_CHECKING:
    from tui.data import CaseData


class AccountQueries:
    """The account part of `CaseData`."""

    @lru_cache(maxsize=256)
    def account(self: CaseData, aid: str) -> dict:
        """Profile (world) merged with the account's result row (risk, cluster, features)."""
        prof = self.rows("accounts", "account_id", aid).collect()
        if prof.is_empty():
            raise KeyError(aid)
        row = prof.row(0, named=True)
        res = self.results.accounts.filter(pl.col("account_id") == aid)
        if not res.is_empty():
            row.update({f"result.{k}": v for k, v in res.row(0, named=True).items() if k != "account_id"})
        return row

    @lru_cache(maxsize=256)
    def payments(self: CaseData, aid: str) -> pl.DataFrame:
        return (
            self.rows("payments", "account_id", aid)
            .select(
                "ts",
                "payment_id",
                "amount_usd",
                "status",
                "card_fingerprint",
                "card_bin",
                "card_funding",
                "card_country",
            )
            .sort("ts")
            .collect()
        )

    @lru_cache(maxsize=256)
    def keys(self: CaseData, aid: str) -> pl.DataFrame:
        return (
            self.rows("api_keys", "account_id", aid)
            .select("key_id", "created_at", "revoked_at")
            .sort("created_at")
            .collect()
        )

    def requests(self: CaseData, aid: str, page: int = 0, size: int = REQUEST_PAGE) -> pl.DataFrame:
        """One page of the account's requests with ASN kind: in time order from the request store, else in
        file order (time order for a sorted export)."""
        if self.request_count(aid) == 0:  # known from the results: skip a scan of the whole request table
            size = 0
        src = self._account_requests(aid).lazy() if self.store is not None else self.rows("requests", "account_id", aid)
        lf = src.slice(page * size, size).select(
            "ts", "model", "input_tokens", "output_tokens", "ip", "asn", "topic", "key_id"
        )
        lf = lf.join(
            self.tables.frame("asns").select("asn", pl.col("kind").alias("asn_kind")),
            on="asn",
            how="left",
            maintain_order="left",
        )
        return lf.collect()

    @lru_cache(maxsize=8)
    def _account_requests(self: CaseData, aid: str) -> pl.DataFrame:
        """All requests of one account from the request store (read once, then paged)."""
        return self.tables.requests_of([aid])

    @lru_cache(maxsize=256)
    def request_count(self: CaseData, aid: str) -> int | None:
        res = self.results.accounts
        if "n_requests" in res.columns:
            r = res.filter(pl.col("account_id") == aid)["n_requests"]
            if len(r):
                return int(r[0])
        return None

    @lru_cache(maxsize=256)
    def prompts(self: CaseData, aid: str, limit: int = 500) -> pl.DataFrame:
        """The account's sampled prompts (full text), in time order."""
        if "prompts" not in self.world:
            return pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "text": pl.String})
        return self.rows("prompts", "account_id", aid).select("ts", "text").sort("ts").head(limit).collect()

    @lru_cache(maxsize=256)
    def links(self: CaseData, aid: str) -> pl.DataFrame:
        """Other clusters this account is linked to by an edge: cluster, kind, risk, edges and reasons."""
        e = self.results.edges.filter((pl.col("src") == aid) | (pl.col("dst") == aid))
        other = e.select(
            pl.when(pl.col("src") == aid).then(pl.col("dst")).otherwise(pl.col("src")).alias("account_id"),
            "weight",
            "reasons",
        )
        own = self.account(aid).get("result.cluster_id")
        acc = self.results.accounts.select("account_id", "cluster_id")
        j = other.join(acc, on="account_id").drop_nulls("cluster_id")
        if own is not None:
            j = j.filter(pl.col("cluster_id") != own)
        agg = (
            j.group_by("cluster_id")
            .agg(
                pl.len().alias("edges"),
                pl.col("weight").sum().alias("weight"),
                pl.col("reasons").explode().unique().sort().alias("reasons"),
            )
            .join(self.clusters.select("cluster_id", "predicted_kind", "risk", "size"), on="cluster_id", how="left")
            .sort(["weight", "cluster_id"], descending=[True, False])
        )
        return agg

    def account_evidence(self: CaseData, aid: str) -> pl.DataFrame:
        """Why this account is risky, in plain words: rank, signal, value, baseline, text.

        Detection's account evidence (account_evidence.parquet) when it wrote some for this account;
        else the account's strongest features against the population (how many accounts it exceeds)."""
        t = self.account_evidence_table
        if t is not None:
            ev = t.filter(pl.col("account_id") == aid).sort("rank")
            if ev.height:
                return ev.select("rank", "signal", "value", "baseline", "text").with_columns(
                    pl.lit("detection").alias("source")
                )
        return self._feature_evidence(aid)

    @lru_cache(maxsize=1024)
    def _feature_evidence(self: CaseData, aid: str, top: int = 5) -> pl.DataFrame:
        acc = self.results.accounts
        schema = {
            "rank": pl.Int32,
            "signal": pl.String,
            "value": pl.Float64,
            "baseline": pl.Float64,
            "text": pl.String,
            "source": pl.String,
        }
        row = acc.filter(pl.col("account_id") == aid)
        feats = [f for f in FEATURE_WORDS if f in acc.columns and acc.schema[f].is_numeric()]
        if row.is_empty() or not feats:
            return pl.DataFrame(schema=schema)
        vals = row.select(feats).row(0, named=True)
        live = [f for f in feats if vals[f] is not None]
        # Share of accounts strictly below the account's value (one pass); medians are computed once.
        stats = acc.select(*[(pl.col(f) < vals[f]).mean().alias(f"{f}__p") for f in live]).row(0, named=True)
        medians = self.feature_medians
        stats.update({f"{f}__m": medians.get(f) for f in live})
        cands = []
        for f in feats:
            v = vals[f]
            if v is None or v != v or f"{f}__p" not in stats:
                continue
            p, med = float(stats[f"{f}__p"] or 0.0), stats[f"{f}__m"]
            if p < 0.9 or not v:
                continue
            med = float(med) if med is not None else 0.0
            typical = next((w for w in FEATURE_WORDS[f].format(v=med).split() if any(c.isdigit() for c in w)), "")
            pct = int(p * 100)  # floor: "more than 100%" would be false
            text = f"{FEATURE_WORDS[f].format(v=v)}: more than {pct}% of accounts (typical account {typical})"
            cands.append((p, f, float(v), med, text))
        cands.sort(key=lambda c: (-c[0], c[1]))
        rows = [(i + 1, f, v, med, text, "features") for i, (_, f, v, med, text) in enumerate(cands[:top])]
        return pl.DataFrame(rows, schema=schema, orient="row")

    @cached_property
    def feature_medians(self: CaseData) -> dict[str, float | None]:
        """Median of every worded feature over all accounts (computed once)."""
        acc = self.results.accounts
        feats = [f for f in FEATURE_WORDS if f in acc.columns and acc.schema[f].is_numeric()]
        return acc.select(pl.col(feats).median()).row(0, named=True) if feats else {}

    @staticmethod
    def email_pattern_of(email: str | None) -> str | None:
        """The email's pattern as linkage computes it (`farmhunt.core.values.email_pattern`)."""
        if email is None:
            return None
        return pl.select(email_pattern(pl.lit(email, pl.String))).item()

    @lru_cache(maxsize=64)
    def account_activity(self: CaseData, aid: str) -> dict[str, pl.DataFrame]:
        return self.activity_of((aid,))
