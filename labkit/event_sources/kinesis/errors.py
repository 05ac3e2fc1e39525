"""The error a Kinesis put over a shard's write limit raises."""

from __future__ import annotations

from ... import arns
from ...errors import LambdaError

ACCOUNT_ID = arns.ACCOUNT_ID


class ProvisionedThroughputExceededException(LambdaError):
    """A put over a shard's write limit (HTTP 400), with Kinesis's message."""

    status = 400

    def __init__(self, stream_name: str, shard_id: str) -> None:
        self.stream_name, self.shard_id = stream_name, shard_id
        super().__init__(f"Rate exceeded for shard {shard_id} in stream {stream_name} under account {ACCOUNT_ID}.")
