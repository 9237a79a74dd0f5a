"""The evaluation report: one self-contained HTML page (plotly.js inlined once, no network needed).

Size (~440 lines): one page; each table and chart is a short function over the same `Evaluation`,
and the page template is here with them.

Tables: headline figures side by side with the baselines, thresholds, rings per kind, missed rings,
hard negatives, case queue. Charts: precision-recall curves, ring coverage by ring size and kind,
hard-negative flag rates per detector, case-queue precision at k, and time-to-detect (from a replay)
when available.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from farmhunt.core.atomic import atomic_file
from farmhunt.evaluation.metrics import Evaluation
from farmhunt.evaluation.outputs import detector_rows, fmt
from farmhunt.evaluation.thresholds import Check

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1150px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:.9em} table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:3px 9px;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left} .pass{color:#18794e;font-weight:600}
.fail{color:#c62828;font-weight:700} .grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.note{color:#555;font-size:.88em;max-width:60em}
"""
_COLORS = {"farmhunt": "#1f77b4", "components": "#ff7f0e", "isolation_forest": "#2ca02c", "fraudar": "#d62728"}


def _cid(v: Any) -> str:
    """A cluster id as an identifier (no thousands separators)."""
    return "" if v is None else str(v)


def _table(header: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else html.escape(fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Figures:
    """Turns figures into divs; the first one carries plotly.js inline, the others reuse it."""

    def __init__(self) -> None:
        self.first = True

    def div(self, fig: go.Figure, height: int = 380) -> str:
        fig.update_layout(height=height, margin=dict(l=50, r=20, t=50, b=45), template="plotly_white")
        out = pio.to_html(fig, full_html=False, include_plotlyjs=self.first, config={"displaylogo": False})
        self.first = False
        return out


def pr_figure(evs: dict[str, Evaluation]) -> go.Figure:
    """Precision-recall curves of `risk`, with each detector's operating point (its flags)."""
    fig = go.Figure()
    for name, ev in evs.items():
        c = ev.pr_curve
        if c.height:
            ap = ev.account["average_precision"]
            fig.add_trace(
                go.Scatter(
                    x=c["recall"].to_list(),
                    y=c["precision"].to_list(),
                    mode="lines",
                    name=f"{name} (AP {ap:.3f})",
                    line=dict(color=_COLORS.get(name)),
                )
            )
        if ev.account["recall"] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[ev.account["recall"]],
                    y=[ev.account["precision"]],
                    mode="markers",
                    marker=dict(size=11, symbol="x", color=_COLORS.get(name)),
                    name=f"{name} flags",
                    showlegend=True,
                )
            )
    fig.update_layout(
        title="Precision-recall curve of account risk (x = operating point of the flags)",
        xaxis_title="recall",
        yaxis_title="precision",
        xaxis_range=[0, 1.02],
        yaxis_range=[0, 1.02],
    )
    return fig


def ring_figure(ev: Evaluation) -> go.Figure:
    """Member coverage of every labelled fraud ring against its size, coloured by kind."""
    fig = go.Figure()
    fr = ev.rings.filter("is_fraud")
    for kind in sorted(fr["ring_kind"].unique().to_list()):
        d = fr.filter(pl.col("ring_kind") == kind)
        fig.add_trace(
            go.Scatter(
                x=d["size"].to_list(),
                y=d["coverage"].to_list(),
                mode="markers",
                name=kind,
                text=[f"{r} purity {fmt(p)}" for r, p in zip(d["ring_id"].to_list(), d["purity"].to_list())],
                marker=dict(size=10, opacity=0.8),
            )
        )
    fig.add_hline(
        y=ev.settings.coverage,
        line_dash="dash",
        line_color="#888",
        annotation_text=f"detected at coverage >= {ev.settings.coverage:g}",
    )
    fig.update_layout(
        title="Ring coverage by ring size and kind (share of members flagged)",
        xaxis_title="ring size (accounts, log scale)",
        yaxis_title="coverage",
        xaxis_type="log",
        yaxis_range=[-0.03, 1.05],
    )
    return fig


