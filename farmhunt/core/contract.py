"""The data contract: table names, columns and dtypes of a *world* and of a *results* directory.

Size (~790 lines): the contract is one place by design: tables, value domains and the one-pass
validator that checks them together. Splitting the validator into `core/validate.py` is the next step.

This module is the single source of truth imported by the generator (`synth`), the engine
(`farmhunt`), the evaluation, the console (`tui`) and the tests. A real provider maps its own
logs onto the world contract; everything downstream reads only what is named here.

A world is a directory holding one file per table, Parquet (`accounts.parquet`) or CSV
(`accounts.csv`, ISO-8601 timestamps) with at least the columns below. Extra columns are allowed
and ignored; a String column may also arrive as Categorical or Enum.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from farmhunt.core.errors import InputError
from farmhunt.core.safe_text import example, printable, shorten

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


@dataclass
class Problem:
    """One contract violation: where it is and why, with a count and a few example values."""

    file: str
    column: str | None
    reason: str
    count: int | None = None
    examples: list = field(default_factory=list)

    def __str__(self) -> str:
        where = printable(self.file, limit=200) + (
            f", column '{printable(self.column, limit=80)}'" if self.column else ""
        )
        text = f"{where}: {printable(self.reason, limit=400)}"
        if self.count is not None:
            text += f" ({self.count:,} row{'s' if self.count != 1 else ''})"
        if self.examples:
            text += f"; e.g. {', '.join(example(e) for e in self.examples[:3])}"
        return text


class ContractError(InputError):
    """Raised when input breaks the contract. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str, *, source: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(source or "input", None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        lines = [f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {source or 'input'}:"]
        lines += [f"  - {p}" for p in problems]
        super().__init__(shorten("\n".join(lines), 8000))


# ---------------------------------------------------------------------------------------------
# Loading and validation: one validator, used by every command and by the tests.
# ---------------------------------------------------------------------------------------------
_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_EXAMPLES = 3


def ip_prefix(ip: pl.Expr) -> pl.Expr:
    """The /24 network of an IPv4 address: its text up to the last dot."""
    return ip.str.replace(r"\.\d+$", "")


def iso_to_datetime(expr: pl.Expr) -> pl.Expr:
    """Parse ISO-8601 text (``Z``, ``+hh:mm``, ``+hhmm``, no offset = UTC, date only) to Datetime(us, UTC)."""
    norm = (
        expr.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]?", "${1}T")
        .str.replace(r"T$", "T00:00:00")
        .str.replace(r"Z$", "+00:00")
    )
    norm = pl.when(norm.str.contains(r"[+-]\d{2}:?\d{2}$")).then(norm).otherwise(norm + "+00:00")
    return norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False)


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(world: str | Path) -> bool:
    """True when `world` is a URL (`s3a://...`, `hdfs://...`, `file://...`): read through Spark, not here."""
    return isinstance(world, str) and bool(_URL.match(world))


def find_table_file(world: Path, name: str) -> Path | None:
    """The file holding table `name` in `world`: `name.parquet`, else `name.csv`, else None."""
    for suffix in (".parquet", ".csv"):
        p = world / f"{name}{suffix}"
        if p.exists():
            return p
    return None


def _scan(path: Path, spec: TableSpec) -> pl.LazyFrame:
    if path.suffix == ".csv":
        # Every column as text; the contract's casts below parse and report what does not parse.
        return pl.scan_csv(path, infer_schema=False)
    return pl.scan_parquet(path)


