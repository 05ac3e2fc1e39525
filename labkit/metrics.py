"""CloudWatch-style metrics computed from invocation records.

Names follow the ``AWS/Lambda`` namespace: ``Invocations`` (billed requests:
not throttles), ``Errors`` (function errors and timeouts), ``Throttles``,
``ConcurrentExecutions`` (the maximum number of in-flight requests in the
period, init included), ``Duration`` (average, p50, p99) and ``ColdStarts``
(not a CloudWatch metric; counted from Init Duration). Datapoints are
timestamped at the start of the invocation, as CloudWatch does for Errors.
"""

import numpy as np
import pandas as pd

from . import validation


def concurrency_steps(invocations):
    """The exact in-flight count as a step function: DataFrame of ``time_s`` and ``concurrency``.

    Each row gives the concurrency from ``time_s`` until the next row's time.
    Ends are processed before starts at the same instant (a freed environment
    can take the next request at once).
    """
    ran = invocations[invocations["outcome"] != "throttled"]
    times = np.concatenate([ran["start_s"].to_numpy(float), ran["end_s"].to_numpy(float)])
    deltas = np.concatenate([np.ones(len(ran), int), -np.ones(len(ran), int)])
    order = np.lexsort((deltas, times))   # by time, then -1 before +1
    t, d = times[order], deltas[order]
    level = np.cumsum(d)
    df = pd.DataFrame({"time_s": t, "concurrency": level})
    return df.groupby("time_s", sort=True, as_index=False).last()


def max_concurrency(invocations):
    steps = concurrency_steps(invocations)
    return int(steps["concurrency"].max()) if len(steps) else 0


def mean_concurrency(invocations, t0, t1):
    """Time-average of the in-flight count over [t0, t1] (Little's law's L)."""
    if t1 <= t0:
        return 0.0
    ran = invocations[invocations["outcome"] != "throttled"]
    s = np.clip(ran["start_s"].to_numpy(float), t0, t1)
    e = np.clip(ran["end_s"].to_numpy(float), t0, t1)
    return float((e - s).sum() / (t1 - t0))


def cloudwatch(invocations, period_s=60.0, t0=0.0, t1=None):
    """One row per period from ``t0``: the AWS/Lambda metrics of that period. ``period_s``: a
    number of seconds > 0 giving at most ``labkit.validation.MAX_PERIODS`` periods."""
    validation.number("t0", t0, 0, unit=" seconds")
    if t1 is None:
        t1 = float(invocations["end_s"].max()) if len(invocations) else t0
    validation.number("t1", t1, 0, unit=" seconds")
    validation.period("period_s", period_s, t1 - t0)
    n = max(1, int(np.ceil((t1 - t0) / period_s - 1e-9)))
    edges = t0 + period_s * np.arange(n + 1)
    inv = invocations
    period = np.minimum(((inv["start_s"].to_numpy(float) - t0) // period_s).astype(int), n - 1)
    out = pd.DataFrame({"period_start_s": edges[:-1]})
    ran = inv["outcome"].to_numpy() != "throttled"
    err = np.isin(inv["outcome"].to_numpy(), ("error", "timeout"))
    cold = inv["cold"].to_numpy(bool)
    out["Invocations"] = np.bincount(period[ran], minlength=n)
    out["Errors"] = np.bincount(period[err], minlength=n)
    out["Throttles"] = np.bincount(period[~ran], minlength=n)
    out["ColdStarts"] = np.bincount(period[cold & ran], minlength=n)
    # ConcurrentExecutions: maximum of the step function within each period.
    steps = concurrency_steps(inv)
    conc = np.zeros(n, int)
    if len(steps):
        st = steps["time_s"].to_numpy(float)
        lv = steps["concurrency"].to_numpy(int)
        for k in range(n):
            lo, hi = edges[k], edges[k + 1]
            before = np.searchsorted(st, lo, side="right") - 1
            inside = lv[(st >= lo) & (st < hi)]
            vals = list(inside) + ([lv[before]] if before >= 0 else [])
            conc[k] = max(vals) if vals else 0
    out["ConcurrentExecutions"] = conc
    dur = pd.Series(inv["duration_ms"].to_numpy(float)[ran], index=period[ran])
    g = dur.groupby(level=0)
    out["DurationAvg_ms"] = g.mean().reindex(range(n)).to_numpy()
    out["DurationP50_ms"] = g.quantile(0.5).reindex(range(n)).to_numpy()
    out["DurationP99_ms"] = g.quantile(0.99).reindex(range(n)).to_numpy()
    return out


def add_async_metrics(out, async_events, invocations, period_s, t0):
    """Add AsyncEventsReceived, AsyncEventAge (avg and max, ms) and AsyncEventsDropped columns.

    AsyncEventAge is the time an event spent in Lambda's queue before an invocation
    attempt, stamped at that attempt; dropped events are counted when dropped.
    """
    n = len(out)

    def period_of(times):
        return np.clip(((np.asarray(times, float) - t0) // period_s).astype(int), 0, n - 1)

    out["AsyncEventsReceived"] = np.bincount(period_of(async_events["received_s"]), minlength=n)[:n]
    dropped = async_events[async_events["state"] == "dropped"]
    out["AsyncEventsDropped"] = np.bincount(period_of(dropped["finished_s"]), minlength=n)[:n]
    received = dict(zip(async_events["event_id"], async_events["received_s"], strict=True))
    ev = invocations[invocations["invocation_type"] == "Event"]
    ev = ev[ev["event_id"].isin(received.keys())]
    age_ms = (ev["start_s"].to_numpy(float) - ev["event_id"].map(received).to_numpy(float)) * 1000
    ages = pd.Series(age_ms, index=period_of(ev["start_s"]))
    g = ages.groupby(level=0)
    out["AsyncEventAgeAvg_ms"] = g.mean().reindex(range(n)).to_numpy()
    out["AsyncEventAgeMax_ms"] = g.max().reindex(range(n)).to_numpy()
    return out
