"""How events reach a function besides a synchronous call.

* ``asynchronous``: Lambda's internal queue for ``InvocationType=Event``, with
  its two retry regimes, destinations and dead-letter queue.
* ``destinations``: simple simulated queues that receive records, readable by learners.
* ``ledger``: the final state of every event, so nothing is lost silently.
"""
