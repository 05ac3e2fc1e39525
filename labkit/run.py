"""The result of one ``Lab.invoke``/``Lab.simulate``: records, logs, metrics, summary, plots.

The record schema is backend-neutral: a later real-AWS backend fills the same
columns. ``invocations`` has one row per invocation attempt:

=====================  ============================================================
request_id             Lambda's RequestId (throttled attempts get one too)
function               function name
event_id               the caller's event (shared by retries of the same call)
attempt                1 for the first try, 2.. for retries; 0 marks a duplicate delivery
                       of an asynchronous event (at-least-once)
invocation_type        ``RequestResponse`` (synchronous)
client                 closed-loop client number, else None
environment_id         the execution environment that ran it (None if throttled)
start_type             ``cold`` | ``warm`` | ``provisioned`` | ``reinit`` (init re-run
                       after a reset, inside the duration) | None (throttled)
cold                   True when this attempt ran a cold start (Init Duration)
arrival_s, start_s     arrival and start (seconds since the Lab started; equal for
                       synchronous calls, which never queue)
invoke_start_s, end_s  end of init / start of the handler; end of the invocation
init_duration_ms       Init Duration (NaN if no cold start)
duration_ms            Duration as on the REPORT line (exactly the timeout on timeouts)
billed_duration_ms     Billed Duration (see ``labkit.billing``)
memory_mb              configured memory
outcome                ``success`` | ``error`` | ``timeout`` | ``throttled``
error_type             errorType (``Sandbox.Timedout``, ``TooManyRequestsException``, ...)
error_message          errorMessage
throttle_reason        Reason of a TooManyRequestsException
cost_usd               request + duration charge of this attempt
response               the handler's return value (or the error object)
=====================  ============================================================
"""

import math

import pandas as pd

from . import logs, metrics, validation
from .plots import RunPlots
from .records import (ASYNC_EVENT_COLUMNS, ENVIRONMENT_COLUMNS, ERROR, EVENT_COLUMNS, FAILED, INVOCATION_COLUMNS,
                      LIFECYCLE_COLUMNS, SUCCESS, THROTTLED, TIMEOUT, RunRecords)


