"""One SQS message and its states.

A message is ``VISIBLE`` (receivable) or ``INFLIGHT`` (received, hidden until
its visibility timeout ends) while it is in the queue (``LIVE``), then leaves it
for good: ``DELETED`` (processed), ``DEAD_LETTERED`` (moved by the redrive
policy) or ``EXPIRED`` (past the retention period).
"""

from __future__ import annotations

import hashlib

# Message states.
VISIBLE, INFLIGHT, DELETED, DEAD_LETTERED, EXPIRED = "visible", "in_flight", "deleted", "dead_lettered", "expired"
LIVE = (VISIBLE, INFLIGHT)


class Message:
    """One message in a queue, with its SQS system attributes."""

    __slots__ = ("message_id", "body", "md5", "group_id", "dedup_id", "seq", "sent_s", "expire_s",
                 "receive_count", "first_receive_s", "state", "receipt_handle", "visible_at", "token",
                 "message_attributes", "ledger_key", "settled_s", "settle_order")

    def __init__(self, message_id: str, body: str, group_id: str | None, dedup_id: str | None, seq: int,
                 sent_s: float, expire_s: float, message_attributes: dict, ledger_key: str) -> None:
        self.message_id, self.body = message_id, body
        self.md5 = hashlib.md5(body.encode()).hexdigest()
        self.group_id, self.dedup_id = group_id, dedup_id
        self.seq, self.sent_s, self.expire_s = seq, sent_s, expire_s
        self.receive_count = 0
        self.first_receive_s = None
        self.state = VISIBLE
        self.receipt_handle = None
        self.visible_at = sent_s
        self.token = 0                 # bumped each time it becomes visible (lazy heap entries)
        self.message_attributes = message_attributes
        self.ledger_key = ledger_key
        self.settled_s = None
        self.settle_order = None       # global order of settling, to compare messages settled at one instant

    def __repr__(self) -> str:
        g = f", group={self.group_id}" if self.group_id is not None else ""
        return f"<Message {self.message_id[:8]} {self.state}, received {self.receive_count}x{g}>"
