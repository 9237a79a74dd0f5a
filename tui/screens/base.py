"""Shared pieces of the drill-down screens: loading in workers and failing with a notification."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.screen import Screen
from textual.widget import Widget

#: Seconds before a loading indicator appears (quick answers do not flash one).
LOADING_DELAY = 0.12


class CaseScreen(Screen):
    """A screen whose content loads in background workers while a loading indicator shows."""

    async def load(
        self, widgets: list[Widget], fn: Callable[[], Any], done: Callable[[Any], None], focus: bool = False
    ) -> None:
        """Run `fn` in a thread with `widgets` showing a loading indicator, then `done(result)` on the UI.

        A loading widget cannot hold focus; with `focus` the first widget takes it back afterwards
        unless the user has moved on to another widget meanwhile."""
        task = asyncio.ensure_future(asyncio.to_thread(fn))
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
        except Exception as exc:  # bad world file, unreadable column...: tell, do not crash
            self.app.notify(
                f"{type(exc).__name__}: {exc}".splitlines()[0][:300], title="cannot load", severity="error", timeout=10
            )
            result = None
        finally:
            if shown:
                for w in widgets:
                    w.loading = False
        if result is not None and self.is_attached:
            done(result)
            if focus and (self.focused is None or type(self.focused).__name__ in ("Tabs", "ContentTabs")):
                widgets[0].focus()