def cast_to_contract(col: str, source: PolarsType, target: PolarsType) -> pl.Expr | None:
    """Expression casting `col` from `source` dtype to the contract dtype `target`, or None when it cannot."""
    c = pl.col(col)
    if source == target:
        return c  # already canonical: no work per row
    if target == pl.String:
        if source in (pl.String, pl.Categorical) or isinstance(source, (pl.Categorical, pl.Enum)):
            return c.cast(pl.String)
        return None
    if isinstance(target, pl.Datetime):
        if isinstance(source, pl.Datetime):
            c = c.dt.replace_time_zone("UTC") if source.time_zone is None else c.dt.convert_time_zone("UTC")
            return c.dt.cast_time_unit("us")
        if source == pl.String:
            return iso_to_datetime(c)
        return None
    if target in _INTS or target == pl.Float64:
        if source in _INTS or (target == pl.Float64 and source in (pl.Float32, pl.Float64)):
            return c.cast(target, strict=False)
        if source == pl.String:
            return c.str.strip_chars().cast(target, strict=False)
        return None
    if target == pl.Boolean:
        if source == pl.Boolean:
            return c
        if source == pl.String:
            low = c.str.strip_chars().str.to_lowercase()
            return (
                pl.when(low.is_in(["true", "1", "t", "yes"]))
                .then(True)
                .when(low.is_in(["false", "0", "f", "no"]))
                .then(False)
                .otherwise(None)
            )
        return None
    return c.cast(target, strict=False) if source == target else None


@dataclass
class World:
    """A loaded world: lazy frames in the contract's canonical dtypes, keyed by table name."""

    path: Path
    tables: dict[str, pl.LazyFrame]
    files: dict[str, Path]
    manifest: dict | None = None
    native_tables: dict[str, pl.LazyFrame] = field(default_factory=dict)
    #: Set by `cut`: readers of the files themselves (the request store) must drop rows from then on.
    until: datetime | None = None

    def __getitem__(self, name: str) -> pl.LazyFrame:
        return self.tables[name]

    def native(self, name: str) -> pl.LazyFrame:
        """Table `name` with Categorical/Enum text columns left as stored (everything else canonical).

        Grouping and counting distinct values on the stored dictionary codes is about twice as fast as
        on strings; hot paths over the request table group natively and cast keys with `as_strings`.
        """
        return self.native_tables.get(name, self.tables[name])

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def cut(self, until: datetime) -> World:
        """The world as it was at `until`: rows whose time is before it (accounts by `created_at`)."""
        until = until if until.tzinfo else until.replace(tzinfo=timezone.utc)

        def before(name: str, lf: pl.LazyFrame) -> pl.LazyFrame:
            spec = TABLES[name]
            tcol = "created_at" if "created_at" in spec.columns else ("ts" if "ts" in spec.columns else None)
            lf = lf.filter(pl.col(tcol) < until) if tcol else lf
            if name == "api_keys":
                lf = lf.with_columns(
                    pl.when(pl.col("revoked_at") < until).then(pl.col("revoked_at")).otherwise(None).alias("revoked_at")
                )
            return lf

        return World(
            self.path,
            {n: before(n, lf) for n, lf in self.tables.items()},
            self.files,
            self.manifest,
            {n: before(n, lf) for n, lf in self.native_tables.items()},
            min(until, self.until) if self.until else until,
        )


def as_strings(lf: pl.LazyFrame, *columns: str) -> pl.LazyFrame:
    """Cast text columns that may be Categorical (see `World.native`) to String, after aggregating."""
    return lf.with_columns(pl.col(c).cast(pl.String) for c in columns)


def _contract_columns(
    fname: str, spec: TableSpec, schema: pl.Schema
) -> tuple[list[pl.Expr], list[pl.Expr], list[Problem]]:
    """The casts to the contract's dtypes, the native-text variant of them, and the schema problems
    (missing columns, dtypes that cannot be cast) of a table stored with `schema`."""
    problems: list[Problem] = []
    casts: list[pl.Expr] = []
    native: list[pl.Expr] = []
    for col, target in spec.columns.items():
        if col not in schema:
            problems.append(Problem(fname, col, f"missing column (expected {target})"))
            continue
        expr = cast_to_contract(col, schema[col], target)
        if expr is None:
            problems.append(Problem(fname, col, f"wrong dtype {schema[col]} (expected {target})"))
            continue
        casts.append(expr.alias(col))
        keep = target == pl.String and isinstance(schema[col], (pl.Categorical, pl.Enum))
        native.append(pl.col(col) if keep else expr.alias(col))
    for col, target in spec.optional.items():
        if col in schema:
            expr = cast_to_contract(col, schema[col], target)
            if expr is None:
                problems.append(Problem(fname, col, f"wrong dtype {schema[col]} (expected {target})"))
                continue
            casts.append(expr.alias(col))
            native.append(expr.alias(col))
    return casts, native, problems


