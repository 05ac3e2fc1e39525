"""Simulated time inside handler code.

Each init and each invocation runs in its own greenlet. When handler code waits
(``sleep``, ``cpu`` or a call to a simulated service), the greenlet switches back
to the simpy event loop with a *wait request*; the loop lets simulated time pass,
other execution environments run in the meantime, and then switches back into
the handler with the result. Invocations therefore truly interleave and can
truly race, while Python's own wall-clock time never counts as simulated time.

Outside a simulation (for instance the same handler deployed to AWS), ``sleep``
is ``time.sleep`` and ``cpu`` busy-waits, so handler code needs no changes.
"""

from __future__ import annotations

import time as _time
from typing import Any

from greenlet import getcurrent as _getcurrent
from greenlet import greenlet

from .errors import SimulationError

# Wait requests sent from a handler greenlet to the simpy loop.
SLEEP = 0   # payload: seconds
EVENT = 1   # payload: a simpy event; the switch back delivers its value or raises its exception


class Killed(BaseException):
    """Raised inside handler code when Lambda stops it (timeout); not an Exception, so
    ordinary ``except Exception`` blocks in handler code do not swallow it."""


class ActivationGreenlet(greenlet):
    """The greenlet that runs one activation's code (an init, an invocation, a worker thread);
    ``activation`` is the Activation it runs, while it runs."""

    __slots__ = ("activation",)


def current() -> Any:
    """The running activation, or None outside simulated handler code (the kernel's own greenlet)."""
    return getattr(_getcurrent(), "activation", None)


def refuse_inside_handler(what: str) -> None:
    """Driving a Lab from handler code would nest simulations: refuse it with a clear message."""
    if current() is not None:
        raise SimulationError(
            f"{what} was called from inside a simulated execution environment. Keep the handler in a "
            "notebook cell of its own (like a handler.py file), without the code that drives the Lab.")


def sleep(seconds):
    """Spend ``seconds`` of simulated time (real time outside a simulation)."""
    if seconds != seconds:   # NaN: refused as time.sleep refuses it (it would otherwise take no time)
        raise ValueError("Invalid value NaN (not a number)")
    if seconds < 0:
        raise ValueError(f"sleep length must be non-negative, got {seconds!r}")
    act = current()
    if act is None:
        _time.sleep(seconds)
        return
    act.yield_to_loop(SLEEP, float(seconds))


def cpu(vcpu_seconds):
    """Do CPU-bound work that takes ``vcpu_seconds`` on one full vCPU.

    In a simulation one thread runs at ``min(1, memory / 1769 MB)`` of a vCPU, so at
    128 MB one vCPU-second takes about 13.8 s and above 1,769 MB it takes 1 s. Threads
    of one invocation share its vCPUs (see ``labkit.concurrency``).
    Outside a simulation it busy-waits for ``vcpu_seconds`` of real time.
    """
    if vcpu_seconds != vcpu_seconds or vcpu_seconds < 0:   # NaN would otherwise take no time
        raise ValueError(f"cpu work must be non-negative, got {vcpu_seconds!r}")
    act = current()
    if act is None:
        end = _time.perf_counter() + vcpu_seconds
        while _time.perf_counter() < end:
            pass
        return
    if act.cpu is not None:   # the invocation runs threads: they share its vCPUs
        act.yield_to_loop(EVENT, act.cpu.request(vcpu_seconds))
    else:
        act.yield_to_loop(SLEEP, vcpu_seconds / act.speed)


def wait(event):
    """Wait for a simpy event from handler code; return its value (or raise its error)."""
    act = current()
    if act is None:
        raise RuntimeError("labkit.bridge.wait() needs simulated handler code (a Lab invocation)")
    return act.yield_to_loop(EVENT, event)


def now():
    """Simulated seconds since the Lab started, or None outside simulated code."""
    act = current()
    return None if act is None else act.env.now
