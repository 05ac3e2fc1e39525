"""Client-side retries of throttled calls, as an AWS SDK makes them.

One policy object, used by every caller that retries: synchronous invocations
(``lab.invoke(..., retry=...)``), the simulated boto3 clients inside handlers, and
the real-AWS driver. The delay before attempt ``n + 1`` is
``uniform(0, 1) * min(base_s * 2 ** (n - 1), cap_s)`` ("full jitter").
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from . import facts, validation


@dataclass(frozen=True)
class SdkRetry:
    """Client-side retries of throttled calls, as an AWS SDK does them.

    The delay before attempt ``n + 1`` is ``uniform(0, 1) * min(base_s * 2 ** (n - 1), cap_s)``
    ("full jitter"). ``SdkRetry()`` is botocore's *standard* mode (3 attempts in
    all, cap 20 s); ``SdkRetry.legacy()`` is botocore's default *legacy* mode
    (5 attempts, no cap).
    """

    max_attempts: int = facts.SDK_STANDARD_MAX_ATTEMPTS
    base_s: float = facts.SDK_STANDARD_BASE_S
    cap_s: float = facts.SDK_STANDARD_CAP_S

    def __post_init__(self) -> None:
        validation.integer("max_attempts", self.max_attempts, 1, 100)
        validation.number("base_s", self.base_s, 0, 3600)
        validation.number("cap_s", self.cap_s, 0, allow_inf=True)

    @classmethod
    def legacy(cls) -> SdkRetry:
        return cls(max_attempts=5, base_s=1.0, cap_s=math.inf)

    def delay(self, failed_attempt: int, rng: random.Random) -> float:
        """Seconds to wait after attempt ``failed_attempt`` was throttled."""
        return rng.random() * min(self.base_s * 2 ** (failed_attempt - 1), self.cap_s)
