"""The embedded SQLite backend (stdlib sqlite3, WAL, synchronous=FULL): one file beside the results."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from tui.decisions.audit import GENESIS, HASHED, chain_hash
from tui.decisions.errors import DecisionStoreError
from tui.decisions.vocab import normalise_status

SCHEMA_VERSION = "2"
Exec = Callable[..., list[tuple]]

_TABLES = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS decisions (
        target_type TEXT NOT NULL CHECK (target_type IN ('account', 'cluster', 'case')),
        target_id   TEXT NOT NULL,
        status      TEXT NOT NULL,
        reason      TEXT NOT NULL DEFAULT '',
        note        TEXT NOT NULL DEFAULT '',
        who         TEXT NOT NULL,
        at          TEXT NOT NULL,
        PRIMARY KEY (target_type, target_id))""",
    # Column order = the first version's columns, then the ones the migration appends.
    """CREATE TABLE IF NOT EXISTS audit (
        seq         INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        who         TEXT NOT NULL,
        target_type TEXT NOT NULL,
        target_id   TEXT NOT NULL,
        previous    TEXT NOT NULL,
        status      TEXT NOT NULL,
        note        TEXT NOT NULL DEFAULT '',
        results     TEXT,
        action      TEXT NOT NULL DEFAULT 'decide',
        reason      TEXT NOT NULL DEFAULT '',
        prev_hash   TEXT,
        hash        TEXT)""",
    "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, "
    "hash TEXT NOT NULL)",
]
_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
]


class SqliteBackend:
    """One SQLite connection (private). Writers serialise on BEGIN IMMEDIATE with a busy timeout."""

    kind = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, who: str, timeout: float) -> None:
        self.path = Path(path)
        self.where = f"decisions database '{self.path}'"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit; explicit transactions around every write.
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise DecisionStoreError(self.explain(exc)) from exc
        except OSError as exc:
            raise DecisionStoreError(f"{self.where} cannot be created: {exc}") from exc
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            # The setup transaction also fails now, not at the first decision, if another program holds
            # the write lock.
            with self._tx("BEGIN IMMEDIATE") as x:
                self._setup(x, who)
        except sqlite3.Error as exc:
            self._conn.close()
            raise DecisionStoreError(self.explain(exc)) from exc
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def _x(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._conn.execute(sql, args).fetchall()

    @contextlib.contextmanager
    def _tx(self, begin: str) -> Iterator[Exec]:
        self._conn.execute(begin)
        try:
            yield self._x
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def write(self) -> Iterator[tuple[Exec, tuple[int, str]]]:
        """A write transaction holding the write lock, with the chain head read under it."""
        with self._tx("BEGIN IMMEDIATE") as x:
            seq, h = x("SELECT seq, hash FROM audit_head WHERE id = 1")[0]
            yield x, (int(seq), str(h))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Exec]:
        """Several reads from one consistent state of the database."""
        with self._tx("BEGIN") as x:
            yield x

    def read(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._x(sql, args)

    def close(self) -> None:
        self._conn.close()

    def explain(self, exc: BaseException) -> str:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            return f"{self.where} is locked by another program (another console writing?); close it or pass --db FILE"
        if "not a database" in msg or "malformed" in msg:
            return f"'{self.path}' is not a decisions database ({msg}); pass --db FILE"
        if "readonly" in msg or "unable to open" in msg:
            return f"{self.where} cannot be written ({msg}); pass --db FILE"
        return f"{self.where}: {msg}"

    # ------------------------------------------------------------------ schema
    def _setup(self, x: Exec, who: str) -> None:
        tables = {r[0] for r in x("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "audit" in tables and "hash" not in {r[1] for r in x("PRAGMA table_info(audit)")}:
            _migrate_v1(x, who)
            return
        if "meta" in tables:
            version = x("SELECT value FROM meta WHERE key = 'schema'")
            if version and version[0][0] != SCHEMA_VERSION:
                raise DecisionStoreError(
                    f"{self.where} has schema version {version[0][0]}; this farmhunt reads version {SCHEMA_VERSION}"
                )
        for sql in _TABLES + _TRIGGERS:
            x(sql)
        x("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
        x("INSERT OR IGNORE INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS,))


def _migrate_v1(x: Exec, who: str) -> None:
    """Bring a first-version database (no hash chain, free status values) to version 2 in place.

    Runs inside the caller's write transaction: status values are mapped to the keys (unknown ones to
    needs_review), the existing rows are chained in seq order, and one `migrate` audit row records it.
    """
    from datetime import datetime, timezone

    x("DROP TRIGGER IF EXISTS audit_no_update")
    x("DROP TRIGGER IF EXISTS audit_no_delete")
    cols = {r[1] for r in x("PRAGMA table_info(audit)")}
    for col, decl in (
        ("results", "TEXT"),
        ("action", "TEXT NOT NULL DEFAULT 'decide'"),
        ("reason", "TEXT NOT NULL DEFAULT ''"),
        ("prev_hash", "TEXT"),
        ("hash", "TEXT"),
    ):
        if col not in cols:
            x(f"ALTER TABLE audit ADD COLUMN {col} {decl}")
    has_decisions = bool(x("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'decisions'"))
    values = {r[0] for r in x("SELECT status FROM audit UNION SELECT previous FROM audit")}
    if has_decisions:
        values |= {r[0] for r in x("SELECT status FROM decisions")}
    mapping = {v: (normalise_status(str(v)) or "needs_review") for v in values}
    mapping = {k: v for k, v in mapping.items() if k != v}
    counts = {}
    for old, new in sorted(mapping.items(), key=lambda kv: str(kv[0])):
        n = x("SELECT count(*) FROM audit WHERE status = ? OR previous = ?", (old, old))[0][0]
        x("UPDATE audit SET status = ? WHERE status = ?", (new, old))
        x("UPDATE audit SET previous = ? WHERE previous = ?", (new, old))
        counts[(old, new)] = n
    # The decisions table gets the case target type and the reason column: rebuild it.
    x(_TABLES[1].replace("IF NOT EXISTS decisions", "decisions_v2"))
    if has_decisions:
        x(
            "INSERT INTO decisions_v2 (target_type, target_id, status, note, who, at) "
            "SELECT target_type, target_id, status, note, who, at FROM decisions"
        )
        for old, new in mapping.items():
            x("UPDATE decisions_v2 SET status = ? WHERE status = ?", (new, old))
        x("DROP TABLE decisions")
    x("ALTER TABLE decisions_v2 RENAME TO decisions")
    prev, seq = GENESIS, 0
    cols_sql = ", ".join(HASHED)
    for row in x(f"SELECT {cols_sql} FROM audit ORDER BY seq"):
        h = chain_hash(prev, row)
        x("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, row[0]))
        prev, seq = h, int(row[0])
    for sql in _TABLES + _TRIGGERS:
        x(sql)
    x("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    mapped = "; ".join(f"{old!r} -> {new} ({n} audit rows)" for (old, new), n in counts.items()) or "none"
    row = (
        seq + 1,
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
        who,
        "migrate",
        "store",
        "schema",
        "1",
        SCHEMA_VERSION,
        "",
        f"schema 1 -> {SCHEMA_VERSION}: {seq} earlier rows chained; status values mapped: {mapped}",
        None,
    )
    h = chain_hash(prev, row)
    x(f"INSERT INTO audit ({cols_sql}, prev_hash, hash) VALUES ({', '.join('?' * (len(HASHED) + 2))})", (*row, prev, h))
    x("INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", (seq + 1, h))
