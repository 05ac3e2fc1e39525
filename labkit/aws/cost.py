"""What an experiment on AWS will cost, worked out *before* anything is created, and a budget guard.

``estimate(workload, duration_ms=..., memory_mb=..., architecture=...)`` counts the workload's
calls (an open loop's arrivals, or a closed loop's ``clients x requests_per_client``, or an upper
bound from ``seconds``), assumes a cold start in every environment the workload can keep busy at
once, and prices every invocation with ``labkit.billing`` (request charge + GB-s, init billed as
AWS bills it since Aug 2025), plus provisioned concurrency billed for as long as it is configured.
Prices come from ``labkit.facts``; the two provisioned-concurrency figures that ``labkit.facts``
does not hold yet are defined once below with their source (to move to ``labkit/facts.py``).

The estimate is an upper bound on purpose: no free tier, every invocation at the on-demand duration
price (provisioned environments are billed less per GB-s), ``duration_ms`` defaulting to the
function's timeout. Excluded, and said so in every estimate: CloudWatch Logs ingestion and storage
(``labkit.facts`` has no price for it; a REPORT-only log of a small run is a few KB), data transfer,
X-Ray, and the IAM/CloudWatch API calls of deploy and teardown (free).

Every number is checked (``labkit.validation``): NaN, infinity or a negative count would make
an estimate that no budget refuses, so they raise ``InvalidParameterValueException`` instead.

``Budget(budget_usd=0.50)`` refuses an estimate over the budget with ``BudgetExceeded`` before
anything exists, and keeps a thread-safe running total during a run: the driver ``reserve``s the
expected cost of each call before sending it, ``settle``s it with the billed cost when the REPORT
arrives, and stops dispatching once a reservation is refused.
"""

import math
import random
import threading
from dataclasses import dataclass, field

from .. import billing, facts, validation

# --- Prices labkit.facts does not hold yet (facts sheet, section 6 and the 2026-12 corrections) --------
PROVISIONED_PRICE_PER_GB_S_USD = 0.0000041667   # allocation, x86; also used for arm64 (an upper bound)
PROVISIONED_BILLING_STEP_S = 300                # allocation billed from enable to disable, rounded up to 5 min
SOURCES = {
    "PROVISIONED_PRICE_PER_GB_S_USD": (
        "aws.amazon.com/lambda/pricing, provisioned concurrency section (facts sheet section 6): "
        "$0.0000041667 per GB-s allocated (x86). The Arm allocation price is not on the facts sheet; "
        "the estimate uses the x86 figure for both, which can only overestimate", "2026-12-05"),
    "PROVISIONED_BILLING_STEP_S": (
        "aws.amazon.com/lambda/pricing (facts sheet section 6): charged from enable to disable, "
        "rounded up to the nearest 5 minutes", "2026-12-05"),
}

EXCLUDED = (
    "CloudWatch Logs ingestion and storage (no price in labkit.facts; a few KB per run)",
    "the free tier (the estimate is an upper bound)",
    "data transfer and X-Ray",
)

DEFAULT_BUDGET_USD = 0.50


class BudgetExceeded(RuntimeError):
    """An estimate or a charge would take the spending past the budget."""


@dataclass(frozen=True)
class Estimate:
    requests: int                   # calls the workload makes
    invocations: int                # billed invocations (requests x invocations_per_call)
    duration_ms: float              # assumed Duration of one invocation
    cold_starts: int
    init_duration_ms: float
    memory_mb: int
    architecture: str
    provisioned_concurrency: int
    provisioned_seconds: float
    request_usd: float
    duration_usd: float
    provisioned_usd: float
    excluded: tuple = field(default=EXCLUDED)

    @property
    def total_usd(self):
        return self.request_usd + self.duration_usd + self.provisioned_usd

    @property
    def per_invocation_usd(self):
        """Expected cost of one warm invocation (what the driver reserves per call)."""
        return billing.invocation_cost(self.memory_mb, billing.billed_duration_ms(self.duration_ms),
                                       self.architecture)

    def __str__(self):
        lines = [f"Estimated cost: ${self.total_usd:.6f} (upper bound)",
                 f"  requests      {self.invocations:>8} x $0.20/1M          = ${self.request_usd:.6f}",
                 f"  duration      {self.invocations:>8} x {self.duration_ms:.0f} ms at {self.memory_mb} MB "
                 f"{self.architecture}, {self.cold_starts} cold starts x {self.init_duration_ms:.0f} ms init"
                 f" = ${self.duration_usd:.6f}"]
        if self.provisioned_concurrency:
            lines.append(f"  provisioned   {self.provisioned_concurrency} x {self.memory_mb} MB for "
                         f"{self.provisioned_seconds:.0f} s (billed in 5-minute steps) = ${self.provisioned_usd:.6f}")
        lines.append("  not included: " + "; ".join(self.excluded))
        return "\n".join(lines)


