"""Investigators' decisions: one status vocabulary, reason codes, bulk and inherited decisions, and a
tamper-evident audit log, in SQLite (default, a file beside the results) or PostgreSQL (for teams).

API (everything below is importable from `tui.decisions`)::

    store = DecisionStore(db, who=None, results=None, timeout=2.0)
        # db: a SQLite path, or "postgresql://user@host/dbname" (pip install 'farmhunt[postgres]').
        # Raises DecisionStoreError (an InputError: a clear message, exit 2) when the database is
        # locked, read-only, unreachable or not a decisions database. Old databases are migrated.
    store.decide(target_type, target_id, status, note="", reason="") -> Decision
        # target_type: 'account' | 'cluster' | 'case'; status: a key of STATUSES ('new' clears);
        # reason: "" or a key of REASON_CODES. ValueError on an unknown value or a contradiction
        # (a benign reason on confirmed_fraud). Committed at once: a crash loses nothing confirmed.
    store.decide_many(targets, status, reason="", note="") -> list[Decision]
        # targets: [(target_type, id), ...]; one transaction: all saved or none.
    store.get(target_type, target_id) -> Decision | None   # the target's own decision
    store.status(target_type, target_id) -> str            # its own status key, 'new' if none
    store.effective_status(account_id, cluster_id=None, case_id=None) -> EffectiveStatus
        # (status, source, decision): own decision, else the case's, else the cluster's, else
        # ('new', None, None). source in 'account' | 'case' | 'cluster' | None; .inherited.
    store.statuses(target_type) -> dict[str, str]  # id -> status of decided targets of one type
    store.cluster_statuses() -> dict[int, str]
    store.decided_count() -> int                   # targets with a status other than 'new'
    store.last_seq() -> int                        # poll: changes when any console writes
    store.all() -> DataFrame  (target_type, target_id, status, note, who, at, reason)
    store.audit(target_type=None, target_id=None) -> DataFrame
        # seq, at, who, target_type, target_id, previous, status, note, reason, action, hash
    store.verify_audit() -> AuditVerdict   # .ok, .rows, .head, .seq (first bad row), .problem; str()
    store.close()                          # also a context manager
    labels_frame(store, accounts, cases=None) -> DataFrame   # columns LABEL_COLUMNS, see export.py
    export_labels(store, accounts, out, cases=None) -> Path  # .csv (formula-safe) or .parquet
    default_db_path(results_dir) -> Path                     # RESULTS.decisions.sqlite beside it
    STATUSES {key: label}, DECISIONS (dialog order), REASON_CODES {code: label}, TARGET_TYPES

Every write appends to `audit` (`hash = sha256(prev_hash || canonical row)`, see audit.py) and updates
the current `decisions` row in the same transaction; `farmhunt tui RESULTS --verify-audit` checks it.
Reads always go to the database, so two consoles on one PostgreSQL store see each other's decisions on
their next refresh.
"""

from tui.decisions.audit import AuditVerdict
from tui.decisions.errors import DecisionStoreError
from tui.decisions.export import LABEL_COLUMNS, export_labels, labels_frame
from tui.decisions.store import (
    Decision,
    DecisionStore,
    EffectiveStatus,
    clean_note,
    current_user,
    default_db_path,
)
from tui.decisions.vocab import DECISIONS, REASON_CODES, STATUSES, TARGET_TYPES, normalise_status

__all__ = [
    "DECISIONS",
    "LABEL_COLUMNS",
    "REASON_CODES",
    "STATUSES",
    "TARGET_TYPES",
    "AuditVerdict",
    "Decision",
    "DecisionStore",
    "DecisionStoreError",
    "EffectiveStatus",
    "clean_note",
    "current_user",
    "default_db_path",
    "export_labels",
    "labels_frame",
    "normalise_status",
]