def schema_problems(fname: str, spec: TableSpec, schema: pl.Schema) -> list[Problem]:
    """The contract's column and dtype checks of a table stored with `schema` (no pass over the data):
    what `load_world` reports for it, for readers that see only a schema (a table read through Spark)."""
    return _contract_columns(fname, spec, schema)[2]


def fallible_columns(spec: TableSpec, schema: pl.Schema) -> list[str]:
    """Columns whose cast to the contract can fail per value (text parsed, integers narrowed): the only
    ones whose values the loader checks for what did not parse."""
    return [
        c
        for c in spec.columns
        if schema[c] == pl.String
        and spec.columns[c] != pl.String
        or (spec.columns[c] in _INTS and schema[c] != spec.columns[c])
    ]


def _check_table(
    path: Path,
    spec: TableSpec,
    deep: bool = True,
    natives: dict[str, pl.LazyFrame] | None = None,
    deferred: bool = False,
    latest: datetime | None = None,
) -> tuple[pl.LazyFrame | None, list[Problem]]:
    """Schema, parse, null and duplicate checks of one table; returns the canonical lazy frame.

    `deferred`: the caller checks nulls and emptiness itself while reading the data (see
    `load_world`); only values that may not parse are checked here.
    """
    fname = path.name
    natives = {} if natives is None else natives
    if not path.is_file():
        return None, [Problem(fname, None, "is not a regular file (a directory?)")]
    try:
        raw = _scan(path, spec)
        schema = raw.collect_schema()
    except Exception as exc:  # unreadable file: polars says why
        return None, [Problem(fname, None, f"cannot be read: {exc}".splitlines()[0])]
    casts, native, problems = _contract_columns(fname, spec, schema)
    if problems:
        return None, problems
    lf = raw.select(casts)
    natives[spec.name] = raw.select(native)
    if not deep:
        return lf, problems
    # One pass: row count, nulls in required columns, values that did not parse. Only casts that can
    # fail (parsing text, narrowing integers) are checked: the rest cost a pass over the data for nothing.
    fallible = fallible_columns(spec, schema)
    if deferred and not fallible:
        return lf, problems
    # Value domains and row rules (the request table's are checked by the request store's own pass).
    domains = {} if deferred else {c: d for c in spec.columns if (d := spec.domain_of(c, latest)) is not None}
    rules = () if deferred else spec.rules
    stats = [pl.len().alias("__rows")]
    for col in fallible:
        stats.append((pl.col(col).is_null() & pl.col(f"__raw_{col}").is_not_null()).sum().alias(f"__bad_{col}"))
    for col in spec.columns:
        if col not in spec.nullable:
            stats.append(pl.col(f"__raw_{col}").is_null().sum().alias(f"__null_{col}"))

    def outside(col: str) -> pl.Expr:
        return pl.col(col).is_not_null() & ~domains[col].valid(pl.col(col)).fill_null(False)

    for col in domains:
        stats.append(outside(col).sum().alias(f"__dom_{col}"))
    for i, rule in enumerate(rules):
        stats.append((~rule.valid().fill_null(True)).sum().alias(f"__rule_{i}"))
    checked = set(fallible) | set(domains) | {c for r in rules for c in r.columns}
    both = raw.select(
        [pl.col(c).alias(f"__raw_{c}") for c in spec.columns] + [e for c, e in zip(spec.columns, casts) if c in checked]
    )
    try:
        row = both.select(stats).collect(engine="streaming").row(0, named=True)
    except Exception as exc:
        return None, [Problem(fname, None, f"cannot be read: {exc}".splitlines()[0])]
    if row["__rows"] == 0:
        problems.append(Problem(fname, None, "empty table (no rows)"))
        return lf, problems

    def examples(where: pl.Expr, col: str) -> list:
        return (
            both.filter(where)
            .select(pl.col(f"__raw_{col}").cast(pl.String))
            .head(_EXAMPLES)
            .collect()
            .to_series()
            .to_list()
        )

    for col, target in spec.columns.items():
        if row.get(f"__bad_{col}"):
            ex = examples(pl.col(col).is_null() & pl.col(f"__raw_{col}").is_not_null(), col)
            what = "unparsable timestamps" if isinstance(target, pl.Datetime) else f"values not parsable as {target}"
            problems.append(Problem(fname, col, what, row[f"__bad_{col}"], ex))
        if row.get(f"__null_{col}"):
            problems.append(Problem(fname, col, "null values in a required column", row[f"__null_{col}"]))
        if row.get(f"__dom_{col}"):
            ex = examples(outside(col), col)
            problems.append(Problem(fname, col, f"values {domains[col].describe}", row[f"__dom_{col}"], ex))
    for i, rule in enumerate(rules):
        if row.get(f"__rule_{i}"):
            ex = examples(~rule.valid().fill_null(True), rule.columns[0])
            problems.append(Problem(fname, ",".join(rule.columns), rule.describe, row[f"__rule_{i}"], ex))
    if spec.key:
        key_cols = list(spec.key)
        dup = lf.group_by(key_cols).agg(pl.len().alias("n")).filter(pl.col("n") > 1)
        dups = dup.select(pl.len(), (pl.col("n") - 1).sum()).collect(engine="streaming").row(0)
        if dups[0]:
            ex = dup.head(_EXAMPLES).collect().select(key_cols[0]).to_series().to_list()
            problems.append(Problem(fname, ",".join(key_cols), "duplicate key values", int(dups[1]), ex))
    return lf, problems