def _peak_in_window(offsets, window_s):
    """Most arrivals within any window of ``window_s`` seconds (how many calls can overlap)."""
    best, j = 0, 0
    for i, t in enumerate(offsets):
        while offsets[j] < t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def workload_shape(workload, duration_s, seed=0, init_s=0.0):
    """``(calls, concurrency)`` of a workload: how many calls it makes (a closed loop bounded by
    ``seconds`` is counted with warm calls of ``duration_s``), and at most how many can be in
    flight together when each lasts ``duration_s + init_s`` (the thread-pool size a driver needs)."""
    if getattr(workload, "closed", False):
        clients = workload.clients
        if workload.requests_per_client is not None:
            per_client = workload.requests_per_client
            if workload.seconds is not None:
                cycle = max(duration_s + workload.think_s, 1e-3)
                per_client = min(per_client, int(workload.seconds // cycle) + 1)
        else:
            cycle = max(duration_s + workload.think_s, 1e-3)
            per_client = int(workload.seconds // cycle) + 1
        return clients * per_client, clients
    offsets = sorted(t for t, _ in workload.events(random.Random(seed)))
    if not offsets:
        return 0, 0
    return len(offsets), max(1, _peak_in_window(offsets, duration_s + init_s))


def provisioned_cost(concurrency, memory_mb, seconds):
    """Allocation charge of ``concurrency`` provisioned environments kept for ``seconds``."""
    if not concurrency:
        return 0.0
    billed_s = math.ceil(max(seconds, 1e-9) / PROVISIONED_BILLING_STEP_S) * PROVISIONED_BILLING_STEP_S
    return concurrency * billing.gb_seconds(memory_mb, billed_s * 1000) * PROVISIONED_PRICE_PER_GB_S_USD


def estimate(workload=None, *, requests=None, duration_ms=None, timeout_s=facts.DEFAULT_TIMEOUT_S,
             memory_mb=facts.DEFAULT_MEMORY_MB, architecture="x86_64", concurrency=None, cold_starts=None,
             init_duration_ms=facts.RUNTIME_INIT_MS, provisioned_concurrency=0, provisioned_seconds=0.0,
             invocations_per_call=1, billing_model=facts.DEFAULT_BILLING_MODEL, seed=0):
    """Price a workload (or ``requests`` calls) before running it; see the module docstring.

    ``duration_ms``: the expected Duration of one invocation (measured in the simulator, or
    assumed); ``None`` takes the whole ``timeout_s``. ``invocations_per_call``: 3 bounds an
    asynchronous call whose function errors are retried twice by Lambda.
    """
    if architecture not in facts.PRICE_PER_GB_S_USD:
        raise ValueError(f"architecture must be one of {sorted(facts.PRICE_PER_GB_S_USD)}, not {architecture!r}")
    _check_estimate(requests=requests, duration_ms=duration_ms, timeout_s=timeout_s, memory_mb=memory_mb,
                    concurrency=concurrency, cold_starts=cold_starts, init_duration_ms=init_duration_ms,
                    provisioned_concurrency=provisioned_concurrency, provisioned_seconds=provisioned_seconds,
                    invocations_per_call=invocations_per_call)
    if duration_ms is None:
        duration_ms = timeout_s * 1000.0
    if requests is None:
        if workload is None:
            raise ValueError("give a workload or a number of requests")
        requests, peak = workload_shape(workload, duration_ms / 1000.0, seed, init_duration_ms / 1000.0)
        concurrency = peak if concurrency is None else concurrency
    concurrency = requests if concurrency is None else concurrency
    invocations = int(requests) * int(invocations_per_call)
    if cold_starts is None:
        cold_starts = max(0, min(invocations, concurrency) - int(provisioned_concurrency))
    warm = invocations - cold_starts
    price = facts.PRICE_PER_GB_S_USD[architecture]
    warm_ms = billing.billed_duration_ms(duration_ms, model=billing_model)
    cold_ms = billing.billed_duration_ms(duration_ms, init_duration_ms, model=billing_model)
    duration_usd = (warm * billing.gb_seconds(memory_mb, warm_ms)
                    + cold_starts * billing.gb_seconds(memory_mb, cold_ms)) * price
    return Estimate(requests=int(requests), invocations=invocations, duration_ms=float(duration_ms),
                    cold_starts=int(cold_starts), init_duration_ms=float(init_duration_ms), memory_mb=int(memory_mb),
                    architecture=architecture, provisioned_concurrency=int(provisioned_concurrency),
                    provisioned_seconds=float(provisioned_seconds),
                    request_usd=invocations * facts.PRICE_PER_REQUEST_USD, duration_usd=duration_usd,
                    provisioned_usd=provisioned_cost(provisioned_concurrency, memory_mb, provisioned_seconds))


def _check_estimate(*, requests, duration_ms, timeout_s, memory_mb, concurrency, cold_starts, init_duration_ms,
                    provisioned_concurrency, provisioned_seconds, invocations_per_call):
    """``estimate``'s numbers: counts are integers (512.0 counts as 512), amounts finite and not negative."""
    for name, v in (("requests", requests), ("concurrency", concurrency), ("cold_starts", cold_starts)):
        if v is not None:
            validation.integer(name, v, 0, whole_floats=True)
    validation.integer("provisioned_concurrency", provisioned_concurrency, 0, whole_floats=True)
    validation.integer("invocations_per_call", invocations_per_call, 1, whole_floats=True)
    validation.integer("memory_mb", memory_mb, *facts.MEMORY_MB_RANGE, unit=" MB", whole_floats=True)
    validation.number("timeout_s", timeout_s, *facts.TIMEOUT_S_RANGE, unit=" seconds")
    if duration_ms is not None:
        validation.number("duration_ms", duration_ms, 0, unit=" ms")
    validation.number("init_duration_ms", init_duration_ms, 0, unit=" ms")
    validation.seconds("provisioned_seconds", provisioned_seconds)


class Budget:
    """A spending limit in USD: refuses estimates over it, and tracks a run's running total.

    Thread-safe. ``reserve(usd)`` books the expected cost of one call before it is sent and
    returns False (and marks the budget ``stopped``) when that would pass the limit;
    ``settle(reserved, actual)`` replaces a reservation with what was billed.
    """

    def __init__(self, budget_usd=DEFAULT_BUDGET_USD):
        validation.number("budget_usd", budget_usd, 0, lo_open=True, allowed="a finite number of US dollars > 0")
        self.budget_usd = float(budget_usd)
        self._spent = 0.0
        self._reserved = 0.0
        self.stopped = False
        self._lock = threading.Lock()

    def __repr__(self):
        return (f"Budget(budget_usd={self.budget_usd:.2f}, spent_usd={self.spent_usd:.6f}, "
                f"reserved_usd={self.reserved_usd:.6f})")

    @property
    def spent_usd(self):
        return self._spent

    @property
    def reserved_usd(self):
        return self._reserved

    @property
    def remaining_usd(self):
        return self.budget_usd - self._spent - self._reserved

    def check(self, est):
        """Raise ``BudgetExceeded`` if the estimate does not fit in what is left of the budget."""
        total = est.total_usd if isinstance(est, Estimate) else float(est)
        # A NaN estimate would pass the comparison below, whatever the budget.
        validation.number("est", total, 0, allowed="an Estimate or a finite number of US dollars >= 0")
        if total > self.remaining_usd:
            raise BudgetExceeded(
                f"This experiment is estimated at ${total:.4f}, over what is left of the budget "
                f"(${self.remaining_usd:.4f} of ${self.budget_usd:.2f}). Nothing was created. Make the workload "
                f"smaller (fewer requests, less memory, shorter handler) or pass a larger budget_usd."
                + (f"\n{est}" if isinstance(est, Estimate) else ""))
        return est

    def reserve(self, usd):
        with self._lock:
            if self.stopped or self._spent + self._reserved + usd > self.budget_usd:
                self.stopped = True
                return False
            self._reserved += usd
            return True

    def settle(self, reserved, actual):
        with self._lock:
            self._reserved = max(0.0, self._reserved - reserved)
            self._spent += actual

    def charge(self, usd):
        """Book a cost that is incurred whatever happens (provisioned concurrency once enabled)."""
        with self._lock:
            self._spent += usd
            if self._spent + self._reserved >= self.budget_usd:
                self.stopped = True
