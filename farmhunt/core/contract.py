"""The data contract: table names, columns and dtypes of a *world* and of a *results* directory.

The contract is declarations only: tables, dtypes and value domains. `core/validate.py` checks a
table against them (one validator for every command and the tests) and `core/world.py` loads a world
directory through it.

This module is the single source of truth imported by the generator (`synth`), the engine
(`farmhunt`), the evaluation, the console (`tui`) and the tests. A real provider maps its own
logs onto the world contract; everything downstream reads only what is named here.

A world is a directory holding one file per table, Parquet (`accounts.parquet`) or CSV
(`accounts.csv`, ISO-8601 timestamps) with at least the columns below. Extra columns are allowed
and ignored; a String column may also arrive as Categorical or Enum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import polars as pl

#: A polars dtype as the contract writes it: a class (`pl.String`) or an instance (`pl.Datetime("us", "UTC")`).
PolarsType = pl.DataType | type[pl.DataType]

UTC_US = pl.Datetime("us", "UTC")

TOPICS: tuple[str, ...] = (
    "coding",
    "math",
    "writing",
    "chat",
    "agentic",
    "cybersecurity",
    "data_analysis",
    "translation",
    "other",
)
PLANS: tuple[str, ...] = ("free", "payg", "scale", "enterprise")
CARD_FUNDING: tuple[str, ...] = ("credit", "debit", "prepaid", "virtual")
PAYMENT_STATUS: tuple[str, ...] = ("succeeded", "declined", "refunded", "disputed")
ASN_KINDS: tuple[str, ...] = ("residential", "mobile", "hosting", "education", "business")

FRAUD_KINDS: tuple[str, ...] = ("distillation_farm", "reseller_pool", "card_testing")
HARD_NEGATIVE_KINDS: tuple[str, ...] = (
    "enterprise_team",
    "campus_nat",
    "multi_account_user",
    "automation",
    "popular_app",
)
BENIGN_KIND = "benign"
PREDICTED_KINDS: tuple[str, ...] = ("distillation_farm", "reseller_pool", "card_testing", "benign_org", "unknown")


# ---------------------------------------------------------------------------------------------
# Value domains: what a value of a column may be. Checked by the validator in its one pass over each
# table (the request table's in the request store's pass). Enumerations are exact: case and spaces
# are not normalised ('DECLINED' and ' succeeded' are refused, not guessed at; see README).
# ---------------------------------------------------------------------------------------------
#: Timestamps before this are refused (no provider log predates it; 1900 or 1970 is a broken default).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=timezone.utc)
#: Timestamps more than this after now (or after the end of the window a manifest declares) are refused.
FUTURE_SLACK = timedelta(days=1)
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
ISO2_PATTERN = r"^[A-Z]{2}$"
BIN_PATTERN = r"^[0-9]{6}$"


@dataclass(frozen=True)
class Domain:
    """The values a column may hold: `valid(col)` is true where a non-null value is allowed."""

    describe: str
    valid: Callable[[pl.Expr], pl.Expr]


def one_of(values: tuple[str, ...]) -> Domain:
    """An enumeration (exact, case-sensitive)."""
    return Domain(f"not one of {', '.join(values)} (exact, case-sensitive)", lambda c: c.is_in(list(values)))


def matching(pattern: str, what: str) -> Domain:
    """Text matching a regular expression."""
    return Domain(f"not {what}", lambda c: c.str.contains(pattern))


def at_least(lo: float, finite: bool = False) -> Domain:
    """Numbers >= lo (and, for floats, neither NaN nor infinite when `finite`)."""
    if finite:
        return Domain(f"not a finite number >= {lo:g}", lambda c: c.is_finite() & (c >= lo))
    return Domain(f"negative (must be >= {lo:g})", lambda c: c >= lo)


def time_window(latest: datetime) -> Domain:
    """Timestamps from `EARLIEST_TIME` up to `latest`."""
    return Domain(
        f"outside the plausible window {EARLIEST_TIME:%Y-%m-%d} .. {latest:%Y-%m-%d %H:%M} UTC",
        lambda c: (c >= EARLIEST_TIME) & (c <= latest),
    )


@dataclass(frozen=True)
class RowRule:
    """A check across columns of one row: `valid` is true where the row is allowed (nulls pass)."""

    columns: tuple[str, ...]
    describe: str
    valid: Callable[[], pl.Expr]


@dataclass(frozen=True, eq=False)
class TableSpec:
    """One table of the contract: its name, required columns with dtypes, keys and time columns."""

    name: str
    columns: dict[str, PolarsType]
    key: tuple[str, ...] = ()
    nullable: frozenset[str] = frozenset()
    required: bool = True
    account_ref: str | None = "account_id"  # column that must reference accounts.account_id
    #: Columns a table may carry (read, with this dtype, when present; nulls allowed).
    optional: dict[str, PolarsType] = field(default_factory=dict)
    #: Allowed values per column (timestamps get `time_window` on top, see `domain_of`).
    domains: dict[str, Domain] = field(default_factory=dict)
    rules: tuple[RowRule, ...] = ()

    def domain_of(self, col: str, latest: datetime | None = None) -> Domain | None:
        """The domain of `col`: its declared one, or the plausible time window for a timestamp."""
        if col in self.domains:
            return self.domains[col]
        if isinstance(self.columns.get(col), pl.Datetime):
            return time_window(latest or latest_plausible_time())
        return None

    @property
    def time_columns(self) -> list[str]:
        return [c for c, t in self.columns.items() if isinstance(t, pl.Datetime)]

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema(self.columns)


ACCOUNTS = TableSpec(
    "accounts",
    {
        "account_id": pl.String,
        "created_at": UTC_US,
        "email": pl.String,
        "name": pl.String,
        "country": pl.String,
        "signup_ip": pl.String,
        "device_id": pl.String,
        "phone": pl.String,
        "org_id": pl.String,
        "plan": pl.String,
    },
    key=("account_id",),
    nullable=frozenset({"phone", "org_id"}),
    account_ref=None,
    domains={
        "country": matching(ISO2_PATTERN, "an ISO 3166-1 alpha-2 code (two upper-case letters)"),
        "signup_ip": matching(IPV4_PATTERN, "an IPv4 address"),
        "plan": one_of(PLANS),
    },
)
PAYMENTS = TableSpec(
    "payments",
    {
        "payment_id": pl.String,
        "account_id": pl.String,
        "ts": UTC_US,
        "amount_usd": pl.Float64,
        "card_fingerprint": pl.String,
        "card_bin": pl.String,
        "card_country": pl.String,
        "card_funding": pl.String,
        "status": pl.String,
    },
    key=("payment_id",),
    domains={
        "amount_usd": at_least(0, finite=True),
        "card_bin": matching(BIN_PATTERN, "a 6-digit BIN"),
        "card_country": matching(ISO2_PATTERN, "an ISO 3166-1 alpha-2 code (two upper-case letters)"),
        "card_funding": one_of(CARD_FUNDING),
        "status": one_of(PAYMENT_STATUS),
    },
)
API_KEYS = TableSpec(
    "api_keys",
    {"key_id": pl.String, "account_id": pl.String, "created_at": UTC_US, "revoked_at": UTC_US},
    key=("key_id",),
    nullable=frozenset({"revoked_at"}),
    rules=(
        RowRule(
            ("revoked_at", "created_at"),
            "revoked_at before created_at",
            lambda: pl.col("revoked_at").is_null() | (pl.col("revoked_at") >= pl.col("created_at")),
        ),
    ),
)
REQUESTS = TableSpec(
    "requests",
    {
        "ts": UTC_US,
        "account_id": pl.String,
        "key_id": pl.String,
        "model": pl.String,
        "input_tokens": pl.Int32,
        "output_tokens": pl.Int32,
        "ip": pl.String,
        "asn": pl.Int32,
        "user_agent": pl.String,
        "prompt_hash": pl.UInt64,
        "topic": pl.String,
    },
    # Checked by the request store's pass over the table (`farmhunt.engine.polars.request_store`).
    domains={
        "input_tokens": at_least(0),
        "output_tokens": at_least(0),
        "ip": matching(IPV4_PATTERN, "an IPv4 address"),
        "asn": at_least(0),
        "topic": one_of(TOPICS),
    },
)
ASNS = TableSpec(
    "asns",
    {"asn": pl.Int32, "org": pl.String, "kind": pl.String},
    key=("asn",),
    account_ref=None,
    domains={"asn": at_least(0), "kind": one_of(ASN_KINDS)},
    optional={"country": pl.String},  # ISO country of the network (GeoIP); second streams use it when present
)
PROMPTS = TableSpec(
    "prompts",
    {"ts": UTC_US, "account_id": pl.String, "prompt_hash": pl.UInt64, "text": pl.String},
    required=False,
)
LABELS = TableSpec(
    "labels",
    {"account_id": pl.String, "ring_id": pl.String, "ring_kind": pl.String, "is_fraud": pl.Boolean},
    key=("account_id",),
    nullable=frozenset({"ring_id"}),
    required=False,
)

#: Tables detection reads. `labels` is deliberately absent: only evaluation may read it.
DETECTION_TABLES: tuple[TableSpec, ...] = (ACCOUNTS, PAYMENTS, API_KEYS, REQUESTS, ASNS, PROMPTS)
WORLD_TABLES: tuple[TableSpec, ...] = DETECTION_TABLES + (LABELS,)
TABLES: dict[str, TableSpec] = {t.name: t for t in WORLD_TABLES}
MANIFEST_FILE = "manifest.json"

# ---------------------------------------------------------------------------------------------
# Results directory written by `farmhunt detect`, read by evaluation and the console.
# Feature columns are appended to result accounts and aggregates to result clusters; the columns
# below are the ones every reader may rely on.
# ---------------------------------------------------------------------------------------------
RESULT_ACCOUNTS = TableSpec(
    "accounts",
    {
        "account_id": pl.String,
        "cluster_id": pl.Int64,
        "risk": pl.Float64,
        "flagged": pl.Boolean,
        "predicted_kind": pl.String,
    },
    key=("account_id",),
    nullable=frozenset({"cluster_id"}),
    account_ref=None,
)
RESULT_CLUSTERS = TableSpec(
    "clusters",
    {
        "cluster_id": pl.Int64,
        "size": pl.Int64,
        "risk": pl.Float64,
        "predicted_kind": pl.String,
        "flagged": pl.Boolean,
    },
    key=("cluster_id",),
    account_ref=None,
)
#: One evidence row: a signal, its value against the population baseline, and what it added to the score.
EVIDENCE_ROW: dict[str, PolarsType] = {
    "rank": pl.Int32,
    "signal": pl.String,
    "value": pl.Float64,
    "baseline": pl.Float64,
    "contribution": pl.Float64,
    "text": pl.String,
}
RESULT_EVIDENCE = TableSpec("evidence", {"cluster_id": pl.Int64, **EVIDENCE_ROW}, account_ref=None)
#: Why an account judged alone (outside flagged clusters, or a peripheral member) scored as it did.
RESULT_ACCOUNT_EVIDENCE = TableSpec("account_evidence", {"account_id": pl.String, **EVIDENCE_ROW}, required=False)
RESULT_EDGES = TableSpec(
    "edges",
    {"src": pl.String, "dst": pl.String, "weight": pl.Float64, "reasons": pl.List(pl.String)},
    account_ref=None,
)
RESULT_TABLES: tuple[TableSpec, ...] = (RESULT_ACCOUNTS, RESULT_CLUSTERS, RESULT_EVIDENCE, RESULT_EDGES)
RUN_FILE = "run.json"


def ip_number(text: pl.Expr) -> pl.Expr:
    """IPv4 text -> the address as a number (UInt32; null when not an IPv4 address): a CIDR network is
    then one range of numbers."""
    parts = text.str.split_exact(".", 3)
    n = [parts.struct.field(f"field_{i}").cast(pl.Int64, strict=False) for i in range(4)]
    num = n[0] * 16_777_216 + n[1] * 65_536 + n[2] * 256 + n[3]
    return num.cast(pl.UInt32, strict=False)


def ip_prefix(ip: pl.Expr) -> pl.Expr:
    """The /24 network of an IPv4 address: its text up to the last dot."""
    return ip.str.replace(r"\.\d+$", "")


def latest_plausible_time(manifest: dict | None = None) -> datetime:
    """The latest timestamp a world may hold: now, or the end of the window its manifest declares
    (config.start + config.days) if later, plus `FUTURE_SLACK`."""
    latest = datetime.now(timezone.utc)
    cfg = (manifest or {}).get("config")
    if isinstance(cfg, dict):
        try:
            start = datetime.fromisoformat(str(cfg["start"])).replace(tzinfo=timezone.utc)
            days = float(cfg["days"])
            if math.isfinite(days) and 0 <= days < 100_000:
                latest = max(latest, start + timedelta(days=days))
        except (KeyError, TypeError, ValueError, OverflowError):
            pass
    return latest + FUTURE_SLACK
