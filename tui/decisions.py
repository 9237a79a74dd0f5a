"""Investigators' decisions: a SQLite store (stdlib sqlite3, WAL) with an append-only audit log.

Every decision is committed the moment it is made, so a crash or a kill loses nothing that was
confirmed on screen. `decisions` holds the current state per target (a cluster or an account);
`audit` holds every change (who, when, what, the previous state and the note) and refuses UPDATE and
DELETE through triggers. `export_labels` turns the decisions into an account-level labelled set.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from farmhunt.core.errors import InputError

#: Status codes and their labels. "new" means no decision recorded.
STATUSES: dict[str, str] = {
    "new": "new",
    "needs_review": "under review",
    "confirmed_fraud": "confirmed fraud",
    "benign": "benign",
}
DECISIONS = ("confirmed_fraud", "benign", "needs_review")

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    target_type TEXT NOT NULL CHECK (target_type IN ('cluster', 'account')),
    target_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    who         TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (target_type, target_id)
);
CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    who         TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    previous    TEXT NOT NULL,
    status      TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    results     TEXT
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


class DecisionStoreError(InputError):
    """The decisions database cannot be opened or written (locked, read-only, not a database)."""


@dataclass(frozen=True)
class Decision:
    target_type: str
    target_id: str
    status: str
    note: str
    who: str
    at: str


def default_db_path(results_dir: str | Path) -> Path:
    """The decisions database beside the results directory (it survives a re-run of detect)."""
    r = Path(results_dir).resolve()
    return r.with_name(f"{r.name}.decisions.sqlite")


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): fall back to the uid
        return f"uid{os.getuid()}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class DecisionStore:
    """Decisions of one results directory. Opening fails fast with a clear message when the file is
    locked by another writer, read-only or not a SQLite database."""

    def __init__(self, path: str | Path, *, who: str | None = None, results: str | None = None, timeout: float = 2.0):
        self.path = Path(path)
        self.who = who or current_user()
        self.results = results
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit; explicit BEGIN IMMEDIATE around each decision.
            self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(SCHEMA)
            # Fail now, not at the first decision, if another program holds the write lock.
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise DecisionStoreError(self._explain(exc)) from exc
        except OSError as exc:
            raise DecisionStoreError(f"decisions database '{self.path}' cannot be created: {exc}") from exc

    def _explain(self, exc: sqlite3.Error) -> str:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            return (
                f"decisions database '{self.path}' is locked by another program (another console "
                "writing?); close it or pass --db FILE"
            )
        if "not a database" in msg or "malformed" in msg:
            return f"'{self.path}' is not a decisions database ({msg}); pass --db FILE"
        if "readonly" in msg or "unable to open" in msg:
            return f"decisions database '{self.path}' cannot be written ({msg}); pass --db FILE"
        return f"decisions database '{self.path}': {msg}"

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ write
    def decide(self, target_type: str, target_id: str | int, status: str, note: str = "") -> Decision:
        """Record a decision and its audit row in one committed transaction."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        tid, at = str(target_id), _now()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute(
                    "SELECT status FROM decisions WHERE target_type=? AND target_id=?", (target_type, tid)
                ).fetchone()
                previous = row[0] if row else "new"
                self.conn.execute(
                    "INSERT INTO decisions (target_type, target_id, status, note, who, at) VALUES (?,?,?,?,?,?) "
                    "ON CONFLICT (target_type, target_id) DO UPDATE SET status=excluded.status, "
                    "note=excluded.note, who=excluded.who, at=excluded.at",
                    (target_type, tid, status, note, self.who, at),
                )
                self.conn.execute(
                    "INSERT INTO audit (at, who, target_type, target_id, previous, status, note, results) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (at, self.who, target_type, tid, previous, status, note, self.results),
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise DecisionStoreError(self._explain(exc)) from exc
        return Decision(target_type, tid, status, note, self.who, at)

    # ------------------------------------------------------------------ read
    def get(self, target_type: str, target_id: str | int) -> Decision | None:
        row = self.conn.execute(
            "SELECT target_type, target_id, status, note, who, at FROM decisions WHERE target_type=? AND target_id=?",
            (target_type, str(target_id)),
        ).fetchone()
        return Decision(*row) if row else None

    def status(self, target_type: str, target_id: str | int) -> str:
        d = self.get(target_type, target_id)
        return d.status if d else "new"

    def cluster_statuses(self) -> dict[int, str]:
        rows = self.conn.execute("SELECT target_id, status FROM decisions WHERE target_type='cluster'").fetchall()
        out = {}
        for tid, st in rows:
            try:
                out[int(tid)] = st
            except ValueError:
                continue
        return out

    def decided_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM decisions WHERE status != 'new'").fetchone()[0]

    def all(self) -> pl.DataFrame:
        rows = self.conn.execute(
            "SELECT target_type, target_id, status, note, who, at FROM decisions ORDER BY target_type, target_id"
        ).fetchall()
        return pl.DataFrame(
            rows,
            schema={
                "target_type": pl.String,
                "target_id": pl.String,
                "status": pl.String,
                "note": pl.String,
                "who": pl.String,
                "at": pl.String,
            },
            orient="row",
        )

    def audit(self, target_type: str | None = None, target_id: str | int | None = None) -> pl.DataFrame:
        sql = "SELECT seq, at, who, target_type, target_id, previous, status, note FROM audit"
        args: tuple = ()
        if target_type is not None:
            sql += " WHERE target_type=? AND target_id=?"
            args = (target_type, str(target_id))
        rows = self.conn.execute(sql + " ORDER BY seq", args).fetchall()
        return pl.DataFrame(
            rows,
            schema={
                "seq": pl.Int64,
                "at": pl.String,
                "who": pl.String,
                "target_type": pl.String,
                "target_id": pl.String,
                "previous": pl.String,
                "status": pl.String,
                "note": pl.String,
            },
            orient="row",
        )


def labels_frame(store: DecisionStore, accounts: pl.DataFrame) -> pl.DataFrame:
    """Account-level labels from the decisions: an account decision wins over its cluster's decision.

    Columns: account_id, cluster_id, status, is_fraud (null while under review), decided_on
    (account/cluster), note, who, at. Only decided accounts appear.
    """
    dec = store.all()
    acc = accounts.select("account_id", "cluster_id")
    by_acc = (
        dec.filter(pl.col("target_type") == "account")
        .select(pl.col("target_id").alias("account_id"), "status", "note", "who", "at")
        .join(acc, on="account_id", how="left")
        .with_columns(decided_on=pl.lit("account"))
    )
    by_cl = (
        dec.filter(pl.col("target_type") == "cluster")
        .select(pl.col("target_id").cast(pl.Int64, strict=False).alias("cluster_id"), "status", "note", "who", "at")
        .join(acc.drop_nulls("cluster_id"), on="cluster_id")
        .filter(~pl.col("account_id").is_in(by_acc["account_id"].implode()))
        .with_columns(decided_on=pl.lit("cluster"))
    )
    cols = ["account_id", "cluster_id", "status", "decided_on", "note", "who", "at"]
    out = pl.concat([by_acc.select(cols), by_cl.select(cols)], how="vertical_relaxed")
    return (
        out.filter(pl.col("status") != "new")
        .with_columns(
            is_fraud=pl.when(pl.col("status") == "confirmed_fraud")
            .then(True)
            .when(pl.col("status") == "benign")
            .then(False)
            .otherwise(None)
        )
        .select("account_id", "cluster_id", "status", "is_fraud", "decided_on", "note", "who", "at")
        .sort("account_id")
    )


def export_labels(store: DecisionStore, accounts: pl.DataFrame, out: str | Path) -> Path:
    """Write the labelled set as CSV or Parquet (by suffix), atomically."""
    from farmhunt.core.atomic import atomic_file

    out = Path(out)
    df = labels_frame(store, accounts)
    with atomic_file(out) as tmp:
        if out.suffix.lower() == ".parquet":
            df.write_parquet(tmp)
        elif out.suffix.lower() == ".csv":
            df.write_csv(tmp)
        else:
            raise InputError(f"export '{out}': use a .csv or .parquet file name")
    return out.resolve()
