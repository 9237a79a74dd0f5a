"""The one validator: checks a table file against its `TableSpec` and casts it to the contract's dtypes.

Every problem is collected (file, column, reason, count, examples) and raised together as one
`ContractError`, so a user fixes a broken world in one round. Used by `core/world.py` and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from farmhunt.core.contract import PolarsType, TableSpec
from farmhunt.core.errors import InputError
from farmhunt.core.safe_text import example, printable, shorten

_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_EXAMPLES = 3


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


def scan_table(path: Path, spec: TableSpec) -> pl.LazyFrame:
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


def check_table(
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
        raw = scan_table(path, spec)
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


def check_reference(
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
