"""The ``Lab`` methods for event sources: asynchronous invocation, queues and streams.

Kept apart from ``labkit.lab`` (synchronous calls) so each file stays one concept;
``Lab`` inherits these methods.
"""

import random

import time as _wall

from . import progress
from .errors import InvalidParameterValueException
from .event_sources.asynchronous import AsyncConfig, AsyncQueue
from .event_sources.destinations import DestinationQueue
from .event_sources.kinesis import KinesisEventSourceMapping, KinesisStream, producer as kinesis_producer
from .event_sources.sqs import RedrivePolicy, SqsEventSourceMapping, SqsQueue, produce as sqs_produce
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

    # -- streams and queues ------------------------------------------------------------
    def kinesis_stream(self, name="stream", shard_count=1, *, retention_hours=None):
        """A Kinesis data stream of ``shard_count`` shards (records routed by MD5 of the partition key)."""
        kw = {} if retention_hours is None else {"retention_hours": retention_hours}
        return KinesisStream(self.account, self.ledger, name, shard_count, **kw)

    def sqs_queue(self, name="queue", *, dead_letter_queue=None, max_receive_count=None, **options):
        """An SQS queue (FIFO when the name ends in ``.fifo``). A redrive policy sends a message
        to ``dead_letter_queue`` (``lab.queue(...)`` or another SQS queue) after
        ``max_receive_count`` receives. Options: ``visibility_timeout_s``,
        ``message_retention_s``, ``content_based_deduplication``."""
        redrive = None
        if dead_letter_queue is not None or max_receive_count is not None:
            redrive = RedrivePolicy(dead_letter_queue, max_receive_count)
        return SqsQueue(self.account, name, redrive_policy=redrive, ledger=self.ledger, **options)

    def event_source_mapping(self, fn, source, **options):
        """Connect ``source`` (a Kinesis stream or an SQS queue) to ``fn``; polling starts at once.
        Options are the mapping's settings in snake case (``batch_size``,
        ``maximum_batching_window_s``, ``parallelization_factor``, ``maximum_retry_attempts``,
        ``maximum_record_age_s``, ``bisect_batch_on_function_error``,
        ``report_batch_item_failures``, ``on_failure``, ``maximum_concurrency`` ...)."""
        if isinstance(source, KinesisStream):
            return KinesisEventSourceMapping(source, fn, **options)
        if isinstance(source, SqsQueue):
            return SqsEventSourceMapping(self.account, source, fn, **options)
        raise InvalidParameterValueException("EventSourceArn", source, "a lab.kinesis_stream(...) or lab.sqs_queue(...)")

    def send(self, source, workload, *, partition_key=None, group_id=None, until_s=None):
        """Produce ``workload`` into ``source`` and run until every record/message is settled
        (or ``until_s`` simulated seconds have passed); return the Run.

        Kinesis needs ``partition_key(payload)``; FIFO queues need ``group_id`` (a string or a
        function of the payload)."""
        from .lab import _refuse_inside_handler
        _refuse_inside_handler("lab.send()")
        acct, env = self.account, self.account.env
        if not isinstance(workload, Workload) or workload.closed:
            raise InvalidParameterValueException("workload", workload, "an open-loop lk.workload.* object")
        self._workloads += 1
        rng = random.Random(f"{self.seed}:workload:{self._workloads}")
        if isinstance(source, KinesisStream):
            if partition_key is None:
                raise InvalidParameterValueException("partition_key", None, "a function of the payload (Kinesis)")
            prod = env.process(kinesis_producer(source, workload, partition_key, rng=rng))

            def wait_drained():
                yield prod
                yield source.when_drained()
            done = env.process(wait_drained())
        elif isinstance(source, SqsQueue):
            prod = env.process(sqs_produce(source, workload, rng, group_id=group_id))
            done = source.when_drained(after=prod)
        else:
            raise InvalidParameterValueException("source", source, "a lab.kinesis_stream(...) or lab.sqs_queue(...)")
        return self._run_until(done, workload.horizon_s, until_s)

    def _run_until(self, done, horizon_s, until_s=None):
        """Run the clock until ``done`` fires (or ``until_s`` passes); the Run covers what happened."""
        from .run import Run
        acct, env = self.account, self.account.env
        t0, row0, life0 = env.now, len(acct.rows), len(acct.lifecycle)
        keys0 = len(self.ledger.states)
        wall0 = _wall.perf_counter()
        if until_s is not None:
            if not isinstance(until_s, (int, float)) or until_s < 0:
                raise InvalidParameterValueException("until_s", until_s, "a number of seconds >= 0")
            limit = env.timeout(until_s)
            progress.run_until(env, env.any_of([done, limit]), t0, until_s)
        else:
            progress.run_until(env, done, t0, horizon_s)
        acct.reclaim_idle()
        functions = list({r[1]: acct.functions[r[1]] for r in acct.rows[row0:]}.values())
        return Run(self, row0, len(acct.rows), life0, t0, env.now, functions,
                   wall_s=_wall.perf_counter() - wall0, event_ids=list(self.ledger.states)[keys0:])

    def _async_records(self, event_ids):
        out = []
        for q in self.__dict__.get("_async_queues", {}).values():
            out.extend(q.records[e] for e in event_ids if e in q.records)
        return out
