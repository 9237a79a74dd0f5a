"""Read-only data access for the console: results tables in memory, world tables lazy.

Results (accounts, clusters, evidence, edges) are small enough to hold in memory. The world is opened
shallow (`load_world(..., deep=False)`: files and dtypes only) and every question about it is a lazy
polars filter, so the request table (up to 100M rows) is never loaded whole. Requests are read from
the results' request store (the request table as detection encoded it, split by account: one
account's requests are one small read) when the results have one for this world, else from the world
file. Answers per cluster and per account are cached; everything here is safe to call from a worker
thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from farmhunt.core.contract import TABLES, World, as_strings, load_world
from farmhunt.core.errors import InputError
from farmhunt.core.values import email_pattern
from farmhunt.engine.results import STORE_DIR, Results, load_results
from farmhunt.engine.store import RequestStore, open_store

#: The top of the queue the table shows (the rest is reachable through filters and search).
QUEUE_LIMIT = 2000
REQUEST_PAGE = 100


@dataclass(frozen=True)
class Match:
    """One search hit: what matched, and where it leads (a cluster and/or an account)."""

    what: str
    value: str
    account_id: str | None
    cluster_id: int | None

    @property
    def label(self) -> str:
        where = f"account {self.account_id}" if self.account_id else ""
        if self.cluster_id is not None:
            where += f"{', ' if where else ''}cluster {self.cluster_id}"
        return f"{self.what} {self.value} -> {where or 'not in any cluster'}"


class CaseData:
    """Everything the console shows, read from a results directory and the world it was computed from."""

    def __init__(self, results: str | Path | Results, world: str | Path | None = None):
        self.results = results if isinstance(results, Results) else load_results(results)
        wpath = Path(world) if world is not None else self.results.world_path
        if wpath is None:
            raise InputError(
                f"results '{self.results.path}' do not record their world (run.json has no "
                "world.path): pass --world WORLD"
            )
        if not wpath.is_dir():
            origin = "given with --world" if world is not None else f"recorded in {self.results.path}/run.json"
            raise InputError(f"world directory '{wpath}' not found ({origin}): pass --world WORLD")
        self.world: World = load_world(wpath, deep=False)
        self.world_path = wpath
        same_world = self.results.world_path is not None and self.results.world_path.resolve() == wpath.resolve()
        self.store: RequestStore | None = (
            open_store(self.results.path / STORE_DIR) if same_world and self.results.path else None
        )
        self._lock = threading.Lock()
        self._population_hours: pl.DataFrame | None = None
        acc = self.results.accounts
        self.clusters = self._queue_table()
        self.flagged_accounts = int(acc["flagged"].sum())
        self._cluster_ids = set(self.clusters["cluster_id"].to_list())

    # ------------------------------------------------------------------ world access
    def rows(self, name: str, col: str, value: str | pl.Series) -> pl.LazyFrame:
        """Rows of world table `name` whose `col` equals `value` (or is in the Series), canonical dtypes.

        The filter runs on the stored dtype (`World.native`) and only the matching rows are cast: on a
        Categorical column (a provider's export often has them) that is about ten times faster."""
        cond = pl.col(col) == value if isinstance(value, str) else pl.col(col).is_in(value.implode())
        text = [c for c, t in TABLES[name].columns.items() if t == pl.String]
        return as_strings(self.world.native(name).filter(cond), *text)

    def requests_of(self, ids: pl.Series, columns: tuple[str, ...] | None = None) -> pl.LazyFrame:
        """Requests of these accounts (canonical dtypes; from the request store when there is one, then
        only `columns` besides ts and account_id are read)."""
        if self.store is not None:
            return self.store.requests_of(ids.to_list(), columns).lazy()
        return self.rows("requests", "account_id", ids)

    # ------------------------------------------------------------------ queue
    def _queue_table(self) -> pl.DataFrame:
        r = self.results
        top = (
            r.evidence.sort("cluster_id", "rank")
            .group_by("cluster_id", maintain_order=True)
            .agg(pl.col("text").first().alias("top_evidence"))
        )
        return (
            r.clusters.select("cluster_id", "predicted_kind", "size", "risk", "flagged")
            .join(top, on="cluster_id", how="left")
            .with_columns(pl.col("top_evidence").fill_null(""))
            .sort(["risk", "size", "cluster_id"], descending=[True, True, False])
        )

    def kinds(self) -> list[str]:
        return sorted(self.clusters["predicted_kind"].unique().to_list())

    def queue(
        self,
        kind: str | None = None,
        min_risk: float = 0.0,
        status: str | None = None,
        statuses: dict[int, str] | None = None,
    ) -> pl.DataFrame:
        """Clusters by risk, filtered; `statuses` maps cluster id -> decision status (absent = new)."""
        q = self.clusters
        st = pl.DataFrame(
            {"cluster_id": list((statuses or {}).keys()), "status": list((statuses or {}).values())},
            schema={"cluster_id": pl.Int64, "status": pl.String},
        )
        q = q.join(st, on="cluster_id", how="left").with_columns(pl.col("status").fill_null("new"))
        if kind:
            q = q.filter(pl.col("predicted_kind") == kind)
        if min_risk > 0:
            q = q.filter(pl.col("risk") >= min_risk)
        if status:
            q = q.filter(pl.col("status") == status)
        return q

    def has_cluster(self, cid: int) -> bool:
        return cid in self._cluster_ids

    def cluster_row(self, cid: int) -> dict:
        rows = self.clusters.filter(pl.col("cluster_id") == cid)
        if rows.is_empty():
            raise KeyError(cid)
        return rows.row(0, named=True)

    # ------------------------------------------------------------------ cluster
    @lru_cache(maxsize=64)
    def member_ids(self, cid: int) -> tuple[str, ...]:
        ids = self.results.accounts.filter(pl.col("cluster_id") == cid)["account_id"].sort()
        return tuple(ids.to_list())

    def _members_lf(self, cid: int) -> pl.Series:
        return pl.Series("account_id", self.member_ids(cid), dtype=pl.String)

    @lru_cache(maxsize=64)
    def members(self, cid: int) -> pl.DataFrame:
        """Members with profile, request count and spend, highest risk first."""
        ids = self._members_lf(cid)
        res = self.results.accounts.filter(pl.col("cluster_id") == cid)
        prof = (
            self.rows("accounts", "account_id", ids)
            .select("account_id", "email", "created_at", "country", "plan", "phone", "device_id", "signup_ip", "org_id")
            .collect()
        )
        extra = [c for c in ("n_requests", "spend_usd") if c in res.columns]
        out = res.select("account_id", "risk", "flagged", *extra).join(prof, on="account_id", how="left")
        if "n_requests" not in out.columns or "spend_usd" not in out.columns:
            out = out.drop("n_requests", "spend_usd", strict=False).join(self._volume(ids), on="account_id", how="left")
        return out.with_columns(pl.col("n_requests").fill_null(0), pl.col("spend_usd").fill_null(0.0)).sort(
            ["risk", "account_id"], descending=[True, False]
        )

    def _volume(self, ids: pl.Series) -> pl.DataFrame:
        n = self.requests_of(ids, ()).group_by("account_id").agg(pl.len().cast(pl.Int64).alias("n_requests"))
        s = (
            self.rows("payments", "account_id", ids)
            .filter(pl.col("status") == "succeeded")
            .group_by("account_id")
            .agg(pl.col("amount_usd").sum().alias("spend_usd"))
        )
        a, b = pl.collect_all([n, s])
        return a.join(b, on="account_id", how="full", coalesce=True)

    def evidence(self, cid: int) -> pl.DataFrame:
        return self.results.evidence.filter(pl.col("cluster_id") == cid).sort("rank")

    @lru_cache(maxsize=64)
    def ties(self, cid: int, limit: int = 200) -> pl.DataFrame:
        """What ties the members together: every value shared by two or more members, with how many
        members share it (cards, devices, phones, signup IPs, request IPs, email patterns, orgs, prompts)."""
        ids = self._members_lf(cid)
        w = self.world
        acc = self.rows("accounts", "account_id", ids)

        def shared(lf: pl.LazyFrame, what: str, col: pl.Expr) -> pl.LazyFrame:
            return (
                lf.select("account_id", col.cast(pl.String).alias("value"))
                .drop_nulls("value")
                .group_by("value")
                .agg(pl.col("account_id").n_unique().cast(pl.Int64).alias("members"))
                .filter(pl.col("members") >= 2)
                .with_columns(pl.lit(what).alias("what"))
            )

        req = self.requests_of(ids, ("ip",))
        parts = [
            shared(self.rows("payments", "account_id", ids), "card", pl.col("card_fingerprint")),
            shared(acc, "device", pl.col("device_id")),
            shared(acc, "phone", pl.col("phone")),
            shared(acc, "signup IP", pl.col("signup_ip")),
            shared(acc, "email pattern", email_pattern(pl.col("email"))),
            shared(acc, "organisation", pl.col("org_id")),
            shared(req, "request IP", pl.col("ip")),
        ]
        if "prompts" in w:
            # Near-duplicate prompts: the same text shape (digits masked) sent by several members.
            parts.append(
                shared(
                    self.rows("prompts", "account_id", ids),
                    "prompt template",
                    pl.col("text").str.replace_all(r"\d+", "#").str.slice(0, 120),
                )
            )
        frames = pl.collect_all(parts)
        out = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
        order = {
            k: i
            for i, k in enumerate(
                [
                    "card",
                    "device",
                    "phone",
                    "signup IP",
                    "request IP",
                    "email pattern",
                    "organisation",
                    "prompt template",
                ]
            )
        }
        return (
            out.with_columns(pl.col("what").replace_strict(order, return_dtype=pl.Int32).alias("_o"))
            .sort(["members", "_o", "value"], descending=[True, False, False])
            .drop("_o")
            .select("what", "value", "members")
            .head(limit)
        )

    @lru_cache(maxsize=64)
    def activity(self, cid: int) -> dict[str, pl.DataFrame]:
        """Hour-of-day share (cluster), daily request volume and daily signups of the cluster."""
        ids = self._members_lf(cid)
        req = self.requests_of(ids, ())
        hours = req.group_by(pl.col("ts").dt.hour().alias("hour")).agg(pl.len().alias("n"))
        daily = req.group_by(pl.col("ts").dt.date().alias("day")).agg(pl.len().alias("n"))
        signups = (
            self.rows("accounts", "account_id", ids)
            .group_by(pl.col("created_at").dt.date().alias("day"))
            .agg(pl.len().alias("n"))
        )
        h, d, s = pl.collect_all([hours, daily, signups])
        return {"hours": _full_hours(h), "daily": d.sort("day"), "signups": s.sort("day")}

    def population_hours(self) -> pl.DataFrame:
        """Hour-of-day share over all requests (one streaming pass, computed once)."""
        with self._lock:
            if self._population_hours is None:
                req = self.store.scan() if self.store is not None else self.world["requests"]
                h = (
                    req.group_by(pl.col("ts").dt.hour().alias("hour"))
                    .agg(pl.len().alias("n"))
                    .collect(engine="streaming")
                )
                self._population_hours = _full_hours(h)
            return self._population_hours

    @lru_cache(maxsize=64)
    def graph(self, cid: int, nx_limit: int = 20_000) -> dict:
        """Linkage structure of the cluster: density, components, hubs and reasons.

        Degrees and density come from polars; connected components from networkx when the cluster has
        at most `nx_limit` internal edges (a bigger graph is not "small" and would hold the GIL)."""
        ids = self._members_lf(cid).implode()
        e = self.results.edges.filter(pl.col("src").is_in(ids), pl.col("dst").is_in(ids))
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
        return {
            "nodes": n,
            "edges": m,
            "density": 2 * m / (n * (n - 1)) if n > 1 else 0.0,
            "components": components,
            "hubs": [(a, d) for a, d in deg.head(5).iter_rows()],
            "reasons": [(r, c) for r, c in reasons.iter_rows()],
            "isolated": n - deg.height,
        }

    # ------------------------------------------------------------------ account
    @lru_cache(maxsize=256)
    def account(self, aid: str) -> dict:
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
    def payments(self, aid: str) -> pl.DataFrame:
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
    def keys(self, aid: str) -> pl.DataFrame:
        return (
            self.rows("api_keys", "account_id", aid)
            .select("key_id", "created_at", "revoked_at")
            .sort("created_at")
            .collect()
        )

    def requests(self, aid: str, page: int = 0, size: int = REQUEST_PAGE) -> pl.DataFrame:
        """One page of the account's requests with ASN kind: in time order from the request store, else in
        file order (time order for a sorted export)."""
        w = self.world
        if self.request_count(aid) == 0:  # known from the results: skip a scan of the whole request table
            size = 0
        src = self._account_requests(aid).lazy() if self.store is not None else self.rows("requests", "account_id", aid)
        lf = src.slice(page * size, size).select(
            "ts", "model", "input_tokens", "output_tokens", "ip", "asn", "topic", "key_id"
        )
        lf = lf.join(
            w["asns"].select("asn", pl.col("kind").alias("asn_kind")), on="asn", how="left", maintain_order="left"
        )
        return lf.collect()

    @lru_cache(maxsize=8)
    def _account_requests(self, aid: str) -> pl.DataFrame:
        """All requests of one account from the request store (read once, then paged)."""
        assert self.store is not None
        return self.store.requests_of([aid])

    @lru_cache(maxsize=256)
    def request_count(self, aid: str) -> int | None:
        res = self.results.accounts
        if "n_requests" in res.columns:
            r = res.filter(pl.col("account_id") == aid)["n_requests"]
            if len(r):
                return int(r[0])
        return None

    @lru_cache(maxsize=256)
    def prompts(self, aid: str, limit: int = 50) -> pl.DataFrame:
        if "prompts" not in self.world:
            return pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "text": pl.String})
        return self.rows("prompts", "account_id", aid).select("ts", "text").head(limit).collect()

    @lru_cache(maxsize=256)
    def links(self, aid: str) -> pl.DataFrame:
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

    # ------------------------------------------------------------------ search
    def search(self, text: str, limit: int = 20) -> list[Match]:
        """Find a cluster id, account id, email, card fingerprint, device, phone or IP."""
        q = text.strip()
        if not q:
            return []
        out: list[Match] = []
        acc_res = self.results.accounts.select("account_id", "cluster_id")

        def cluster_of(aid: str) -> int | None:
            r = acc_res.filter(pl.col("account_id") == aid)["cluster_id"]
            return None if r.is_empty() or r[0] is None else int(r[0])

        if q.lstrip("-").isdigit() and self.has_cluster(int(q)):
            out.append(Match("cluster", q, None, int(q)))
        w = self.world
        ql = q.lower()
        acc = (
            w["accounts"]
            .filter(
                (pl.col("account_id") == q)
                | (pl.col("email").str.to_lowercase() == ql)
                | (pl.col("device_id") == q)
                | (pl.col("signup_ip") == q)
                | (pl.col("phone") == q)
            )
            .select("account_id", "email", "device_id", "signup_ip", "phone")
            .head(limit)
            .collect()
        )
        for r in acc.iter_rows(named=True):
            what = next(
                k for k in ("account_id", "email", "device_id", "signup_ip", "phone") if (r[k] or "").lower() == ql
            )
            label = {"account_id": "account", "device_id": "device", "signup_ip": "signup IP"}.get(what, what)
            out.append(Match(label, r[what], r["account_id"], cluster_of(r["account_id"])))
        if len(out) < limit:
            cards = (
                self.rows("payments", "card_fingerprint", q)
                .select("account_id")
                .unique()
                .sort("account_id")
                .head(limit)
                .collect()
            )
            out += [Match("card", q, a, cluster_of(a)) for a in cards["account_id"]]
        if not out and _looks_like_ip(q):
            if self.store is not None:
                hits = self.store.accounts_with("ip", q).head(limit)
            else:
                hits = (
                    self.rows("requests", "ip", q)
                    .select("account_id")
                    .head(10_000)
                    .unique()
                    .sort("account_id")
                    .head(limit)
                    .collect()["account_id"]
                )
            out += [Match("request IP", q, a, cluster_of(a)) for a in hits]
        return out[:limit]


def _looks_like_ip(q: str) -> bool:
    parts = q.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def _full_hours(h: pl.DataFrame) -> pl.DataFrame:
    full = pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8})
    h = h.with_columns(pl.col("hour").cast(pl.Int8))
    out = full.join(h, on="hour", how="left").with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
    total = out["n"].sum()
    return out.with_columns((pl.col("n") / (total or 1)).alias("share"))
