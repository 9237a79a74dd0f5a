"""Time to detect: replay detection on the world as it was at the end of each day (or step).

For cut t, the world is `World.cut(t)` (accounts created before t, events before t), detection is the
engine's own `pipeline.detect` (no second implementation), and the cut is scored by the same
metric code as `farmhunt eval`, against the labels of the accounts that existed at t. A ring is
detected at a cut when at least `coverage` of its members *present at that cut* are flagged. Its
first activity is the earliest signup or request of any member; days to detect = first detecting
cut minus first activity.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

from farmhunt.core.atomic import atomic_dir
from farmhunt.core.contract import FRAUD_KINDS
from farmhunt.core.errors import InputError
from farmhunt.core.world import World, load_labels, load_world
from farmhunt.evaluation.metrics import EvalSettings, evaluate

ReplayProgress = Callable[[int, int, datetime], None]  # (cut index, number of cuts, cut time)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_step(text: str) -> timedelta:
    """'1d', '12h', '30m', '2w' (or '1.5d') -> timedelta; anything else is an `InputError`."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise InputError(f"--step: {text!r} is not a positive duration like 1d, 12h, 30m or 1w")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


@dataclass
class Replay:
    """Per-cut figures, per-ring first detection and the per-kind summary."""

    cuts: pl.DataFrame
    rings: pl.DataFrame
    summary: dict[str, Any]
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the document `farmhunt eval --replay` reads)."""

        def rows(df: pl.DataFrame) -> list[dict[str, Any]]:
            return df.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%z")).to_dicts()

        return {"meta": self.meta, "summary": self.summary, "cuts": rows(self.cuts), "rings": rows(self.rings)}


def time_span(world: World) -> tuple[datetime, datetime]:
    """First and last event of the world's activity window.

    The window starts at the first request (a provider's export keeps accounts created long before
    it: replaying years of signups day by day would be pointless); without requests, at the first
    signup. It ends at the latest signup, payment or request.
    """
    first = None
    if "requests" in world:
        first = world["requests"].select(pl.col("ts").min()).collect().item()
    if first is None:
        first = world["accounts"].select(pl.col("created_at").min()).collect().item()
    lasts = [
        world[t].select(pl.col(c).max()).collect().item()
        for t, c in (("accounts", "created_at"), ("payments", "ts"), ("requests", "ts"))
        if t in world
    ]
    if first is None:
        raise InputError(f"{world.path}: accounts table is empty: nothing to replay")
    return first, max(x for x in lasts if x is not None)


def cut_times(first: datetime, last: datetime, step: timedelta) -> list[datetime]:
    """End of each step from the start of `first`'s day (UTC) until the one past `last`."""
    start = first.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    cuts, t = [], start + step
    while True:
        cuts.append(t)
        if t > last:
            return cuts
        t += step


def first_activity(world: World, labels: pl.DataFrame) -> pl.DataFrame:
    """Per labelled ring: kind, size, fraud flag and the earliest signup or request of a member."""
    acc = world["accounts"].select("account_id", "created_at")
    if "requests" in world:
        req = world["requests"].group_by("account_id").agg(pl.col("ts").min().alias("first_request"))
        acc = acc.join(req, on="account_id", how="left")
    else:
        acc = acc.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("first_request"))
    first = acc.select("account_id", pl.min_horizontal("created_at", "first_request").alias("first")).collect(
        engine="streaming"
    )
    return (
        labels.filter(pl.col("ring_id").is_not_null())
        .join(first, on="account_id", how="left")
        .group_by("ring_id")
        .agg(
            pl.col("ring_kind").first(),
            pl.col("is_fraud").any(),
            pl.len().alias("size"),
            pl.col("first").min().alias("first_activity"),
        )
    )


