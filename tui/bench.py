"""Console speed benchmark: every screen opened in the running app (Textual Pilot), timed from the keypress
(or the navigation call a keypress makes) to its data shown.

    python -m tui.bench RESULTS [--world WORLD] [--size 120x40] [--cases ID,ID] [--first-pass-only]

Each case (default: the top-ranked case and the largest one) is opened with every screen reached from
it (case, its Activity tab, back to the queue, its first cluster, an account, pivots on a card, a
device, a /24, an IP and a prompt template, three searches) three times, every cached answer
forgotten in between: "[cold]" before the background load starts (nothing in memory: every question
from the files), "[during]"
while it runs ("during: ..." says how far it was at the keypress), "[after]" once it is done
(`--first-pass-only`: not this one). "case (first paint)" is the case screen's members shown with its
header; for a large case (thousands of accounts, a thousand clusters) that is the large-case figure.

Prints one line per screen: "shown" is the wall-clock time until the screen's first table holds its data,
"filled" until every tab of it has loaded (the rest loads in workers while the first tab is in use; a
large case's activity and graph load when their tab is opened), "cpu" the process's CPU seconds (all
threads, the background load's included) from the keypress to "shown": on a loaded machine the wall
clock is several times that; "load" the machine's 1-minute load average then; and at the end the
process's peak memory.
Decisions go to a temporary SQLite file (nothing is written beside RESULTS). The load average is printed
with the figures: on a shared machine they swing with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: Give up on a screen after this many seconds.
TIMEOUT = 120.0


async def _until(pilot, ready: Callable[[], bool], t0: float) -> float:
    """Seconds from `t0` until `ready()` holds (polled every 5 ms while the app runs)."""
    while not ready():
        if time.perf_counter() - t0 > TIMEOUT:
            return float("nan")
        await asyncio.sleep(0.005)
    return time.perf_counter() - t0


async def _idle(pilot, t0: float) -> float:
    """Seconds from `t0` until no worker runs any more (every tab filled)."""
    await pilot.pause()  # (a screen starts its other tabs' workers after its first paint)
    # (not counting the workers that add the population's hours once the request index is built)
    while any(w.is_running and w.group != "population" for w in pilot.app.workers):
        if time.perf_counter() - t0 > TIMEOUT:
            return float("nan")
        await asyncio.sleep(0.005)
    return time.perf_counter() - t0


def _rows(app, selector: str, left=None) -> Callable[[], bool]:
    """The current screen (not `left`, the one the keypress left) shows rows in `selector`."""

    def ready() -> bool:
        if left is not None and app.screen is left:
            return False
        try:
            t = app.screen.query_one(selector)
        except Exception:
            return False
        return bool(getattr(t, "row_count", 0)) and not t.loading

    return ready


def _clear_caches(data) -> None:
    """Forget every cached answer of `data` (lru_caches of its queries; tables loaded stay loaded), so
    that the same screens can be timed again in another state of the background load."""
    for name in dir(type(data)):
        fn = getattr(type(data), name, None)
        if callable(getattr(fn, "cache_clear", None)):
            fn.cache_clear()


def default_cases(data) -> tuple[str, ...]:
    """The top-ranked case and the largest one (the large-case first paint)."""
    cases = data.cases.sort("rank")
    if cases.is_empty():
        return ()
    top = str(cases["case_id"][0])
    largest = str(cases.sort(["size", "rank"], descending=[True, False])["case_id"][0])
    return (top,) if largest == top else (top, largest)


async def run(
    results: Path,
    world: Path | None,
    size: tuple[int, int],
    warm_pass: bool = True,
    case_ids: tuple[str, ...] = (),
) -> list[tuple[str, float, float, str]]:
    """Open every screen of each case (default: the top-ranked and the largest) three times, each time
    with nothing cached: "cold" before the background load starts (nothing in memory: every question
    from the files), "during" while it runs, "after" once it is done; return (screen, shown s, filled s,
    what)."""
    from tui.app import FarmhuntApp
    from tui.data import CaseData
    from tui.decisions import DecisionStore

    out: list[tuple[str, float, float, str]] = []
    t0 = time.perf_counter()
    data = CaseData(results, world)
    t_data = time.perf_counter() - t0
    db = Path(tempfile.mkdtemp(prefix="farmhunt-bench-")) / "decisions.sqlite"
    app = FarmhuntApp(data, DecisionStore(db, who="bench"))
    app._warming = True  # the bench starts the background load itself, after the cold pass
    # Meanwhile a chart waiting for the population's hours waits as it does during the load, instead of
    # counting them itself (which would build the request index during the cold pass).
    app.warming = lambda: True  # type: ignore[method-assign]
    ids = case_ids or default_cases(data)
    by_id = {r["case_id"]: r for r in data.cases.iter_rows(named=True)}
    cases = [by_id[c] for c in ids if c in by_id]
    async with app.run_test(size=size) as pilot:
        shown = await _until(pilot, _rows(app, "#queue"), t0)
        out.append(("start + queue", shown, await _idle(pilot, t0), f"results read in {t_data:.2f} s"))
        for case in cases:
            await _pass(pilot, data, case, out, " [cold]")
            _clear_caches(data)
        del app.warming  # the app's own again
        app._warming = False
        t_warm = time.perf_counter()
        app.start_warm()
        warm = app._warm_thread
        assert warm is not None
        for case in cases:
            await _pass(pilot, data, case, out, " [during]")
            _clear_caches(data)
        if not warm_pass:
            return out
        t = time.perf_counter()
        await asyncio.to_thread(warm.join)
        out.append(
            (
                "(background load done)",
                time.perf_counter() - t,
                float("nan"),
                f"{time.perf_counter() - t_warm:.1f} s after it started · {_index_figures(data)}",
            )
        )
        _clear_caches(data)
        for case in cases:
            await _pass(pilot, data, case, out, " [after]")
            _clear_caches(data)
    return out


async def _pass(pilot, data, case: dict, out: list, tag: str) -> None:
    """Case -> back -> cluster -> account -> pivots (card, device, /24, IP, template) -> searches."""
    from tui.data import Target

    app = pilot.app

    async def visit(name: str, go: Callable[[], object], selector: str, what: str) -> None:
        left = app.screen
        state = _state(data)
        t, c = time.perf_counter(), time.process_time()
        go()
        s = await _until(pilot, _rows(app, selector, left), t)
        cpu = time.process_time() - c
        load = os.getloadavg()[0]
        out.append((name + tag, s, await _idle(pilot, t), f"cpu {cpu:.2f} s · load {load:.1f} · {state}{what}"))

    while len(app.screen_stack) > 2:
        app.pop_screen()
    await pilot.pause()
    await visit(
        "case (first paint)",
        lambda: app.navigate(Target("case", case["case_id"])),
        "#members-table",
        f"{case['case_id']}: {case['size']:,} accounts, {case['n_clusters']} cluster(s)",
    )
    await _activity(pilot, out, tag, state=_state(data))
    await visit("queue (back)", app.action_back, "#queue", "")
    cid = case["clusters"][0] if case["clusters"] else None
    if cid is not None:
        await visit("cluster", lambda: app.open_cluster(cid), "#members-table", str(cid))
    ids = data.member_ids(cid) if cid is not None else data.case_member_ids(case["case_id"])
    aid = str(ids[0])
    await visit("account", lambda: app.open_account(aid), "#profile-table", aid)
    ties = data.ties_of((cid,)) if cid is not None else None

    def tie(signal: str) -> str | None:
        if ties is None:
            return None
        t = ties.filter(ties["signal"] == signal)
        return str(t["value"][0]) if t.height else None

    acc = data.account(aid)
    pay = data.payments(aid)
    card = tie("card") or (str(pay["card_fingerprint"][0]) if pay.height else None)
    prefix = ".".join(str(acc["signup_ip"]).split(".")[:3]) if acc.get("signup_ip") else None
    template = tie("prompt_template") or _any_tie(data, "prompt_template")
    for signal, value in (
        ("card", card),
        ("device", acc.get("device_id")),
        ("signup_prefix", prefix),
        ("ip", acc.get("signup_ip")),
        ("prompt_template", template),
    ):
        if value is None:
            out.append((f"pivot {signal}{tag}", float("nan"), float("nan"), "no value to pivot on"))
            continue
        await visit(f"pivot {signal}", lambda s=signal, v=value: app.open_pivot(s, v), "#pivot-table", str(value)[:40])
    for q in (aid, aid[:7], f"{prefix}.0/24" if prefix else "10.0.0.0/24"):
        state = _state(data)
        t, c = time.perf_counter(), time.process_time()
        hits = await asyncio.to_thread(_foreground(data), lambda q=q: data.search(q))
        cpu = time.process_time() - c
        load = os.getloadavg()[0]
        out.append(
            (
                f"search {q[:22]}{tag}",
                time.perf_counter() - t,
                float("nan"),
                f"cpu {cpu:.2f} s · load {load:.1f} · {state}{len(hits)} hit(s)",
            )
        )


async def _activity(pilot, out: list, tag: str, state: str) -> None:
    """The case's Activity tab opened (from its members): until its charts are drawn (during the load a
    large case's from the members counted so far: "partial")."""
    screen = pilot.app.screen
    t, c = time.perf_counter(), time.process_time()
    screen.action_tab("activity")
    s = await _until(pilot, lambda: getattr(screen, "activity_drawn", 0) > 0, t)
    cpu = time.process_time() - c
    load = os.getloadavg()[0]
    partial = " · partial (members counted so far)" if getattr(screen, "activity_partial", False) else ""
    what = f"cpu {cpu:.2f} s · load {load:.1f} · {state}{partial}"
    out.append(("case activity tab" + tag, s, await _idle(pilot, t), what))