def hard_negative_figure(evs: dict[str, Evaluation]) -> go.Figure:
    """Share flagged per hard-negative kind (and over benign accounts), per detector."""
    fig = go.Figure()
    for name, ev in evs.items():
        hn = ev.hard_negatives
        kinds = list(hn["per_kind"]) + ["all hard negatives", "benign"]
        rates = [v["rate"] for v in hn["per_kind"].values()] + [hn["hard_negatives"]["rate"], hn["benign"]["rate"]]
        fig.add_trace(go.Bar(x=kinds, y=[r or 0.0 for r in rates], name=name, marker_color=_COLORS.get(name)))
    fig.update_layout(
        title="Hard negatives: share of accounts flagged (lower is better)",
        barmode="group",
        yaxis_title="flag rate",
        yaxis_tickformat=".1%",
    )
    return fig


def case_figure(evs: dict[str, Evaluation]) -> go.Figure:
    """Running precision of the case queue (is the k-th case a real ring?)."""
    fig = go.Figure()
    for name, ev in evs.items():
        c = ev.cases
        if c.height:
            k = list(range(1, c.height + 1))
            prec = (c["true_case"].cast(pl.Float64).cum_sum() / pl.Series(k)).to_list()
            fig.add_trace(go.Scatter(x=k, y=prec, mode="lines", name=name, line=dict(color=_COLORS.get(name))))
    fig.update_layout(
        title="Case queue: precision at k (cases ordered by risk)",
        xaxis_title="k (cases reviewed)",
        yaxis_title="precision at k",
        xaxis_type="log",
        yaxis_range=[0, 1.05],
    )
    return fig


def ttd_figures(replay: dict[str, Any]) -> list[go.Figure]:
    """Time to detect: days to detection per ring kind, and recall / hard-negative rate per cut."""
    figs = []
    rings = pl.DataFrame(replay.get("rings") or [])
    if rings.height and "days_to_detect" in rings.columns:
        fig = go.Figure()
        for kind in sorted(rings["ring_kind"].unique().to_list()):
            d = rings.filter(pl.col("ring_kind") == kind)
            det = d.drop_nulls("days_to_detect")
            fig.add_trace(
                go.Box(
                    y=det["days_to_detect"].to_list(),
                    name=f"{kind} ({det.height}/{d.height})",
                    boxpoints="all",
                    jitter=0.3,
                )
            )
        fig.update_layout(
            title="Days from a ring's first activity to its detection (detected/rings per kind)",
            yaxis_title="days to detect",
            showlegend=False,
        )
        figs.append(fig)
    cuts = pl.DataFrame(replay.get("cuts") or [])
    if cuts.height:
        fig = go.Figure()
        x = cuts["day"].to_list()
        for col, name in (
            ("recall", "recall"),
            ("precision", "precision"),
            ("rings_detected_share", "rings detected"),
            ("hard_negative_rate", "hard-negative flag rate"),
        ):
            if col in cuts.columns:
                fig.add_trace(go.Scatter(x=x, y=cuts[col].to_list(), mode="lines+markers", name=name))
        fig.update_layout(
            title="Replay: figures at each cut (world as it was at the end of day d)",
            xaxis_title="day",
            yaxis_range=[0, 1.05],
        )
        figs.append(fig)
    return figs


