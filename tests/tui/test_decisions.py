"""The decisions store on both backends (SQLite, and a real PostgreSQL server started by the session):
vocabulary, reason codes, bulk and inherited decisions, labels export, and the tamper-evident audit log.

Size (~410 lines): one module so both backends run the very same tests (parametrised store fixture)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from farmhunt.cli import main
from tests.paths import ROOT
from tests.tui.conftest import RawDb
from tui.decisions import (
    LABEL_COLUMNS,
    REASON_CODES,
    STATUSES,
    DecisionStore,
    DecisionStoreError,
    export_labels,
    labels_frame,
)


def open_store(db: str, who: str = "tester", **kw) -> DecisionStore:
    return DecisionStore(db, who=who, **kw)


# ------------------------------------------------------------------------------------------ vocabulary
def test_one_status_vocabulary_and_reason_codes() -> None:
    assert STATUSES == {
        "new": "New",
        "needs_review": "Needs review",
        "confirmed_fraud": "Confirmed fraud",
        "benign": "Benign",
    }
    assert list(REASON_CODES) == [
        "shared_instrument",
        "coordinated_activity",
        "relay_resale",
        "payment_fraud",
        "key_leak_or_takeover",
        "benign_team",
        "benign_other",
        "other",
    ]


def test_decide_records_reason_note_and_previous(backend_db: tuple[str, str]) -> None:
    kind, db = backend_db
    with open_store(db, results="demo") as s:
        assert s.backend == kind
        d = s.decide("cluster", 7301154421, "needs_review", "look at the cards", reason="shared_instrument")
        assert (d.target_type, d.target_id, d.status, d.reason, d.note, d.who) == (
            "cluster", "7301154421", "needs_review", "shared_instrument", "look at the cards", "tester")
        s.decide("cluster", 7301154421, "confirmed_fraud", "ring", "shared_instrument")
        got = s.get("cluster", "7301154421")
        assert got is not None and (got.status, got.reason, got.note) == ("confirmed_fraud", "shared_instrument", "ring")
        assert s.status("cluster", 7301154421) == "confirmed_fraud" and s.status("cluster", 1) == "new"
        assert s.cluster_statuses() == {7301154421: "confirmed_fraud"}
        assert s.decided_count() == 1 and s.last_seq() == 2
        a = s.audit("cluster", 7301154421)
        assert a["previous"].to_list() == ["new", "needs_review"]
        assert a["status"].to_list() == ["needs_review", "confirmed_fraud"]
        assert a["seq"].to_list() == [1, 2] and a["hash"].str.len_chars().to_list() == [64, 64]
        # clearing ('new') keeps the row but it no longer counts as decided
        s.decide("cluster", 7301154421, "new")
        assert s.decided_count() == 0 and s.cluster_statuses() == {}
        assert s.all().columns == ["target_type", "target_id", "status", "note", "who", "at", "reason"]
        assert s.verify_audit().ok


def test_bad_values_are_refused_and_nothing_is_written(backend_db: tuple[str, str]) -> None:
    _, db = backend_db
    with open_store(db) as s:
        with pytest.raises(ValueError, match="unknown status 'fraud'"):
            s.decide("cluster", 1, "fraud")
        with pytest.raises(ValueError, match="unknown reason code 'cards'"):
            s.decide("cluster", 1, "confirmed_fraud", reason="cards")
        with pytest.raises(ValueError, match="contradicts"):
            s.decide("cluster", 1, "confirmed_fraud", reason="benign_team")
        with pytest.raises(ValueError, match="contradicts"):
            s.decide("account", "a", "benign", reason="relay_resale")
        with pytest.raises(ValueError, match="unknown target type 'org'"):
            s.decide_many([("account", "a"), ("org", "x")], "benign")
        assert s.audit().height == 0 and s.all().height == 0 and s.last_seq() == 0


def test_control_characters_are_stripped_from_notes(backend_db: tuple[str, str]) -> None:
    _, db = backend_db
    with open_store(db) as s:
        d = s.decide("account", "a1", "benign", "ok\x1b]0;pwned\x07 fine\x00\nline two\ttab")
        assert d.note == "ok]0;pwned fine\nline two\ttab"
        assert s.get("account", "a1").note == d.note


# ------------------------------------------------------------------------------ bulk and inherited
def test_decide_many_is_one_transaction(backend_db: tuple[str, str], raw: RawDb) -> None:
    kind, db = backend_db
    with open_store(db) as s:
        out = s.decide_many([("case", "C1"), ("account", "a1"), ("account", "a2"), ("account", "a1")],
                            "confirmed_fraud", "coordinated_activity", "whole case")
        assert [(d.target_type, d.target_id) for d in out] == [("case", "C1"), ("account", "a1"), ("account", "a2")]
        audit = s.audit()
        assert audit["seq"].to_list() == [1, 2, 3] and audit["at"].n_unique() == 1
        assert set(audit["reason"]) == {"coordinated_activity"}
        # a failure on the third target rolls back the first two
        if kind == "sqlite":
            raw.exec("CREATE TRIGGER boom BEFORE INSERT ON decisions WHEN NEW.target_id = 'boom' "
                     "BEGIN SELECT RAISE(ABORT, 'boom'); END")
        else:
            raw.exec("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF NEW.target_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$")
            raw.exec("CREATE TRIGGER boom BEFORE INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION boom()")
        with pytest.raises(DecisionStoreError, match="boom"):
            s.decide_many([("account", "b1"), ("account", "b2"), ("account", "boom")], "benign", "benign_other")
        assert s.get("account", "b1") is None and s.audit().height == 3 and s.last_seq() == 3
        assert s.verify_audit().ok


def test_effective_status_account_then_case_then_cluster(backend_db: tuple[str, str]) -> None:
    _, db = backend_db
    with open_store(db) as s:
        assert tuple(s.effective_status("a1", 5, "C1")) == ("new", None, None)
        s.decide("cluster", 5, "confirmed_fraud", reason="shared_instrument")
        st = s.effective_status("a1", 5, "C1")
        assert (st.status, st.source, st.inherited) == ("confirmed_fraud", "cluster", True)
        s.decide("case", "C1", "needs_review")
        assert s.effective_status("a1", 5, "C1")[:2] == ("needs_review", "case")
        assert s.effective_status("a1", 5)[:2] == ("confirmed_fraud", "cluster")  # no case given
        s.decide("account", "a1", "benign", "victim", reason="benign_other")
        st = s.effective_status("a1", 5, "C1")
        assert (st.status, st.source, st.inherited, st.decision.note) == ("benign", "account", False, "victim")
        s.decide("account", "a1", "new")  # cleared: inherits again
        assert s.effective_status("a1", 5, "C1")[:2] == ("needs_review", "case")
        assert s.statuses("case") == {"C1": "needs_review"}


def test_labels_export_columns_precedence_and_formula_safety(backend_db: tuple[str, str], tmp_path: Path) -> None:
    _, db = backend_db
    accounts = pl.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4", "a5"],
        "cluster_id": [5, 5, 5, 6, None],
        "case_id": ["C1", "C1", None, None, None],
    })
    with open_store(db, who="ana") as s:
        s.decide("cluster", 5, "confirmed_fraud", "farm", reason="shared_instrument")
        s.decide("case", "C1", "needs_review", "check")
        s.decide("account", "a1", "benign", "=HYPERLINK(\"http://x\",\"y\")", reason="benign_team")
        s.decide("cluster", 6, "new")  # cleared: no label
        s.decide("account", "zz", "confirmed_fraud", "+1 555 0100 leaked", reason="key_leak_or_takeover")
        labels = labels_frame(s, accounts)
        assert labels.schema == pl.Schema(LABEL_COLUMNS)
        assert labels.columns == ["account_id", "label", "status", "reason", "note", "decided_by", "decided_at",
                                  "source"]
        rows = {r["account_id"]: r for r in labels.iter_rows(named=True)}
        assert sorted(rows) == ["a1", "a2", "a3", "zz"]
        assert (rows["a1"]["label"], rows["a1"]["source"], rows["a1"]["reason"]) == (0, "account", "benign_team")
        assert (rows["a2"]["label"], rows["a2"]["source"], rows["a2"]["status"]) == (None, "case", "needs_review")
        assert (rows["a3"]["label"], rows["a3"]["source"], rows["a3"]["note"]) == (1, "cluster", "farm")
        assert rows["zz"]["label"] == 1 and rows["zz"]["decided_by"] == "ana"
        # a separate case mapping works like a case_id column
        alt = labels_frame(s, accounts.drop("case_id"), cases=accounts.select("account_id", "case_id"))
        assert alt.equals(labels)
        pq = export_labels(s, accounts, tmp_path / "labels.parquet")
        assert pl.read_parquet(pq).equals(labels)  # Parquet keeps the values as they are
        csv = export_labels(s, accounts, tmp_path / "labels.csv")
        text = csv.read_text()
        assert "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" in text and "\"'+1 555 0100 leaked\"" in text
        back = pl.read_csv(csv, schema_overrides={"label": pl.Int8})
        assert back["note"].to_list()[0].startswith("'=") and back["label"].to_list() == [0, None, 1, 1]
        assert not any(line.startswith(("=", "+", "-", "@")) for line in text.splitlines())


# ----------------------------------------------------------------------------------- tamper evidence
def _three_decisions(db: str) -> None:
    with open_store(db) as s:
        s.decide("cluster", 1, "confirmed_fraud", "one", reason="shared_instrument")
        s.decide("cluster", 2, "benign", "two", reason="benign_team")
        s.decide("account", "a", "needs_review", "three")
        assert s.verify_audit().ok and s.verify_audit().rows == 3


def test_the_audit_log_refuses_update_delete_and_replace(backend_db: tuple[str, str], raw: RawDb) -> None:
    kind, db = backend_db
    _three_decisions(db)
    errors = (sqlite3.DatabaseError,) if kind == "sqlite" else (__import__("psycopg").Error,)
    with pytest.raises(errors, match="append-only"):
        raw.exec("UPDATE audit SET note = 'x'")
    with pytest.raises(errors, match="append-only"):
        raw.exec("DELETE FROM audit")
    if kind == "postgresql":
        with pytest.raises(errors, match="append-only"):
            raw.exec("TRUNCATE audit")
        with pytest.raises(errors, match="append-only"):
            raw.exec("INSERT INTO audit SELECT * FROM audit WHERE seq = 1 ON CONFLICT (seq) DO UPDATE SET note = 'x'")
    with open_store(db) as s:
        assert s.verify_audit().ok
        assert not hasattr(s, "conn") and not any(
            isinstance(v, sqlite3.Connection) or type(v).__module__.startswith("psycopg") for v in vars(s).values()
        )


TAMPERS = {
    # name: (needs the triggers off, SQL, the first bad seq (None: after the last row), words of the problem)
    "replace a row (INSERT OR REPLACE / upsert)": (False, None, 2, "edited"),
    "edit a note": (True, "UPDATE audit SET note = 'nothing to see' WHERE seq = 2", 2, "edited"),
    "edit a status and its decision": (True, None, 2, "edited"),
    "delete a middle row": (True, "DELETE FROM audit WHERE seq = 2", 3, "deleted"),
    "delete the last row": (True, "DELETE FROM audit WHERE seq = 3", None, "removed from the end"),
    "insert a forged row": (False, None, 4, "edited"),
    "edit the current decision only": (False, "UPDATE decisions SET status = 'benign' WHERE target_id = '1'", 1,
                                       "decisions table differs"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_behind_the_stores_back_is_detected(
    tamper: str, backend_db: tuple[str, str], raw: RawDb, tmp_path: Path, capsys
) -> None:
    kind, db = backend_db
    _three_decisions(db)
    triggers_off, sql, bad_seq, words = TAMPERS[tamper]
    if triggers_off:
        raw.disable_audit_triggers()
    if tamper.startswith("replace"):
        if kind == "sqlite":  # REPLACE deletes the old row WITHOUT firing the delete trigger
            raw.exec("INSERT OR REPLACE INTO audit SELECT seq, at, who, target_type, target_id, previous, "
                     "'confirmed_fraud', note, results, action, '', prev_hash, hash FROM audit WHERE seq = 2")
        else:  # PostgreSQL's upsert fires the update trigger: only with the triggers off
            raw.disable_audit_triggers()
            raw.exec("INSERT INTO audit SELECT * FROM audit WHERE seq = 2 ON CONFLICT (seq) DO UPDATE "
                     "SET status = 'confirmed_fraud'")
    elif tamper == "edit a status and its decision":
        raw.exec("UPDATE audit SET status = 'confirmed_fraud', reason = 'other' WHERE seq = 2")
        raw.exec("UPDATE decisions SET status = 'confirmed_fraud', reason = 'other' WHERE target_id = '2'")
    elif tamper == "insert a forged row":
        head = raw.exec("SELECT hash FROM audit WHERE seq = 3")[0][0]
        raw.exec("INSERT INTO audit (seq, at, who, target_type, target_id, previous, status, note, results, action, "
                 "reason, prev_hash, hash) VALUES (4, '2026-01-01T00:00:00+00:00', 'mallory', 'cluster', '9', 'new', "
                 "'benign', '', NULL, 'decide', '', ?, ?)", (head, "f" * 64))
    else:
        raw.exec(sql)
    with open_store(db) as s:
        verdict = s.verify_audit()
    assert not verdict.ok and verdict.seq == bad_seq and words in verdict.problem, verdict
    # the command line says so too, with exit 1 and the first bad row
    assert main(["tui", str(tmp_path / "results"), "--db", db, "--verify-audit"]) == 1
    out = capsys.readouterr()
    assert "audit log BROKEN" in out.out + out.err
    assert (f"at seq {bad_seq}" if bad_seq else "after the last row") in out.out + out.err


def test_verify_audit_command_ok(backend_db: tuple[str, str], tmp_path: Path, capsys) -> None:
    _, db = backend_db
    _three_decisions(db)
    assert main(["tui", str(tmp_path / "results"), "--db", db, "--verify-audit"]) == 0
    out = capsys.readouterr().out
    assert "audit log OK: 3 rows, chain head " in out


# ----------------------------------------------------------------------------- several processes
_WORKER = textwrap.dedent("""
    import sys
    from tui.decisions import DecisionStore
    db, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = DecisionStore(db, who=who, timeout=30)
    for i in range(n):
        # half the targets are shared by both writers, half their own; every 10th write is a bulk one
        if i % 10 == 9:
            s.decide_many([("account", f"{who}-bulk-{i}"), ("account", f"shared-{i}")], "needs_review")
        else:
            s.decide("cluster", i if i % 2 else f"{who}-{i}", "confirmed_fraud" if i % 3 else "benign", who)
    s.close()
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_two_processes_writing_at_once_lose_nothing(backend_db: tuple[str, str]) -> None:
    _, db = backend_db
    open_store(db).close()  # the schema exists before the race
    n = 120
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, db, who, str(n)], env=_env(), cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for who in ("p1", "p2")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with open_store(db) as s:
        audit = s.audit()
        per_writer = n + n // 10  # a bulk write appends two rows
        assert audit.height == 2 * per_writer
        assert audit["seq"].to_list() == list(range(1, 2 * per_writer + 1))
        assert audit.group_by("who").len().sort("who")["len"].to_list() == [per_writer, per_writer]
        for who in ("p1", "p2"):
            assert s.status("cluster", f"{who}-0") == "benign" and s.status("account", f"{who}-bulk-9") == "needs_review"
        verdict = s.verify_audit()
        assert verdict.ok and verdict.rows == 2 * per_writer, verdict


