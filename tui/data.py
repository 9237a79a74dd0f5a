"""Read-only data access for the console: one small adapter, the only module that touches polars frames.

Size (~1,000 lines): every screen's queries live behind this one adapter so screens never touch
frames; splitting it by screen (queue, case, account, pivot) behind the same class is the next step.

Everything here reads what detection decided: the case queue (`cases.parquet`), each cluster's ties
(`ties.parquet`), clusters' density and hub share (`clusters.parquet`), account evidence
(`account_evidence.parquet` when present). Nothing is re-linked or re-scored. The world is opened
shallow (`load_world(..., deep=False)`) and every question about it is a lazy polars filter, so the
request table (up to 100M rows) is never loaded whole; requests come from the results' request store
(split by account, text coded through lookups) when the results have one for this world. Answers are
cached; everything is safe to call from a worker thread. Screens get frames with plain columns and
show them through `tui.widgets.tables`.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from farmhunt.core.contract import TABLES
from farmhunt.core.errors import InputError
from farmhunt.core.timezones import utc_offset
from farmhunt.core.values import canonical_email, email_pattern
from farmhunt.core.world import World, as_strings, load_world
from farmhunt.engine.results import STORE_DIR, Results, load_results
from farmhunt.engine.store import RequestStore, open_store

REQUEST_PAGE = 100
#: At most this many accounts are listed by a pivot (the total is always counted).
PIVOT_LIMIT = 5_000

#: Case kinds as the queue shows them (the detail screen shows the full kind).
KIND_SHORT = {
    "distillation_farm": "farm",
    "content_farm": "content",
    "reseller_pool": "resale",
    "enterprise_reseller": "resale",
    "card_testing": "cards",
    "spread_card_testing": "cards",
    "key_leak": "keyleak",
    "account_takeover": "takeover",
    "benign_org": "org",
    "unknown": "other",
}

#: Tie signals (and pivot kinds) in words.
SIGNAL_WORDS = {
    "card": "card",
    "device": "device",
    "phone": "phone",
    "signup_ip": "signup IP",
    "request_ip": "request IP",
    "ip": "IP",
    "signup_prefix": "signup /24",
    "cidr": "network",
    "email_pattern": "email pattern",
    "email_canonical": "mailbox",
    "email_domain": "email domain",
    "email": "email",
    "org": "organisation",
    "prompt_template": "prompt template",
    "signup_burst": "signup burst",
    "key": "API key",
    "account": "account id",
    "device_phone": "device or phone",
}
#: Signals whose accounts detection does not record outside clusters: a pivot lists the clusters.
CLUSTER_ONLY = frozenset({"prompt_template", "signup_burst"})
_TIE_ORDER = [
    "card",
    "device",
    "phone",
    "signup_ip",
    "request_ip",
    "signup_prefix",
    "email_canonical",
    "email_pattern",
    "org",
    "prompt_template",
    "signup_burst",
    "email_domain",
]

#: Account features in plain words (a lone account's evidence when detection wrote none for it).
#: (template with {v}, higher is suspicious)
FEATURE_WORDS: dict[str, str] = {
    "templated_share": "{v:.0%} of requests reuse a prompt template",
    "night_share": "{v:.0%} of requests at local night",
    "hosting_share": "{v:.0%} of requests from hosting networks",
    "capability_share": "{v:.0%} of requests on capability topics",
    "requests_per_active_day": "{v:,.0f} requests per active day",
    "output_input_ratio": "{v:,.1f} output tokens per input token",
    "decline_rate": "{v:.0%} of payments declined",
    "chargeback_rate": "{v:.0%} of payments disputed",
    "prepaid_virtual_share": "{v:.0%} of payments by prepaid or virtual cards",
    "micro_payment_share": "{v:.0%} of payments are micro-payments",
    "n_cards": "{v:,.0f} cards",
    "n_ips": "{v:,.0f} IPs",
    "n_asns": "{v:,.0f} networks",
    "n_keys_revoked": "{v:,.0f} API keys revoked",
    "n_keys": "{v:,.0f} API keys",
    "spend_usd": "${v:,.2f} spent",
    "anomaly": "anomaly score {v:.2f}",
}


def kind_short(kind: str | None) -> str:
    """The queue's abbreviation of a case kind ("farm", "resale", "cards", ...)."""
    if not kind:
        return ""
    return KIND_SHORT.get(kind) or kind.split("_")[0][:8]