def render_report(
    ev: Evaluation,
    checks: list[Check],
    baselines: dict[str, Evaluation] | None = None,
    run: dict[str, Any] | None = None,
    world: dict[str, Any] | None = None,
    replay: dict[str, Any] | None = None,
    title: str = "farmhunt evaluation",
    sweep: dict[str, Any] | None = None,
) -> str:
    """The report page as one HTML string (`sweep`: a `SweepReport.to_dict()`, adds the generalisation tables)."""
    evs = {"farmhunt": ev, **(baselines or {})}
    figs = _Figures()
    run, world = run or {}, world or {}
    parts = [f"<h1>{html.escape(title)}</h1>"]
    meta = [
        f"world: <code>{html.escape(str(world.get('path', '?')))}</code>",
        f"manifest sha256: <code>{html.escape(str(world.get('manifest_sha256')))}</code>",
        f"farmhunt {html.escape(str(run.get('farmhunt_version', '?')))}, run started "
        f"{html.escape(str(run.get('started_at', '?')))}",
        f"report written {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
    ]
    parts.append("<p class='meta'>" + "<br>".join(meta) + "</p>")

    if checks:
        rows = [
            [
                c.name,
                fmt(c.value, 4),
                f"{c.op} {c.bound:g}",
                "<span class='pass'>pass</span>" if c.passed else "<span class='fail'>FAIL</span>",
            ]
            for c in checks
        ]
        parts += ["<h2>Thresholds</h2>", _table(["threshold", "value", "bound", "result"], rows, raw=True)]

    parts.append("<h2>Headline figures" + (" against the baselines" if baselines else "") + "</h2>")
    parts.append(_table(["metric", *evs], [[label, *vals] for label, vals in detector_rows(evs)]))
    if baselines:
        parts.append(
            "<p class='note'>Baselines: <b>components</b> = connected components (5+ accounts) of the "
            "raw card/device/phone/signup-IP graph; <b>isolation_forest</b> = IsolationForest on the "
            "account features alone with farmhunt's flag budget; <b>fraudar</b> = FRAUDAR (Hooi et al. "
            "2016), k densest blocks of the account x shared-value graph.</p>"
        )
    parts.append("<div class='grid'>" + figs.div(pr_figure(evs)) + figs.div(hard_negative_figure(evs)) + "</div>")

    parts.append("<h2>Rings</h2>")
    rs = ev.rings_summary
    parts.append(
        f"<p>A ring is detected when at least {rs['coverage']:g} of its members are flagged; counted rings "
        f"have at least {rs['ring_min_size']} members. Detected: <b>{rs['counted_detected']}/"
        f"{rs['counted']}</b> counted, {rs['detected']}/{rs['rings']} all.</p>"
    )
    parts.append(
        _table(
            ["kind", "detected/rings", "counted detected/counted", "mean coverage"],
            [
                [
                    r["ring_kind"],
                    f"{r['detected']}/{r['rings']}",
                    f"{r['counted_detected']}/{r['counted']}",
                    r["mean_coverage"],
                ]
                for r in ev.ring_kinds.iter_rows(named=True)
            ],
        )
    )
    parts.append(figs.div(ring_figure(ev), 420))
    fr = ev.rings.filter("is_fraud").sort(["coverage", "size"], descending=[False, True]).head(40)
    parts.append(
        "<p>Rings with the lowest coverage (best-matching cluster = the cluster holding most members; "
        "purity = share of that cluster made of the ring):</p>"
    )
    parts.append(
        _table(
            ["ring", "kind", "size", "coverage", "best cluster", "overlap", "cluster size", "purity", "detected"],
            [
                [
                    r["ring_id"],
                    r["ring_kind"],
                    r["size"],
                    r["coverage"],
                    _cid(r["best_cluster"]),
                    r["overlap"],
                    r["cluster_size"],
                    r["purity"],
                    r["detected"],
                ]
                for r in fr.iter_rows(named=True)
            ],
        )
    )

    parts.append("<h2>Accounts per labelled kind</h2>")
    parts.append(
        _table(
            ["kind", "fraud", "accounts", "flagged", "flag rate (recall for fraud kinds)"],
            [
                [r["ring_kind"], r["is_fraud"], r["accounts"], r["flagged"], r["flag_rate"]]
                for r in ev.per_kind.iter_rows(named=True)
            ],
        )
    )

    parts.append("<h2>Case queue</h2>")
    q = ev.case_queue
    parts.append(
        _table(
            ["metric", *evs],
            [
                ["cases", *[e.case_queue["cases"] for e in evs.values()]],
                *[
                    [f"precision @ {k}", *[e.case_queue["precision_at_k"][k] for e in evs.values()]]
                    for k in q["precision_at_k"]
                ],
                [
                    "review cost (accounts per fraud account found)",
                    *[e.case_queue["review_cost"] for e in evs.values()],
                ],
            ],
        )
    )
    parts.append(figs.div(case_figure(evs)))
    top = ev.cases.head(25)
    parts.append(
        _table(
            ["case", "size", "risk", "fraud members", "fraud share", "real ring", "main ring", "kind"],
            [
                [
                    r["case"],
                    r["size"],
                    r["risk"],
                    r["fraud"],
                    r["fraud_share"],
                    r["true_case"],
                    r["main_ring"],
                    r["main_kind"],
                ]
                for r in top.iter_rows(named=True)
            ],
        )
    )

    if replay:
        parts.append("<h2>Time to detect (replay)</h2>")
        summ = replay.get("summary", {}).get("per_kind", {})
        parts.append(
            _table(
                ["kind", "rings", "detected", "median days to detect", "max days to detect"],
                [[k, v["rings"], v["detected"], v["median_days"], v["max_days"]] for k, v in summ.items()],
            )
        )
        for f in ttd_figures(replay):
            parts.append(figs.div(f))
    else:
        parts.append(
            "<p class='note'>Time to detect: run <code>farmhunt replay WORLD --out DIR</code> and pass "
            "<code>--replay DIR</code> to <code>farmhunt eval</code> to include it.</p>"
        )

    if sweep:
        parts.append(sweep_section(sweep))

    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>"
    )


