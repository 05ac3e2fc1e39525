"""Parse Lambda's platform log lines: START, END, REPORT, INIT_REPORT (text and JSON formats).

Text format (CloudWatch Logs, TAB-separated; older copies in documentation use spaces)::

    START RequestId: <id> Version: $LATEST
    END RequestId: <id>
    REPORT RequestId: <id>\\tDuration: 15.74 ms\\tBilled Duration: 16 ms\\tMemory Size: 128 MB\\t
        Max Memory Used: 56 MB\\tInit Duration: 130.49 ms\\t[Status: timeout|error\\tError Type: ...]
    XRAY TraceId: 1-...\\tSegmentId: ...\\tSampled: true        (may follow REPORT in the same message)
    INIT_REPORT Init Duration: 10007.33 ms\\tPhase: init\\tStatus: timeout

JSON format (``LoggingConfig.LogFormat = JSON``, and the Telemetry API)::

    {"time": ..., "type": "platform.report", "record": {"requestId": ..., "status": "success",
     "metrics": {"durationMs": ..., "billedDurationMs": ..., "memorySizeMB": ...,
                 "maxMemoryUsedMB": ..., "initDurationMs": ...}}}
    {"type": "platform.start", "record": {"requestId": ..., "version": "$LATEST"}}
    {"type": "platform.initReport", "record": {"initializationType": "on-demand", "phase": "init",
     "status": "error", "errorType": ..., "metrics": {"durationMs": ...}}}

``parse_line`` returns a ``Start``, ``End`` or ``Report`` (``kind`` ``"REPORT"`` or ``"INIT_REPORT"``),
or ``None`` for any other line. A leading timestamp (``2024-09-10T13:32:59.424Z REPORT ...``, as
``aws logs tail`` prints it) is skipped. ``parse_log`` reads a whole log text (a ``LogType=Tail``
result) and returns every platform record in order, an ``XRAY`` line attached to its REPORT.

``status`` is what the line *says*: a text REPORT line without ``Status`` gives ``None`` (a
success, or a function error that the runtime reported as the invocation's result, or an old-style
timeout: before 2024 a timeout printed no Status, only a separate "Task timed out" line). The JSON
format always states it (``success``, ``error``, ``failure``, ``timeout``).
"""

import json
import math
import re
from typing import NamedTuple

__all__ = ["Start", "End", "Report", "parse_line", "parse_log", "reports"]

NAN = math.nan


class Start(NamedTuple):
    request_id: str
    version: str | None = None
    kind: str = "START"


class End(NamedTuple):
    request_id: str
    kind: str = "END"


class Report(NamedTuple):
    """One REPORT (per invocation) or INIT_REPORT (per failed or provisioned init) line."""

    request_id: str | None
    duration_ms: float                 # REPORT: Duration; INIT_REPORT: NaN
    billed_duration_ms: float          # an integer number of ms on real lines; NaN if absent
    memory_size_mb: int | None
    max_memory_used_mb: int | None
    init_duration_ms: float            # NaN when the line has no Init Duration (a warm start)
    status: str | None                 # None when a text line states no Status
    error_type: str | None
    kind: str = "REPORT"
    phase: str | None = None           # INIT_REPORT: "init" or "invoke"
    restore_duration_ms: float = NAN   # SnapStart
    xray_trace_id: str | None = None

    @property
    def cold(self):
        return not math.isnan(self.init_duration_ms)


# Longest names first: the engine tries alternatives in order at each position.
_FIELD = re.compile(
    r"(?:(?<=\s)|^)(Billed Restore Duration|Billed Duration|Post Runtime Duration|Runtime Duration|"
    r"Restore Duration|Init Duration|Max Memory Used|Memory Size|Duration|RequestId|Version|Status|"
    r"Error Type|Phase|TraceId|SegmentId|Sampled|Initialization Type):[ \t]*([^\s]*)")
_KEYWORD = re.compile(r"(?:^|\s)(INIT_REPORT|RESTORE_REPORT|REPORT|START|END|XRAY)\s+(?=[A-Z][A-Za-z ]*:)")


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return NAN


def _int(v):
    f = _num(v)
    return None if math.isnan(f) else int(round(f))


def _fields(text):
    out = {}
    for m in _FIELD.finditer(text):
        out.setdefault(m.group(1), m.group(2))
    return out


def _parse_json(line):
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("record"), dict):
        return None
    kind, rec = obj.get("type"), obj["record"]
    metrics = rec.get("metrics") or {}
    trace = (rec.get("tracing") or {}).get("value")
    if kind == "platform.start":
        return Start(rec.get("requestId"), rec.get("version"))
    if kind == "platform.report":
        return Report(rec.get("requestId"), _num(metrics.get("durationMs")), _num(metrics.get("billedDurationMs")),
                      _int(metrics.get("memorySizeMB")), _int(metrics.get("maxMemoryUsedMB")),
                      _num(metrics.get("initDurationMs")), rec.get("status"), rec.get("errorType"),
                      restore_duration_ms=_num(metrics.get("restoreDurationMs")),
                      xray_trace_id=_trace_root(trace))
    if kind == "platform.initReport":
        return Report(None, NAN, NAN, None, None, _num(metrics.get("durationMs")), rec.get("status"),
                      rec.get("errorType"), kind="INIT_REPORT", phase=rec.get("phase"))
    return None


def _trace_root(value):
    if not value:
        return None
    m = re.search(r"Root=([^;]+)", value)
    return m.group(1) if m else value


def parse_line(line):
    """A ``Start``, ``End`` or ``Report`` for a platform line, else ``None``."""
    if line is None:
        return None
    text = line.strip()
    if text.startswith("{"):
        return _parse_json(text)
    m = _KEYWORD.search(text)
    if m is None:
        return None
    kind, rest = m.group(1), text[m.end():]
    f = _fields(rest)
    if kind == "START" and "RequestId" in f:
        return Start(f["RequestId"], f.get("Version"))
    if kind == "END" and "RequestId" in f:
        return End(f["RequestId"])
    if kind == "REPORT" and "RequestId" in f:
        return Report(f["RequestId"], _num(f.get("Duration")), _num(f.get("Billed Duration")),
                      _int(f.get("Memory Size")), _int(f.get("Max Memory Used")), _num(f.get("Init Duration")),
                      f.get("Status"), f.get("Error Type"), restore_duration_ms=_num(f.get("Restore Duration")),
                      xray_trace_id=f.get("TraceId"))
    if kind == "INIT_REPORT":
        return Report(None, NAN, NAN, None, None, _num(f.get("Init Duration", f.get("Duration"))),
                      f.get("Status"), f.get("Error Type"), kind="INIT_REPORT", phase=f.get("Phase"))
    return None


def parse_log(text):
    """Every platform record of a log text, in order (an XRAY line is folded into its REPORT)."""
    out = []
    for line in (text or "").splitlines():
        s = line.strip()
        if not s:
            continue
        if _KEYWORD.search(s) and _KEYWORD.search(s).group(1) == "XRAY":
            if out and isinstance(out[-1], Report) and out[-1].xray_trace_id is None:
                out[-1] = out[-1]._replace(xray_trace_id=_fields(s).get("TraceId"))
            continue
        rec = parse_line(s)
        if rec is not None:
            out.append(rec)
    return out


def reports(text):
    """The REPORT records of a log text, by request id (the last one wins)."""
    return {r.request_id: r for r in parse_log(text) if isinstance(r, Report) and r.kind == "REPORT"}
