"""The shapes of the SQS API and of Lambda's SQS event, apart from the queue's state.

Functions of a message and a few queue settings, with no queue state: checking
a ``SendMessage`` request, its result, what ``ReceiveMessage`` returns for a
message, the message's system ``Attributes`` and the record Lambda puts in
``event["Records"]``. ``labkit.event_sources.sqs.queue`` calls them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ... import facts
from ...errors import InvalidParameterValueException
from .message import Message

# The SenderId shown in AWS's example SQS event (an IAM user id).
SENDER_ID = "AIDAIENQZJOLO23YVJ4VO"


def check_send(fifo: bool, content_based_deduplication: bool, body: Any, group: Any, dedup: Any,
               attrs: Any) -> tuple[str, str | None, str | None, dict]:
    """Check a ``SendMessage`` request for a queue of this type; return ``(body, group,
    deduplication id, message attributes)``, the deduplication id derived from the body
    (SHA-256) on a FIFO queue with content-based deduplication and none given."""
    if not isinstance(body, str) or not body:
        raise InvalidParameterValueException(
            "MessageBody", body if not isinstance(body, (dict, list)) else type(body).__name__,
            "a non-empty string (json.dumps a dict first)")
    size = len(body.encode())
    if size > facts.SQS_MAX_MESSAGE_BYTES:
        raise InvalidParameterValueException("MessageBody", f"{size} bytes",
                                             f"at most {facts.SQS_MAX_MESSAGE_BYTES:,} bytes")
    if attrs is not None and not isinstance(attrs, dict):
        raise InvalidParameterValueException("MessageAttributes", attrs, "None or a dict")
    if fifo:
        if not isinstance(group, str) or not group:
            raise InvalidParameterValueException("MessageGroupId", group, "a non-empty string on a FIFO queue")
        if dedup is None:
            if not content_based_deduplication:
                raise InvalidParameterValueException(
                    "MessageDeduplicationId", None,
                    "a string, unless the queue has ContentBasedDeduplication enabled")
            dedup = hashlib.sha256(body.encode()).hexdigest()
        elif not isinstance(dedup, str) or not dedup:
            raise InvalidParameterValueException("MessageDeduplicationId", dedup, "a non-empty string")
    else:
        if dedup is not None:
            raise InvalidParameterValueException("MessageDeduplicationId", dedup,
                                                 "None on a standard queue (only FIFO queues deduplicate)")
        if group is not None and (not isinstance(group, str) or not group):
            raise InvalidParameterValueException("MessageGroupId", group, "None or a non-empty string")
    return body, group, dedup, dict(attrs or {})


def send_result(msg: Message, fifo: bool) -> dict[str, str]:
    """What ``SendMessage`` returns for ``msg``."""
    out = {"MessageId": msg.message_id, "MD5OfMessageBody": msg.md5}
    if fifo:
        out["SequenceNumber"] = f"{msg.seq:020d}"
    return out


def epoch_ms(epoch_s: float, t: float) -> str:
    """Simulated time ``t`` as SQS writes a timestamp: epoch milliseconds, as a string."""
    return str(int(round((epoch_s + t) * 1000)))


def system_attributes(msg: Message, fifo: bool, epoch_s: float) -> dict[str, str | None]:
    """The message's ``Attributes`` as SQS returns them (strings)."""
    a: dict[str, str | None] = {
        "ApproximateReceiveCount": str(msg.receive_count), "SentTimestamp": epoch_ms(epoch_s, msg.sent_s),
        "SenderId": SENDER_ID,
        "ApproximateFirstReceiveTimestamp": epoch_ms(epoch_s, msg.first_receive_s)
        if msg.first_receive_s is not None else ""}
    if fifo:
        a["SequenceNumber"] = f"{msg.seq:020d}"
        a["MessageGroupId"] = msg.group_id
        a["MessageDeduplicationId"] = msg.dedup_id
    elif msg.group_id is not None:
        a["MessageGroupId"] = msg.group_id
    return a


def received_message(msg: Message, attributes: dict[str, str | None]) -> dict[str, Any]:
    """One element of ``ReceiveMessage``'s ``Messages``."""
    return {"MessageId": msg.message_id, "ReceiptHandle": msg.receipt_handle, "Body": msg.body,
            "MD5OfBody": msg.md5, "Attributes": attributes}


def lambda_record(msg: Message, attributes: dict[str, str | None], queue_arn: str, region: str) -> dict[str, Any]:
    """One element of the ``Records`` list Lambda passes to the function."""
    attrs = {}
    for k, v in msg.message_attributes.items():
        v = v if isinstance(v, dict) else {"DataType": "String", "StringValue": str(v)}
        attrs[k] = {"stringValue": v.get("StringValue"), "binaryValue": v.get("BinaryValue"),
                    "stringListValues": [], "binaryListValues": [], "dataType": v.get("DataType", "String")}
    return {"messageId": msg.message_id, "receiptHandle": msg.receipt_handle, "body": msg.body,
            "attributes": attributes, "messageAttributes": attrs, "md5OfBody": msg.md5,
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region}
