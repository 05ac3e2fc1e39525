"""Errors of the simulated DynamoDB, with the codes and wording AWS uses.

Every refusal is a ``DynamoDBError``: ``code`` is the error code DynamoDB
returns (``ValidationException``, ``ConditionalCheckFailedException``, ...),
``message`` its text. ``labkit.services.fake_boto3`` turns one into the
botocore ``ClientError`` that boto3 raises. Nothing in this module knows about
tables or expressions; the other modules of the package raise these errors.
"""

from __future__ import annotations

from typing import Any

VALIDATION = "ValidationException"
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
RESOURCE_NOT_FOUND = "ResourceNotFoundException"

MSG_CONDITION_FAILED = "The conditional request failed"
MSG_THROUGHPUT = ("The level of configured provisioned throughput for the table was exceeded. "
                  "Consider increasing your provisioning level with the UpdateTable API.")
MSG_RESOURCE_NOT_FOUND = "Requested resource not found"
MSG_KEY_MISMATCH = "The provided key element does not match the schema"
MSG_OPERAND_TYPE = "An operand in the update expression has an incorrect data type"
MSG_INVALID_UPDATE_PATH = "The document path provided in the update expression is invalid for update"


class DynamoDBError(Exception):
    """An error DynamoDB would return: ``code`` (e.g. ``ConditionalCheckFailedException``),
    ``message``, and for a failed condition with ``ReturnValuesOnConditionCheckFailure``
    the item as it was (``item``)."""

    def __init__(self, code: str, message: str, item: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.item = code, message, item


def validation(message: str) -> DynamoDBError:
    """A ``ValidationException``: the request itself is invalid (nothing was read or written)."""
    return DynamoDBError(VALIDATION, message)