def words(signal: str | None) -> str:
    """A signal or field name in words."""
    if not signal:
        return ""
    return SIGNAL_WORDS.get(signal) or signal.replace("_", " ")


@dataclass(frozen=True)
class Target:
    """Where a screen or search hit leads: ("case", id), ("cluster", id), ("account", id) or
    ("pivot", signal, value)."""

    kind: str
    id: str | int
    value: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "pivot":
            return f"{words(str(self.id))} {self.value}"
        return f"{self.kind} {self.id}"


@dataclass(frozen=True)
class Match:
    """One search hit: what matched, the value, and where it leads."""

    what: str
    value: str
    target: Target
    detail: str = ""

    @property
    def label(self) -> str:
        extra = f" · {self.detail}" if self.detail else ""
        return f"{self.what} {self.value} -> {self.target.label}{extra}"


def _looks_like_world(p: Path) -> bool:
    return (p / "accounts.parquet").exists() and (p / "requests.parquet").exists() and not (p / "run.json").exists()


def ip_int(text: pl.Expr) -> pl.Expr:
    """IPv4 text -> its 32-bit number (null when not an IPv4 address)."""
    parts = text.str.split_exact(".", 3)
    n = [parts.struct.field(f"field_{i}").cast(pl.Int64, strict=False) for i in range(4)]
    return n[0] * 16_777_216 + n[1] * 65_536 + n[2] * 256 + n[3]


def parse_network(q: str) -> ipaddress.IPv4Network | None:
    """A CIDR network ("143.41.114.0/24"), else None."""
    if "/" not in q:
        return None
    try:
        return ipaddress.IPv4Network(q.strip(), strict=False)
    except ValueError:
        return None


def looks_like_ip(q: str) -> bool:
    try:
        ipaddress.IPv4Address(q)
    except ValueError:
        return False
    return True


