"""Outputs of `farmhunt eval`: the JSON document, the JUnit file for CI dashboards, and Rich tables.

Everything is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from farmhunt.core.atomic import atomic_file
from farmhunt.core.safe_text import cell, printable
from farmhunt.evaluation.metrics import Evaluation
from farmhunt.evaluation.thresholds import Check

EVAL_SCHEMA = "farmhunt.eval/1"


def clean_json(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null, tuples lists, everything else via str."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    return obj


def eval_document(
    ev: Evaluation,
    checks: list[Check],
    baselines: dict[str, Evaluation] | None = None,
    run: dict[str, Any] | None = None,
    world: dict[str, Any] | None = None,
    replay: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every figure, machine-readable: farmhunt's, the baselines', threshold outcomes, run and world."""
    return clean_json(
        {
            "schema": EVAL_SCHEMA,
            "passed": all(c.passed for c in checks),
            "checks": [
                {"name": c.name, "value": c.value, "op": c.op, "bound": c.bound, "passed": c.passed} for c in checks
            ],
            "world": world or {},
            "run": run or {},
            "farmhunt": ev.to_dict(),
            "baselines": {k: v.to_dict() for k, v in (baselines or {}).items()},
            "replay": replay,
        }
    )


def write_json(doc: dict[str, Any], path: str | Path, *, force: bool = False, inputs: tuple = ()) -> Path:
    """Write a JSON document atomically (an existing file only if it is an earlier eval JSON, or `force`)."""
    with atomic_file(path, kind="eval_json", inputs=inputs, force=force, option="--json") as tmp:
        tmp.write_text(json.dumps(clean_json(doc), indent=2, default=str))
    return Path(path)


def junit_xml(checks: list[Check], suite: str = "farmhunt.eval") -> str:
    """One JUnit test case per threshold; a failed threshold is a <failure> naming value and bound."""
    failures = sum(not c.passed for c in checks)
    root = ET.Element("testsuites", name=suite, tests=str(len(checks)), failures=str(failures))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(checks)), failures=str(failures), errors="0")
    for c in checks:
        case = ET.SubElement(ts, "testcase", classname=suite, name=c.name, time="0")
        out = ET.SubElement(case, "system-out")
        out.text = c.describe()
        if not c.passed:
            f = ET.SubElement(case, "failure", message=c.describe(), type="ThresholdFailed")
            f.text = c.describe()
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(
    checks: list[Check], path: str | Path, suite: str = "farmhunt.eval", *, force: bool = False, inputs: tuple = ()
) -> Path:
    """Write the JUnit XML atomically (an existing file only if it is an earlier JUnit XML, or `force`)."""
    with atomic_file(path, kind="eval_junit", inputs=inputs, force=force, option="--junit") as tmp:
        tmp.write_text(junit_xml(checks, suite))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Rich tables
