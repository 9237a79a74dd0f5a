"""The audit log's hash chain: every row's `hash = sha256(prev_hash || canonical row)`, and its check.

The canonical row is the JSON array of the row's fields in a fixed order (UTF-8, no spaces), so the same
row hashes the same in SQLite and PostgreSQL. The first row links to `GENESIS`. `audit_head` records the
last row's seq and hash, so rows cut off the end are detected too; and the `decisions` table (the current
state, maintained in the same transaction as each append) must equal the replay of the log.

What it cannot do: someone who can write the database and who recomputes every later hash, the head and
the current state leaves a valid chain. Write the head hash down elsewhere (the evidence pack's manifest,
a ticket) to anchor it: `verify_audit` prints it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GENESIS = "0" * 64

#: The audit columns in hashing order (hash and prev_hash are not hashed themselves).
HASHED = ("seq", "at", "who", "action", "target_type", "target_id", "previous", "status", "reason", "note", "results")
AUDIT_COLUMNS = (*HASHED, "prev_hash", "hash")


def canonical(row: Sequence[object]) -> bytes:
    """The bytes hashed for one audit row given in `HASHED` order."""
    return json.dumps(list(row), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def chain_hash(prev_hash: str, row: Sequence[object]) -> str:
    """sha256(prev_hash || canonical row), hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(row)).hexdigest()


@dataclass(frozen=True)
class AuditVerdict:
    """The result of `verify_audit`: ok, how many rows were checked, the head hash, and the first break."""

    ok: bool
    rows: int
    head: str
    seq: int | None = None  # the first bad row (None: the log itself is intact but something else is not)
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit log OK: {self.rows:,} rows, chain head {self.head}"
        where = f"at seq {self.seq}" if self.seq is not None else "after the last row"
        return f"audit log BROKEN {where}: {self.problem}"


def verify_rows(
    rows: Iterable[Sequence[object]],
    head: tuple[int, str] | None,
    decisions: Iterable[Sequence[object]],
) -> AuditVerdict:
    """Check the chain of `rows` (AUDIT_COLUMNS order, by seq), the head, and the current state.

    `decisions` rows are (target_type, target_id, status, reason, note, who, at).
    """
    prev, last_seq, n = GENESIS, 0, 0
    state: dict[tuple[str, str], tuple] = {}
    last_row_of: dict[tuple[str, str], int] = {}
    for row in rows:
        n += 1
        fields, prev_hash, h = tuple(row[: len(HASHED)]), row[len(HASHED)], row[len(HASHED) + 1]
        seq = int(fields[0])  # type: ignore[call-overload]
        if seq <= last_seq:
            return AuditVerdict(False, n, prev, seq, f"seq {seq} does not follow seq {last_seq} (rows reordered)")
        if prev_hash != prev:
            return AuditVerdict(
                False,
                n,
                prev,
                seq,
                f"prev_hash does not link to seq {last_seq} (a row was deleted, inserted or replaced)",
            )
        if chain_hash(prev, fields) != h:
            return AuditVerdict(False, n, prev, seq, "the row's hash does not match its contents (the row was edited)")
        _, at, who, action, tt, tid, previous, status, reason, note, _results = fields
        if action == "decide":
            key = (str(tt), str(tid))
            before = state[key][0] if key in state else "new"
            if previous != before:
                return AuditVerdict(
                    False, n, h, seq, f"previous status {previous!r} but the log had {before!r} for {tt} {tid}"
                )
            state[key] = (status, reason, note, who, at)
            last_row_of[key] = seq
        prev, last_seq = str(h), seq
    if head is None:
        if n:
            return AuditVerdict(False, n, prev, None, "the chain head is missing")
    elif (int(head[0]), head[1]) != (last_seq, prev):
        return AuditVerdict(
            False,
            n,
            prev,
            None,
            f"the log ends at seq {last_seq} but its head records seq {head[0]} "
            "(rows removed from the end, or appended behind the store's back)",
        )
    current = {(str(r[0]), str(r[1])): tuple(r[2:7]) for r in decisions}
    for key in sorted(set(current) | set(state)):
        if current.get(key) != state.get(key):
            return AuditVerdict(
                False,
                n,
                prev,
                last_row_of.get(key),
                f"the decisions table differs from the log for {key[0]} {key[1]} (edited behind the store's back)",
            )
    return AuditVerdict(True, n, prev)
