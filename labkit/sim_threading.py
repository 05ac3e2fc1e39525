"""``threading`` and ``queue`` for simulated handler code: threads and their locks in simulated time.

Inside a simulated invocation every thread is a greenlet driven by the simpy loop (see
``labkit.concurrency``), so a real ``threading.Lock`` held by one of them would block the
whole kernel when another waits for it. Handler code's ``import threading`` and ``import
queue`` therefore give these versions (``concurrency.module_overrides``):

* ``Thread(target=...).start()`` runs the target in a simulated worker thread of the
  invocation, sharing its vCPUs, like a ``ThreadPoolExecutor`` worker; ``join()`` waits in
  simulated time; subclasses overriding ``run()`` work; an exception in a thread is written
  to the log as ``threading.excepthook`` would. Threads still running when the handler
  returns are stopped (on AWS they would be frozen with the environment), and the
  invocation's timeout stops them too.
* ``Lock``, ``RLock``, ``Condition``, ``Semaphore``, ``BoundedSemaphore``, ``Event`` and
  ``Barrier``: a thread that must wait hands control back to the simulation until another
  releases, sets or notifies (timeouts are simulated seconds). A deadlock is what it is on
  Lambda: the invocation waits until its timeout (``Sandbox.Timedout``); the kernel never hangs.
* ``queue.Queue``, ``LifoQueue``, ``PriorityQueue`` and ``SimpleQueue`` are the standard
  library's own code running on these primitives and the simulated clock; ``queue.Empty``
  and ``queue.Full`` are the standard ones.
* ``current_thread()``, ``get_ident()``, ``local()``, ``enumerate()``, ``active_count()``,
  ``main_thread()`` answer for the simulated threads.

Outside simulated code these classes still work for code that never has to wait (a lock
acquired and released); waiting there raises a clear ``RuntimeError`` instead of hanging.
"""

from __future__ import annotations

import builtins
import collections
import inspect
import itertools
import queue as _real_queue
import sys
import threading as _real
import traceback
import types
import weakref
from typing import Any

from greenlet import getcurrent

from . import bridge, logcapture
from .sandbox import SIM_TIME

_ids = itertools.count(1)


def _act() -> Any:
    return bridge.current()


def _wait(event: Any, timeout: float | None) -> bool:
    """Wait in simulated time for ``event`` (a simpy event), at most ``timeout`` seconds; True if it fired."""
    act = _act()
    if act is None:
        raise RuntimeError("labkit: this threading/queue object would have to wait outside simulated handler "
                           "code, where nothing else can release it (it would hang the kernel)")
    if timeout is not None and timeout <= 0:
        return bool(event.triggered)
    if timeout is None:
        bridge.wait(event)
        return True
    bridge.wait(act.env.any_of([event, act.env.timeout(timeout)]))
    return bool(event.triggered)


def _new_event() -> Any:
    act = _act()
    if act is None:
        raise RuntimeError("labkit: waiting on a threading object needs simulated handler code")
    return act.env.event()


def _me() -> Any:
    """Who the calling thread is: its activation (the greenlet outside a simulation)."""
    act = _act()
    return act if act is not None else getcurrent()


def _timeout_arg(blocking: bool, timeout: float) -> float | None:
    if not blocking:
        if timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0.0
    if timeout < 0 and timeout != -1:
        raise ValueError("timeout value must be a non-negative number")
    return None if timeout == -1 else float(timeout)


