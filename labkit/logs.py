"""CloudWatch Logs lines in AWS's exact text format (TAB-separated platform lines).

    START RequestId: <id> Version: $LATEST
    END RequestId: <id>
    REPORT RequestId: <id>\tDuration: 1655.10 ms\tBilled Duration: 1978 ms\tMemory Size: 256 MB\t
        Max Memory Used: 40 MB\tInit Duration: 322.04 ms\t

``Init Duration`` appears only on a cold start. ``Status: timeout`` appears on
timeouts and ``Status: error`` with ``Error Type`` on errors the platform
reports (``Runtime.*``: init failures, exits, marshalling). An ordinary
exception raised by the handler leaves no Status on the REPORT line: the
runtime reports it as the invocation's result (seen in real 2024 logs).
"""

import math

from . import facts


def start_line(request_id, version="$LATEST"):
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id):
    return f"END RequestId: {request_id}"


def report_line(request_id, duration_ms, billed_ms, memory_mb, init_duration_ms=math.nan,
                status=None, error_type=None, max_memory_used_mb=facts.MAX_MEMORY_USED_MB):
    parts = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms",
             f"Billed Duration: {billed_ms} ms", f"Memory Size: {memory_mb} MB",
             f"Max Memory Used: {max_memory_used_mb} MB"]
    if not math.isnan(init_duration_ms):
        parts.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status == "timeout":
        parts.append("Status: timeout")
    elif status == "error":
        parts.append("Status: error")
        parts.append(f"Error Type: {error_type}")
    line = "\t".join(parts)
    # AWS ends a REPORT line without Status with a trailing TAB.
    return line if status else line + "\t"
