"""Vocabulary of the console's data layer: case kinds and signals in words, where a hit leads (`Target`,
`Match`), IPv4 helpers. No polars frames are read here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import polars as pl

REQUEST_PAGE = 100
#: At most this many accounts are listed by a pivot (the total is always counted).
PIVOT_LIMIT = 2_000
#: At most this many members are listed on a case or cluster screen, riskiest first (decisions on the
#: whole case or cluster still cover every member).
MEMBER_LIMIT = 2_000

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
TIE_ORDER = [
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


def pivot_title(signal: str, value: str) -> str:
    """A pivot in words: "card 60154e2f", "network 143.41.114.0/24" (a signup /24 covers request IPs too)."""
    if signal == "signup_prefix":
        return f"network {value}.0/24"
    if signal == "cidr":
        return f"network {value}"
    return f"{words(signal)} {value}"


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
            return pivot_title(str(self.id), str(self.value))
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


def looks_like_world(p: Path) -> bool:
    return (p / "accounts.parquet").exists() and (p / "requests.parquet").exists() and not (p / "run.json").exists()


def ip_text(num: pl.Expr) -> pl.Expr:
    """An IPv4 address's number -> its text (dotted quad, as the contract writes it: no leading zeros)."""
    n = num.cast(pl.Int64)
    return pl.format("{}.{}.{}.{}", n // 16_777_216, n // 65_536 % 256, n // 256 % 256, n % 256)


def ip_address_number(text: str) -> int:
    """An IPv4 address's number; -1 (matches nothing) when `text` is not one."""
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        return -1


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


def full_hours(h: pl.DataFrame) -> pl.DataFrame:
    """24 rows (hour, n, share) from counts per hour (missing hours count 0)."""
    full = pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8})
    h = h.with_columns(pl.col("hour").cast(pl.Int8))
    out = full.join(h, on="hour", how="left").with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
    total = out["n"].sum()
    return out.with_columns((pl.col("n") / (total or 1)).alias("share"))
