"""`DecisionStore`: investigators' decisions over one backend (SQLite file or PostgreSQL), every write an
append to a hash-chained audit log with the current state maintained in the same transaction."""

from __future__ import annotations

import getpass
import os
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from tui.decisions.audit import AUDIT_COLUMNS, AuditVerdict, chain_hash, verify_rows
from tui.decisions.errors import DecisionStoreError
from tui.decisions.postgres import PostgresBackend, is_postgres_url
from tui.decisions.sqlite import SqliteBackend
from tui.decisions.vocab import check_decision

_DECISION_COLS = "target_type, target_id, status, reason, note, who, at"
_NOTE_MAX = 10_000


@dataclass(frozen=True)
class Decision:
    """One current decision: on an account, a cluster or a case."""

    target_type: str
    target_id: str
    status: str
    note: str
    who: str
    at: str
    reason: str = ""


class EffectiveStatus(NamedTuple):
    """An account's status and where it comes from: `source` is 'account' (its own decision), 'case' or
    'cluster' (inherited), or None (no decision: status 'new')."""

    status: str
    source: str | None
    decision: Decision | None

    @property
    def inherited(self) -> bool:
        return self.source in ("case", "cluster")


def default_db_path(results_dir: str | Path) -> Path:
    """The decisions database beside the results directory (it survives a re-run of detect)."""
    r = Path(results_dir).resolve()
    return r.with_name(f"{r.name}.decisions.sqlite")


def current_user() -> str:
    """The login name recorded as `who` (uid<N> when there is none, as in some containers)."""
    try:
        return getpass.getuser()
    except Exception:
        return f"uid{os.getuid()}"


