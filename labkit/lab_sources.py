"""The ``Lab`` methods for event sources: asynchronous invocation, queues and streams.

Kept apart from ``labkit.lab`` (synchronous calls) so each file stays one concept;
``Lab`` inherits these methods.
"""

import random

from .errors import InvalidParameterValueException
from .event_sources.asynchronous import AsyncConfig, AsyncQueue
from .event_sources.destinations import DestinationQueue
from .workload import Workload


class EventSourcesMixin:
    """Asynchronous invocation and destinations (requires ``self.account``, ``self.ledger``)."""

    def queue(self, name):
        """A destination or dead-letter queue whose messages you can read (``.messages``)."""
        return DestinationQueue(name)

    def async_queue(self, fn, **config):
        """The function's asynchronous-invocation settings (``PutFunctionEventInvokeConfig``):
        ``maximum_retry_attempts`` (0-2), ``maximum_event_age_s`` (60-21,600), ``on_success``,
        ``on_failure``, ``dead_letter_queue`` (queues from ``lab.queue``), ``duplicate_rate``,
        ``payload_limit_bytes``. Returns the function's internal event queue."""
        queues = self.__dict__.setdefault("_async_queues", {})
        if config or fn.name not in queues:
            rng = random.Random(f"{self.seed}:async:{fn.name}")
            queues[fn.name] = AsyncQueue(self.account, self.ledger, fn, AsyncConfig(**config), rng)
        return queues[fn.name]

    def invoke_async(self, fn, workload, **config):
        """Send ``workload`` to ``fn`` as asynchronous (``Event``) invocations; return the Run.

        Each call is accepted with 202 into the function's internal queue; the run lasts
        until every event has reached a final state (succeeded, destination, DLQ or
        dropped), which with retries can be hours of simulated time."""
        return self.simulate([(fn, workload, "Event")], async_config={fn.name: config} if config else None)

    def _async_driver(self, fn, wl, rng, tracker, t0):
        env = self.account.env
        q = self.async_queue(fn)
        for offset, event in wl.events(rng):
            delay = t0 + offset - env.now
            if delay > 0:
                yield env.timeout(delay)
            event_id = self._next_event_id()
            q.accept(event, event_id)
            tracker.pending += 1
            env.process(self._finish_call(q.deliver(event, event_id), tracker))
        tracker.driver_finished()

    @staticmethod
    def _check_async_workload(wl):
        if not isinstance(wl, Workload) or wl.closed:
            raise InvalidParameterValueException(
                "workload", wl, "an open-loop lk.workload (asynchronous callers do not wait for answers)")
        return wl

    def _async_records(self, event_ids):
        out = []
        for q in self.__dict__.get("_async_queues", {}).values():
            out.extend(q.records[e] for e in event_ids if e in q.records)
        return out
