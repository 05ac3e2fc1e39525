"""labkit's entry point in a deployed function (handler ``labkit_shim.handler``).

Deployed beside the learner's module, ``labkit_handler.py``, whose import here is the function's
init. Around every invocation it prints two log lines that the driver reads (from the
``LogType=Tail`` result, or from CloudWatch Logs for asynchronous calls)::

    LABKIT {"event":"start","environment_id":...,"init_type":"on-demand","request_id":...,"t":<unix s>,...}
    LABKIT {"event":"end","environment_id":...,"request_id":...,"t":<unix s>,"error":null}

``environment_id`` is a UUID drawn when the module loads, so it names one execution environment
(a reset re-runs init and draws a new one, as a new module instance would on AWS).
"""

import json
import os
import time
import uuid

ENVIRONMENT_ID = uuid.uuid4().hex
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
INIT_START = time.time()

import labkit_handler as _module  # noqa: E402  (the learner's code: importing it is the init)

_HANDLER = getattr(_module, os.environ.get("LABKIT_HANDLER", "handler"))
INIT_END = time.time()
_served = 0


def _emit(**fields):
    print("LABKIT " + json.dumps(fields, separators=(",", ":"), default=str), flush=True)


def handler(event, context):
    global _served
    _served += 1
    rid = getattr(context, "aws_request_id", None)
    _emit(event="start", environment_id=ENVIRONMENT_ID, init_type=INIT_TYPE, request_id=rid, n=_served,
          t=time.time(), init_start=INIT_START, init_end=INIT_END,
          log_stream=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"))
    error = None
    try:
        return _HANDLER(event, context)
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        _emit(event="end", environment_id=ENVIRONMENT_ID, request_id=rid, t=time.time(), error=error)