class Lock:
    """``threading.Lock`` in simulated time: waiters are served in arrival order."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: collections.deque = collections.deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._locked:
            self._locked = True
            return True
        limit = _timeout_arg(blocking, timeout)
        if limit == 0:
            return False
        ev = _new_event()
        self._waiters.append(ev)
        try:
            got = _wait(ev, limit)
        except BaseException:
            self._abandon(ev)
            raise
        if not got:
            self._abandon(ev)
        return got

    def _abandon(self, ev: Any) -> None:
        if ev.triggered:          # handed the lock just as the wait ended: pass it on
            self._release()
        else:
            self._waiters.remove(ev)

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("release unlocked lock")
        self._release()

    def _release(self) -> None:
        if self._waiters:         # hand the lock over directly: it stays locked
            self._waiters.popleft().succeed()
        else:
            self._locked = False

    def locked(self) -> bool:
        return self._locked

    __enter__ = acquire

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<labkit simulated {'locked' if self._locked else 'unlocked'} Lock>"


class RLock:
    """``threading.RLock``: re-entrant for the thread that holds it."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._owner: Any = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = _me()
        if self._owner is me:
            self._count += 1
            return True
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner, self._count = me, 1
        return True

    __enter__ = acquire

    def release(self) -> None:
        if self._owner is not _me():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._lock.release()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _is_owned(self) -> bool:
        return self._owner is _me()

    def _release_save(self) -> tuple:
        state = (self._owner, self._count)
        self._owner, self._count = None, 0
        self._lock.release()
        return state

    def _acquire_restore(self, state: tuple) -> None:
        self._lock.acquire()
        self._owner, self._count = state


class Condition:
    """``threading.Condition`` over a simulated lock."""

    def __init__(self, lock: Any = None) -> None:
        self._lock = RLock() if lock is None else lock
        self._waiters: collections.deque = collections.deque()
        self.acquire, self.release = self._lock.acquire, self._lock.release

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__(*exc)

    def _release_save(self) -> Any:
        if hasattr(self._lock, "_release_save"):
            return self._lock._release_save()
        self._lock.release()
        return None

    def _acquire_restore(self, state: Any) -> None:
        if hasattr(self._lock, "_acquire_restore"):
            self._lock._acquire_restore(state)
        else:
            self._lock.acquire()

    def _is_owned(self) -> bool:
        if hasattr(self._lock, "_is_owned"):
            return self._lock._is_owned()
        return bool(self._lock.locked())   # type: ignore[union-attr]

    def wait(self, timeout: float | None = None) -> bool:
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        ev = _new_event()
        self._waiters.append(ev)
        saved = self._release_save()
        try:
            got = _wait(ev, timeout)
        finally:
            if not ev.triggered:
                self._waiters.remove(ev)
            self._acquire_restore(saved)
        return got

    def wait_for(self, predicate: Any, timeout: float | None = None) -> Any:
        act = _act()
        end = None if timeout is None or act is None else act.env.now + timeout
        result = predicate()
        while not result:
            left = None
            if end is not None:
                left = end - act.env.now
                if left <= 0:
                    break
            self.wait(left)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        for _ in range(min(n, len(self._waiters))):
            self._waiters.popleft().succeed()

    def notify_all(self) -> None:
        self.notify(len(self._waiters))

    notifyAll = notify_all


class Semaphore:
    """``threading.Semaphore`` in simulated time."""

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._cond = Condition(Lock())
        self._value = value

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        with self._cond:
            if not blocking:
                if not self._value:
                    return False
            elif not self._cond.wait_for(lambda: self._value > 0, timeout):
                return False
            self._value -= 1
            return True

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        with self._cond:
            self._value += n
            self._cond.notify(n)

    def __exit__(self, *exc: Any) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    def release(self, n: int = 1) -> None:
        with self._cond:
            if self._value + n > self._initial_value:
                raise ValueError("Semaphore released too many times")
        super().release(n)


class Event:
    """``threading.Event`` in simulated time."""

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list = []

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set

    def set(self) -> None:
        self._flag = True
        waiters, self._waiters = self._waiters, []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        ev = _new_event()
        self._waiters.append(ev)
        _wait(ev, timeout)
        return self._flag


BrokenBarrierError = _real.BrokenBarrierError


