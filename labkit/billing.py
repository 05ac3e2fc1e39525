"""The cost model: billed duration, GB-seconds and price of one invocation.

An explicit model in the style of AWS Lambda Power Tuning, so every experiment
can report what it would cost. Billing models (``facts.BILLING_MODELS``):

* ``"2025-08"`` (default, current): duration plus Init Duration, rounded up to 1 ms;
* ``"2020-12"``: duration only, rounded up to 1 ms (Dec 2020 - Jul 2025);
* ``"pre-2020-12"``: duration only, rounded up to the next 100 ms.

Provisioned-concurrency environments never bill their init as duration: their
init happened before traffic, under the provisioned-concurrency charge.
"""

import math

from . import facts
from .errors import InvalidParameterValueException


def _check_model(model):
    if model not in facts.BILLING_MODELS:
        raise InvalidParameterValueException("billing_model", model, f"one of {list(facts.BILLING_MODELS)}")
    return facts.BILLING_MODELS[model]


def billed_duration_ms(duration_ms, init_duration_ms=0.0, model=facts.DEFAULT_BILLING_MODEL):
    """Billed Duration as the REPORT line shows it (an integer number of ms).

    >>> billed_duration_ms(1655.10, 322.04)
    1978
    >>> billed_duration_ms(1154.11, 216.65, model="2020-12")
    1155
    >>> billed_duration_ms(385, model="pre-2020-12")
    400
    """
    step, init_billed = _check_model(model)
    total = duration_ms + (init_duration_ms if init_billed else 0.0)
    # Round to a microsecond first so float noise (100.00000000001) cannot add a ms.
    total = round(total, 3)
    # A real invocation always takes some time, so AWS never bills less than one step;
    # a simulated handler that spends no simulated time must not bill 0.
    return max(step, int(math.ceil(total / step) * step))


def gb_seconds(memory_mb, billed_ms):
    """GB-s = (MemoryMB / 1024) x seconds, as AWS's pricing examples compute it."""
    return memory_mb / 1024 * billed_ms / 1000


def price_per_ms(memory_mb, architecture="x86_64"):
    """Price of one billed millisecond, first tier (rounded to 10 decimals as the pricing page does)."""
    return round(memory_mb / 1024 * facts.PRICE_PER_GB_S_USD[architecture] / 1000, 10)


def invocation_cost(memory_mb, billed_ms, architecture="x86_64"):
    """Request charge plus duration charge of one invocation, in USD (first tier, unrounded)."""
    return facts.PRICE_PER_REQUEST_USD + gb_seconds(memory_mb, billed_ms) * facts.PRICE_PER_GB_S_USD[architecture]
