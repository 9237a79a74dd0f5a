"""Pivots and search: every account of the whole world that shares a value (a card, device, phone, IP,
network, email pattern, key, ...), each with its case, risk and status; and the `/` search (exact value,
prefix, CIDR) over ids, emails, cards, devices, keys and both signup and request IPs.

Signup values come from the in-memory world tables (their files while they load); request IPs and keys
from the request index (which accounts used which IP or key: `tui.data.index`), so once it is built no
pivot reads the requests."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import polars as pl

from farmhunt.core.contract import ip_number
from farmhunt.core.values import canonical_email, email_pattern
from tui.data.common import (
    CLUSTER_ONLY,
    PIVOT_LIMIT,
    Match,
    Target,
    ip_address_number,
    ip_text,
    looks_like_ip,
    parse_network,
    words,
)

if TYPE_CHECKING:
    from tui.data import CaseData


class PivotQueries:
    """The pivot and search part of `CaseData`."""

    def _results_of(self: CaseData, ids: pl.DataFrame) -> pl.DataFrame:
        """`ids` (account_id, how) with email, case, cluster, risk, flagged and kind; riskiest first."""
        res = self.results.accounts.select("account_id", *self._result_cols)
        prof = self.rows("accounts", "account_id", ids["account_id"].unique()).select("account_id", "email", "country")
        return (
            ids.join(res, on="account_id", how="left")
            .join(prof.collect(), on="account_id", how="left")
            .sort(["risk", "account_id"], descending=[True, False], nulls_last=True)
        )

    def _ip_accounts(self: CaseData, exact: str | None = None, lo: int = 0, hi: int = -1) -> pl.DataFrame:
        """account_id, how: accounts whose signup IP or any request IP is `exact`, or (without `exact`) an
        IPv4 number in [lo, hi]. Request IPs come from the request index (no scan of the requests)."""
        acc = self.tables.frame("accounts")
        cond = pl.col("signup_ip") == exact if exact is not None else pl.col("_ip_num").is_between(lo, hi)
        signup = (
            acc.filter(cond).select("account_id", pl.format("signup IP {}", pl.col("signup_ip")).alias("how")).collect()
        )
        if self.store is not None:
            if exact is not None:
                lo = hi = ip_address_number(exact)
            users = self.tables.ip_users(lo, hi).group_by("acct").agg(pl.col("ip_num").min())
            req = self.tables.account_ids(users).select(
                "account_id", pl.format("request IP {}", ip_text(pl.col("ip_num"))).alias("how")
            )
        else:
            rcond = pl.col("ip") == exact if exact is not None else ip_number(pl.col("ip")).is_between(lo, hi)
            req = (
                self.world["requests"]
                .select("account_id", "ip")
                .filter(rcond)
                .group_by("account_id")
                .agg(pl.format("request IP {}", pl.col("ip").cast(pl.String).min()).alias("how"))
                .collect()
            )
        both = pl.concat([signup, req])
        return both.group_by("account_id").agg(pl.col("how").sort().str.join(", ")).sort("account_id")

    def _key_accounts(self: CaseData, key: str) -> pl.DataFrame:
        owner = self.rows("api_keys", "key_id", key).select("account_id", pl.lit("owns the key").alias("how")).collect()
        if self.store is not None:
            codes = self.tables.lookup_frame("key_id").filter(pl.col("text") == key).select("code").collect()["code"]
            used = self.tables.account_ids(self.tables.key_users(codes).select("acct").unique()).select(
                "account_id", pl.lit("requests with the key").alias("how")
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

    def _email_accounts(self: CaseData, signal: str, value: str) -> pl.DataFrame:
        """account_id, how (the email) of every account whose email's `signal` (email_pattern,
        email_canonical or email_domain) is `value`. Every such email contains "@" and the value's domain,
        so the key is computed only for the emails that do (a literal search, not a regex per account)."""
        expr = {
            "email_pattern": email_pattern(pl.col("email")),
            "email_canonical": canonical_email(pl.col("email")),
            "email_domain": pl.col("_email_lc").str.extract(r"@([^@]*)$", 1),
        }[signal]
        domain = value if signal == "email_domain" else value.split("@", 1)[1] if "@" in value else None
        acc = self.tables.frame("accounts")
        if domain is not None:
            acc = acc.filter(pl.col("_email_lc").str.contains("@" + domain, literal=True))
        return acc.filter(expr == value).select("account_id", pl.col("email").alias("how")).collect()

    @lru_cache(maxsize=64)
    def pivot(self: CaseData, signal: str, value: str) -> dict:
        """Every account of the whole world that shares `value` (`signal`: a tie signal, "ip", "cidr",
        "key", ...): {"title", "accounts" (account_id, how, case_id, cluster_id, risk, flagged,
        predicted_kind, email, country; at most PIVOT_LIMIT, riskiest first), "total", "clusters" (for
        signals detection records only inside clusters), "note"}."""
        note = ""
        clusters = None
        if signal in ("signup_ip", "request_ip", "ip"):
            ids = self._ip_accounts(exact=value).with_columns(
                pl.col("how").str.replace_all(" " + value, "", literal=True)
            )
            note = "signup and request IPs"
        elif signal in ("signup_prefix", "cidr"):
            net = parse_network(value) if signal == "cidr" else parse_network(f"{value}.0/24")
            if net is None:
                raise ValueError(f"not an IPv4 network: {value!r}")
            lo, hi = int(net.network_address), int(net.broadcast_address)
            ids = self._ip_accounts(lo=lo, hi=hi)
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
            ids = self._email_accounts(signal, value)
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
        full = self._results_of(ids)
        in_cases = int(full["case_id"].is_not_null().sum()) if "case_id" in full.columns else 0
        out = full.head(PIVOT_LIMIT)
        return {
            "title": f"{'network' if signal in ('signup_prefix', 'cidr') else words(signal)} {value}",
            "signal": signal,
            "value": value,
            "accounts": out,
            "total": total,
            "in_cases": in_cases,
            "clusters": clusters,
            "note": note,
        }

    # ------------------------------------------------------------------ search
    def search(self: CaseData, text: str, limit: int = 30) -> list[Match]:
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
        acc = self.tables.frame("accounts")
        exact = (
            acc.filter(
                (pl.col("account_id") == q)
                | (pl.col("_email_lc") == ql)
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
            acc.filter(pl.col("account_id").str.starts_with(q) | pl.col("_email_lc").str.starts_with(ql))
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
            self.tables.frame("payments")
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
                ips = pl.concat(
                    [ips, self.tables.lookup_frame("ip").filter(pl.col("text").str.starts_with(q)).select("text")]
                )
            for ip in ips.unique().sort("text").head(limit).collect()["text"]:
                out.append(Match("IP", ip, Target("pivot", "ip", ip), "signup and request IPs"))
        return out[:limit]