def clean_note(note: str) -> str:
    """A note as stored: control characters other than newline and tab removed (PostgreSQL cannot hold
    NUL; terminals must never get ESC), at most 10,000 characters."""
    s = "".join(ch for ch in str(note) if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return s[:_NOTE_MAX]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class DecisionStore:
    """Decisions of one results directory. `db` is a SQLite file path or a `postgresql://` URL.

    Opening fails fast with `DecisionStoreError` (a clear message) when the database is locked,
    read-only, unreachable or not a decisions database. The connection is private; every write goes
    through `decide` / `decide_many`.
    """

    def __init__(
        self, db: str | Path, *, who: str | None = None, results: str | None = None, timeout: float = 2.0
    ) -> None:
        self.who = who or current_user()
        self.results = results
        self._lock = threading.RLock()
        self._backend: SqliteBackend | PostgresBackend
        if is_postgres_url(db):
            self._backend = PostgresBackend(str(db), who=self.who, timeout=timeout)
            self.path: Path | None = None
        else:
            self._backend = SqliteBackend(db, who=self.who, timeout=timeout)
            self.path = self._backend.path

    @property
    def backend(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._backend.kind

    @property
    def where(self) -> str:
        """The database named for messages (no password)."""
        return self._backend.where

    def close(self) -> None:
        with self._lock:
            self._backend.close()

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            try:
                return fn(*args)
            except DecisionStoreError:
                raise
            except self._backend.errors as exc:
                raise DecisionStoreError(self._backend.explain(exc)) from exc

    # ------------------------------------------------------------------ write
    def decide(self, target_type: str, target_id: str | int, status: str, note: str = "", reason: str = "") -> Decision:
        """Record one decision (status 'new' clears it: the target inherits again) in one transaction."""
        return self.decide_many([(target_type, target_id)], status, reason, note)[0]

    def decide_many(
        self, targets: Iterable[tuple[str, str | int]], status: str, reason: str = "", note: str = ""
    ) -> list[Decision]:
        """Record the same decision on every target (('account'|'cluster'|'case', id), duplicates once)
        in ONE transaction: all are saved or none. Returns the decisions in the order given."""
        uniq = list(dict.fromkeys((str(t), str(i)) for t, i in targets))
        for tt, _ in uniq:
            check_decision(tt, status, reason)
        note = clean_note(note)
        return self._call(self._append, uniq, status, reason, note) if uniq else []

    def _append(self, targets: list[tuple[str, str]], status: str, reason: str, note: str) -> list[Decision]:
        at, out = _now(), []
        cols = ", ".join(AUDIT_COLUMNS)
        marks = ", ".join("?" * len(AUDIT_COLUMNS))
        with self._backend.write() as (x, (seq, h)):
            for tt, tid in targets:
                prev_rows = x("SELECT status FROM decisions WHERE target_type = ? AND target_id = ?", (tt, tid))
                previous = prev_rows[0][0] if prev_rows else "new"
                seq += 1
                row = (seq, at, self.who, "decide", tt, tid, previous, status, reason, note, self.results)
                new_h = chain_hash(h, row)
                x(f"INSERT INTO audit ({cols}) VALUES ({marks})", (*row, h, new_h))
                x(
                    f"INSERT INTO decisions ({_DECISION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (target_type, target_id) DO UPDATE SET status = excluded.status, "
                    "reason = excluded.reason, note = excluded.note, who = excluded.who, at = excluded.at",
                    (tt, tid, status, reason, note, self.who, at),
                )
                h = new_h
                out.append(Decision(tt, tid, status, note, self.who, at, reason))
            x("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, h))
        return out

    # ------------------------------------------------------------------ read
    def get(self, target_type: str, target_id: str | int) -> Decision | None:
        """The current decision on a target, or None."""
        rows = self._call(
            self._backend.read,
            f"SELECT {_DECISION_COLS} FROM decisions WHERE target_type = ? AND target_id = ?",
            (target_type, str(target_id)),
        )
        return _decision(rows[0]) if rows else None

    def status(self, target_type: str, target_id: str | int) -> str:
        """The target's own status key ('new' when undecided)."""
        d = self.get(target_type, target_id)
        return d.status if d else "new"

    def statuses(self, target_type: str) -> dict[str, str]:
        """target id -> status of every decided target of one type ('new' = cleared ones left out)."""
        rows = self._call(
            self._backend.read,
            "SELECT target_id, status FROM decisions WHERE target_type = ? AND status <> 'new'",
            (target_type,),
        )
        return {str(t): str(s) for t, s in rows}

    def cluster_statuses(self) -> dict[int, str]:
        """cluster id (int) -> status of every decided cluster."""
        out = {}
        for tid, st in self.statuses("cluster").items():
            try:
                out[int(tid)] = st
            except ValueError:
                continue
        return out

    def effective_status(
        self, account_id: str, cluster_id: str | int | None = None, case_id: str | int | None = None
    ) -> EffectiveStatus:
        """The account's own decision, else its case's, else its cluster's, else 'new' (source None)."""
        for source, tid in (("account", account_id), ("case", case_id), ("cluster", cluster_id)):
            if tid is None:
                continue
            d = self.get(source, tid)
            if d is not None and d.status != "new":
                return EffectiveStatus(d.status, source, d)
        return EffectiveStatus("new", None, None)

    def decided_count(self) -> int:
        """How many targets carry a decision other than 'new'."""
        return int(self._call(self._backend.read, "SELECT count(*) FROM decisions WHERE status <> 'new'")[0][0])

    def last_seq(self) -> int:
        """The audit log's last seq: poll it to refresh a view only when another console wrote."""
        return int(self._call(self._backend.read, "SELECT seq FROM audit_head WHERE id = 1")[0][0])

    def all(self) -> pl.DataFrame:
        """Every current decision: target_type, target_id, status, note, who, at, reason."""
        rows = self._call(self._backend.read, f"SELECT {_DECISION_COLS} FROM decisions")
        df = pl.DataFrame(
            [(r[0], r[1], r[2], r[4], r[5], r[6], r[3]) for r in rows],
            schema={c: pl.String for c in ("target_type", "target_id", "status", "note", "who", "at", "reason")},
            orient="row",
        )
        return df.sort("target_type", "target_id")

    def audit(self, target_type: str | None = None, target_id: str | int | None = None) -> pl.DataFrame:
        """The audit log (of one target if given) in order: seq, at, who, target_type, target_id, previous,
        status, note, reason, action, hash."""
        sql = "SELECT seq, at, who, target_type, target_id, previous, status, note, reason, action, hash FROM audit"
        args: tuple = ()
        if target_type is not None:
            sql += " WHERE target_type = ? AND target_id = ?"
            args = (target_type, str(target_id))
        rows = self._call(self._backend.read, sql + " ORDER BY seq", args)
        names = ("seq", "at", "who", "target_type", "target_id", "previous", "status", "note", "reason", "action")
        schema = {"seq": pl.Int64, **{c: pl.String for c in names[1:]}, "hash": pl.String}
        return pl.DataFrame(rows, schema=schema, orient="row")

    def verify_audit(self) -> AuditVerdict:
        """Check the whole hash chain, its head and that the current decisions equal the log's replay."""

        def run() -> AuditVerdict:
            with self._backend.snapshot() as x:
                rows = x(f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit ORDER BY seq")
                head = x("SELECT seq, hash FROM audit_head WHERE id = 1")
                dec = x(f"SELECT {_DECISION_COLS} FROM decisions")
            return verify_rows(rows, (head[0][0], head[0][1]) if head else None, dec)

        return self._call(run)


def _decision(r: Sequence[Any]) -> Decision:
    tt, tid, status, reason, note, who, at = r
    return Decision(str(tt), str(tid), str(status), str(note), str(who), str(at), str(reason))