class Barrier:
    """``threading.Barrier`` in simulated time (the standard library's algorithm, on these primitives)."""

    def __init__(self, parties: int, action: Any = None, timeout: float | None = None) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._cond = Condition(Lock())
        self._action, self._timeout, self._parties = action, timeout, parties
        self._state = 0          # 0 filling, 1 draining, -1 resetting, -2 broken
        self._count = 0

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            timeout = self._timeout
        with self._cond:
            self._enter()
            index = self._count
            self._count += 1
            try:
                if index + 1 == self._parties:
                    self._release()
                else:
                    self._wait(timeout)
                return index
            finally:
                self._count -= 1
                self._exit()

    def _enter(self) -> None:
        while self._state in (-1, 1):
            self._cond.wait()
        if self._state < 0:
            raise BrokenBarrierError
        assert self._state == 0

    def _release(self) -> None:
        try:
            if self._action:
                self._action()
            self._state = 1
            self._cond.notify_all()
        except BaseException:
            self._break()
            raise

    def _wait(self, timeout: float | None) -> None:
        if not self._cond.wait_for(lambda: self._state != 0, timeout):
            self._break()
            raise BrokenBarrierError
        if self._state < 0:
            raise BrokenBarrierError
        assert self._state == 1

    def _exit(self) -> None:
        if self._count == 0 and self._state in (-1, 1):
            self._state = 0
            self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            if self._count > 0:
                if self._state == 0:
                    self._state = -1
                elif self._state == -2:
                    self._state = -1
            else:
                self._state = 0
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._break()

    def _break(self) -> None:
        self._state = -2
        self._cond.notify_all()

    @property
    def parties(self) -> int:
        return self._parties

    @property
    def n_waiting(self) -> int:
        return self._count if self._state == 0 else 0

    @property
    def broken(self) -> bool:
        return self._state == -2


# -- threads ---------------------------------------------------------------------------------------------

_threads: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # greenlet -> its Thread


class Thread:
    """``threading.Thread`` whose ``start()`` runs it as a simulated worker thread of the invocation."""

    def __init__(self, group: Any = None, target: Any = None, name: str | None = None, args: Any = (),
                 kwargs: Any = None, *, daemon: bool | None = None) -> None:
        assert group is None, "group argument must be None for now"
        self._target, self._args, self._kwargs = target, tuple(args), dict(kwargs or {})
        self._ident = next(_ids)
        self._name = name or f"Thread-{self._ident}"
        self._daemon = bool(daemon)
        self._started = False
        self._done: Any = None
        self._worker: Any = None

    def start(self) -> None:
        if self._started:
            raise RuntimeError("threads can only be started once")
        act = _act()
        if act is None:
            raise RuntimeError("labkit: a simulated thread can only start inside simulated handler code")
        self._started = True
        self._done = act.env.event()
        ensure_scheduler(act)
        self._worker = act.spawn(self._bootstrap)

    def _bootstrap(self) -> None:
        _threads[getcurrent()] = self
        try:
            self.run()
        except Exception:
            exc_type, exc, tb = sys.exc_info()
            text = f"Exception in thread {self._name}:\n" + "".join(traceback.format_exception(exc_type, exc, tb))
            logcapture.write(_act(), text, logcapture.STDERR)
        finally:
            self._done.succeed()

    def run(self) -> None:
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        finally:
            del self._target, self._args, self._kwargs

    def join(self, timeout: float | None = None) -> None:
        if not self._started:
            raise RuntimeError("cannot join thread before it is started")
        if current_thread() is self:
            raise RuntimeError("cannot join current thread")
        if not self._done.triggered:
            _wait(self._done, timeout)

    def is_alive(self) -> bool:
        return self._started and not self._done.triggered

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)

    @property
    def ident(self) -> int | None:
        return self._ident if self._started else None

    native_id = ident

    @property
    def daemon(self) -> bool:
        return self._daemon

    @daemon.setter
    def daemon(self, value: bool) -> None:
        self._daemon = bool(value)

    def getName(self) -> str:
        return self._name

    def isDaemon(self) -> bool:
        return self._daemon

    def __repr__(self) -> str:
        status = "started" if self._started else "initial"
        if self._started and not self.is_alive():
            status = "stopped"
        return f"<{type(self).__name__}({self._name}, {status} {self._ident})>"


class _MainThread(Thread):
    def __init__(self) -> None:
        super().__init__(name="MainThread")
        self._started = True

    def is_alive(self) -> bool:
        return True


_MAIN = _MainThread()


def ensure_scheduler(act: Any) -> Any:
    """The invocation's CPU scheduler, made when it first runs threads."""
    if act.cpu is None:
        act.cpu = CpuScheduler(act.env, act.capacity)
    return act.cpu