def write_report(path: str | Path, *args: Any, force: bool = False, inputs: tuple = (), **kwargs: Any) -> Path:
    """Render the report (see `render_report`) and write it atomically to `path` (an existing file only
    if it is an earlier report, or `force`)."""
    page = render_report(*args, **kwargs)
    with atomic_file(path, kind="eval_report", inputs=inputs, force=force, option="--report") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


def sweep_section(doc: dict[str, Any]) -> str:
    """The generalisation tables (`farmhunt sweep`): pooled figures, per kind, per camouflage, leave-one-design-out,
    validation worlds. Every value is escaped."""
    parts = ["<h2>Generalisation (scenario sweep, out of sample)</h2>"]
    cols = ["precision", "recall", "f1", "hard_negative_rate", "benign_rate"]
    parts.append(
        _table(["model", *cols], [[k, *(fmt(o.get(c), 4) for c in cols)] for k, o in doc.get("overall", {}).items()])
    )
    kinds = doc.get("kinds", {})
    if "shipped" in kinds and "fitted" in kinds:
        rows = [
            [
                a["ring_kind"],
                "yes" if a["is_fraud"] else "no",
                a["accounts"],
                fmt(a["rate"]),
                fmt(a["f1"]),
                fmt(b["rate"]),
                fmt(b["f1"]),
            ]
            for a, b in zip(kinds["shipped"], kinds["fitted"])
        ]
        parts.append("<h3>Per ring kind (flag rate; recall for fraud kinds)</h3>")
        parts.append(
            _table(["ring kind", "fraud", "accounts", "rate shipped", "F1 shipped", "rate fitted", "F1 fitted"], rows)
        )
    camo = doc.get("camouflage", {})
    if "shipped" in camo and "fitted" in camo:
        parts.append("<h3>Recall per camouflage level</h3>")
        rows = [
            [a["camouflage_band"], a["accounts"], fmt(a["recall"]), fmt(b["recall"])]
            for a, b in zip(camo["shipped"], camo["fitted"])
        ]
        parts.append(_table(["camouflage", "fraud accounts", "recall shipped", "recall fitted"], rows))
    if doc.get("lodo"):
        parts.append("<h3>Leave one design out (fit without it, test on it)</h3>")
        rows = [[r["design"], r["accounts"], fmt(r["recall"]), fmt(r["precision"]), fmt(r["f1"])] for r in doc["lodo"]]
        parts.append(_table(["design", "accounts", "recall", "precision", "F1"], rows))
    if doc.get("validation"):
        parts.append("<h3>Validation worlds (independent generator; never fitted on)</h3>")
        rows = [[r["world"], r["detector"], *(fmt(r.get(c), 4) for c in cols)] for r in doc["validation"]]
        parts.append(_table(["world", "model", *cols], rows))
    return "\n".join(parts)


def write_sweep_report(path: str | Path, doc: dict[str, Any], title: str = "farmhunt generalisation report") -> Path:
    """A self-contained page with only the generalisation tables, written atomically."""
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{sweep_section(doc)}</body></html>"
    )
    with atomic_file(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
