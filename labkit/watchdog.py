"""A real-time limit on handler code that never waits.

Handler code runs in greenlets, which cannot be pre-empted: ``while True: pass`` in a
handler would never hand control back to the simulation, and the learner's kernel
would hang. The simulator therefore *arms* this watchdog each time it switches into
handler code, with the real time the code may run before it must wait (what is left
of its timeout), and disarms it when the code gives control back.

A daemon thread looks at the armed segment every ``POLL_S`` seconds. When the code
has run past its allowance it raises ``CpuLimit`` (a ``BaseException``, so ordinary
``except Exception`` blocks do not swallow it) inside the simulating thread, with
``PyThreadState_SetAsyncExc``, and repeats every ``POLL_S`` while the code keeps
running; code that catches it (a bare ``except:`` in a loop) is traced from then on
and stopped at its next line (see ``CpuLimit``). No handler holds the kernel much
longer than its timeout.

Disarming takes the same lock as firing and clears an exception that was fired but not
yet delivered; one delivered just after the code gave control back reaches the
simulator, which treats it as the same stop (see ``labkit.runtime``).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

from .bridge import Killed, current

POLL_S = 0.02            # how often the watchdog looks; also the margin past the allowance


class CpuLimit(Killed):
    """Raised inside handler code that ran past its real-time allowance without waiting.

    Made in the thread it is raised in, it also traces the code it stops: from then on every
    line of handler code raises it again, so code that catches it (``except BaseException:``
    in a loop) cannot carry on; the first line of its ``except`` clause raises it out. The
    stopped greenlet ends the trace before it finishes (``stop_tracing``)."""

    def __init__(self, *args):
        super().__init__(*args)
        if current() is not None:         # raised in handler code, not in the simulator's own loop
            _trace_handler_code(sys._getframe(1))


_LABKIT_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_labkit(frame) -> bool:
    return frame.f_code.co_filename.startswith(_LABKIT_DIR)


def _tracer(frame, event, arg):
    if current() is None or _is_labkit(frame):   # the simulator's own code is never stopped
        return None
    if event == "line":
        raise CpuLimit()
    return _tracer


def _trace_handler_code(frame) -> None:
    if sys.gettrace() is _tracer:
        return
    sys.settrace(_tracer)                 # frames called from now on
    while frame is not None and not _is_labkit(frame):   # and the handler's frames running now
        frame.f_trace = _tracer
        frame = frame.f_back


def stop_tracing() -> None:
    """End the trace ``CpuLimit`` started, in the greenlet that started it, once the stop has
    unwound the handler's frames (greenlets keep tracing state per greenlet only in part, so
    the trace must not outlive the greenlet that set it)."""
    if sys.gettrace() is _tracer:
        sys.settrace(None)


# PyThreadState_SetAsyncExc(thread id, exception class), and the same call with NULL, which
# cancels an exception set but not yet raised.
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


class Watchdog:
    """Arm before running handler code, disarm after; one per process.

    The hot path takes no lock and reads no clock: ``arm`` publishes the segment and its
    allowance, ``disarm`` withdraws it. The watchdog thread times a segment from when it
    first sees it (so the stop comes up to ``POLL_S`` late) and announces a check
    (``_checking``) before it reads whether the segment is still armed; ``disarm`` takes
    the lock only when it finds such an announcement for its own segment, and then
    cancels a stop that was fired but not yet delivered. A stop is therefore never left
    pending once ``disarm`` has returned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._segment = 0           # increases with every arm
        self._armed: tuple[int, int, float] | None = None   # (segment, thread id, allowance in s)
        self._checking = 0          # the segment the watchdog thread is deciding about
        self._fired = 0             # the last segment it fired at
        self._thread: threading.Thread | None = None

    def arm(self, allowance_s: float) -> int:
        """Allow the calling thread ``allowance_s`` seconds of real time; returns a token for ``disarm``."""
        if self._thread is None:
            self._start()
        self._segment = seg = self._segment + 1
        self._armed = (seg, threading.get_ident(), allowance_s)
        return seg

    def disarm(self, token: int) -> bool:
        """End the segment; True if the watchdog fired during it (a stop not yet delivered is cancelled)."""
        self._armed = None
        if self._checking != token:
            return False
        with self._lock:
            fired = self._fired == token
            if fired:
                _clear_async_exc(threading.get_ident(), None)
        return fired

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="labkit-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        seen, seen_at = 0, 0.0
        while True:
            time.sleep(POLL_S)
            armed = self._armed
            if armed is None:
                continue
            now = time.perf_counter()
            if armed[0] != seen:
                seen, seen_at = armed[0], now
                continue
            if now - seen_at < armed[2]:
                continue
            with self._lock:
                self._checking = armed[0]
                if self._armed is armed:          # still the same segment, still running
                    self._fired = armed[0]
                    _set_async_exc(armed[1], CpuLimit)


WATCHDOG = Watchdog()
