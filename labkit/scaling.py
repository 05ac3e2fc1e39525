"""How fast Lambda may create new execution environments.

Two models, both as token buckets where one token is one new environment:

* ``"per-function"`` (current, since late Nov 2023): each function has its own
  bucket of 1,000 environments per 10 s, refilled continuously (100 per second)
  and never holding more than 1,000.
* ``"legacy-account"`` (before Nov 2023): one bucket for the whole account, with
  the Region's initial burst (500, 1,000 or 3,000) as its capacity, refilled at
  500 environments per minute.

A request that needs a new environment when its bucket holds less than one
token is throttled.
"""

from . import facts
from .errors import InvalidParameterValueException

SCALING_MODELS = ("per-function", "legacy-account")


class TokenBucket:
    """A continuously refilled bucket that does not accrue above ``capacity``."""

    __slots__ = ("capacity", "rate_per_s", "_tokens", "_updated")

    def __init__(self, capacity, rate_per_s, now=0.0):
        self.capacity = float(capacity)
        self.rate_per_s = float(rate_per_s)
        self._tokens = float(capacity)
        self._updated = now

    def tokens(self, now):
        """Tokens available at ``now`` (time never runs backwards)."""
        if now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
        return self._tokens

    def take(self, now):
        """Take one token if there is one; return whether it was taken."""
        if self.tokens(now) >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def legacy_burst(region):
    """The pre-Nov-2023 initial burst of a Region."""
    return facts.LEGACY_BURST_BY_REGION.get(region, facts.LEGACY_BURST_OTHER_REGIONS)


def new_bucket(model, region="us-east-1", now=0.0):
    if model == "per-function":
        return TokenBucket(facts.SCALING_BUCKET_CAPACITY,
                           facts.SCALING_BUCKET_CAPACITY / facts.SCALING_BUCKET_WINDOW_S, now)
    if model == "legacy-account":
        return TokenBucket(legacy_burst(region), facts.LEGACY_SCALE_PER_MINUTE / 60.0, now)
    raise InvalidParameterValueException("scaling_model", model, f"one of {SCALING_MODELS}")
