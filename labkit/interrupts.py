"""Interrupting a run (Jupyter's stop button, Ctrl-C) where the simulation can stop cleanly.

While a run steps the simulation, SIGINT does not raise ``KeyboardInterrupt`` at an arbitrary
bytecode (halfway through a simpy step, it could leave an event with only some of its callbacks
run). Instead it sets a flag that the stepping loop checks between events (``check``); if the
interrupt arrives while handler code runs, that code is also stopped at once with
``RunInterrupted``, so a long handler does not delay the stop. A second interrupt before the
first is handled raises ``KeyboardInterrupt`` immediately, as a last resort.

The backend then aborts the run (``labkit.backends.simulator``): its callers stop, the
invocations in flight end with a recorded state, its events settle, and the Lab is usable again.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .bridge import Killed, current

_requested = False


class RunInterrupted(Killed):
    """Raised inside handler code that is running when the learner interrupts the run."""


@contextmanager
def deferred() -> Iterator[None]:
    """Defer SIGINT to ``check()`` while the block runs (only where signals can be set: the main thread)."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        global _requested
        if _requested:                       # asked twice: stop now, wherever that is
            raise KeyboardInterrupt
        _requested = True
        if current() is not None:            # handler code runs: stop it at once
            raise RunInterrupted()

    _requested = False
    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested = False                   # the run ended before it looked: nothing to stop


def requested() -> bool:
    """True once an interrupt has arrived and the run has not yet stopped for it."""
    return _requested


def check() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt arrived (call between simulation steps)."""
    global _requested
    if _requested:
        _requested = False
        raise KeyboardInterrupt
