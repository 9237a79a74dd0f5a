"""Screens first: the background load (world tables, the request index) runs in small steps and waits
between them while a screen is waiting on a question.

Polars runs every query on one shared thread pool, so a background step that is running delays a
screen's query until its work drains. The background load therefore works in steps of a fraction of a
second, and before each one waits until no screen question has been open for `GRACE` seconds (a screen
asks several in a row: its first tab, then the others). It waits at most `MAX_WAIT` seconds at a time,
so a screen that itself waits on the background load cannot stall it. A keypress that opens or leaves a
screen `hold()`s the load for up to `HOLD` seconds before its first question is asked: between the
keypress and that question the new screen is composed and mounted, and its first table's queries
(some run on the UI thread) would otherwise wait behind a step the load took meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: Seconds without any screen question before the background load takes its next step.
GRACE = 0.15
#: The background load never waits longer than this before its next step.
MAX_WAIT = 2.0
#: Seconds a navigation holds the background load before the new screen's first question.
HOLD = 0.5


class Priority:
    """Counts the questions screens are waiting on; `pause()` holds the background load while any is."""

    def __init__(self) -> None:
        self._open = 0
        self._last = 0.0
        self._hold_until = 0.0
        self._cond = threading.Condition()
        #: Seconds the background load spent waiting for screens (reported by the bench).
        self.waited = 0.0

    @contextmanager
    def foreground(self) -> Iterator[None]:
        """Mark a question a screen waits on (the background load pauses between steps meanwhile)."""
        with self._cond:
            self._open += 1
            self._hold_until = 0.0  # (what a hold waited for has been asked)
        try:
            yield
        finally:
            with self._cond:
                self._open -= 1
                self._last = time.monotonic()
                self._cond.notify_all()

    def hold(self, seconds: float = HOLD) -> None:
        """A screen is about to ask: the background load takes no step for `seconds` (or until the
        questions asked meanwhile are answered and GRACE has passed)."""
        with self._cond:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` as a foreground question."""
        with self.foreground():
            return fn()

    def busy(self) -> bool:
        with self._cond:
            now = time.monotonic()
            return self._open > 0 or now - self._last < GRACE or now < self._hold_until

    def pause(self) -> None:
        """Wait (at most MAX_WAIT s) until no screen question has been open for GRACE s. Called by the
        background load before each step."""
        t0 = time.monotonic()
        with self._cond:
            while time.monotonic() - t0 < MAX_WAIT:
                if self._open == 0:
                    now = time.monotonic()
                    wait = max(GRACE - (now - self._last), self._hold_until - now)
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                else:
                    self._cond.wait(max(0.0, MAX_WAIT - (time.monotonic() - t0)))
        self.waited += time.monotonic() - t0
