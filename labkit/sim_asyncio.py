"""``asyncio`` for simulated handler code: an event loop whose clock and waits are simulated.

Handler code's ``import asyncio`` gives the standard module with ``run``,
``new_event_loop`` and ``get_event_loop`` making a ``SimEventLoop`` while simulated code
runs (``concurrency.module_overrides``). That loop is asyncio's own selector loop, except:

* ``loop.time()`` is the simulation's clock, so ``asyncio.sleep``, ``wait_for``,
  ``call_later`` and timeouts count simulated seconds;
* when it has nothing ready, it waits by handing control back to the simulation (its
  selector's ``select(timeout)`` is a simulated wait), so other invocations run meanwhile;
* ``run_in_executor(None, ...)`` and so ``asyncio.to_thread(...)`` run the function in a
  simulated worker thread of the invocation (``labkit.sim_threading``), not a real thread.

``gather``, ``create_task``, ``wait``, ``as_completed``, queues, locks and events of asyncio
are the standard ones and work unchanged on this loop. Real I/O (``open_connection``,
subprocesses) stays refused by ``labkit.isolation``: no file descriptor ever becomes ready.
A loop with nothing scheduled and nothing to wake it would wait for ever: it fails at once
with a clear ``RuntimeError`` (on Lambda the invocation would hang until its timeout).
Outside simulated code, ``asyncio.run`` and friends are the real ones.
"""

from __future__ import annotations

import asyncio
import selectors
import types
from asyncio import events
from typing import Any

from . import bridge
from .sim_threading import Thread


class _SimSelector(selectors.BaseSelector):
    """Holds the loop's registrations; ``select`` waits in simulated time and reports no I/O."""

    def __init__(self) -> None:
        self._map: dict = {}
        self.loop: Any = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, self._fd(fileobj), events, data)
        self._map[key.fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._map.pop(self._fd(fileobj))

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        self.unregister(fileobj)
        return self.register(fileobj, events, data)

    @staticmethod
    def _fd(fileobj: Any) -> int:
        return fileobj if isinstance(fileobj, int) else fileobj.fileno()

    def get_map(self) -> Any:
        return self._map

    def close(self) -> None:
        self._map.clear()

    def select(self, timeout: float | None = None) -> list:
        if timeout is not None and timeout <= 0:
            return []
        return self.loop._sim_wait(timeout)


class SimEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop on the simulation's clock (see the module docstring)."""

    def __init__(self) -> None:
        selector = _SimSelector()
        self._wake: Any = None
        self._workers = 0
        self._outer: Any = None
        super().__init__(selector)
        selector.loop = self

    def time(self) -> float:
        act = bridge.current()
        return super().time() if act is None else act.env.now

    def _sim_wait(self, timeout: float | None) -> list:
        act = bridge.current()
        if act is None:
            raise RuntimeError("labkit: a simulated asyncio loop can only run inside simulated handler code")
        if timeout is None and not self._workers:
            raise RuntimeError("labkit: the asyncio event loop has nothing scheduled and nothing that could wake "
                               "it (real sockets and subprocesses are not available in the simulator): it would "
                               "wait for ever")
        env = act.env
        wake = self._wake = env.event()
        events._set_running_loop(self._outer)     # other code may run while this one waits
        try:
            bridge.wait(wake if timeout is None else env.any_of([wake, env.timeout(timeout)]))
        finally:
            events._set_running_loop(self)
            self._wake = None
        return []

    def _write_to_self(self) -> None:            # call_soon_threadsafe from a simulated thread
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future:   # type: ignore[override]
        if executor is not None or bridge.current() is None:
            return super().run_in_executor(executor, func, *args)
        base: Any = self              # asyncio's private helpers, which typeshed does not list
        base._check_closed()
        future = self.create_future()

        def work() -> None:
            try:
                result = func(*args)
            except BaseException as e:   # delivered to the awaiting coroutine, as an executor would
                self.call_soon_threadsafe(_set, future, None, e)
                if not isinstance(e, Exception):
                    raise
            else:
                self.call_soon_threadsafe(_set, future, result, None)
            finally:
                self._workers -= 1

        self._workers += 1
        Thread(target=work, name="asyncio-worker", daemon=True).start()
        return future

    def run_forever(self) -> None:
        """asyncio's loop, without the check for another running loop in this OS thread: simulated
        invocations share the kernel's thread, whose own loop (ipykernel's) may be running."""
        base: Any = self              # asyncio's private state, which typeshed does not list
        base._check_closed()
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        base._thread_id = 0
        self._outer = events._get_running_loop()
        events._set_running_loop(self)
        try:
            while True:
                base._run_once()
                if base._stopping:
                    break
        finally:
            base._stopping = False
            base._thread_id = None
            events._set_running_loop(self._outer)


def _set(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def run(main: Any, *, debug: bool | None = None) -> Any:
    """``asyncio.run`` on a ``SimEventLoop`` inside simulated code, the real one elsewhere."""
    if bridge.current() is None:
        return asyncio.run(main, debug=debug)
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = SimEventLoop()
    if debug is not None:
        loop.set_debug(debug)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    return SimEventLoop() if bridge.current() is not None else asyncio.new_event_loop()


def get_event_loop() -> asyncio.AbstractEventLoop:
    if bridge.current() is None:
        return asyncio.get_event_loop()
    running = events._get_running_loop()
    return running if isinstance(running, SimEventLoop) else SimEventLoop()


def _module() -> types.ModuleType:
    mod = types.ModuleType("asyncio", __doc__)
    mod.__dict__.update({k: v for k, v in vars(asyncio).items() if not k.startswith("__")})
    mod.__dict__.update(run=run, new_event_loop=new_event_loop, get_event_loop=get_event_loop,
                        SimEventLoop=SimEventLoop)
    return mod


ASYNCIO = _module()
