"""Lesson 01's handler modules, and their texts.

Each ``.py`` file here is an ordinary boto3 handler module (``def handler(event, context)``)
that would deploy to AWS Lambda as it is. labkit never imports them: the lesson deploys
their *text* into a Lab, and the notebook shows the same text in a cell of its own.

The counter (one item ``{"id": "page-views", "hits": n}`` in the table ``counters``):
    ``READ_MODIFY_WRITE``  read the counter, work, write it back (loses updates)
    ``ATOMIC_UPDATE``      one ``UpdateExpression="ADD hits :one"`` request
    ``CONDITIONAL_WRITE``  read, work, write only if unchanged; retry when refused

At-least-once delivery (the table ``order-stats``):
    ``COUNT_ORDERS``             counts each delivery, duplicates too
    ``COUNT_ORDERS_IDEMPOTENT``  claims each order id in ``seen-orders`` first

The exercises' starting points and reference solutions:
    ``TRANSFER_STARTER`` / ``TRANSFER_SOLUTION``  a transfer between accounts
    ``PAYMENT_STARTER`` / ``PAYMENT_SOLUTION``    a payment applied once, whatever the redelivery
"""

from labkit.lessons import handler_source

READ_MODIFY_WRITE = handler_source(__name__, "read_modify_write.py")
ATOMIC_UPDATE = handler_source(__name__, "atomic_update.py")
CONDITIONAL_WRITE = handler_source(__name__, "conditional_write.py")
COUNT_ORDERS = handler_source(__name__, "count_orders.py")
COUNT_ORDERS_IDEMPOTENT = handler_source(__name__, "count_orders_idempotent.py")
TRANSFER_STARTER = handler_source(__name__, "transfer_starter.py")
TRANSFER_SOLUTION = handler_source(__name__, "transfer_solution.py")
PAYMENT_STARTER = handler_source(__name__, "payment_starter.py")
PAYMENT_SOLUTION = handler_source(__name__, "payment_solution.py")

__all__ = ["READ_MODIFY_WRITE", "ATOMIC_UPDATE", "CONDITIONAL_WRITE", "COUNT_ORDERS", "COUNT_ORDERS_IDEMPOTENT",
           "TRANSFER_STARTER", "TRANSFER_SOLUTION", "PAYMENT_STARTER", "PAYMENT_SOLUTION"]
