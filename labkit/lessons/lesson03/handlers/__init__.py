"""Lesson 03's handler modules, and their texts.

Each ``.py`` file here is an ordinary handler module that would deploy to AWS Lambda as it
is. labkit never imports them: the lesson deploys their *text* into a Lab, and the notebook
shows the same text in a cell of its own.

``WORKER_SOURCE``       one second of work per order (a direct call, or a batch's ``Records``)
``CHECKOUT_SOURCE``     ``checkout``: half a second per order (the critical function)
``REPORT_SOURCE``       ``report_builder``: ten seconds per page (the noisy neighbour)
``RECEIPT_SOURCE``      sends a receipt; fails for good without an e-mail address, and now and
                        then for a while when the mail server is busy (exercise 1)
``FLASH_SALE_SOURCE``   five seconds per request (the scaling-rate experiment)
"""

from labkit.lessons import handler_source

WORKER_SOURCE = handler_source(__name__, "worker.py")
CHECKOUT_SOURCE = handler_source(__name__, "checkout.py")
REPORT_SOURCE = handler_source(__name__, "report_builder.py")
RECEIPT_SOURCE = handler_source(__name__, "send_receipt.py")
FLASH_SALE_SOURCE = handler_source(__name__, "flash_sale.py")

__all__ = ["WORKER_SOURCE", "CHECKOUT_SOURCE", "REPORT_SOURCE", "RECEIPT_SOURCE", "FLASH_SALE_SOURCE"]