def replay(
    world_path: str | Path,
    detect_fn: Callable[[World, Any], Any],
    step: timedelta = timedelta(days=1),
    settings: Any = None,
    coverage: float = 0.9,
    progress: ReplayProgress | None = None,
) -> Replay:
    """Detect at every cut of the world and score each cut; see the module docstring.

    `detect_fn(world, settings)` is the engine (the CLI passes `farmhunt.engine.detect`): evaluation
    measures detection, it does not import it.
    """
    world = load_world(world_path)
    labels = (
        load_labels(world_path)
        if (Path(world_path) / "labels.parquet").exists() or (Path(world_path) / "labels.csv").exists()
        else None
    )
    if labels is None:
        raise InputError(f"{world_path}: no labels.parquet: replay scores each cut, it needs a world with labels")
    first, last = time_span(world)
    cuts = cut_times(first, last, step)
    start = cuts[0] - step
    es = EvalSettings(coverage=coverage)
    rows: list[dict[str, Any]] = []
    ring_rows: list[pl.DataFrame] = []
    for i, t in enumerate(cuts):
        if progress:
            progress(i, len(cuts), t)
        wc = world.cut(t)
        present = wc["accounts"].select("account_id").collect()
        row: dict[str, Any] = {"cut": t, "day": (t - start) / timedelta(days=1), "accounts": present.height}
        if present.height == 0:
            rows.append(row | {"error": "no accounts yet"})
            continue
        t0 = time.perf_counter()
        try:
            res = detect_fn(wc, settings)
        except Exception as exc:  # a cut too small for a stage: recorded, shown, not fatal
            rows.append(row | {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]})
            continue
        lab = labels.join(present, on="account_id", how="semi")
        ev = evaluate(res.accounts, lab, res.clusters, es, "farmhunt", f"cut {t.isoformat()}")
        a, hn, rs = ev.account, ev.hard_negatives, ev.rings_summary
        rows.append(
            row
            | {
                "seconds": round(time.perf_counter() - t0, 3),
                "fraud": a["fraud"],
                "flagged": a["flagged"],
                "precision": a["precision"],
                "recall": a["recall"],
                "average_precision": a["average_precision"],
                "hard_negative_rate": hn["hard_negatives"]["rate"],
                "benign_rate": hn["benign"]["rate"],
                "rings_present": rs["rings"],
                "rings_detected": rs["detected"],
                "rings_detected_share": _share(rs["detected"], rs["rings"]),
                "error": None,
            }
        )
        ring_rows.append(
            ev.rings.select("ring_id", "size", "coverage", "detected").with_columns(pl.lit(t).alias("cut"))
        )
    cut_df = pl.DataFrame(rows, infer_schema_length=None)
    for col in (
        "seconds",
        "precision",
        "recall",
        "average_precision",
        "hard_negative_rate",
        "benign_rate",
        "rings_detected_share",
    ):
        if col not in cut_df.columns:
            cut_df = cut_df.with_columns(pl.lit(None, pl.Float64).alias(col))
    rings = _first_detection(first_activity(world, labels), ring_rows)
    summary = summarise(rings)
    meta = {
        "world": str(Path(world_path).resolve()),
        "step": str(step),
        "step_days": step / timedelta(days=1),
        "coverage": coverage,
        "first_event": first.isoformat(),
        "last_event": last.isoformat(),
        "cuts": len(cuts),
        "failed_cuts": int(cut_df["error"].is_not_null().sum()),
    }
    return Replay(cut_df, rings, summary, meta)


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def _first_detection(rings: pl.DataFrame, per_cut: list[pl.DataFrame]) -> pl.DataFrame:
    """Join each ring's first detecting cut (and coverage at the last cut) onto its first activity."""
    ts = pl.Datetime("us", "UTC")
    if per_cut:
        all_cuts = pl.concat(per_cut).with_columns(pl.col("cut").cast(ts))
        det = all_cuts.filter("detected").group_by("ring_id").agg(pl.col("cut").min().alias("first_detected"))
        final = all_cuts.sort("cut").group_by("ring_id").agg(pl.col("coverage").last().alias("final_coverage"))
    else:
        det = pl.DataFrame(schema={"ring_id": pl.String, "first_detected": ts})
        final = pl.DataFrame(schema={"ring_id": pl.String, "final_coverage": pl.Float64})
    out = rings.join(det, on="ring_id", how="left").join(final, on="ring_id", how="left")
    return (
        out.with_columns(
            ((pl.col("first_detected") - pl.col("first_activity")).dt.total_seconds() / 86400.0).alias(
                "days_to_detect"
            ),
        )
        .select(
            "ring_id",
            "ring_kind",
            "is_fraud",
            "size",
            "first_activity",
            "first_detected",
            "days_to_detect",
            "final_coverage",
        )
        .sort(["is_fraud", "ring_kind", "first_activity", "ring_id"], descending=[True, False, False, False])
    )


def summarise(rings: pl.DataFrame) -> dict[str, Any]:
    """Per fraud kind: rings, detected, median and max days to detect; hard-negative groups ever detected."""
    fr = rings.filter(pl.col("is_fraud"))
    per = (
        fr.group_by("ring_kind")
        .agg(
            pl.len().alias("rings"),
            pl.col("first_detected").is_not_null().sum().alias("detected"),
            pl.col("days_to_detect").median().alias("median_days"),
            pl.col("days_to_detect").max().alias("max_days"),
        )
        .sort("ring_kind")
    )
    order = {k: i for i, k in enumerate(FRAUD_KINDS)}
    per_kind = {r.pop("ring_kind"): r for r in sorted(per.to_dicts(), key=lambda r: order.get(r["ring_kind"], 99))}
    hn = rings.filter(~pl.col("is_fraud"))
    return {
        "per_kind": per_kind,
        "all": {
            "rings": fr.height,
            "detected": int(fr["first_detected"].is_not_null().sum()),
            "median_days": fr["days_to_detect"].median(),
            "max_days": fr["days_to_detect"].max(),
        },
        "hard_negative_groups_ever_flagged": int(hn["first_detected"].is_not_null().sum()),
        "hard_negative_groups": hn.height,
    }


def write_replay(rep: Replay, out: str | Path, *, force: bool = False, inputs: tuple = ()) -> Path:
    """replay.json (everything), cuts.parquet and rings.parquet, written atomically into `out`.

    `out` follows the output rule of `farmhunt.core.atomic` (kind "replay"; `force` replaces a foreign directory).
    """
    import json

    from farmhunt.evaluation.outputs import clean_json

    with atomic_dir(out, kind="replay", inputs=inputs, force=force) as tmp:
        (tmp / "replay.json").write_text(json.dumps(clean_json(rep.to_dict()), indent=2, default=str))
        rep.cuts.write_parquet(tmp / "cuts.parquet")
        rep.rings.write_parquet(tmp / "rings.parquet")
    return Path(out).resolve()