def _state(data) -> str:
    """ "during: <progress> · " while the background load runs, else ""."""
    progress = getattr(data, "load_progress", None)
    if progress is None:
        return ""
    p = progress()
    return "" if p in ("done", "no request store") else f"during: {p} · "


def _foreground(data) -> Callable:
    """`data.foreground` (a screen's question: the background load waits), or a plain call."""
    return getattr(data, "foreground", lambda fn: fn())


def _index_figures(data) -> str:
    """The request index's build time and memory."""
    if data.store is None:
        return "no store"
    ix = data.tables.index
    waited = data.priority.waited
    return (
        f"request index {ix.seconds:.1f} s wall ({ix.step_seconds:.1f} s in steps, background waited "
        f"{waited:.1f} s for screens), {ix.estimated_bytes() / 1e6:,.0f} MB"
    )


def _any_tie(data, signal: str) -> str | None:
    t = data.tie_table
    if t.is_empty():
        return None
    t = t.filter(t["signal"] == signal)
    return str(t["value"][0]) if t.height else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tui.bench", description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path)
    p.add_argument("--world", type=Path, default=None)
    p.add_argument("--size", default="120x40", help="terminal size, COLSxROWS")
    p.add_argument("--first-pass-only", action="store_true", help="skip the passes after the background load")
    p.add_argument(
        "--cases", default="", help="case ids to open (default: the top-ranked and the largest), comma-separated"
    )
    a = p.parse_args(argv)
    w, h = (int(x) for x in a.size.split("x"))
    before = os.getloadavg()
    from tui.data import console_engine

    console_engine()
    ids = tuple(c for c in a.cases.split(",") if c)
    rows = asyncio.run(run(a.results, a.world, (w, h), warm_pass=not a.first_pass_only, case_ids=ids))
    after = os.getloadavg()
    print(f"{'screen':<34} {'shown':>7} {'filled':>7}  detail (cpu: process CPU s to shown; load: 1-min avg)")
    for name, shown, filled, what in rows:
        f = "" if filled != filled else f"{filled:6.2f}s"
        print(f"{name:<34} {shown:6.2f}s {f:>7}  {what}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"load average (1 min) before {before[0]:.2f}, after {after[0]:.2f}; {os.cpu_count()} cores; "
        f"peak memory {rss:,.0f} MB; process CPU {cpu.ru_utime + cpu.ru_stime:.1f} s"
    )


if __name__ == "__main__":
    main()
