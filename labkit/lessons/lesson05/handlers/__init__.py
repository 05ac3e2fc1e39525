"""Lesson 05's handler modules, and their texts.

Each ``.py`` file here is an ordinary boto3 handler module that applies edits to documents
stored in the DynamoDB table ``documents`` (read, change, write back, no lock), and would
deploy to AWS Lambda as it is. labkit never imports them: the lesson deploys their *text*
into a Lab, and the notebook shows the same text in a cell of its own (a test keeps them equal).

``EDITOR_SOURCE``             ``handler``: the edits of a batch from Kinesis or SQS, one after another
``REPORTING_EDITOR_SOURCE``   ``reporting_handler``: Kinesis only; stops at the first unreadable
                              edit and reports it in ``batchItemFailures``
"""

from labkit.lessons import handler_source

EDITOR_SOURCE = handler_source(__name__, "editor.py")
REPORTING_EDITOR_SOURCE = handler_source(__name__, "reporting_editor.py")

__all__ = ["EDITOR_SOURCE", "REPORTING_EDITOR_SOURCE"]
