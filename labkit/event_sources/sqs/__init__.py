"""Amazon SQS queues (standard and FIFO) and Lambda's SQS event source mapping.

Two layers, as in the rest of labkit: a **queue model** (``SqsQueue``: the
state of every message) with a thin API-shaped surface (``send_message``,
``send_message_batch``, ``receive_message``, ``delete_message``), and the
**event source mapping** (``SqsEventSourceMapping``) that polls the queue and
invokes a function synchronously (facts sheet, sections 2c and 2e).

One concept per module, each importing only the ones above it:

* ``params``: the integer-parameter check the queue and the mapping share.
* ``message``: one message and its states (visible, in flight, settled).
* ``shapes``: the API's shapes apart from the state: checking a ``SendMessage``
  request, what the API returns, a message's ``Attributes``, Lambda's record.
* ``queue``: ``SqsQueue`` (visibility timeout, redrive, retention, FIFO groups,
  deduplication) and its ``RedrivePolicy``.
* ``mapping``: ``SqsEventSourceMapping`` (poller scaling, batches, results).
* ``producers``: ``produce``, which feeds a queue from an open-loop workload.

Records: ``esm.batches`` (one row per batch, ``BATCH_COLUMNS``),
``esm.concurrency()`` (batches in flight and the scaling target over time),
``queue.metrics(period_s)`` (``ApproximateNumberOfMessagesVisible``,
``...NotVisible`` and ``ApproximateAgeOfOldestMessage``), ``queue.history()``
and ``queue.states()``. Their rows are named records from ``labkit.records``
(``SqsBatchRecord``, ``SqsPollerSample``, ``SqsQueueMetrics``, ``SqsQueueSample``,
``SqsMessageState``), each table's columns the fields of its type. ``produce(...)``
feeds a queue from an open-loop workload; ``queue.when_drained(after=...)``
tells a driver when nothing is left to settle::

    q = SqsQueue(lab.account, "orders")
    esm = SqsEventSourceMapping(lab.account, q, fn, batch_size=10)
    env = lab.account.env
    producer = env.process(produce(q, lk.workload.poisson(50, 60), random.Random(1)))
    env.run(until=q.when_drained(after=producer))
"""

from .mapping import BATCH_COLUMNS, SqsEventSourceMapping
from .message import DEAD_LETTERED, DELETED, EXPIRED, INFLIGHT, VISIBLE, Message
from .producers import produce
from .queue import ACCOUNT_ID, RedrivePolicy, SqsQueue
from .shapes import SENDER_ID

__all__ = ["ACCOUNT_ID", "BATCH_COLUMNS", "DEAD_LETTERED", "DELETED", "EXPIRED", "INFLIGHT", "SENDER_ID", "VISIBLE",
           "Message", "RedrivePolicy", "SqsEventSourceMapping", "SqsQueue", "produce"]
