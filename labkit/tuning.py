"""Memory sweeps in the style of AWS Lambda Power Tuning.

``power_tune`` deploys the same code at each memory size (and architecture), runs
``invocations`` calls at each, and reports per configuration:

* ``avg_duration_ms``: the trimmed mean of the *warm* durations, discarding the
  fastest and slowest ``discard_top_bottom`` share (Power Tuning's default 0.2);
* ``cold_duration_ms``: the mean of Init Duration + Duration over cold starts;
* ``avg_cost_usd``: the price of one invocation at the trimmed-mean duration
  (billed duration rounded up, plus the request charge);
* ``total_cost_usd``: what the calls at that size actually cost.

The best configuration follows Power Tuning's strategies: ``"cost"`` (cheapest;
ties to the faster), ``"speed"`` (fastest; ties to the cheaper) and
``"balanced"``, which minimises ``w * cost / max_cost + (1 - w) * duration /
max_duration`` with weight ``w`` (0 = speed, 1 = cost; a term whose maximum is 0,
a handler that takes 0 ms everywhere, counts 0). Only configurations with at
least one successful call (a measured duration) can be best: when every call of
the sweep failed there is no best configuration, and ``SweepResult.best`` raises
``NoBestConfiguration`` saying so. The sweep reports its own cost
(``SweepResult.sweep_cost_usd``), as Power Tuning does.
"""

import math
from dataclasses import dataclass

import pandas as pd

from . import billing, facts, validation, workload
from .errors import InvalidParameterValueException
from .lab import Lab
from .plots import sweep as plot_sweep

STRATEGIES = ("cost", "speed", "balanced")


class NoBestConfiguration(LookupError):
    """No configuration of a sweep had a successful call, so none can be called the best."""


def trimmed_mean(values, discard_top_bottom=0.2):
    """Mean after dropping ``int(n * share)`` values from each end (Power Tuning's rule)."""
    vals = sorted(values)
    if not vals:
        return math.nan
    k = int(len(vals) * discard_top_bottom)
    kept = vals[k:len(vals) - k] or vals
    return sum(kept) / len(kept)


def _measured(row):
    """Whether a configuration had a successful call: its duration and cost are numbers."""
    return validation.is_number(row["avg_duration_ms"]) and validation.is_number(row["avg_cost_usd"])


def choose_best(table, strategy="cost", balanced_weight=0.5):
    """The row of ``table`` (columns avg_cost_usd, avg_duration_ms) that ``strategy`` picks
    among the rows with a measured duration and cost (not NaN); None if there is no such row."""
    validation.choice("strategy", strategy, STRATEGIES)
    validation.number("balanced_weight", balanced_weight, 0, 1, allowed="a number from 0 (speed) to 1 (cost)")
    rows = [r for r in table.to_dict("records") if _measured(r)]
    if not rows:
        return None
    if strategy == "cost":
        def key(r):
            return (r["avg_cost_usd"], r["avg_duration_ms"])
    elif strategy == "speed":
        def key(r):
            return (r["avg_duration_ms"], r["avg_cost_usd"])
    else:
        max_cost = max(r["avg_cost_usd"] for r in rows)
        max_dur = max(r["avg_duration_ms"] for r in rows)

        def key(r):   # a term whose maximum is 0 is 0 in every row (a handler taking 0 ms)
            return (balanced_weight * (r["avg_cost_usd"] / max_cost if max_cost else 0.0)
                    + (1 - balanced_weight) * (r["avg_duration_ms"] / max_dur if max_dur else 0.0))
    return min(rows, key=key)


@dataclass
class SweepResult:
    table: pd.DataFrame
    strategy: str
    balanced_weight: float

    @property
    def has_best(self):
        """Whether some configuration had a successful call (so that ``best`` exists)."""
        return choose_best(self.table, self.strategy, self.balanced_weight) is not None

    @property
    def best(self):
        """The configuration ``strategy`` picks (a dict of its row); ``NoBestConfiguration`` if
        every call at every configuration failed."""
        best = choose_best(self.table, self.strategy, self.balanced_weight)
        if best is None:
            calls = int(self.table["invocations"].sum()) if len(self.table) else 0
            raise NoBestConfiguration(
                f"There is no best configuration: all {calls:,} calls of the sweep failed, at every memory "
                "size, so no duration or cost was measured (see the table's errors column).")
        return best

    @property
    def sweep_cost_usd(self):
        """What running the whole sweep cost (every invocation at every size)."""
        return float(self.table["total_cost_usd"].sum())

    def plot(self, ax=None):
        """Cost per invocation against duration, one labelled point per configuration."""
        return plot_sweep(self, ax=ax)


def power_tune(handler=None, *, source=None, memory_sizes=(128, 256, 512, 1024, 1536, 3008),
               invocations=10, payload=None, parallel=False, strategy="cost", balanced_weight=0.5,
               architectures=("x86_64",), discard_top_bottom=0.2, seed=1, **function_config):
    """Run the sweep (each configuration in a fresh, seeded Lab) and return a ``SweepResult``.

    ``parallel=False`` calls one after another (one cold start, then warm calls);
    ``parallel=True`` sends all calls at once (every call a cold start)."""
    validation.event_count("num", invocations, 1)
    validation.number("discardTopBottom", discard_top_bottom, 0, 0.4, allowed="a number from 0 to 0.4")
    if not memory_sizes:
        raise InvalidParameterValueException("powerValues", memory_sizes, "a non-empty list of memory sizes")
    choose_best(pd.DataFrame([{"avg_cost_usd": 1.0, "avg_duration_ms": 1.0}]), strategy, balanced_weight)
    rows = []
    for arch in architectures:
        for mem in memory_sizes:
            lab = Lab(seed=seed)
            kw = dict(function_config, memory_mb=mem, architecture=arch)
            fn = lab.function(handler, **kw) if source is None else lab.function(source=source, **kw)
            wl = (workload.parallel(invocations, payload=payload) if parallel
                  else workload.sequential(invocations, payload=payload))
            inv = lab.invoke(fn, wl).invocations
            ok = inv[inv["outcome"] == "success"]
            warm = ok[~ok["cold"]]["duration_ms"].tolist()
            cold = ok[ok["cold"]]
            avg = trimmed_mean(warm or ok["duration_ms"].tolist(), discard_top_bottom)
            billed = billing.billed_duration_ms(avg) if not math.isnan(avg) else math.nan
            rows.append({
                "memory_mb": mem, "architecture": arch, "invocations": len(inv),
                "errors": int((inv["outcome"] != "success").sum()),
                "avg_duration_ms": avg,
                "cold_duration_ms": (float((cold["duration_ms"] + cold["init_duration_ms"]).mean()) if len(cold)
                                     else math.nan),
                "avg_cost_usd": billing.invocation_cost(mem, billed, arch) if not math.isnan(avg) else math.nan,
                "total_cost_usd": float(inv["cost_usd"].sum()),
            })
    return SweepResult(pd.DataFrame(rows), strategy, balanced_weight)


def price_table(memory_sizes=(128, 512, 1024, 2048), architectures=("x86_64", "arm64")):
    """Published-style price per billed millisecond at each memory size (first tier)."""
    return pd.DataFrame([{"memory_mb": m, **{f"{a}_usd_per_ms": billing.price_per_ms(m, a) for a in architectures}}
                         for m in memory_sizes])


def fits_in_time_limit(duration_s):
    """Whether one invocation of ``duration_s`` fits in Lambda's 15-minute maximum timeout."""
    return duration_s <= facts.TIMEOUT_S_RANGE[1]
