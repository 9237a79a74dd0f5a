"""Evidence pack of one cluster, for enforcement or legal: a directory written atomically.

Contents: `summary.md` (what, why, evidence table, timeline, what ties it together, decision),
`members.csv`, `shared_values.csv`, `evidence.csv`, `payments.csv`, `requests_sample.csv`, and
`manifest.json` with the SHA-256, size and row count of every file.

Hostile data stays inert: every CSV cell that starts with `= + - @`, tab or CR gets a leading single
quote (OWASP's advice against formula injection) and non-numeric fields are quoted; every value in
`summary.md` has control characters stripped and Markdown/HTML characters escaped. `mask=True` masks
the email and phone columns and every email address and phone number found by pattern in free text
(shared values such as prompt templates, names, decision notes) in the CSVs, `summary.md` and
`manifest.json`; the domain and the last two digits stay readable. The pack names the results and the
world by directory name only, never by an absolute local path.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from farmhunt.core.atomic import atomic_dir
from tui.data import CaseData
from tui.decisions import REASON_CODES, STATUSES, Decision
from tui.safe_output import (
    FORMULA_START,
    mask_email_str,
    mask_phone_str,
    mask_text,
    mask_text_expr,
    md_text,
    write_safe_csv,
)

REQUEST_SAMPLE = 500
PACK_FILES = ("summary.md", "members.csv", "shared_values.csv", "evidence.csv", "payments.csv", "requests_sample.csv")
MISSING = "\u2014"  # an absent value in summary.md (a missing phone is absent, not masked)
_FORMULA_CLASS = "[" + FORMULA_START.replace("-", "\\-") + "]"


def mask_email(expr: pl.Expr) -> pl.Expr:
    """`jake.miller1234@proton.me` -> `j***@proton.me`; the domain is the part after the LAST '@'
    (`a@b@c.com` -> `a***@c.com`); a first character that starts a formula (`+`, `=`...) becomes `*`."""
    first = expr.str.slice(0, 1)
    first = pl.when(first.str.contains("^" + _FORMULA_CLASS)).then(pl.lit("*")).otherwise(first)
    domain = expr.str.extract(r"@([^@]*)$", 1)
    return (
        pl.when(expr.str.len_chars() == 0)
        .then(expr)
        .when(expr.str.starts_with("@"))
        .then("***@" + domain)
        .when(expr.str.contains("@", literal=True))
        .then(first + "***@" + domain)
        .otherwise(first + "***")
    )


def mask_phone(expr: pl.Expr) -> pl.Expr:
    """`+15550001234` -> `*********34`: every digit but the last two masked, no leading `+` kept; a missing
    phone (null, empty, no digits) stays null."""
    digits = expr.str.replace_all(r"\D", "")
    n = digits.str.len_chars()
    stars = digits.str.slice(0, (n - 2).clip(lower_bound=0)).str.replace_all(r"\d", "*")
    return (  # the first branch derives from `expr`, so the result keeps the column's name
        pl.when(n > 4)
        .then(stars + digits.str.slice(-2))
        .when(n > 0)
        .then(digits.str.replace_all(r"\d", "*"))
        .otherwise(pl.lit(None, pl.String))
    )


def _mask_value(what: str, value: str) -> str | None:
    """A shared value masked by its kind: phones and emails as such, anything else by pattern."""
    if what == "phone":
        return mask_phone_str(value)
    if what in ("email", "email pattern"):
        return mask_email_str(value)
    return mask_text(value)


def _mask_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Email and phone columns masked as such, every other String column masked by pattern."""
    exprs = []
    for c, t in df.schema.items():
        if t != pl.String:
            continue
        if c == "email":
            exprs.append(mask_email(pl.col(c)).alias(c))
        elif c == "phone":
            exprs.append(mask_phone(pl.col(c)).alias(c))
        else:
            exprs.append(mask_text_expr(pl.col(c)).alias(c))
    return df.with_columns(exprs) if exprs else df


