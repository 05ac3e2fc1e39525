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

from . import logs, metrics
from .runtime import INVOCATION_COLUMNS, LIFECYCLE_COLUMNS


class Run:
    def __init__(self, lab, row0, row1, life0, t0, t1, functions, wall_s=0.0, event_ids=()):
        self.lab = lab
        self._acct = lab.account
        self._rows = self._acct.rows[row0:row1]
        self._life0 = life0
        self.t0, self.t1 = t0, t1
        self.functions = list(dict.fromkeys(functions))
        self.wall_s = wall_s
        self.event_ids = list(event_ids)
        self._inv = None

    # -- records ---------------------------------------------------------------------
    @property
    def invocations(self):
        """One row per invocation attempt, in the order they ended (see the module docstring)."""
        if self._inv is None:
            df = pd.DataFrame.from_records(self._rows, columns=INVOCATION_COLUMNS)
            # Keep handler responses as the Python objects they were (no int64/NaN coercion).
            df["response"] = pd.Series([r[22] for r in self._rows], dtype=object)
            df = df.sort_values(["start_s", "end_s"], kind="stable").reset_index(drop=True)
            self._inv = df
        return self._inv.copy()

    @property
    def lifecycle(self):
        """Environment lifecycle events during the run: created, init_done, invoke_start, idle,
        reset, reclaimed (reclaims are stamped with the instant the idle time ran out)."""
        rows = [r for r in self._acct.lifecycle[self._life0:]] + \
               [r for r in self._acct.lifecycle[:self._life0] if r[3] == "reclaimed" and r[0] >= self.t0]
        df = pd.DataFrame.from_records(rows, columns=LIFECYCLE_COLUMNS)
        return df.sort_values("time_s", kind="stable").reset_index(drop=True)

    @property
    def environments(self):
        """One row per execution environment that served this run."""
        used = {}
        for r in self._rows:
            if r[6] is not None:
                used[r[6]] = used.get(r[6], 0) + 1
        recs = []
        for fn in self.functions:
            for ee in fn.environments:
                if ee.id in used:
                    recs.append({
                        "environment_id": ee.id, "function": fn.name, "provisioned": ee.provisioned,
                        "created_s": ee.created_at, "invocations": used[ee.id],
                        "reclaimed_s": math.nan if ee.reclaimed_at is None else ee.reclaimed_at,
                        "log_stream_name": ee.log_stream_name,
                    })
        return pd.DataFrame(recs, columns=["environment_id", "function", "provisioned", "created_s",
                                           "invocations", "reclaimed_s", "log_stream_name"])

    @property
    def events(self):
        """The final state of every event this run produced (see ``labkit.event_sources.ledger``):
        succeeded, failed (a synchronous caller got the error), failure_destination,
        dead_letter_queue, dropped (with the reason), or pending."""
        states = self.lab.ledger.states
        recs = [(e, *states[e]) for e in self.event_ids if e in states]
        return pd.DataFrame(recs, columns=["event_id", "state", "reason", "time_s"])

    def event_states(self):
        """Counts of events per final state, e.g. ``{"succeeded": 98, "dropped": 2}``."""
        return self.lab.ledger.counts([e for e in self.event_ids if e in self.lab.ledger.states])

    @property
    def async_events(self):
        """One row per asynchronous event: when it was received, first invoked and settled,
        its attempts, function errors, throttles, duplicates, final state and reason."""
        from .event_sources.asynchronous import ASYNC_EVENT_COLUMNS
        return pd.DataFrame(self.lab._async_records(self.event_ids), columns=list(ASYNC_EVENT_COLUMNS))

    # -- metrics ---------------------------------------------------------------------
    def metrics(self, period_s=60.0):
        """CloudWatch-style time series (see ``labkit.metrics``), one row per period."""
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
        ran = df[df["outcome"] != "throttled"]
        dur = ran["duration_ms"]
        billed_gb_s = float((ran["memory_mb"] / 1024 * ran["billed_duration_ms"] / 1000).sum())
        calls = df["event_id"].nunique()
        throttles = int((df["outcome"] == "throttled").sum())
        throttle_failed = self.events
        throttle_failed = throttle_failed[(throttle_failed["state"] == "failed")
                                          & throttle_failed["reason"].str.endswith("LimitExceeded", na=False)]
        return {
            "calls": int(calls),
            "invocations": int(len(ran)),
            "succeeded": int((df["outcome"] == "success").sum()),
            "errors": int(df["outcome"].isin(["error", "timeout"]).sum()),
            "timeouts": int((df["outcome"] == "timeout").sum()),
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
    def report(self, request_id=None):
        """The REPORT line of one invocation (default: the first that ran)."""
        row = self._row(request_id)
        return self._report(row)

    def log(self, request_id=None):
        """All log lines of one invocation: [INIT_REPORT], START, handler output, END, REPORT."""
        row = self._row(request_id)
        return self._log_lines(row)

    def log_lines(self, function=None):
        """Every invocation's log lines in start order (what CloudWatch Logs would hold)."""
        out = []
        for row in sorted(self._rows, key=lambda r: (r[10], r[12])):
            if row[17] != "throttled" and (function is None or row[1] == getattr(function, "name", function)):
                out.extend(self._log_lines(row))
        return out

    def _row(self, request_id):
        for row in self._rows if request_id is not None else sorted(self._rows, key=lambda r: r[10]):
            if (request_id is None and row[17] != "throttled") or row[0] == request_id:
                return row
        raise KeyError(f"no invocation {request_id!r} in this run")

    def _report(self, row):
        rid, outcome = row[0], row[17]
        status = None
        if outcome == "timeout":
            status = "timeout"
        elif rid in self._acct.runtime_errors:
            status = "error"
        return logs.report_line(rid, row[14], row[15], row[16], row[13] if row[8] else math.nan,
                                status=status, error_type=row[18])

    def _log_lines(self, row):
        rid = row[0]
        lines = []
        if rid in self._acct.init_reports:
            lines.append(self._acct.init_reports[rid])
        lines.append(logs.start_line(rid))
        lines.extend(self._acct.logs.get(rid, ()))
        lines.append(logs.end_line(rid))
        lines.append(self._report(row))
        return lines

    # -- plots -----------------------------------------------------------------------
    @property
    def plot(self):
        from .plots import RunPlots
        return RunPlots(self)

    def __repr__(self):
        s = self.summary()
        return (f"<Run {s['calls']} calls, {s['invocations']} invocations, {s['throttles']} throttles, "
                f"{s['cold_starts']} cold starts over {s['simulated_s']} s>")


def _r(x, nd=2):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)