class CaseData:
    """Everything the console shows, read from a results directory and the world it was computed from."""

    def __init__(self, results: str | Path | Results, world: str | Path | None = None):
        if not isinstance(results, Results) and _looks_like_world(Path(results)):
            raise InputError(
                f"'{results}' is a world, not results: run `farmhunt detect {results} --out RESULTS` first, "
                "then `farmhunt tui RESULTS`"
            )
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
        r = self.results
        self.cases: pl.DataFrame = r.cases if r.cases is not None else pl.DataFrame()
        self.tie_table: pl.DataFrame = r.ties if r.ties is not None else pl.DataFrame()
        self.account_evidence_table = self._account_evidence_table()
        self.clusters = self._cluster_table()
        self.flagged_accounts = int(r.accounts["flagged"].sum())
        self._cluster_ids = set(self.clusters["cluster_id"].to_list())
        self._case_ids = set(self.cases["case_id"].to_list())
        self._result_cols = [
            c for c in ("case_id", "cluster_id", "risk", "flagged", "predicted_kind") if c in r.accounts.columns
        ]

    def _account_evidence_table(self) -> pl.DataFrame | None:
        """account_evidence.parquet (detection's evidence for accounts judged alone), when written."""
        t = getattr(self.results, "account_evidence", None)
        if t is None and self.results.path is not None and (self.results.path / "account_evidence.parquet").exists():
            t = pl.read_parquet(self.results.path / "account_evidence.parquet")
        return t if isinstance(t, pl.DataFrame) and "account_id" in t.columns else None

    # ------------------------------------------------------------------ world access
    def rows(self, name: str, col: str, value: str | pl.Series) -> pl.LazyFrame:
        """Rows of world table `name` whose `col` equals `value` (or is in the Series), canonical dtypes.

        The filter runs on the stored dtype (`World.native`) and only the matching rows are cast."""
        cond = pl.col(col) == value if isinstance(value, str) else pl.col(col).is_in(value.implode())
        return self._strings(name, self.world.native(name).filter(cond))

    def _strings(self, name: str, lf: pl.LazyFrame) -> pl.LazyFrame:
        text = [c for c, t in TABLES[name].columns.items() if t == pl.String]
        return as_strings(lf, *text)

    def requests_of(self, ids: pl.Series, columns: tuple[str, ...] | None = None) -> pl.LazyFrame:
        """Requests of these accounts (canonical dtypes; from the request store when there is one)."""
        if self.store is not None:
            return self.store.requests_of(ids.to_list(), columns).lazy()
        return self.rows("requests", "account_id", ids)

    # ------------------------------------------------------------------ queue
    def _cluster_table(self) -> pl.DataFrame:
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

    def kinds(self) -> list[str]:
        return sorted(set(self.cases["kind"].drop_nulls().to_list()) | set(self.clusters["predicted_kind"].to_list()))

    def queue(
        self,
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
        c = self.cases
        lone_acc = (
            self.results.accounts.filter(
                pl.col("case_id").is_in(c.filter(pl.col("n_clusters") == 0)["case_id"].implode())
            ).select("case_id", pl.col("account_id").alias("lone_account"))
            if "case_id" in self.results.accounts.columns
            else pl.DataFrame(schema={"case_id": pl.String, "lone_account": pl.String})
        )
        q = (
            c.join(lone_acc, on="case_id", how="left")
            .with_columns(
                pl.format("case:{}", pl.col("case_id")).alias("key"),
                pl.col("clusters").list.first().alias("cluster_id"),
            )
            .sort("rank")
        )
        reasons = q.select("case_id", "lone_account", "top_reason").to_dicts()
        q = q.with_columns(
            pl.Series("reason", [r["top_reason"] or self._lone_reason(r["lone_account"]) for r in reasons], pl.String)
        )
        q = q.select(
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
        )
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
        cs = case_statuses or {}
        ks = {int(k): v for k, v in (cluster_statuses or {}).items()}
        ac = account_statuses or {}
        status_col = [
            cs.get(r["case_id"])
            or (ks.get(r["cluster_id"]) if r["n_clusters"] <= 1 else None)
            or ac.get(r["lone_account"])
            or "new"
            for r in q.select("case_id", "cluster_id", "n_clusters", "lone_account").iter_rows(named=True)
        ]
        q = q.with_columns(pl.Series("status", status_col, pl.String))
        if kind:
            q = q.filter(pl.col("kind") == kind)
        if min_risk > 0:
            q = q.filter(pl.col("risk") >= min_risk)
        if status:
            q = q.filter(pl.col("status") == status)
        return q

    @lru_cache(maxsize=4096)
    def _lone_reason(self, aid: str | None) -> str:
        if aid is None:
            return ""
        ev = self.account_evidence(aid)
        return ev["text"][0] if ev.height else ""

    def has_cluster(self, cid: int) -> bool:
        return cid in self._cluster_ids

    def has_case(self, case_id: str) -> bool:
        return case_id in self._case_ids

    def cluster_row(self, cid: int) -> dict:
        rows = self.clusters.filter(pl.col("cluster_id") == cid)
        if rows.is_empty():
            raise KeyError(cid)
        return rows.row(0, named=True)

    def case_row(self, case_id: str) -> dict:
        rows = self.queue().filter(pl.col("case_id") == case_id)
        if rows.is_empty():
            raise KeyError(case_id)
        return rows.row(0, named=True)

    def case_clusters(self, case_id: str) -> pl.DataFrame:
        """The clusters of a case: cluster_id, kind, risk, size, density, top evidence."""
        cids = self.case_row(case_id)
        ids = self.cases.filter(pl.col("case_id") == case_id)["clusters"][0]
        del cids
        return self.clusters.filter(pl.col("cluster_id").is_in(pl.Series(ids, dtype=pl.Int64).implode()))

    @lru_cache(maxsize=64)
    def case_member_ids(self, case_id: str) -> tuple[str, ...]:
        acc = self.results.accounts
        if "case_id" in acc.columns:
            ids = acc.filter(pl.col("case_id") == case_id)["account_id"]
        else:
            ids = pl.Series([], dtype=pl.String)
        return tuple(ids.sort().to_list())

    # ------------------------------------------------------------------ statuses
    @staticmethod
    def effective_statuses(
        df: pl.DataFrame,
        account_statuses: dict[str, str],
        case_statuses: dict[str, str],
        cluster_statuses: dict[int, str],
    ) -> pl.DataFrame:
        """`df` (account_id, case_id, cluster_id) with status (own, else the case's, else the cluster's,
        else new: the rule of `DecisionStore.effective_status`) and status_from ('', 'case', 'cluster')."""

        def frame(d: dict, key: str, dtype: pl.DataType, name: str) -> pl.DataFrame:
            return pl.DataFrame({key: list(d), name: list(d.values())}, schema={key: dtype, name: pl.String})

        out = df
        for d, key, dtype, name in (
            (account_statuses, "account_id", pl.String, "_own"),
            (case_statuses, "case_id", pl.String, "_case"),
            ({int(k): v for k, v in cluster_statuses.items()}, "cluster_id", pl.Int64, "_cluster"),
        ):
            if key in out.columns:
                out = out.join(frame(d, key, dtype, name), on=key, how="left", maintain_order="left")
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

    # ------------------------------------------------------------------ cluster and case
    @lru_cache(maxsize=64)
    def member_ids(self, cid: int) -> tuple[str, ...]:
        ids = self.results.accounts.filter(pl.col("cluster_id") == cid)["account_id"].sort()
        return tuple(ids.to_list())

    def members(self, cid: int) -> pl.DataFrame:
        """Members of cluster `cid` with profile, request count and spend, highest risk first."""
        return self.members_of(self.member_ids(cid))

    @lru_cache(maxsize=64)
    def members_of(self, ids_t: tuple[str, ...]) -> pl.DataFrame:
        """These accounts with their results (case, cluster, risk), profile, request count and spend."""
        ids = pl.Series("account_id", ids_t, dtype=pl.String)
        res = self.results.accounts.filter(pl.col("account_id").is_in(ids.implode()))
        prof = (
            self.rows("accounts", "account_id", ids)
            .select("account_id", "email", "created_at", "country", "plan", "phone", "device_id", "signup_ip", "org_id")
            .collect()
        )
        extra = [c for c in ("n_requests", "spend_usd") if c in res.columns]
        out = res.select("account_id", *self._result_cols, *extra).join(prof, on="account_id", how="left")
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

    def evidence_of(self, cids: tuple[int, ...]) -> pl.DataFrame:
        """Evidence of several clusters (a case), each cluster's in rank order."""
        return self.results.evidence.filter(pl.col("cluster_id").is_in(pl.Series(cids, dtype=pl.Int64).implode())).sort(
            "cluster_id", "rank"
        )

    @lru_cache(maxsize=64)
    def ties(self, cid: int, limit: int = 500) -> pl.DataFrame:
        """What ties the members together, as detection linked on it (ties.parquet): what (in words),
        value, members (sharing it); the evidence pack's table. `ties_of` adds in_world and signal."""
        return self.ties_of((cid,), limit).select("what", "value", "members")

    @lru_cache(maxsize=64)
    def ties_of(self, cids: tuple[int, ...], limit: int = 300) -> pl.DataFrame:
        t = self.tie_table
        schema = {"what": pl.String, "value": pl.String, "members": pl.Int64, "in_world": pl.Int64, "signal": pl.String}
        if t.is_empty():
            return pl.DataFrame(schema=schema)
        order = {k: i for i, k in enumerate(_TIE_ORDER)}
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
    def activity(self, cid: int) -> dict[str, pl.DataFrame]:
        return self.activity_of(self.member_ids(cid))

    @lru_cache(maxsize=64)
    def activity_of(self, ids_t: tuple[str, ...]) -> dict[str, pl.DataFrame]:
        """Hour of day in each account's local time (its declared country's offset, the rule detection
        uses), daily request volume and daily signups of these accounts."""
        ids = pl.Series("account_id", ids_t, dtype=pl.String)
        offsets = self.rows("accounts", "account_id", ids).select(
            "account_id", utc_offset(pl.col("country")).alias("off")
        )
        req = self.requests_of(ids, ()).join(offsets, on="account_id", how="left")
        hours = req.group_by(
            ((pl.col("ts").dt.hour().cast(pl.Int64) + pl.col("off").fill_null(0)) % 24).alias("hour")
        ).agg(pl.len().alias("n"))
        daily = req.group_by(pl.col("ts").dt.date().alias("day")).agg(pl.len().alias("n"))
        signups = (
            self.rows("accounts", "account_id", ids)
            .group_by(pl.col("created_at").dt.date().alias("day"))
            .agg(pl.len().alias("n"))
        )
        h, d, s = pl.collect_all([hours, daily, signups])
        return {"hours": _full_hours(h), "daily": d.sort("day"), "signups": s.sort("day")}

    def population_hours(self) -> pl.DataFrame:
        """Hour-of-day share over all requests in local time (one streaming pass, computed once)."""
        with self._lock:
            if self._population_hours is None:
                off = self.world["accounts"].select("account_id", utc_offset(pl.col("country")).alias("off"))
                if self.store is not None:
                    acct = self.store.accounts().join(off, on="account_id").select("acct", "off")
                    req = self.store.scan().select("acct", "ts").join(acct, on="acct", how="left")
                else:
                    req = self.world["requests"].select("account_id", "ts").join(off, on="account_id", how="left")
                local = (pl.col("ts").dt.hour().cast(pl.Int64) + pl.col("off").fill_null(0)) % 24
                h = req.group_by(local.alias("hour")).agg(pl.len().alias("n")).collect(engine="streaming")
                self._population_hours = _full_hours(h)
            return self._population_hours

    @lru_cache(maxsize=64)
    def graph(self, cid: int, nx_limit: int = 20_000) -> dict:
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
    def prompts(self, aid: str, limit: int = 500) -> pl.DataFrame:
        """The account's sampled prompts (full text), in time order."""
        if "prompts" not in self.world:
            return pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "text": pl.String})
        return self.rows("prompts", "account_id", aid).select("ts", "text").sort("ts").head(limit).collect()

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

    def account_evidence(self, aid: str) -> pl.DataFrame:
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
    def _feature_evidence(self, aid: str, top: int = 5) -> pl.DataFrame:
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
        # Share of accounts strictly below the account's value, and the median, per feature (one pass).
        stats = acc.select(
            *[(pl.col(f) < vals[f]).mean().alias(f"{f}__p") for f in feats if vals[f] is not None],
            *[pl.col(f).median().alias(f"{f}__m") for f in feats if vals[f] is not None],
        ).row(0, named=True)
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

    @staticmethod
    def email_pattern_of(email: str | None) -> str | None:
        """The email's pattern as linkage computes it (`farmhunt.core.values.email_pattern`)."""
        if email is None:
            return None
        return pl.select(email_pattern(pl.lit(email, pl.String))).item()

    @lru_cache(maxsize=64)
    def account_activity(self, aid: str) -> dict[str, pl.DataFrame]:
        return self.activity_of((aid,))

    # ------------------------------------------------------------------ pivot
    def _results_of(self, ids: pl.DataFrame) -> pl.DataFrame:
        """`ids` (account_id, how) with email, case, cluster, risk, flagged and kind; riskiest first."""
        res = self.results.accounts.select("account_id", *self._result_cols)
        prof = (
            self.rows("accounts", "account_id", ids["account_id"].unique())
            .select("account_id", "email", "country")
            .collect()
        )
        return (
            ids.join(res, on="account_id", how="left")
            .join(prof, on="account_id", how="left")
            .sort(["risk", "account_id"], descending=[True, False], nulls_last=True)
        )

    def _ip_accounts(self, cond: pl.Expr, text: str) -> pl.DataFrame:
        """account_id, how: accounts whose signup IP or any request IP satisfies `cond` (on a column
        named `text`). Request IPs are looked up through the request store's IP lookup."""
        acc = self.world["accounts"].select("account_id", pl.col("signup_ip").alias(text)).filter(cond)
        signup = acc.select("account_id", pl.format("signup IP {}", pl.col(text)).alias("how")).collect()
        if self.store is not None:
            codes = (
                self.store.lookup("ip")
                .rename({"text": text})
                .filter(cond)
                .select("code", pl.col(text).alias("text"))
                .collect()
            )
            req = (
                self.store.scan()
                .filter(pl.col("ip").is_in(codes["code"].implode()))
                .group_by("acct")
                .agg(pl.col("ip").first())
                .collect()
                .join(self.store.accounts().collect(), on="acct")
                .join(codes.rename({"code": "ip"}), on="ip")
                .select("account_id", pl.format("request IP {}", pl.col("text")).alias("how"))
            )
        else:
            req = (
                self.world["requests"]
                .select("account_id", pl.col("ip").alias(text))
                .filter(cond)
                .group_by("account_id")
                .agg(pl.format("request IP {}", pl.col(text).first()).alias("how"))
                .collect()
            )
        both = pl.concat([signup, req])
        return both.group_by("account_id").agg(pl.col("how").sort().str.join(", ")).sort("account_id")

    def _key_accounts(self, key: str) -> pl.DataFrame:
        owner = self.rows("api_keys", "key_id", key).select("account_id", pl.lit("owns the key").alias("how")).collect()
        if self.store is not None:
            codes = self.store.lookup("key_id").filter(pl.col("text") == key).select("code").collect()["code"]
            used = (
                self.store.scan()
                .filter(pl.col("key_id").is_in(codes.implode()))
                .select("acct")
                .unique()
                .collect()
                .join(self.store.accounts().collect(), on="acct")
                .select("account_id", pl.lit("requests with the key").alias("how"))
            )
        else:
            used = (
                self.rows("requests", "key_id", key)
                .select("account_id")
                .unique()
                .with_columns(pl.lit("requests with the key").alias("how"))
                .collect()
            )
        return pl.concat([owner, used]).group_by("account_id").agg(pl.col("how").sort().str.join(", "))

    @lru_cache(maxsize=64)
    def pivot(self, signal: str, value: str) -> dict:
        """Every account of the whole world that shares `value` (`signal`: a tie signal, "ip", "cidr",
        "key", ...): {"title", "accounts" (account_id, how, case_id, cluster_id, risk, flagged,
        predicted_kind, email, country; at most PIVOT_LIMIT), "total", "clusters" (for signals detection
        records only inside clusters), "note"}."""
        w = self.world
        note = ""
        clusters = None
        acc = w["accounts"]
        if signal in ("signup_ip", "request_ip", "ip"):
            ids = self._ip_accounts(pl.col("_ip") == value, "_ip").with_columns(
                pl.col("how").str.replace_all(" " + value, "", literal=True)
            )
            note = "signup and request IPs"
        elif signal in ("signup_prefix", "cidr"):
            net = parse_network(value) if signal == "cidr" else parse_network(f"{value}.0/24")
            if net is None:
                raise ValueError(f"not an IPv4 network: {value!r}")
            lo, hi = int(net.network_address), int(net.broadcast_address)
            ids = self._ip_accounts(ip_int(pl.col("_ip")).is_between(lo, hi), "_ip")
            value = str(net)
            note = f"signup and request IPs in {net} ({net.num_addresses:,} addresses)"
        elif signal == "card":
            ids = (
                self.rows("payments", "card_fingerprint", value)
                .select("account_id")
                .unique()
                .with_columns(pl.lit("pays with the card").alias("how"))
                .collect()
            )
        elif signal in ("device", "phone", "org", "email"):
            col = {"device": "device_id", "phone": "phone", "org": "org_id", "email": "email"}[signal]
            ids = self.rows("accounts", col, value).select("account_id", pl.lit(words(signal)).alias("how")).collect()
        elif signal in ("email_pattern", "email_canonical", "email_domain"):
            expr = {
                "email_pattern": email_pattern(pl.col("email")),
                "email_canonical": canonical_email(pl.col("email")),
                "email_domain": pl.col("email").str.to_lowercase().str.extract(r"@([^@]*)$", 1),
            }[signal]
            ids = (
                self._strings("accounts", acc)
                .filter(expr == value)
                .select("account_id", pl.col("email").alias("how"))
                .collect()
            )
        elif signal == "key":
            ids = self._key_accounts(value)
        elif signal == "account":
            ids = pl.DataFrame({"account_id": [value], "how": ["account"]})
        elif signal in CLUSTER_ONLY:
            t = self.tie_table.filter(pl.col("signal") == signal, pl.col("value") == value)
            clusters = (
                t.select(
                    "cluster_id",
                    pl.col("n_members").cast(pl.Int64).alias("members"),
                    pl.col("n_accounts").cast(pl.Int64),
                )
                .join(
                    self.clusters.select("cluster_id", "case_id", "predicted_kind", "risk", "size"),
                    on="cluster_id",
                    how="left",
                )
                .sort(["risk", "cluster_id"], descending=[True, False])
            )
            world_n = int(t["n_accounts"].max() or 0) if t.height else 0
            note = (
                f"detection records {words(signal)}s only inside clusters: {world_n:,} accounts in the world share it; "
                "these are the clusters whose members do"
            )
            ids = pl.DataFrame(schema={"account_id": pl.String, "how": pl.String})
        else:
            raise ValueError(f"cannot pivot on {signal!r}")
        total = ids.height
        out = self._results_of(ids.head(PIVOT_LIMIT) if total > PIVOT_LIMIT else ids)
        return {
            "title": f"{words(signal)} {value}",
            "signal": signal,
            "value": value,
            "accounts": out,
            "total": total,
            "clusters": clusters,
            "note": note,
        }

    # ------------------------------------------------------------------ search
    def search(self, text: str, limit: int = 30) -> list[Match]:
        """Exact value, prefix or CIDR: a case id, cluster id, account id, email, card, device, phone, API
        key, IP (always signup AND request IPs) or a network (`143.41.114.0/24`). Exact hits come first;
        a prefix (at least 3 characters) finds ids, emails, cards, devices and IPs that start with it."""
        q = text.strip()
        if not q:
            return []
        out: list[Match] = []
        net = parse_network(q)
        if net is not None:
            return [Match("network", str(net), Target("pivot", "cidr", str(net)), "signup and request IPs")]
        if self.has_case(q):
            out.append(Match("case", q, Target("case", q)))
        if q.lstrip("-").isdigit() and self.has_cluster(int(q)):
            out.append(Match("cluster", q, Target("cluster", int(q))))
        if looks_like_ip(q):
            out.append(Match("IP", q, Target("pivot", "ip", q), "signup and request IPs"))
        ql = q.lower()
        acc = self._strings("accounts", self.world["accounts"])
        exact = (
            acc.filter(
                (pl.col("account_id") == q)
                | (pl.col("email").str.to_lowercase() == ql)
                | (pl.col("device_id") == q)
                | (pl.col("phone") == q)
            )
            .select("account_id", "email", "device_id", "phone")
            .head(limit)
            .collect()
        )
        seen: set[tuple[str, str]] = set()
        for r in exact.iter_rows(named=True):
            if r["account_id"] == q:
                out.append(Match("account", q, Target("account", q)))
            elif (r["email"] or "").lower() == ql:
                out.append(Match("email", r["email"], Target("account", r["account_id"])))
            for col, sig in (("device_id", "device"), ("phone", "phone")):
                if r[col] == q and (sig, q) not in seen:
                    seen.add((sig, q))
                    out.append(Match(words(sig), q, Target("pivot", sig, q), "every account with it"))
        if not self.rows("payments", "card_fingerprint", q).head(1).collect().is_empty():
            out.append(Match("card", q, Target("pivot", "card", q), "every account paying with it"))
        if not self.rows("api_keys", "key_id", q).head(1).collect().is_empty():
            out.append(Match("API key", q, Target("pivot", "key", q), "its owner and every account using it"))
        if out or len(q) < 3:
            return out[:limit]
        # Prefix search.
        hits = self.cases.filter(pl.col("case_id").str.starts_with(q)).head(limit)["case_id"].to_list()
        out += [Match("case", c, Target("case", c)) for c in hits]
        pre = (
            acc.filter(pl.col("account_id").str.starts_with(q) | pl.col("email").str.to_lowercase().str.starts_with(ql))
            .select("account_id", "email")
            .sort("account_id")
            .head(limit)
            .collect()
        )
        for r in pre.iter_rows(named=True):
            what, val = ("account", r["account_id"]) if r["account_id"].startswith(q) else ("email", r["email"])
            out.append(Match(what, val, Target("account", r["account_id"])))
        dev = (
            acc.filter(pl.col("device_id").str.starts_with(q))
            .select("device_id")
            .unique()
            .sort("device_id")
            .head(limit)
        )
        out += [Match("device", d, Target("pivot", "device", d)) for d in dev.collect()["device_id"]]
        cards = (
            self._strings("payments", self.world["payments"])
            .filter(pl.col("card_fingerprint").str.starts_with(q))
            .select("card_fingerprint")
            .unique()
            .sort("card_fingerprint")
            .head(limit)
            .collect()
        )
        out += [Match("card", c, Target("pivot", "card", c)) for c in cards["card_fingerprint"]]
        if q.replace(".", "").isdigit() and "." in q:
            ips = acc.filter(pl.col("signup_ip").str.starts_with(q)).select(pl.col("signup_ip").alias("text"))
            if self.store is not None:
                ips = pl.concat([ips, self.store.lookup("ip").filter(pl.col("text").str.starts_with(q)).select("text")])
            for ip in ips.unique().sort("text").head(limit).collect()["text"]:
                out.append(Match("IP", ip, Target("pivot", "ip", ip), "signup and request IPs"))
        return out[:limit]


def _full_hours(h: pl.DataFrame) -> pl.DataFrame:
    full = pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8})
    h = h.with_columns(pl.col("hour").cast(pl.Int8))
    out = full.join(h, on="hour", how="left").with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
    total = out["n"].sum()
    return out.with_columns((pl.col("n") / (total or 1)).alias("share"))
