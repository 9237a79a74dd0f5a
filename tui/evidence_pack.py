"""Evidence pack of one cluster, for enforcement or legal: a directory written atomically.

Contents: `summary.md` (what, why, evidence table, timeline, what ties it together, decision),
`members.csv`, `shared_values.csv`, `evidence.csv`, `payments.csv`, `requests_sample.csv`, and
`manifest.json` with the SHA-256, size and row count of every file. `mask=True` masks email addresses
and phone numbers everywhere in the pack (the domain and the last two digits stay readable).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from farmhunt.core.atomic import atomic_dir
from tui.data import CaseData
from tui.decisions import STATUSES, Decision

REQUEST_SAMPLE = 500
PACK_FILES = ("summary.md", "members.csv", "shared_values.csv", "evidence.csv", "payments.csv", "requests_sample.csv")


def mask_email(expr: pl.Expr) -> pl.Expr:
    """`jake.miller1234@proton.me` -> `j***@proton.me`."""
    return expr.str.replace(r"^([^@])[^@]*@", "${1}***@")


def mask_phone(expr: pl.Expr) -> pl.Expr:
    """`+15550001234` -> `+1*******34` (the country prefix and the last two digits stay)."""
    n = expr.str.len_chars()
    middle = expr.str.slice(2, (n - 4).clip(lower_bound=0)).str.replace_all(r"[0-9A-Za-z]", "*")
    return pl.when(n > 4).then(expr.str.slice(0, 2) + middle + expr.str.slice(-2)).otherwise(pl.lit("****"))


def _mask_value(what: str, value: str) -> str:
    s = pl.Series([value])
    if what in ("phone",):
        return pl.select(mask_phone(pl.lit(s))).item()
    if what in ("email", "email pattern"):
        return pl.select(mask_email(pl.lit(s))).item()
    return value


def default_pack_dir(results_dir: Path, cid: int, mask: bool) -> Path:
    r = Path(results_dir).resolve()
    return r.with_name(f"{r.name}-packs") / f"cluster-{cid}{'-masked' if mask else ''}"


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _md_table(df: pl.DataFrame, floatfmt: str = "{:.3g}") -> str:
    if df.is_empty():
        return "_none_\n"
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.iter_rows():
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(floatfmt.format(v))
            else:
                cells.append(str(v if v is not None else "").replace("|", "\\|").replace("\n", " "))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
    members = data.members(cid).select(
        "account_id",
        "email",
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
    if mask:
        members = members.with_columns(
            mask_email(pl.col("email")).alias("email"), mask_phone(pl.col("phone")).alias("phone")
        )
        ties = ties.with_columns(
            pl.struct("what", "value")
            .map_elements(lambda s: _mask_value(s["what"], s["value"]), return_dtype=pl.String)
            .alias("value")
        )
    act = data.activity(cid)
    graph = data.graph(cid)
    now = now or datetime.now(timezone.utc)
    status = STATUSES[decision.status] if decision else "new"

    summary = [
        f"# Evidence pack: cluster {cid}\n",
        f"- predicted kind: **{row['predicted_kind']}**",
        f"- risk: **{row['risk']:.2f}** ({'flagged' if row['flagged'] else 'not flagged'})",
        f"- members: {row['size']}",
        f"- requests: {int(members['n_requests'].sum()):,}; spend: ${members['spend_usd'].sum():,.2f}",
        f"- decision: {status}" + (f" ({decision.who}, {decision.at}): {decision.note}" if decision else ""),
        f"- results: `{data.results.path}`; world: `{data.world_path}`",
        f"- exported: {now.isoformat(timespec='seconds')}; emails and phones {'masked' if mask else 'NOT masked'}\n",
        "## Why it is suspicious\n",
        _md_table(evidence.select("rank", "signal", "value", "baseline", "contribution", "text")),
        "## What ties it together\n",
        _md_table(ties.head(30)),
        f"Linkage graph: {graph['nodes']} accounts, {graph['edges']} edges, density {graph['density']:.2f}, "
        f"{graph['components'] if graph['components'] is not None else 'n/a'} component(s); edge reasons: "
        + (", ".join(f"{r} ({c})" for r, c in graph["reasons"]) or "none")
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
    summary.append(
        _md_table(
            members.head(50).select(
                "account_id", "email", "created_at", "country", "plan", "n_requests", "spend_usd", "risk"
            )
        )
    )
    if members.height > 50:
        summary.append(f"\n({members.height - 50} more in members.csv)\n")
    summary.append(
        "\n## Files\n\n" + "\n".join(f"- `{f}`" for f in PACK_FILES) + "\n- `manifest.json` (SHA-256 of every file)\n"
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
            df.write_csv(tmp / name)
        manifest = {
            "cluster_id": cid,
            "predicted_kind": row["predicted_kind"],
            "risk": row["risk"],
            "size": row["size"],
            "masked": mask,
            "exported_at": now.isoformat(timespec="seconds"),
            "results": str(data.results.path),
            "world": str(data.world_path),
            "decision": {"status": decision.status, "who": decision.who, "at": decision.at, "note": decision.note}
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
