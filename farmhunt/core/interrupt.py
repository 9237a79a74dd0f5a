"""SIGINT and SIGTERM as one clean exception, raised in the main thread between Python steps.

`install()` (the CLI calls it) routes both signals to `Interrupted`, a `BaseException`, so
`except Exception` handlers never swallow it and every `finally` and context manager on the way out
runs: temporary outputs are removed, writer threads are joined before their files are closed.
A second signal while cleaning up is ignored, so the cleanup itself is never cut short.
Worker threads cannot receive signals; long loops in them call `check()` between batches.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_requested = threading.Event()
_signum: list[int] = []
_deferring: list[bool] = []


class Interrupted(BaseException):
    """The user (SIGINT, Ctrl-C) or the system (SIGTERM) asked farmhunt to stop."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM (the shell's convention)."""
        return 128 + self.signum


def _handler(signum: int, frame: FrameType | None) -> None:
    if _requested.is_set():
        return  # already stopping: let the cleanup finish
    _requested.set()
    _signum.append(signum)
    if _deferring:
        return  # inside `deferred()`: raised when the block ends
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal that arrives inside the block until the block is done (for a commit of renames)."""
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
    if not _deferring:
        check()


def install() -> object:
    """Route SIGINT and SIGTERM to `Interrupted` (main thread only); returns the handlers to `restore`."""
    if threading.current_thread() is not threading.main_thread():
        return None
    _requested.clear()
    _signum.clear()
    previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return previous


def restore(previous: object) -> None:
    """Put back the handlers `install` replaced (in-process callers such as the tests keep theirs)."""
    if previous is None or threading.current_thread() is not threading.main_thread():
        return
    sigint, sigterm = previous  # type: ignore[misc]
    signal.signal(signal.SIGINT, sigint)
    signal.signal(signal.SIGTERM, sigterm)


def ignore() -> None:
    """Ignore SIGINT and SIGTERM from now on (the process is exiting after its command finished)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def requested() -> bool:
    """True once a signal arrived: worker threads stop at their next batch."""
    return _requested.is_set()


def check() -> None:
    """Raise `Interrupted` if a signal arrived (for loops in worker threads)."""
    if _requested.is_set():
        raise Interrupted(_signum[0] if _signum else signal.SIGINT)
