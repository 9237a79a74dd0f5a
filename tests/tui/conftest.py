"""Shared fixtures of the console tests: a REAL PostgreSQL server for the decisions store.

The session starts its own server (Debian's `postgresql` package: `initdb` + `pg_ctl` on a temporary
directory), reachable only through a unix socket in that directory (`listen_addresses=''`: no TCP), and
stops it at the end. As root it runs the server as the `postgres` user (PostgreSQL refuses root). Each
test gets a fresh database. Under CI=true a missing server or psycopg is a failure, never a skip.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_HINT = (
    "the PostgreSQL decisions-store tests need a local PostgreSQL server and psycopg: "
    "apt-get install postgresql (Debian) and pip install -e '.[postgres]'"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"{why}: {PG_HINT} (CI=true: these tests must run)", pytrace=False)
    pytest.skip(f"{why}: {PG_HINT}")


def _pg_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(cands[-1]).parent if cands else None


@dataclass
class PgServer:
    """A running throw-away server: `new_database()` returns the URL of a fresh, empty database."""

    socket_dir: Path
    port: int
    user: str = "postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        import psycopg

        name = f"t{next(_counter)}_{os.getpid()}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed")
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl)")
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="farmhunt-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the package's user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.fail("running as root but there is no 'postgres' user to run the server as", pytrace=False)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = base / "data", base / "server.log", 5432

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)

    r = run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
            "--no-sync")
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {r.stderr[-2000:]}", pytrace=False)
    opts = f"-k {base} -c listen_addresses='' -p {port} -F -c max_connections=40 -c shared_buffers=16MB"
    r = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", opts, "start")
    if r.returncode != 0:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {r.stderr[-1000:]} {text[-2000:]}", pytrace=False)
    try:
        yield PgServer(base, port)
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


class RawDb:
    """Direct access to a decisions database behind the store's back (as an attacker or a bug would)."""

    def __init__(self, kind: str, db: str):
        self.kind, self.db = kind, db

    def exec(self, sql: str, args: tuple = ()) -> list[tuple]:
        if self.kind == "sqlite":
            con = sqlite3.connect(self.db, isolation_level=None)
            try:
                cur = con.execute(sql, args)
                return cur.fetchall()
            finally:
                con.close()
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as con:
            cur = con.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description is not None else []

    def disable_audit_triggers(self) -> None:
        """What someone with write access does first: switch the append-only triggers off."""
        if self.kind == "sqlite":
            self.exec("DROP TRIGGER audit_no_update")
            self.exec("DROP TRIGGER audit_no_delete")
        else:
            self.exec("ALTER TABLE audit DISABLE TRIGGER USER")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, db): a fresh decisions database of each backend (a SQLite path or a PostgreSQL URL)."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "decisions.sqlite")
    server = request.getfixturevalue("pg_server")
    return "postgresql", server.new_database()


@pytest.fixture
def raw(backend_db: tuple[str, str]) -> RawDb:
    return RawDb(*backend_db)
