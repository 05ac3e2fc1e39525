"""How events reach a function besides a synchronous call.

* ``asynchronous``: Lambda's internal queue for ``InvocationType=Event``, with
  its two retry regimes, destinations and dead-letter queue.
* ``kinesis``: a Kinesis data stream (MD5 partition-key routing, per-shard
  limits, retention) and its event source mapping (one batch per shard or lane,
  retries that block the shard, bisect, partial batch responses, iterator age).
* ``sqs``: SQS standard and FIFO queues (visibility timeout, redrive to a DLQ,
  message groups) and their event source mapping (poller scaling, batches).
* ``destinations``: simple simulated queues that receive records, readable by learners.
* ``ledger``: the final state of every event, so nothing is lost silently.
"""
