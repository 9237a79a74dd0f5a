"""Charts an investigator reads at a glance (textual-plotext): hour of day in local time against the
population, daily volume, signup timeline. Honest: every y axis starts at zero, the two series differ by
marker as well as colour, and counts are written on the bars (short: 865k, 1.27M)."""

from __future__ import annotations

import polars as pl
from textual_plotext import PlotextPlot

#: Markers that tell the series apart without colour.
GROUP_MARKER = "sd"  # solid bars
POPULATION_MARKER = "x"


def _top(values: list[float]) -> float:
    return max([*values, 0.0]) * 1.15 or 1.0


def short_count(n: int) -> str:
    """A bar's count in at most 6 characters, so neighbouring labels do not run into each other at 80
    columns: 9,428; 865k; 1.27M."""
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1e3:.0f}k"
    return f"{n / 1e6:.3g}M"


def labelled(positions: list[int], every: int, peak: int | None) -> list[int]:
    """Positions whose bar gets its count: every `every`-th and the peak; a regular one next to the peak
    is left out (the two labels would overlap)."""
    out = [i for i in positions if i % every == 0 and (peak is None or abs(i - peak) > 1)]
    return sorted({*out, *([peak] if peak is not None else [])})


class HourChart(PlotextPlot):
    """Share of requests per hour of day in each account's local time (its declared country), the group
    as bars, the whole population as a line of crosses; the y axis starts at zero."""

    def show(self, group: pl.DataFrame, population: pl.DataFrame | None, who: str = "members") -> None:
        plt = self.plt
        plt.clear_figure()
        hours = list(range(24))
        g = [v * 100 for v in group["share"].to_list()]
        counts = group["n"].to_list()
        total = int(sum(counts))
        plt.bar(hours, g, label=f"{who} (bars)", marker=GROUP_MARKER, width=0.6)
        top = _top(g)
        if population is not None:
            p = [v * 100 for v in population["share"].to_list()]
            plt.plot(hours, p, label="population (x)", marker=POPULATION_MARKER)
            top = max(top, _top(p))
        # Counts on the bars: on every third hour, and on the peak.
        peak = max(range(24), key=lambda h: (counts[h], -h)) if total else None
        for h in labelled(hours, 3, peak):
            if counts[h]:
                plt.text(short_count(counts[h]), h, g[h] + top * 0.04, alignment="center")
        plt.ylim(0, top)
        wait = "" if population is not None else " · population: still counting"
        plt.title(f"requests by local hour of day, % ({total:,} requests){wait}")
        plt.xticks([0, 3, 6, 9, 12, 15, 18, 21, 23])
        self.refresh()


class DailyChart(PlotextPlot):
    """A count per day as bars from zero, dates on the x axis (a few ticks), counts on the bars."""

    def show(self, df: pl.DataFrame, title: str) -> None:
        plt = self.plt
        plt.clear_figure()
        total = int(df["n"].sum()) if not df.is_empty() else 0
        plt.title(f"{title} ({total:,} in all)")
        if df.is_empty():
            self.refresh()
            return
        days = df["day"].to_list()
        n = df["n"].to_list()
        x = list(range(len(days)))
        plt.bar(x, n, marker=GROUP_MARKER, width=0.8)
        top = _top([float(v) for v in n])
        every = max(1, len(days) // 12)
        peak = max(x, key=lambda i: (n[i], -i))
        for i in labelled(x, every, peak):
            plt.text(short_count(n[i]), i, n[i] + top * 0.04, alignment="center")
        plt.ylim(0, top)
        step = max(1, len(days) // 4)
        ticks = x[::step]
        plt.xticks(ticks, [days[i].strftime("%m-%d") for i in ticks])
        self.refresh()
