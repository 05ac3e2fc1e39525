"""Lesson 04's handler modules, and their texts.

Each ``.py`` file here is an ordinary handler module that places an order in the shop's
MySQL database (through the PyMySQL and DBUtils APIs) and would deploy to AWS Lambda as it
is. labkit never imports them: the lesson deploys their *text* into a Lab, and the notebook
shows the same text in a cell of its own. Each names its own entry point
(``experiments.handler_name`` finds it).

``DIRECT_SOURCE``               ``handler``: one connection per environment, opened in Init
``POOLED_SOURCE``               ``pooled_handler``: a DBUtils pool of ``POOL_SIZE = 10`` per environment
``POOLED_QUEUE_WORKER_SOURCE``  ``pooled_handler``: the same pool, as an SQS worker (a batch's ``Records``)
``PROXIED_SOURCE``              ``proxied_handler``: one connection to the RDS-Proxy-style proxy
``QUEUE_WORKER_SOURCE``         ``worker_handler``: the SQS worker, one connection per environment
``REFERENCE_SOURCE``            ``handler_with_prices``: also loads the whole price list once per
                                environment (the cold-start herd after a deploy)
"""

from labkit.lessons import handler_source

DIRECT_SOURCE = handler_source(__name__, "direct.py")
POOLED_SOURCE = handler_source(__name__, "pooled.py")
POOLED_QUEUE_WORKER_SOURCE = handler_source(__name__, "pooled_queue_worker.py")
PROXIED_SOURCE = handler_source(__name__, "proxied.py")
QUEUE_WORKER_SOURCE = handler_source(__name__, "queue_worker.py")
REFERENCE_SOURCE = handler_source(__name__, "with_prices.py")

__all__ = ["DIRECT_SOURCE", "POOLED_SOURCE", "POOLED_QUEUE_WORKER_SOURCE", "PROXIED_SOURCE", "QUEUE_WORKER_SOURCE",
           "REFERENCE_SOURCE"]
