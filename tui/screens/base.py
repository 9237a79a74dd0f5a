"""Shared pieces of the drill-down screens: loading in workers, failing with a notification, focusing a tab."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from polars.exceptions import PanicException
from textual.screen import Screen
from textual.widget import Widget

from tui.safe import printable

#: Seconds before a loading indicator appears (quick answers do not flash one).
LOADING_DELAY = 0.12
#: Seconds between looks at whether the background load has counted the population's hours.
POLL = 0.25


def _once_more(fn: Callable[[], Any]) -> Any:
    """`fn()`, asked once more if polars panics (an internal assertion seen once at seed scale that did
    not recur on the same question)."""
    try:
        return fn()
    except PanicException:
        return fn()


class CaseScreen(Screen):
    """A screen whose content loads in background workers while a loading indicator shows."""

    async def load(
        self, widgets: list[Widget], fn: Callable[[], Any], done: Callable[[Any], None], focus: bool = False
    ) -> None:
        """Run `fn` in a thread with `widgets` showing a loading indicator, then `done(result)` on the UI.

        A loading widget cannot hold focus; with `focus` the first widget takes it back afterwards
        unless the user has moved on to another widget meanwhile."""
        # A foreground question: the background load waits between its steps while it is open.
        task = asyncio.ensure_future(asyncio.to_thread(self.app.data.foreground, lambda: _once_more(fn)))
        shown = False
        try:
            try:
                # Most answers come back at once: show the loading indicator only for slow ones.
                result = await asyncio.wait_for(asyncio.shield(task), LOADING_DELAY)
            except TimeoutError:
                shown = True
                for w in widgets:
                    w.loading = True
                result = await task
        except (Exception, PanicException) as exc:  # bad world file, unreadable column...: tell, do not crash
            msg = printable(f"{type(exc).__name__}: {exc}".splitlines()[0], limit=300)
            self.app.notify(msg, title="cannot load", severity="error", timeout=10, markup=False)
            result = None
        finally:
            if shown:
                for w in widgets:
                    w.loading = False
        if result is not None and self.is_attached:
            done(result)
            if focus and (self.focused is None or type(self.focused).__name__ in ("Tabs", "ContentTabs")):
                widgets[0].focus()

    async def population_hours(self) -> Any:
        """The population's hours (`CaseData.population_hours`) once the background load has counted them,
        polled without holding a thread: every screen opened during the load waits for them, and a
        waiting thread each would exhaust the worker threads that screens' questions run on (a pivot
        waited 19 s for one). Without a background load running, they are computed in a thread."""
        data = self.app.data
        while self.is_attached:
            pop = data.population_hours(wait=False)
            if pop is not None:
                return pop
            if not self.app.warming():
                return await asyncio.to_thread(data.population_hours)
            await asyncio.sleep(POLL)
        return None

    def focus_tab(self, tab: str) -> None:
        """Focus the first focusable widget of tab pane `tab` (a table, or a scrollable chart area), so that
        the arrow keys and page up/down scroll it."""
        pane = self.query_one(f"#{tab}")
        for w in pane.query("*"):
            if w.focusable:
                w.focus()
                return