_CONSOLE = textwrap.dedent("""
    import sys
    from tui.decisions import DecisionStore
    s = DecisionStore(sys.argv[1], who="console-b")
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "status":
            print(s.status(cmd[1], cmd[2]), s.decided_count(), s.last_seq(), flush=True)
        elif cmd[0] == "decide":
            s.decide(cmd[1], cmd[2], cmd[3], "from b")
            print("ok", flush=True)
    s.close()
""")


def test_two_consoles_see_each_others_decisions_on_refresh(backend_db: tuple[str, str]) -> None:
    _, db = backend_db
    a = open_store(db, who="console-a")
    b = subprocess.Popen([sys.executable, "-c", _CONSOLE, db], env=_env(), cwd=ROOT, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ask(line: str) -> str:
        b.stdin.write(line + "\n")
        b.stdin.flush()
        return b.stdout.readline().strip()

    try:
        assert ask("status cluster 42") == "new 0 0"
        a.decide("cluster", 42, "confirmed_fraud", "from a", reason="relay_resale")
        assert ask("status cluster 42") == "confirmed_fraud 1 1"  # B sees A's decision on its next read
        assert ask("decide account x9 benign") == "ok"
        d = a.get("account", "x9")
        assert d is not None and (d.status, d.who, d.note) == ("benign", "console-b", "from b")
        assert a.last_seq() == 2 and a.verify_audit().ok
    finally:
        b.stdin.close()
        b.wait(timeout=60)
        a.close()
    assert b.returncode == 0, b.stderr.read()


# ---------------------------------------------------------------------------------- old databases
V1_SCHEMA = """
CREATE TABLE decisions (
    target_type TEXT NOT NULL CHECK (target_type IN ('cluster', 'account')),
    target_id TEXT NOT NULL, status TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', who TEXT NOT NULL,
    at TEXT NOT NULL, PRIMARY KEY (target_type, target_id));
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, target_type TEXT NOT NULL,
    target_id TEXT NOT NULL, previous TEXT NOT NULL, status TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    results TEXT);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


def test_a_first_version_database_is_migrated_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript(V1_SCHEMA)
    rows = [("2026-01-01T00:00:00+00:00", "ana", "cluster", "1", "new", "under review", "hmm", "r"),
            ("2026-01-01T00:01:00+00:00", "ana", "cluster", "1", "under review", "confirmed_fraud", "ring", "r"),
            ("2026-01-01T00:02:00+00:00", "bo", "account", "a", "new", "Benign", "", "r"),
            ("2026-01-01T00:03:00+00:00", "bo", "account", "b", "new", "maybe??", "odd", None)]
    con.executemany("INSERT INTO audit (at, who, target_type, target_id, previous, status, note, results) "
                    "VALUES (?,?,?,?,?,?,?,?)", rows)
    con.executemany("INSERT INTO decisions VALUES (?,?,?,?,?,?)",
                    [("cluster", "1", "confirmed_fraud", "ring", "ana", rows[1][0]),
                     ("account", "a", "Benign", "", "bo", rows[2][0]),
                     ("account", "b", "maybe??", "odd", "bo", rows[3][0])])
    con.commit()
    con.close()
    with open_store(str(db), who="admin") as s:
        assert s.status("cluster", 1) == "confirmed_fraud"
        assert s.status("account", "a") == "benign"
        assert s.status("account", "b") == "needs_review"  # unknown value: someone must look again
        audit = s.audit()
        assert audit["status"].to_list() == ["needs_review", "confirmed_fraud", "benign", "needs_review", "2"]
        assert audit["previous"].to_list() == ["new", "needs_review", "new", "new", "1"]
        last = audit.row(-1, named=True)
        assert (last["action"], last["who"], last["target_type"]) == ("migrate", "admin", "store")
        assert "'under review' -> needs_review (2 audit rows)" in last["note"] and "'maybe??'" in last["note"]
        assert s.verify_audit().ok and s.verify_audit().rows == 5
        s.decide("case", "C1", "benign", reason="benign_team")  # the new target type works after migration
        assert s.verify_audit().ok and s.last_seq() == 6
    # the triggers are back, and a second open does not migrate again
    with sqlite3.connect(db) as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET note = 'x'")
    with open_store(str(db)) as s:
        assert s.audit().height == 6 and s.verify_audit().ok


# ------------------------------------------------------------------------------------------- errors
def test_unreachable_postgresql_is_a_clear_message(tmp_path: Path, capsys) -> None:
    pytest.importorskip("psycopg", reason="pip install -e '.[postgres]'")
    url = f"postgresql://ana:s3cret@/nodb?host={tmp_path}&port=5999"
    with pytest.raises(DecisionStoreError, match="cannot be reached") as exc:
        DecisionStore(url, timeout=1)
    assert "s3cret" not in str(exc.value) and "'nodb'" in str(exc.value)
    assert main(["tui", str(tmp_path), "--db", url, "--verify-audit"]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "s3cret" not in err and "Traceback" not in err
