"""Decisions as account-level training labels (`farmhunt train --decisions FILE` reads them).

Columns, agreed with train: account_id, label (1 fraud / 0 benign / null while under review), status,
reason, note, decided_by, decided_at, source (account | case | cluster: where the account's label comes
from). An account's own decision wins over its case's, and its case's over its cluster's; 'new'
decisions (cleared ones) are no labels. Sorted by account_id.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from farmhunt.core.errors import InputError
from tui.safe_output import write_safe_csv

if TYPE_CHECKING:
    from tui.decisions.store import DecisionStore

LABEL_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "label": pl.Int8(),
    "status": pl.String(),
    "reason": pl.String(),
    "note": pl.String(),
    "decided_by": pl.String(),
    "decided_at": pl.String(),
    "source": pl.String(),
}
_PRIORITY = {"account": 0, "case": 1, "cluster": 2}


def labels_frame(store: DecisionStore, accounts: pl.DataFrame, cases: pl.DataFrame | None = None) -> pl.DataFrame:
    """Account-level labels from the decisions (columns `LABEL_COLUMNS`), one row per decided account.

    `accounts` needs account_id and cluster_id (and may have case_id); `cases` (account_id, case_id)
    maps accounts to cases when `accounts` has no case_id.
    """
    dec = store.all().filter(pl.col("status") != "new")
    member = accounts.select("account_id", pl.col("cluster_id").cast(pl.String).alias("cluster_id"))
    if "case_id" in accounts.columns:
        member = member.with_columns(accounts["case_id"].cast(pl.String).alias("case_id"))
    elif cases is not None:
        member = member.join(
            cases.select("account_id", pl.col("case_id").cast(pl.String)).unique("account_id", keep="first"),
            on="account_id",
            how="left",
        )
    else:
        member = member.with_columns(case_id=pl.lit(None, pl.String))
    keep = ["status", "reason", "note", "who", "at"]

    def via(kind: str, col: str) -> pl.DataFrame:
        d = dec.filter(pl.col("target_type") == kind).select(pl.col("target_id").alias(col), *keep)
        return member.drop_nulls(col).join(d, on=col).select("account_id", *keep).with_columns(source=pl.lit(kind))

    own = dec.filter(pl.col("target_type") == "account").select(
        pl.col("target_id").alias("account_id"), *keep, source=pl.lit("account")
    )
    out = (
        pl.concat([own, via("case", "case_id"), via("cluster", "cluster_id")], how="vertical_relaxed")
        .with_columns(pl.col("source").replace_strict(_PRIORITY, return_dtype=pl.Int8).alias("_p"))
        .sort("account_id", "_p")
        .unique("account_id", keep="first", maintain_order=True)
    )
    return out.select(
        "account_id",
        pl.when(pl.col("status") == "confirmed_fraud")
        .then(1)
        .when(pl.col("status") == "benign")
        .then(0)
        .otherwise(None)
        .cast(pl.Int8)
        .alias("label"),
        "status",
        "reason",
        "note",
        pl.col("who").alias("decided_by"),
        pl.col("at").alias("decided_at"),
        "source",
    ).cast(LABEL_COLUMNS)  # type: ignore[arg-type]


def export_labels(
    store: DecisionStore, accounts: pl.DataFrame, out: str | Path, cases: pl.DataFrame | None = None
) -> Path:
    """Write the labels as CSV (formulas neutralised, OWASP) or Parquet, by suffix, atomically."""
    from farmhunt.core.atomic import atomic_file

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"export '{out}': use a .csv or .parquet file name")
    df = labels_frame(store, accounts, cases)
    with atomic_file(out) as tmp:
        if suffix == ".parquet":
            df.write_parquet(tmp)
        else:
            write_safe_csv(df, tmp)
    return out.resolve()
