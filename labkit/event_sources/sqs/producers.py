"""Feed an SQS queue from an open-loop workload."""

import json


def produce(queue, workload, rng, *, group_id=None, deduplication_id=None):
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
        kw = {}
        if group_id is not None:
            kw["MessageGroupId"] = group_id(payload) if callable(group_id) else group_id
        if queue.fifo:
            if deduplication_id is not None:
                kw["MessageDeduplicationId"] = deduplication_id(i, payload)
            elif not queue.content_based_deduplication:
                kw["MessageDeduplicationId"] = queue.auto_deduplication_id()
        sent.append(queue.send_message(body, **kw)["MessageId"])
    return sent