# ---------------------------------------------------------------------------------------------
def fmt(v: Any, digits: int = 3) -> str:
    """A figure for a table cell: n/a for missing, fixed digits for floats, thousands for ints."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return printable(str(v), limit=200)


def _table(title: str, columns: list[str]) -> Table:
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right", overflow="fold")
    return t


def detector_rows(evs: dict[str, Evaluation]) -> list[tuple[str, list[str]]]:
    """Side-by-side headline figures of several detectors: (label, one value per detector)."""

    def row(label: str, get) -> tuple[str, list[str]]:
        return label, [fmt(get(e)) for e in evs.values()]

    return [
        row("flagged accounts", lambda e: e.account["flagged"]),
        row("precision", lambda e: e.account["precision"]),
        row("recall", lambda e: e.account["recall"]),
        row("F1", lambda e: e.account["f1"]),
        row("average precision (risk)", lambda e: e.account["average_precision"]),
        row("precision @ top 1%", lambda e: e.account["precision_at_top_1pct"]),
        row("precision @ top 5%", lambda e: e.account["precision_at_top_5pct"]),
        row("rings detected", lambda e: f"{e.rings_summary['counted_detected']}/{e.rings_summary['counted']}"),
        row("hard-negative flag rate", lambda e: e.hard_negatives["hard_negatives"]["rate"]),
        row("benign flag rate", lambda e: e.hard_negatives["benign"]["rate"]),
        row("cases", lambda e: e.case_queue["cases"]),
        row("case precision", lambda e: e.case_queue["precision"]),
        row("review cost (accounts/fraud found)", lambda e: e.case_queue["review_cost"]),
        row("ARI (fraud accounts)", lambda e: e.agreement["ari"]),
        row("NMI (fraud accounts)", lambda e: e.agreement["nmi"]),
    ]


def print_evaluation(
    console: Console,
    ev: Evaluation,
    checks: list[Check],
    baselines: dict[str, Evaluation] | None = None,
    rings_shown: int = 30,
) -> None:
    """Print every table of `farmhunt eval`."""
    a = ev.account
    t = _table("Account level", ["metric", "value"])
    for k in (
        "accounts",
        "fraud",
        "flagged",
        "tp",
        "fp",
        "fn",
        "precision",
        "recall",
        "f1",
        "average_precision",
        "precision_at_top_1pct",
        "precision_at_top_5pct",
    ):
        t.add_row(k, fmt(a[k]))
    console.print(t)

    t = _table(
        "Accounts per labelled kind (flag rate = recall for fraud kinds)",
        ["kind", "fraud", "accounts", "flagged", "flag rate"],
    )
    for r in ev.per_kind.iter_rows(named=True):
        t.add_row(cell(r["ring_kind"]), fmt(r["is_fraud"]), fmt(r["accounts"]), fmt(r["flagged"]), fmt(r["flag_rate"]))
    console.print(t)

    rs = ev.rings_summary
    t = _table(
        f"Fraud rings detected (coverage >= {rs['coverage']:g}; counted: size >= {rs['ring_min_size']})",
        ["kind", "detected/rings", "counted detected/counted", "mean coverage"],
    )
    for r in ev.ring_kinds.iter_rows(named=True):
        t.add_row(
            cell(r["ring_kind"]),
            f"{r['detected']}/{r['rings']}",
            f"{r['counted_detected']}/{r['counted']}",
            fmt(r["mean_coverage"]),
        )
    t.add_row("all", f"{rs['detected']}/{rs['rings']}", f"{rs['counted_detected']}/{rs['counted']}", "")
    console.print(t)

    fr = ev.rings.filter("is_fraud")
    t = _table(
        f"Fraud rings ({min(rings_shown, fr.height)} of {fr.height}, smallest coverage first)",
        ["ring", "kind", "size", "coverage", "best cluster", "overlap", "purity", "cases", "detected"],
    )
    t.columns[0].min_width = min(24, max((len(str(x)) for x in fr["ring_id"].to_list()), default=4))
    for r in fr.sort(["coverage", "size"], descending=[False, True]).head(rings_shown).iter_rows(named=True):
        t.add_row(
            cell(r["ring_id"]),
            cell(r["ring_kind"]),
            fmt(r["size"]),
            fmt(r["coverage"]),
            "" if r["best_cluster"] is None else str(r["best_cluster"]),
            fmt(r["overlap"]),
            fmt(r["purity"]),
            fmt(r.get("cases")),
            fmt(r["detected"]),
        )
    console.print(t)

    hn = ev.hard_negatives
    t = _table("Hard negatives: share of accounts flagged", ["group", "accounts", "flagged", "rate"])
    for k, v in hn["per_kind"].items():
        t.add_row(cell(k), fmt(v["accounts"]), fmt(v["flagged"]), fmt(v["rate"], 4))
    for k in ("hard_negatives", "benign", "non_fraud"):
        t.add_row(f"[bold]{k}[/]", fmt(hn[k]["accounts"]), fmt(hn[k]["flagged"]), fmt(hn[k]["rate"], 4))
    console.print(t)

    q = ev.case_queue
    t = _table(
        "Case queue (operators: grouped flagged clusters, and lone flagged accounts, by risk)", ["metric", "value"]
    )
    t.add_row("cases", fmt(q["cases"]))
    t.add_row("true cases (>= half fraud)", fmt(q["true_cases"]))
    for k, v in q["precision_at_k"].items():
        t.add_row(f"precision @ {k}", fmt(v))
    t.add_row("accounts in cases", fmt(q["accounts_in_cases"]))
    t.add_row("fraud accounts in cases", fmt(q["fraud_in_cases"]))
    t.add_row("review cost (accounts per fraud account found)", fmt(q["review_cost"]))
    if "purity" in q:
        t.add_row("case purity (dominant ring's share, size-weighted)", fmt(q["purity"], 4))
        t.add_row("lowest case purity", fmt(q["min_purity"]))
        t.add_row("cases holding accounts of 2+ rings", fmt(q["mixed_cases"]))
        t.add_row("benign share of accounts in cases", fmt(q["benign_share"], 4))
    for r in q.get("largest_rings", []):
        t.add_row(
            cell(f"cases spanned by {r['ring_id']} ({r['flagged']:,} flagged)"),
            f"{r['cases']:,} (90%: {r['cases_90']:,})",
        )
    t.add_row("ARI clusters vs rings (fraud accounts)", fmt(ev.agreement["ari"]))
    t.add_row("NMI clusters vs rings (fraud accounts)", fmt(ev.agreement["nmi"]))
    console.print(t)

    if baselines:
        evs = {"farmhunt": ev, **baselines}
        t = _table("farmhunt vs baselines (same world, same metrics)", ["metric", *evs])
        for label, vals in detector_rows(evs):
            t.add_row(label, *vals)
        console.print(t)

    if checks:
        t = _table("Thresholds", ["threshold", "value", "bound", "result"])
        for c in checks:
            t.add_row(
                c.name, fmt(c.value, 4), f"{c.op} {c.bound:g}", "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
            )
        console.print(t)