class CpuScheduler:
    """Processor sharing of one invocation's vCPU capacity among its threads."""

    def __init__(self, env, capacity):
        self.env, self.capacity = env, float(capacity)
        self.jobs = {}          # simpy event -> remaining vCPU-seconds
        self._last = env.now
        self._token = None

    def _rate(self):
        n = len(self.jobs)
        return min(1.0, self.capacity / n) if n else 0.0

    def _advance(self):
        now = self.env.now
        if self.jobs and now > self._last:
            done = (now - self._last) * self._rate()
            for job in self.jobs:
                self.jobs[job] -= done
        self._last = now

    def request(self, vcpu_seconds):
        """An event that fires when ``vcpu_seconds`` of work are done for the caller."""
        self._advance()
        ev = self.env.event()
        self.jobs[ev] = float(vcpu_seconds)
        self._reschedule()
        return ev

    def _reschedule(self):
        if not self.jobs:
            self._token = None
            return
        token = self._token = object()
        delay = max(0.0, min(self.jobs.values())) / self._rate()
        self.env.timeout(delay).callbacks.append(lambda _e: self._complete(token))

    def _complete(self, token):
        if token is not self._token:   # superseded by a later arrival
            return
        self._advance()
        for job in [j for j, left in self.jobs.items() if left <= 1e-9]:
            del self.jobs[job]
            job.succeed()
        self._reschedule()




def current_thread() -> Thread:
    if _act() is None:
        return _real.current_thread()   # type: ignore[return-value]
    return _threads.get(getcurrent(), _MAIN)


def get_ident() -> int:
    if _act() is None:
        return _real.get_ident()
    return current_thread()._ident


class local:
    """``threading.local``: attributes per simulated thread."""

    def __init__(self) -> None:
        object.__setattr__(self, "_labkit_dicts", weakref.WeakKeyDictionary())

    def _dict(self) -> dict:
        return object.__getattribute__(self, "_labkit_dicts").setdefault(getcurrent(), {})

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            return object.__getattribute__(self, name)
        d = object.__getattribute__(self, "_dict")()
        if name in d:
            return d[name]
        try:
            return object.__getattribute__(self, name)
        except AttributeError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        object.__getattribute__(self, "_dict")()[name] = value

    def __delattr__(self, name: str) -> None:
        d = object.__getattribute__(self, "_dict")()
        if name not in d:
            raise AttributeError(name)
        del d[name]


def main_thread() -> Thread:
    return _MAIN if _act() is not None else _real.main_thread()   # type: ignore[return-value]


def enumerate() -> list:
    if _act() is None:
        return _real.enumerate()
    return [_MAIN] + [t for t in list(_threads.values()) if t.is_alive()]


def active_count() -> int:
    return len(enumerate())


def _module() -> types.ModuleType:
    mod = types.ModuleType("threading", __doc__)
    mod.__dict__.update({k: v for k, v in vars(_real).items() if not k.startswith("__")})
    for obj in (Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier, Thread, local,
                current_thread, get_ident, main_thread, enumerate, active_count):
        setattr(mod, obj.__name__, obj)
    mod.__dict__.update(BrokenBarrierError=BrokenBarrierError, currentThread=current_thread,
                        activeCount=active_count, get_native_id=get_ident)
    return mod


THREADING = _module()


def _queue_module() -> types.ModuleType:
    """The standard library's queue.py run again with these primitives and the simulated clock."""
    fake_c = types.ModuleType("_queue")
    fake_c.__dict__["Empty"] = _real_queue.Empty   # the standard exception, so library code catches it

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "threading":
            return THREADING
        if name == "time":
            return SIM_TIME
        if name == "_queue":
            return fake_c                     # no C SimpleQueue: the pure-Python one, on our Semaphore
        return builtins.__import__(name, globals, locals, fromlist, level)

    ns: dict = {"__name__": "queue", "__builtins__": {**builtins.__dict__, "__import__": _import}}
    exec(compile(inspect.getsource(_real_queue), _real_queue.__file__ or "queue.py", "exec"), ns)
    mod = types.ModuleType("queue", "queue, on labkit's simulated threading and clock")
    mod.__dict__.update({k: v for k, v in ns.items() if not k.startswith("__")})
    mod.__dict__["Full"] = _real_queue.Full
    return mod



QUEUE = _queue_module()
