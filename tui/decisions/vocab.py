"""The one status vocabulary, the reason codes and the target types of investigators' decisions."""

from __future__ import annotations

#: Status keys and their labels, the only ones shown anywhere. "new" means no decision (or a cleared one).
STATUSES: dict[str, str] = {
    "new": "New",
    "needs_review": "Needs review",
    "confirmed_fraud": "Confirmed fraud",
    "benign": "Benign",
}
#: The statuses a decision dialog offers, in order.
DECISIONS: tuple[str, ...] = ("confirmed_fraud", "benign", "needs_review")

#: Reason codes a decision may carry (plus free text in the note), with their labels. "" = no reason given.
REASON_CODES: dict[str, str] = {
    "shared_instrument": "Shared payment instrument",
    "coordinated_activity": "Coordinated activity",
    "relay_resale": "Relay or token resale",
    "payment_fraud": "Payment fraud",
    "key_leak_or_takeover": "Leaked key or account takeover",
    "benign_team": "Benign: a team or organisation",
    "benign_other": "Benign: other",
    "other": "Other",
}
#: Reasons that contradict a status: a benign reason on a fraud decision and the reverse are refused.
_BENIGN_REASONS = frozenset({"benign_team", "benign_other"})
_FRAUD_REASONS = frozenset(REASON_CODES) - _BENIGN_REASONS - {"other"}

#: What a decision is about. A case groups clusters (or is one lone flagged account).
TARGET_TYPES: tuple[str, ...] = ("account", "cluster", "case")

#: Status values written by earlier versions (labels, synonyms), mapped to the keys on migration.
LEGACY_STATUSES: dict[str, str] = {
    "under_review": "needs_review",
    "review": "needs_review",
    "in_review": "needs_review",
    "fraud": "confirmed_fraud",
    "confirmed": "confirmed_fraud",
    "legit": "benign",
    "legitimate": "benign",
    "not_fraud": "benign",
    "false_positive": "benign",
    "undecided": "new",
    "none": "new",
    "": "new",
}


def normalise_status(value: str) -> str | None:
    """The status key for `value` (a key, a label in any case, or a legacy synonym); None if unknown."""
    v = value.strip().lower().replace(" ", "_").replace("-", "_")
    if v in STATUSES:
        return v
    return LEGACY_STATUSES.get(v)


def check_decision(target_type: str, status: str, reason: str) -> None:
    """Refuse (ValueError naming the value) an unknown target type, status or reason, or a contradiction."""
    if target_type not in TARGET_TYPES:
        raise ValueError(f"unknown target type {target_type!r} (use one of {', '.join(TARGET_TYPES)})")
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (use one of {', '.join(STATUSES)})")
    if reason and reason not in REASON_CODES:
        raise ValueError(f"unknown reason code {reason!r} (use one of {', '.join(REASON_CODES)})")
    if status == "confirmed_fraud" and reason in _BENIGN_REASONS:
        raise ValueError(f"reason {reason!r} contradicts status 'confirmed_fraud'")
    if status == "benign" and reason in _FRAUD_REASONS:
        raise ValueError(f"reason {reason!r} contradicts status 'benign'")
