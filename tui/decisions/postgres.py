"""The PostgreSQL backend for teams (psycopg 3, `pip install 'farmhunt[postgres]'`): `--db postgresql://...`.

Same tables, columns and audit chain as SQLite. Writers serialise on the chain head (`SELECT ... FOR
UPDATE` on `audit_head`), so concurrent consoles never fork the chain; every read is autocommit and so
sees what other consoles committed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from tui.decisions.audit import GENESIS
from tui.decisions.errors import DecisionStoreError

SCHEMA_VERSION = "2"
Exec = Callable[..., list[tuple]]
_SETUP_LOCK = 7_301_154_421  # pg_advisory_xact_lock key: one console creates the schema at a time

_SCHEMA = [
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
    """CREATE TABLE IF NOT EXISTS audit (
        seq         BIGINT PRIMARY KEY,
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
    "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, "
    "hash TEXT NOT NULL)",
    """CREATE OR REPLACE FUNCTION farmhunt_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$""",
    "CREATE OR REPLACE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION farmhunt_audit_append_only()",
    "CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION farmhunt_audit_append_only()",
]


def is_postgres_url(db: object) -> bool:
    """True for a `postgresql://` or `postgres://` connection URL."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def describe(url: str) -> str:
    """The database named for messages, without the password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        d = conninfo_to_dict(url)
    except Exception:
        return "decisions database (PostgreSQL URL that cannot be parsed)"
    host = str(d.get("host") or "localhost")
    where = f"socket {host}" if host.startswith("/") else f"{host}:{d.get('port') or 5432}"
    return f"decisions database postgresql '{d.get('dbname') or d.get('user') or '?'}' on {where}"


class PostgresBackend:
    """One psycopg connection (private), autocommit, explicit transactions around every write."""

    kind = "postgresql"

    def __init__(self, url: str, *, who: str, timeout: float) -> None:
        self.where = describe(url)
        try:
            import psycopg
        except ImportError as exc:
            raise DecisionStoreError(
                f"{self.where}: PostgreSQL needs psycopg; install it with pip install 'farmhunt[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        try:
            self._conn: Any = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout)))
        except psycopg.Error as exc:
            raise DecisionStoreError(f"{self.where} cannot be reached: {_first_line(exc)}") from exc
        try:
            self._conn.execute(f"SET lock_timeout = '{max(1, int(timeout * 1000))}ms'")
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
                self._setup()
        except psycopg.Error as exc:
            self._conn.close()
            raise DecisionStoreError(self.explain(exc)) from exc
        except BaseException:
            self._conn.close()
            raise

    def _setup(self) -> None:
        exists = self._x("SELECT to_regclass('meta') IS NOT NULL")[0][0]
        if exists:
            version = self._x("SELECT value FROM meta WHERE key = 'schema'")
            if version and version[0][0] != SCHEMA_VERSION:
                raise DecisionStoreError(
                    f"{self.where} has schema version {version[0][0]}; this farmhunt reads version {SCHEMA_VERSION}"
                )
        for sql in _SCHEMA:
            self._conn.execute(sql)
        self._x("INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT DO NOTHING", (SCHEMA_VERSION,))
        self._x("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?) ON CONFLICT DO NOTHING", (GENESIS,))

    # ------------------------------------------------------------------ plumbing
    def _x(self, sql: str, args: tuple = ()) -> list[tuple]:
        cur = self._conn.execute(sql.replace("?", "%s"), args)
        return cur.fetchall() if cur.description is not None else []

    @contextlib.contextmanager
    def write(self) -> Iterator[tuple[Exec, tuple[int, str]]]:
        """A transaction holding the chain head's row lock: writers append one after the other."""
        with self._conn.transaction():
            seq, h = self._x("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")[0]
            yield self._x, (int(seq), str(h))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Exec]:
        """Several reads from one snapshot (REPEATABLE READ)."""
        with self._conn.transaction():
            self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield self._x

    def read(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._x(sql, args)

    def close(self) -> None:
        self._conn.close()

    def explain(self, exc: BaseException) -> str:
        e = self._psycopg.errors
        if isinstance(exc, e.LockNotAvailable | e.QueryCanceled):
            return f"{self.where} is locked by another writer (waited too long); try again"
        if isinstance(exc, self._psycopg.OperationalError):
            return f"{self.where} cannot be reached: {_first_line(exc)}"
        if isinstance(exc, e.InsufficientPrivilege):
            return f"{self.where} cannot be written: {_first_line(exc)}"
        return f"{self.where}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
