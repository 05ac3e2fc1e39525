"""The settings of a Kinesis event source mapping (``CreateEventSourceMapping``), checked."""

from __future__ import annotations

from dataclasses import dataclass

from ... import facts, validation
from ...errors import InvalidParameterValueException
from ..destinations import DestinationQueue
from .params import check_int

STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")


@dataclass(frozen=True)
class KinesisMappingConfig:
    """``CreateEventSourceMapping`` for a Kinesis stream (plus two labkit options).

    ``retry_delay_s`` (wait before retrying a failed batch) and
    ``throttle_backoff_s`` ((first, max) of the doubling backoff after a throttle)
    are labkit options: AWS documents neither.
    """

    batch_size: int = facts.KINESIS_ESM_DEFAULT_BATCH_SIZE
    maximum_batching_window_s: int = facts.KINESIS_ESM_DEFAULT_BATCHING_WINDOW_S
    parallelization_factor: int = 1
    starting_position: str = "TRIM_HORIZON"
    maximum_retry_attempts: int = facts.KINESIS_ESM_DEFAULT_MAX_RETRY_ATTEMPTS
    maximum_record_age_s: int = facts.KINESIS_ESM_DEFAULT_MAX_RECORD_AGE_S
    bisect_batch_on_function_error: bool = False
    report_batch_item_failures: bool = False
    on_failure: DestinationQueue | None = None
    retry_delay_s: float = facts.KINESIS_ESM_RETRY_DELAY_S
    throttle_backoff_s: tuple[float, float] = facts.KINESIS_ESM_THROTTLE_BACKOFF_S

    def __post_init__(self) -> None:
        check_int("BatchSize", self.batch_size, *facts.KINESIS_ESM_BATCH_SIZE_RANGE)
        check_int("MaximumBatchingWindowInSeconds", self.maximum_batching_window_s,
                   *facts.KINESIS_ESM_BATCHING_WINDOW_S_RANGE)
        check_int("ParallelizationFactor", self.parallelization_factor,
                   *facts.KINESIS_ESM_PARALLELIZATION_FACTOR_RANGE)
        if self.starting_position not in STARTING_POSITIONS:
            raise InvalidParameterValueException("StartingPosition", self.starting_position,
                                                 f"one of {STARTING_POSITIONS} (labkit supports these)")
        lo, hi = facts.KINESIS_ESM_MAX_RETRY_ATTEMPTS_RANGE
        check_int("MaximumRetryAttempts", self.maximum_retry_attempts, lo, hi,
                  allowed=f"-1 (retry until the records expire) or an integer from 0 to {hi:,}")
        lo, hi = facts.KINESIS_ESM_MAX_RECORD_AGE_S_RANGE
        check_int("MaximumRecordAgeInSeconds", self.maximum_record_age_s, lo, hi, also=-1,
                   allowed=f"-1 (no limit) or an integer from {lo:,} to {hi:,}")
        for name in ("bisect_batch_on_function_error", "report_batch_item_failures"):
            validation.boolean(name, getattr(self, name))
        if self.on_failure is not None and not isinstance(self.on_failure, DestinationQueue):
            raise InvalidParameterValueException("on_failure", self.on_failure, "None or a destination queue")
        validation.seconds("retry_delay_s", self.retry_delay_s, lo_open=True,
                           allowed=f"a number of seconds > 0 and at most {validation.MAX_SIMULATED_S:,.0f} "
                                   "(labkit option)")
        validation.delay_pair("throttle_backoff_s", self.throttle_backoff_s,
                              allowed=f"(first_s, max_s) with 0 < first_s <= max_s <= "
                                      f"{validation.MAX_SIMULATED_S:,.0f} seconds (labkit option)")
