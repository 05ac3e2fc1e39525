"""Concurrency inside one invocation: threads that share the environment's vCPUs.

Handler code uses the standard library as it would on AWS::

    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(delete_item, keys))

Inside a simulated invocation, ``concurrent.futures`` is replaced by this module's
version: each worker thread is a greenlet driven by the same simpy loop, so

* **I/O-bound tasks overlap**: while one worker waits (``time.sleep``, a call to a
  simulated service), the others run;
* **CPU-bound tasks share the vCPUs** (``lk.cpu``): the environment has
  ``min(vCPUs, memory / 1,769 MB)`` vCPU-seconds of work per second, shared equally
  by the threads doing CPU work at that moment (processor sharing), and one thread
  never gets more than one vCPU. Below 1,769 MB more threads therefore do not make
  CPU work faster.

``threading`` (threads, locks, events, conditions, semaphores, barriers) and ``queue``
in handler code are simulated the same way (``labkit.sim_threading``), and ``asyncio``
runs on the simulation's clock (``labkit.sim_asyncio``).

Workers still running when the handler returns are stopped (on AWS they would be
frozen with the environment); the invocation's timeout stops them too.
Outside a simulation (a notebook), ``ThreadPoolExecutor`` is the real one.
"""

import collections
import concurrent.futures as _real
import types

from . import bridge
from .sim_asyncio import ASYNCIO
from .sim_threading import QUEUE, THREADING, CpuScheduler, ensure_scheduler

__all__ = ["CpuScheduler", "ThreadPoolExecutor", "Future", "as_completed", "wait", "module_overrides"]
_ensure_scheduler = ensure_scheduler


class Future:
    """``concurrent.futures.Future`` backed by a simpy event."""

    def __init__(self, env):
        self._event = env.event()
        self._callbacks = []

    def done(self):
        return self._event.triggered

    def running(self):
        return not self._event.triggered

    def cancel(self):
        return False

    def cancelled(self):
        return False

    def result(self, timeout=None):
        if not self._event.triggered:
            _wait_any([self], timeout)
            if not self._event.triggered:
                raise _real.TimeoutError()
        if self._event.ok:
            return self._event.value
        raise self._event.value

    def exception(self, timeout=None):
        try:
            self.result(timeout)
        except _real.TimeoutError:
            raise
        except Exception as e:
            return e
        return None

    def add_done_callback(self, fn):
        if self._event.triggered:
            fn(self)
        else:
            self._callbacks.append(fn)

    def _finish(self, ok, value):
        if ok:
            self._event.succeed(value)
        else:
            self._event.fail(value)
            self._event.defused = True   # an unobserved task error must not stop the simulation
        for fn in self._callbacks:
            fn(self)


def _wait_any(futures, timeout=None):
    """Block the calling thread until one of ``futures`` is done (or ``timeout`` passes)."""
    act = bridge.current()
    pending = [f._event for f in futures if not f._event.triggered]
    if not pending:
        return
    events = pending + ([act.env.timeout(timeout)] if timeout is not None else [])
    try:
        bridge.wait(act.env.any_of(events))
    except Exception:
        pass   # a task failed: its future holds the error


class ThreadPoolExecutor:
    """A thread pool whose workers run in simulated time (see the module docstring)."""

    def __new__(cls, max_workers=None, *args, **kwargs):
        if bridge.current() is None:
            return _real.ThreadPoolExecutor(max_workers, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None, initargs=()):
        act = bridge.current()
        if max_workers is None:
            max_workers = min(32, act.vcpus + 4)   # Python's default, with Lambda's visible vCPUs
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._act = act
        self._max = max_workers
        self._queue = collections.deque()
        self._workers = 0
        self._futures = []
        self._shutdown = False
        self._initializer, self._initargs = initializer, initargs
        _ensure_scheduler(act)

    def submit(self, fn, /, *args, **kwargs):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        fut = Future(self._act.env)
        self._queue.append((fn, args, kwargs, fut))
        self._futures.append(fut)
        if self._workers < self._max:
            self._workers += 1
            self._act.spawn(self._worker)
        return fut

    def _worker(self):
        if self._initializer is not None:
            self._initializer(*self._initargs)
        while self._queue:
            fn, args, kwargs, fut = self._queue.popleft()
            try:
                result = fn(*args, **kwargs)
            except Exception as e:
                fut._finish(False, e)
            else:
                fut._finish(True, result)
        self._workers -= 1

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        # zip stops at the shortest iterable, as Executor.map does
        futures = [self.submit(fn, *args) for args in zip(*iterables, strict=False)]

        def results():
            for f in futures:
                yield f.result(timeout)
        return results()

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True
        if cancel_futures:
            self._queue.clear()
        if wait:
            for f in self._futures:
                while not f.done():
                    _wait_any([f])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown(wait=True)
        return False


def as_completed(fs, timeout=None):
    fs = list(fs)
    act = bridge.current()
    if act is None:
        yield from _real.as_completed(fs, timeout)
        return
    end = None if timeout is None else act.env.now + timeout
    pending = list(fs)
    while pending:
        done = [f for f in pending if f.done()]
        for f in done:
            pending.remove(f)
            yield f
        if pending:
            left = None if end is None else end - act.env.now
            if left is not None and left <= 0:
                raise _real.TimeoutError(f"{len(pending)} (of {len(fs)}) futures unfinished")
            _wait_any(pending, left)


def wait(fs, timeout=None, return_when=_real.ALL_COMPLETED):
    fs = list(fs)
    act = bridge.current()
    if act is None:
        return _real.wait(fs, timeout, return_when)
    end = None if timeout is None else act.env.now + timeout
    while True:
        done = {f for f in fs if f.done()}
        failed = any(f._event.triggered and not f._event.ok for f in done)
        if (len(done) == len(fs) or (return_when == _real.FIRST_COMPLETED and done)
                or (return_when == _real.FIRST_EXCEPTION and failed)):
            break
        left = None if end is None else end - act.env.now
        if left is not None and left <= 0:
            break
        _wait_any([f for f in fs if not f.done()], left)
    return _real._base.DoneAndNotDoneFutures(done, set(fs) - done)


def module_overrides():
    """The modules handler code gets for ``import concurrent.futures``."""
    futures = types.ModuleType("concurrent.futures", __doc__)
    futures.__dict__.update({k: v for k, v in vars(_real).items() if not k.startswith("__")})
    futures.ThreadPoolExecutor = ThreadPoolExecutor
    futures.Future = Future
    futures.as_completed = as_completed
    futures.wait = wait
    package = types.ModuleType("concurrent")
    package.futures = futures
    # threading and queue in simulated time too (labkit.sim_threading), so that locks, events and
    # queues shared by simulated threads wait in simulated time instead of blocking the kernel.
    # asyncio on the simulation's clock (labkit.sim_asyncio).
    return {"concurrent": package, "concurrent.futures": futures, "threading": THREADING, "queue": QUEUE,
            "asyncio": ASYNCIO}
