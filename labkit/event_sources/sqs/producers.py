"""Feed an SQS queue from an open-loop workload."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Generator
from typing import Any

import simpy

from ...workload import Workload
from .queue import SqsQueue


def produce(queue: SqsQueue, workload: Workload, rng: random.Random, *,
            group_id: str | Callable[[Any], str] | None = None,
            deduplication_id: Callable[[int, Any], str] | None = None) -> Generator[simpy.Event, Any, list[str]]:
    """Generator for a simpy process: send ``workload``'s events to ``queue`` at their offsets.

    Offsets count from when the process starts. A payload that is not a string is
    sent as its JSON text. ``group_id`` (FIFO) is a string or a function of the
    payload; ``deduplication_id`` a function of ``(i, payload)`` (default: a
    fresh id per message, unless the queue deduplicates by content). Returns the
    MessageIds, one per send (a deduplicated send repeats the first id).
    """
    env = queue.env
    t0 = env.now
    sent = []
    for i, (offset, payload) in enumerate(workload.events(rng)):
        delay = t0 + offset - env.now
        if delay > 0:
            yield env.timeout(delay)
        body = payload if isinstance(payload, str) else json.dumps(payload)
        kw: dict[str, Any] = {}   # send_message's optional keyword arguments
        if group_id is not None:
            kw["MessageGroupId"] = group_id(payload) if callable(group_id) else group_id
        if queue.fifo:
            if deduplication_id is not None:
                kw["MessageDeduplicationId"] = deduplication_id(i, payload)
            elif not queue.content_based_deduplication:
                kw["MessageDeduplicationId"] = queue.auto_deduplication_id()
        sent.append(queue.send_message(body, **kw)["MessageId"])
    return sent