def _check_reference(
    lf: pl.LazyFrame, col: str, target: pl.LazyFrame, tcol: str, fname: str, what: str
) -> Problem | None:
    # Distinct values first (on the stored dtype: cheap), then cast the few left to the target's dtype.
    dtype = target.collect_schema()[tcol]
    missing = (
        lf.select(pl.col(col))
        .drop_nulls()
        .unique()
        .with_columns(pl.col(col).cast(dtype))
        .join(target.select(pl.col(tcol).alias(col)), on=col, how="anti")
    )
    n = missing.select(pl.len()).collect(engine="streaming").item()
    if not n:
        return None
    ex = missing.sort(col).head(_EXAMPLES).collect().to_series().to_list()
    return Problem(fname, col, f"{n:,} distinct value(s) not found in {what}", None, ex)


def load_world(
    path: str | Path,
    tables: tuple[TableSpec, ...] = DETECTION_TABLES,
    check_references: bool = True,
    deep: bool = True,
    defer: tuple[str, ...] = (),
) -> World:
    """Load and validate a world directory; raise `ContractError` listing *every* problem found.

    Only the tables named in `tables` are read (detection never asks for `labels`). With
    `deep=False` only files, columns and dtypes are checked (no pass over the data): for readers such
    as the console that open an already-validated world and must start fast. Tables in `defer` get
    only their schema and parse checks here; nulls, emptiness and references are left to the caller's
    own pass over them (detection's request store checks the request table while encoding it).
    """
    world = Path(path)
    if not world.is_dir():
        raise ContractError(f"world directory '{world}' does not exist or is not a directory", source=str(world))
    problems: list[Problem] = []
    frames: dict[str, pl.LazyFrame] = {}
    natives: dict[str, pl.LazyFrame] = {}
    files: dict[str, Path] = {}
    manifest, mproblem = _read_manifest(world)
    problems += [mproblem] if mproblem else []
    latest = latest_plausible_time(manifest)
    for spec in tables:
        f = find_table_file(world, spec.name)
        if f is None:
            if spec.required:
                problems.append(Problem(f"{spec.name}.parquet", None, "missing file (no .parquet or .csv)"))
            continue
        lf, probs = _check_table(f, spec, deep, natives, deferred=spec.name in defer, latest=latest)
        if not spec.required and len(probs) == 1 and probs[0].reason == "empty table (no rows)":
            natives.pop(spec.name, None)  # an empty optional table is the same as a missing one
            continue
        problems += probs
        if lf is not None:
            frames[spec.name], files[spec.name] = lf, f
    if deep and check_references and "accounts" in frames:
        acc = frames["accounts"]
        for name in frames:
            ref = TABLES[name].account_ref
            if ref and name != "labels" and name not in defer:
                p = _check_reference(natives[name], ref, acc, "account_id", files[name].name, "accounts.account_id")
                problems += [p] if p else []
        if "labels" in frames:
            p = _check_reference(
                acc,
                "account_id",
                frames["labels"],
                "account_id",
                files["accounts"].name,
                "labels.account_id (every account needs a label)",
            )
            problems += [p] if p else []
        if "requests" in frames and "asns" in frames and "requests" not in defer:
            p = _check_reference(natives["requests"], "asn", frames["asns"], "asn", files["requests"].name, "asns.asn")
            problems += [p] if p else []
        if "requests" in frames and "api_keys" in frames and "requests" not in defer:
            p = _check_reference(
                natives["requests"], "key_id", frames["api_keys"], "key_id", files["requests"].name, "api_keys.key_id"
            )
            problems += [p] if p else []
    if problems:
        raise ContractError(problems, source=str(world))
    return World(world, frames, files, manifest, {k: v for k, v in natives.items() if k in frames})


