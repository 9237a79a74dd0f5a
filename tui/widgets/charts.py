"""Charts an investigator reads at a glance (textual-plotext): hour of day against the population,
daily volume, signup timeline."""

from __future__ import annotations

import polars as pl
from textual_plotext import PlotextPlot


class HourChart(PlotextPlot):
    """Share of requests per hour of day (UTC): the cluster against the whole population."""

    def show(self, cluster: pl.DataFrame, population: pl.DataFrame | None) -> None:
        plt = self.plt
        plt.clear_figure()
        hours = list(range(24))
        plt.plot(hours, [v * 100 for v in cluster["share"].to_list()], label="cluster", marker="braille")
        if population is not None:
            plt.plot(hours, [v * 100 for v in population["share"].to_list()], label="population", marker="braille")
        plt.title("requests by hour of day (UTC), %")
        plt.xticks([0, 6, 12, 18, 23])
        self.refresh()


class DailyChart(PlotextPlot):
    """A count per day as bars, dates on the x axis (a few ticks)."""

    def show(self, df: pl.DataFrame, title: str) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        if df.is_empty():
            self.refresh()
            return
        days = df["day"].to_list()
        x = list(range(len(days)))
        plt.bar(x, df["n"].to_list(), marker="sd", width=0.8)
        step = max(1, len(days) // 4)
        ticks = x[::step]
        plt.xticks(ticks, [days[i].strftime("%m-%d") for i in ticks])
        self.refresh()
