"""Running the simulation loop, with a progress bar for long runs in JupyterLab.

``run_until(env, done, t0, horizon_s)`` processes exactly the events that
``env.run(until=done)`` would, in the same order, and stops at the same instant:
when ``done`` is processed (or when nothing is left to happen). It inserts no
events of its own; the bar only reads the clock between events. So a run's
records, its end time (``lab.now``) and everything after it are the same with and
without a bar: a progress bar never changes a result.

When a bar is shown: once a run has taken ``SHOW_AFTER_S`` of wall time, only
inside a Jupyter kernel, and never when ``CI`` or ``LABKIT_NO_PROGRESS`` is set
(``make test`` sets it for nbval). ``LABKIT_PROGRESS=always`` shows one for every
run from its start (the tests use it to prove the point above).

The bar is displayed as a widget view alone, without a ``text/plain`` fallback,
so a saved notebook holds no "IntProgress(...)" text and nbval, which ignores
widget views, compares the same outputs with and without bars.
"""

from __future__ import annotations

import os
import time
from typing import Any

import ipywidgets
import simpy
from IPython import get_ipython
from IPython.display import display
from simpy.core import EmptySchedule, StopSimulation

from . import logcapture
from .interrupts import check as check_interrupt

SHOW_AFTER_S = 2.0
_EVENTS_PER_CHECK = 2048   # how many events run between two looks at the wall clock


def mode() -> str:
    """``"off"``, ``"auto"`` (a bar for runs slower than SHOW_AFTER_S) or ``"always"``."""
    if os.environ.get("CI") or os.environ.get("LABKIT_NO_PROGRESS"):
        return "off"
    if os.environ.get("LABKIT_PROGRESS", "").lower() == "always":
        return "always"
    if os.environ.get("LABKIT_PROGRESS", "").lower() in ("0", "off", "no", "false"):
        return "off"
    return "auto" if _in_kernel() else "off"


def _in_kernel() -> bool:
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _wanted() -> bool:
    return mode() != "off"


def run_until(env: simpy.Environment, done: simpy.Event, t0: float, horizon_s: float) -> None:
    """Run ``env`` until ``done`` is processed, or until no event is left."""
    if done.callbacks is None:        # processed already
        return
    # No bar without a horizon to measure progress against.
    show: str | None = mode() if horizon_s > 0 else "off"   # None: no bar, now or later
    if show == "off":
        show = None
    wall0 = time.perf_counter()
    bar = _make_bar() if show == "always" else None
    if show == "always" and bar is None:
        show = None
    step = env.step
    stop = StopSimulation.callback
    done.callbacks.append(stop)
    # Handler code's writes to stdout/stderr go to its invocation's log while the run steps.
    restore_output = logcapture.capture_output()
    try:
        while True:
            for _ in range(_EVENTS_PER_CHECK):
                step()
            check_interrupt()               # a stop button pressed meanwhile (labkit.interrupts)
            if show is None:
                continue
            if bar is None and time.perf_counter() - wall0 > SHOW_AFTER_S:
                bar = _make_bar()
                if bar is None:
                    show = None
                    continue
            if bar is not None:
                bar.value = _percent(env.now, t0, horizon_s)
    except StopSimulation:
        pass
    except EmptySchedule:
        pass
    finally:
        restore_output()
        if done.callbacks is not None and stop in done.callbacks:
            done.callbacks.remove(stop)
        if bar is not None:
            bar.value = 100
            bar.close()


def _percent(now: float, t0: float, horizon_s: float) -> int:
    return max(0, min(100, int(100 * (now - t0) / horizon_s)))


def _make_bar() -> Any:
    bar = ipywidgets.IntProgress(min=0, max=100, description="simulating")
    # The view alone: no text/plain fallback to be saved in the notebook (see the docstring).
    bundle = bar._repr_mimebundle_()
    view = {k: v for k, v in bundle.items() if k == "application/vnd.jupyter.widget-view+json"}
    if not view:
        bar.close()
        return None
    display(view, raw=True)
    return bar