class Run:
    """One run's results: a read-only view of its ``RunRecords`` (``run.records``), fixed
    when the run ended, whichever backend produced them."""

    def __init__(self, records: RunRecords) -> None:
        self.records = records
        self.t0, self.t1 = records.t0, records.t1
        self.functions = list(records.functions)   # FunctionInfo(name, config)
        self.wall_s = records.wall_s
        self.event_ids = list(records.event_ids)
        self._inv: pd.DataFrame | None = None

    # -- records ---------------------------------------------------------------------
    @property
    def invocations(self) -> pd.DataFrame:
        """One row per invocation attempt, in the order they ended (see the module docstring)."""
        if self._inv is None:
            recs = self.records.invocations
            df = pd.DataFrame.from_records(recs, columns=INVOCATION_COLUMNS)
            # Keep handler responses as the Python objects they were (no int64/NaN coercion).
            df["response"] = pd.Series([r.response for r in recs], dtype=object)
            df = df.sort_values(["start_s", "end_s"], kind="stable").reset_index(drop=True)
            self._inv = df
        return self._inv.copy()

    @property
    def lifecycle(self) -> pd.DataFrame:
        """Environment lifecycle events during the run: created, init_done, invoke_start, idle,
        reset, reclaimed (reclaims are stamped with the instant the idle time ran out)."""
        df = pd.DataFrame.from_records(self.records.lifecycle, columns=LIFECYCLE_COLUMNS)
        return df.sort_values("time_s", kind="stable").reset_index(drop=True)

    @property
    def environments(self) -> pd.DataFrame:
        """One row per execution environment that served this run."""
        return pd.DataFrame.from_records(self.records.environments, columns=ENVIRONMENT_COLUMNS)

    @property
    def events(self) -> pd.DataFrame:
        """The final state of every event this run produced (see ``labkit.event_sources.ledger``):
        succeeded, failed (a synchronous caller got the error), failure_destination,
        dead_letter_queue, dropped (with the reason), or pending."""
        return pd.DataFrame.from_records(self.records.events, columns=EVENT_COLUMNS)

    def event_states(self) -> dict[str, int]:
        """Counts of events per final state, e.g. ``{"succeeded": 98, "dropped": 2}``."""
        out: dict[str, int] = {}
        for e in self.records.events:
            out[e.state] = out.get(e.state, 0) + 1
        return out

    @property
    def async_events(self) -> pd.DataFrame:
        """One row per asynchronous event: when it was received, first invoked and settled,
        its attempts, function errors, throttles, duplicates, final state and reason."""
        return pd.DataFrame([r.as_tuple() for r in self.records.async_events], columns=list(ASYNC_EVENT_COLUMNS))

    # -- metrics ---------------------------------------------------------------------
    def metrics(self, period_s=60.0):
        """CloudWatch-style time series (see ``labkit.metrics``), one row per period: ``period_s``
        is a number of seconds > 0 giving at most ``labkit.validation.MAX_PERIODS`` periods."""
        validation.period("period_s", period_s, self.t1 - self.t0)
        out = metrics.cloudwatch(self.invocations, period_s, self.t0, max(self.t1, self.t0 + period_s))
        ae = self.async_events
        if len(ae):
            metrics.add_async_metrics(out, ae, self.invocations, period_s, self.t0)
        return out

    def concurrency(self):
        """Exact in-flight count over time (a step function)."""
        return metrics.concurrency_steps(self.invocations)

    def summary(self):
        """Headline figures of the run, as plain numbers (rounded for stable printing)."""
        df = self.invocations
        ran = df[df["outcome"] != THROTTLED]
        dur = ran["duration_ms"]
        billed_gb_s = float((ran["memory_mb"] / 1024 * ran["billed_duration_ms"] / 1000).sum())
        calls = df["event_id"].nunique()
        throttles = int((df["outcome"] == THROTTLED).sum())
        throttle_failed = self.events
        throttle_failed = throttle_failed[(throttle_failed["state"] == FAILED)
                                          & throttle_failed["reason"].str.endswith("LimitExceeded", na=False)]
        return {
            "calls": int(calls),
            "invocations": int(len(ran)),
            "succeeded": int((df["outcome"] == SUCCESS).sum()),
            "errors": int(df["outcome"].isin([ERROR, TIMEOUT]).sum()),
            "timeouts": int((df["outcome"] == TIMEOUT).sum()),
            "throttles": throttles,
            "calls_failed_by_throttling": int(len(throttle_failed)),
            "cold_starts": int(ran["cold"].sum()),
            "environments": int(ran["environment_id"].nunique()),
            "max_concurrency": metrics.max_concurrency(df),
            "duration_p50_ms": _r(dur.quantile(0.5)) if len(dur) else None,
            "duration_p99_ms": _r(dur.quantile(0.99)) if len(dur) else None,
            "billed_gb_s": _r(billed_gb_s, 6),
            "cost_usd": _r(float(df["cost_usd"].sum()), 10),
            "simulated_s": _r(self.t1 - self.t0, 3),
        }

    # -- logs ------------------------------------------------------------------------
    def report(self, request_id: str | None = None) -> str:
        """The REPORT line of one invocation (default: the first that ran)."""
        return self._report(self._record(request_id))

    def log(self, request_id: str | None = None) -> list[str]:
        """All log lines of one invocation: [INIT_REPORT], START, handler output, END, REPORT."""
        return self._log_lines(self._record(request_id))

    def log_lines(self, function=None) -> list[str]:
        """Every invocation's log lines in start order (what CloudWatch Logs would hold)."""
        name = getattr(function, "name", function)
        out: list[str] = []
        for rec in sorted(self.records.invocations, key=lambda r: (r.start_s, r.end_s)):
            if rec.outcome != THROTTLED and (name is None or rec.function == name):
                out.extend(self._log_lines(rec))
        return out

    def _record(self, request_id):
        recs = self.records.invocations
        for rec in recs if request_id is not None else sorted(recs, key=lambda r: r.start_s):
            if (request_id is None and rec.outcome != THROTTLED) or rec.request_id == request_id:
                return rec
        raise KeyError(f"no invocation {request_id!r} in this run")

    def _report(self, rec) -> str:
        status = None
        if rec.outcome == TIMEOUT:
            status = "timeout"
        elif rec.request_id in self.records.runtime_errors:
            status = "error"
        return logs.report_line(rec.request_id, rec.duration_ms, rec.billed_duration_ms, rec.memory_mb,
                                rec.init_duration_ms if rec.cold else math.nan, status=status,
                                error_type=rec.error_type)

    def _log_lines(self, rec) -> list[str]:
        rid = rec.request_id
        lines = []
        if rid in self.records.init_reports:
            lines.append(self.records.init_reports[rid])
        lines.append(logs.start_line(rid))
        lines.extend(self.records.logs.get(rid, ()))
        lines.append(logs.end_line(rid))
        lines.append(self._report(rec))
        return lines

    # -- plots -----------------------------------------------------------------------
    @property
    def plot(self) -> RunPlots:
        return RunPlots(self)

    def __repr__(self):
        s = self.summary()
        return (f"<Run {s['calls']} calls, {s['invocations']} invocations, {s['throttles']} throttles, "
                f"{s['cold_starts']} cold starts over {s['simulated_s']} s>")


def _r(x, nd=2):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)
