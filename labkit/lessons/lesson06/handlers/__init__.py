"""Lesson 06's handler modules, and their texts.

Each ``.py`` file here is an ordinary handler module that would deploy to AWS Lambda as it
is. labkit never imports them: the lesson deploys their *text* into a Lab, and the notebook
shows the same text in a cell of its own. Each names its own entry point.

``CPU_BOUND_SOURCE``     ``render_thumbnail``: 0.4 vCPU-seconds of work in one thread
``IO_BOUND_SOURCE``      ``fetch_quote``: 2 ms of CPU, then 300 ms waiting for a partner's API
``THREADS_SOURCE``       ``split_job``: a four-part job, CPU work or waiting, in 1 to 4 threads
``SCAVENGER_SOURCE``     ``handler``: scans the ``workers`` table in parallel segments and deletes
                         stale items with a bounded pool of deleters
``COORDINATOR_SOURCE``   ``coordinator``: fans the scavenger out over one invocation per segment
``DOUBLING_SOURCE``      exercise 2's three handlers: ``resize_photo``, ``send_webhook``, ``encode_video``
"""

from labkit.lessons import handler_source

CPU_BOUND_SOURCE = handler_source(__name__, "render_thumbnail.py")
IO_BOUND_SOURCE = handler_source(__name__, "fetch_quote.py")
THREADS_SOURCE = handler_source(__name__, "split_job.py")
SCAVENGER_SOURCE = handler_source(__name__, "scavenger.py")
COORDINATOR_SOURCE = handler_source(__name__, "coordinator.py")
DOUBLING_SOURCE = handler_source(__name__, "doubling.py")

__all__ = ["CPU_BOUND_SOURCE", "IO_BOUND_SOURCE", "THREADS_SOURCE", "SCAVENGER_SOURCE", "COORDINATOR_SOURCE",
           "DOUBLING_SOURCE"]
