"""The key bar: Textual's Footer, recomposed only when the keys it shows change.

Textual's Footer rebuilds all its keys on every bindings update (each focus change: a screen that loads
its tabs moves focus several times), about a third of the CPU of opening a screen. The keys shown
depend only on the active bindings, so an update that leaves them unchanged is skipped."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """A Footer that skips recomposing when the shown bindings (key, description, enabled) are unchanged."""

    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)
            return
        shown = tuple(
            (b.key, b.description, enabled) for (_, b, enabled, _) in screen.active_bindings.values() if b.show
        )
        if self._bindings_ready and shown == self._shown:
            return
        self._shown = shown
        super().bindings_changed(screen)