def default_pack_dir(results_dir: Path, cid: int, mask: bool) -> Path:
    """`RESULTS-packs/cluster-<id>[-masked]` beside the results directory."""
    r = Path(results_dir).resolve()
    return r.with_name(f"{r.name}-packs") / f"cluster-{cid}{'-masked' if mask else ''}"


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _md_cell(v: object, floatfmt: str) -> str:
    if v is None:
        return MISSING
    if isinstance(v, float):
        return floatfmt.format(v)
    return md_text(v) or MISSING


def _md_table(df: pl.DataFrame, floatfmt: str = "{:.3g}") -> str:
    """A Markdown table whose every cell is inert text (escaped, no control characters)."""
    if df.is_empty():
        return "_none_\n"
    lines = ["| " + " | ".join(md_text(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.iter_rows():
        lines.append("| " + " | ".join(_md_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _present(df: pl.DataFrame, cols: list[str]) -> list[str]:
    return [c for c in cols if c in df.columns]


def export_pack(
    data: CaseData,
    cid: int,
    out: str | Path | None = None,
    *,
    mask: bool = False,
    decision: Decision | None = None,
    now: datetime | None = None,
) -> Path:
    """Write the evidence pack of cluster `cid` to `out` (default: beside the results) atomically."""
    out = Path(out) if out is not None else default_pack_dir(data.results.path, cid, mask)
    row = data.cluster_row(cid)
    ids = pl.Series("account_id", data.member_ids(cid), dtype=pl.String)
    members_all = data.members(cid)
    members = members_all.select(
        _present(
            members_all,
            [
                "account_id",
                "email",
                "name",
                "phone",
                "created_at",
                "country",
                "plan",
                "device_id",
                "signup_ip",
                "org_id",
                "n_requests",
                "spend_usd",
                "risk",
                "flagged",
            ],
        )
    )
    ties = data.ties(cid)
    evidence = data.evidence(cid).select("rank", "signal", "value", "baseline", "contribution", "text")
    payments = (
        data.rows("payments", "account_id", ids)
        .select(
            "payment_id",
            "account_id",
            "ts",
            "amount_usd",
            "status",
            "card_fingerprint",
            "card_bin",
            "card_funding",
            "card_country",
        )
        .sort("ts", "payment_id")
        .collect()
    )
    # A request sample spread over the members: the first requests of each member, up to the cap.
    per = max(1, REQUEST_SAMPLE // max(1, len(data.member_ids(cid))))
    sample = (
        data.rows("requests", "account_id", ids)
        .group_by("account_id", maintain_order=True)
        .head(per)
        .select(
            "ts", "account_id", "key_id", "model", "input_tokens", "output_tokens", "ip", "asn", "topic", "prompt_hash"
        )
        .sort("ts", "account_id")
        .head(REQUEST_SAMPLE)
        .collect()
    )
    note = decision.note if decision else ""
    if mask:
        value = ties.select(
            pl.struct("what", "value").map_elements(
                lambda s: _mask_value(s["what"], s["value"]), return_dtype=pl.String
            )
        ).to_series()
        ties = _mask_frame(ties.drop("value")).with_columns(value.alias("value")).select(ties.columns)
        members, evidence, payments, sample = (_mask_frame(df) for df in (members, evidence, payments, sample))
        note = mask_text(note)
    act = data.activity(cid)
    graph = data.graph(cid)
    now = now or datetime.now(timezone.utc)
    results_name = Path(data.results.path).resolve().name
    world_name = Path(data.world_path).resolve().name if data.world_path is not None else None
    status = STATUSES[decision.status] if decision else STATUSES["new"]
    decided = ""
    if decision:
        reason = REASON_CODES.get(decision.reason, decision.reason)
        decided = (
            f" ({md_text(decision.who)}, {md_text(decision.at)})"
            + (f"; reason: {md_text(reason)}" if reason else "")
            + (f"; note: {md_text(note)}" if note else "")
        )

    summary = [
        f"# Evidence pack: cluster {cid}\n",
        f"- predicted kind: **{md_text(row['predicted_kind'])}**",
        f"- risk: **{row['risk']:.2f}** ({'flagged' if row['flagged'] else 'not flagged'})",
        f"- members: {row['size']}",
        f"- requests: {int(members['n_requests'].sum()):,}; spend: ${members['spend_usd'].sum():,.2f}",
        f"- decision: {status}{decided}",
        f"- results: {md_text(results_name)}; world: {md_text(world_name) if world_name else MISSING}",
        f"- exported: {now.isoformat(timespec='seconds')}; emails and phones {'masked' if mask else 'NOT masked'}\n",
        "## Why it is suspicious\n",
        _md_table(evidence.select("rank", "signal", "value", "baseline", "contribution", "text")),
        "## What ties it together\n",
        _md_table(ties.head(30)),
        f"Linkage graph: {graph['nodes']} accounts, {graph['edges']} edges, density {graph['density']:.2f}, "
        f"{graph['components'] if graph['components'] is not None else 'n/a'} component(s); edge reasons: "
        + (", ".join(f"{md_text(r)} ({c})" for r, c in graph["reasons"]) or "none")
        + ".\n",
        "## Timeline\n",
    ]
    sig, daily = act["signups"], act["daily"]
    if not sig.is_empty():
        summary.append(
            f"- signups: {sig['day'].min()} to {sig['day'].max()} ({int(sig['n'].sum())} accounts; "
            f"busiest day {sig.sort('n', descending=True)['day'][0]}: {int(sig['n'].max())})"
        )
    if not daily.is_empty():
        summary.append(
            f"- requests: {daily['day'].min()} to {daily['day'].max()}, "
            f"{int(daily['n'].sum()):,} in total, peak {int(daily['n'].max()):,} per day"
        )
    if not payments.is_empty():
        bad = payments.filter(pl.col("status").is_in(["declined", "disputed", "refunded"]))
        summary.append(
            f"- payments: {payments.height} ({bad.height} declined/disputed/refunded), "
            f"{payments['card_fingerprint'].n_unique()} distinct cards"
        )
    summary.append("\n## Members\n")
    shown = _present(
        members, ["account_id", "email", "name", "phone", "created_at", "country", "plan", "n_requests", "spend_usd"]
    )
    summary.append(_md_table(members.head(50).select(*shown, "risk")))
    if members.height > 50:
        summary.append(f"\n({members.height - 50} more in members.csv)\n")
    summary.append(
        "\n## Files\n\n"
        + "\n".join(f"- {md_text(f)}" for f in PACK_FILES)
        + "\n- manifest.json (SHA-256 of every file)\n"
    )

    with atomic_dir(out) as tmp:
        (tmp / "summary.md").write_text("\n".join(summary), encoding="utf-8")
        tables = {
            "members.csv": members,
            "shared_values.csv": ties,
            "evidence.csv": evidence,
            "payments.csv": payments,
            "requests_sample.csv": sample,
        }
        for name, df in tables.items():
            write_safe_csv(df, tmp / name)
        manifest = {
            "cluster_id": cid,
            "predicted_kind": row["predicted_kind"],
            "risk": row["risk"],
            "size": row["size"],
            "masked": mask,
            "exported_at": now.isoformat(timespec="seconds"),
            "results": results_name,
            "world": world_name,
            "decision": {
                "status": decision.status,
                "reason": decision.reason,
                "who": decision.who,
                "at": decision.at,
                "note": note,
            }
            if decision
            else None,
            "files": {
                f: {
                    "sha256": _sha256(tmp / f),
                    "bytes": (tmp / f).stat().st_size,
                    **({"rows": tables[f].height} if f in tables else {}),
                }
                for f in PACK_FILES
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return out.resolve()