def _read_manifest(world: Path) -> tuple[dict | None, Problem | None]:
    """The world's manifest.json (None without one) and the problem with it, if any."""
    mpath = world / MANIFEST_FILE
    if not (mpath.exists() or mpath.is_symlink()):
        return None, None
    if not mpath.is_file():
        return None, Problem(MANIFEST_FILE, None, "is not a regular file (a directory?)")
    try:
        doc = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, Problem(MANIFEST_FILE, None, f"not valid JSON: {exc}")
    except OSError as exc:
        return None, Problem(MANIFEST_FILE, None, f"cannot be read: {exc.strerror}")
    if not isinstance(doc, dict):
        return None, Problem(MANIFEST_FILE, None, f"expected a JSON object, got {type(doc).__name__}")
    files = doc.get("files", {})
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256", ""), str) for v in files.values()
    ):
        return None, Problem(MANIFEST_FILE, "files", "expected an object of {file: {sha256: ...}}")
    return doc, None


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


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks of `chunk` bytes (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_manifest(world: World) -> None:
    """Check each table file `world` read against the SHA-256 its manifest.json records.

    Raises `ContractError` naming every file that differs (or that the manifest lists but that is
    gone). Files the manifest does not list are not checked; a world without a manifest passes.
    """
    if not world.manifest:
        return
    listed = world.manifest.get("files", {})
    problems = []
    for f in world.files.values():
        entry = listed.get(f.name)
        if not entry or not entry.get("sha256"):
            continue
        if sha256_file(f) != entry["sha256"]:
            problems.append(
                Problem(
                    f.name,
                    None,
                    f"SHA-256 differs from {MANIFEST_FILE} (the file changed after it was written; "
                    "pass --no-verify to use it anyway)",
                )
            )
    if problems:
        raise ContractError(problems, source=str(world.path))


def manifest_sha256(world: str | Path) -> str | None:
    """SHA-256 of a world's manifest.json (what results and evaluations record), or None without one."""
    m = Path(world) / MANIFEST_FILE
    return sha256_file(m) if m.is_file() else None


def load_labels(path: str | Path) -> pl.DataFrame:
    """Ground-truth labels of a world (evaluation only); validated like any other table."""
    return load_world(path, tables=(LABELS,), check_references=False)["labels"].collect()
