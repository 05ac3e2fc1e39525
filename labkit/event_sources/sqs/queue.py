"""An SQS queue (standard or FIFO): the state of every message, and the API calls on it
(``send_message``, ``send_message_batch``, ``receive_message``, ``delete_message``; the
shapes of their requests and answers are in ``labkit.event_sources.sqs.shapes``).

* A received message is *in flight* (not visible) for the queue's visibility
  timeout (default 30 s, 0-43,200 s). Each receive increments its
  ``ApproximateReceiveCount`` and gives it a new receipt handle. Deleting with
  an older receipt handle does nothing (the message stays), as the SQS API
  describes; a message that is not deleted becomes visible again when its
  visibility timeout ends.
* **Redrive policy** (on the *source* queue): a message about to be received
  for the ``max_receive_count + 1``-th time moves to the dead-letter target
  instead (a ``DestinationQueue`` or another ``SqsQueue`` of the same type; it
  keeps its MessageId and original sent time). Without one, a poison message
  cycles until retention drops it.
* **Retention** (default 4 days, 60 s-14 days): a message still in the queue
  that long after it was sent is deleted, visible or not, and settles as
  ``dropped`` with reason ``RetentionExpired``.
* **Standard** queues hand out visible messages oldest first (best effort;
  redelivered messages go to the front). **FIFO** queues keep order per
  ``MessageGroupId``: while a group has a message in flight, no other message
  of that group is handed out. A FIFO receive takes consecutive messages of
  one group (the oldest unblocked one). ``MessageDeduplicationId`` (or the
  body's SHA-256 with content-based deduplication) suppresses a second send
  within 5 minutes: the call succeeds and returns the first MessageId.

Each accepted message is registered in a ``Ledger`` under its MessageId
(messages moved into a simulated dead-letter ``SqsQueue`` under
``"<MessageId>@<dlq name>"``) and settles exactly once: ``succeeded``
(deleted after processing), ``dead_letter_queue`` or ``dropped``.

Tables: ``queue.history()`` (every change of the counts, ``SqsQueueSample``),
``queue.metrics(period_s)`` (the CloudWatch metrics, ``SqsQueueMetrics``) and
``queue.states()`` (every accepted message and its state, ``SqsMessageState``).
"""

from __future__ import annotations

import base64
import bisect
import heapq
import itertools
import math
import random
import uuid
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd
import simpy

from ... import arns, facts, validation
from ...errors import InvalidParameterValueException
from ...records import (
    DEAD_LETTER_QUEUE,
    DROPPED,
    MAX_RECEIVE_COUNT_EXCEEDED,
    RETENTION_EXPIRED,
    SQS_MESSAGE_COLUMNS,
    SQS_QUEUE_HISTORY_COLUMNS,
    SQS_QUEUE_METRIC_COLUMNS,
    SUCCEEDED,
    SqsMessageState,
    SqsQueueMetrics,
    SqsQueueSample,
)
from ...runtime import Account
from ..destinations import DestinationQueue
from ..ledger import Ledger
from . import shapes
from .message import DEAD_LETTERED, DELETED, EXPIRED, INFLIGHT, LIVE, VISIBLE, Message
from .params import int_param

ACCOUNT_ID = arns.ACCOUNT_ID

_new = tuple.__new__     # builds a NamedTuple without its Python-level __new__ (hot paths)


# Heap and index entries (compared as tuples: the first fields decide the order).
class _Visible(NamedTuple):
    """A standard queue's receive order: stale once the message's ``token`` has moved on."""

    seq: int
    token: int
    message: Message


class _Ready(NamedTuple):
    """A FIFO group that may have a message to hand out, ordered by its head's sequence."""

    seq: int
    group_id: str


class _Expiry(NamedTuple):
    """When a message's retention ends."""

    expire_s: float
    seq: int
    message: Message


class _FirstSend(NamedTuple):
    """The send a FIFO deduplication id refers to: when, and as which MessageId."""

    sent_s: float
    message_id: str


class _DedupSent(NamedTuple):
    """When a deduplication id was sent (it is forgotten one deduplication interval later)."""

    sent_s: float
    dedup_id: str


class _Group:
    __slots__ = ("messages", "inflight")

    def __init__(self) -> None:
        self.messages: deque[Message] = deque()   # live messages (and some settled ones, removed lazily) in send order
        self.inflight = 0


@dataclass(frozen=True)
class RedrivePolicy:
    """The source queue's dead-letter policy: after ``max_receive_count`` receives, move the message."""

    dead_letter_target: DestinationQueue | SqsQueue
    max_receive_count: int

    def __post_init__(self) -> None:
        lo, hi = facts.SQS_MAX_RECEIVE_COUNT_RANGE
        object.__setattr__(self, "max_receive_count",
                           int_param("RedrivePolicy.maxReceiveCount", self.max_receive_count, lo, hi))
        if not isinstance(self.dead_letter_target, (DestinationQueue, SqsQueue)):
            raise InvalidParameterValueException("RedrivePolicy.deadLetterTargetArn", self.dead_letter_target,
                                                 "a DestinationQueue or an SqsQueue")


class SqsQueue:
    """A simulated SQS queue: the state of every message, plus an API-shaped surface."""

    def __init__(self, account: Account, name: str, *, fifo: bool | None = None,
                 visibility_timeout_s: int = facts.SQS_DEFAULT_VISIBILITY_TIMEOUT_S,
                 message_retention_s: int = facts.SQS_DEFAULT_RETENTION_S,
                 redrive_policy: RedrivePolicy | None = None, content_based_deduplication: bool = False,
                 ledger: Ledger | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidParameterValueException("QueueName", name, "a non-empty string")
        suffix = facts.SQS_FIFO_SUFFIX
        if fifo is None:
            fifo = name.endswith(suffix)
        if bool(fifo) != name.endswith(suffix):
            raise InvalidParameterValueException(
                "QueueName", name, f"a name ending in '{suffix}' exactly when the queue is FIFO")
        self.account, self.env, self.name, self.fifo = account, account.env, name, bool(fifo)
        self.visibility_timeout_s = int_param("VisibilityTimeout", visibility_timeout_s,
                                               *facts.SQS_VISIBILITY_TIMEOUT_S_RANGE, " seconds")
        self.message_retention_s = int_param("MessageRetentionPeriod", message_retention_s,
                                              *facts.SQS_RETENTION_S_RANGE, " seconds")
        if redrive_policy is not None:
            if not isinstance(redrive_policy, RedrivePolicy):
                raise InvalidParameterValueException("RedrivePolicy", redrive_policy, "None or a RedrivePolicy(...)")
            dlq = redrive_policy.dead_letter_target
            if isinstance(dlq, SqsQueue) and (dlq.fifo != self.fifo or dlq is self):
                raise InvalidParameterValueException(
                    "RedrivePolicy.deadLetterTargetArn", dlq.name,
                    "another queue of the same type (a FIFO queue's dead-letter queue must be FIFO, "
                    "a standard queue's must be standard)")
        if not self.fifo and content_based_deduplication:
            raise InvalidParameterValueException("ContentBasedDeduplication", True, "False on a standard queue")
        self.redrive_policy = redrive_policy
        self.content_based_deduplication = bool(content_based_deduplication)
        self.ledger = Ledger() if ledger is None else ledger
        self.arn = arns.queue_arn(account.region, name)
        self.url = arns.queue_url(account.region, name)
        self._rng = random.Random(f"{account.seed}:sqs:{name}")
        self._seq = itertools.count(1)
        self._auto_dedup = itertools.count(1)
        self._settle_counter = itertools.count(1)
        self.messages: dict[str, Message] = {}      # ledger key -> every message ever accepted
        self.deduplicated = 0       # sends suppressed by FIFO deduplication
        self.n_visible = self.n_inflight = 0
        self.unsettled = 0
        self._visible: list[_Visible] = []      # standard: receive order
        self._groups: dict[str, _Group] = {}    # FIFO: MessageGroupId -> its messages
        self._ready: list[_Ready] = []          # FIFO: groups that may have a batch
        self._expiry: list[_Expiry] = []        # retention order
        self._next_sweep = None
        self._dedup: dict[str, _FirstSend] = {}         # deduplication id -> its first send
        self._dedup_order: deque[_DedupSent] = deque()  # oldest first
        self._changed: simpy.Event | None = None   # triggered when messages may have become receivable
        self._drain_waiters: list[simpy.Event] = []
        self.samples = [SqsQueueSample(self.env.now, 0, 0, math.nan)]   # every change of the counts

    def __repr__(self) -> str:
        kind = "FIFO" if self.fifo else "standard"
        return (f"<SqsQueue {self.name} ({kind}): {self.n_visible} visible, {self.n_inflight} in flight, "
                f"{len(self.messages)} accepted>")

    # -- API shape ---------------------------------------------------------------------
    def send_message(self, MessageBody: str, MessageGroupId: str | None = None,  # noqa: N803
                     MessageDeduplicationId: str | None = None,  # noqa: N803
                     MessageAttributes: dict | None = None) -> dict[str, str]:  # noqa: N803
        """``SendMessage``: returns ``{"MessageId", "MD5OfMessageBody"[, "SequenceNumber"]}``."""
        body, group, dedup, attrs = shapes.check_send(self.fifo, self.content_based_deduplication, MessageBody,
                                                      MessageGroupId, MessageDeduplicationId, MessageAttributes)
        now = self.env.now
        if self.fifo:
            assert dedup is not None      # check_send derives one on a FIFO queue
            self._forget_old_dedup_ids(now)
            seen = self._dedup.get(dedup)
            if seen is not None:
                self.deduplicated += 1
                original = self.messages[seen.message_id]
                return shapes.send_result(original, self.fifo)
        msg = self._new_message(self._new_id(), body, group, dedup, now, attrs, None)
        if self.fifo and dedup is not None:
            self._dedup[dedup] = _FirstSend(now, msg.message_id)
            self._dedup_order.append(_DedupSent(now, dedup))
        return shapes.send_result(msg, self.fifo)

    def send_message_batch(self, Entries: list[Any]) -> dict[str, list[dict]]:  # noqa: N803
        """``SendMessageBatch``: up to 10 entries; returns ``{"Successful": [...], "Failed": [...]}``.
        Each entry is checked as SQS does: a bad one fails alone, in ``Failed``."""
        if not isinstance(Entries, (list, tuple)) or not 1 <= len(Entries) <= facts.SQS_SEND_BATCH_MAX_ENTRIES:
            raise InvalidParameterValueException("Entries", Entries,
                                                 f"a list of 1 to {facts.SQS_SEND_BATCH_MAX_ENTRIES} entries")
        ids = [e.get("Id") if isinstance(e, dict) else None for e in Entries]
        if None in ids or len(set(ids)) != len(ids):
            raise InvalidParameterValueException("Entries[].Id", ids, "a distinct Id for every entry")
        total = sum(len(str(e.get("MessageBody", "")).encode()) for e in Entries)
        if total > facts.SQS_MAX_MESSAGE_BYTES:
            raise InvalidParameterValueException("Entries", f"{total} bytes",
                                                 f"at most {facts.SQS_MAX_MESSAGE_BYTES:,} bytes in all")
        ok, failed = [], []
        for e in Entries:
            try:
                r = self.send_message(e.get("MessageBody"), e.get("MessageGroupId"),
                                      e.get("MessageDeduplicationId"), e.get("MessageAttributes"))
            except InvalidParameterValueException as err:
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": "InvalidParameterValue",
                               "Message": str(err)})
            else:
                ok.append({"Id": e["Id"], **r})
        return {"Successful": ok, "Failed": failed}

    def receive_message(self, MaxNumberOfMessages: int = 1) -> dict[str, list[dict]]:  # noqa: N803
        """``ReceiveMessage`` (no long polling): ``{"Messages": [...]}`` with system attributes."""
        n = int_param("MaxNumberOfMessages", MaxNumberOfMessages, 1, facts.SQS_SEND_BATCH_MAX_ENTRIES)
        msgs = self.receive(n)
        return {"Messages": [shapes.received_message(m, self.system_attributes(m)) for m in msgs]}

    def delete_message(self, ReceiptHandle: str) -> dict:  # noqa: N803
        """``DeleteMessage``: deletes the message if the handle is its latest one (else does nothing)."""
        for m in self.messages.values():
            if m.receipt_handle == ReceiptHandle:
                self.delete(m, ReceiptHandle)
                return {}
        return {}

    # -- deduplication -----------------------------------------------------------------
    def _forget_old_dedup_ids(self, now):
        horizon = now - facts.SQS_FIFO_DEDUPLICATION_INTERVAL_S
        order = self._dedup_order
        while order and order[0].sent_s <= horizon:
            old = order.popleft()
            seen = self._dedup.get(old.dedup_id)
            if seen is not None and seen.sent_s == old.sent_s:
                del self._dedup[old.dedup_id]

    def auto_deduplication_id(self) -> str:
        """A fresh ``MessageDeduplicationId`` (``labkit-1``, ``labkit-2``, ...) for a producer that sends
        to a FIFO queue without content-based deduplication and has no ids of its own."""
        return f"labkit-{next(self._auto_dedup)}"

    def _new_id(self):
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # -- the model ---------------------------------------------------------------------
    def _new_message(self, message_id, body, group, dedup, sent_s, attrs, ledger_key):
        now = self.env.now
        seq = next(self._seq)
        key = message_id if ledger_key is None else ledger_key
        msg = Message(message_id, body, group, dedup, seq, sent_s, sent_s + self.message_retention_s, attrs, key)
        self.messages[key] = msg
        self.ledger.register(key, now)
        self.unsettled += 1
        self.n_visible += 1
        if self.fifo:
            g = self._groups.get(group)
            if g is None:
                g = self._groups[group] = _Group()
            g.messages.append(msg)
            if g.inflight == 0:
                heapq.heappush(self._ready, _new(_Ready, (seq, group)))
        else:
            heapq.heappush(self._visible, _new(_Visible, (seq, msg.token, msg)))
        heapq.heappush(self._expiry, _new(_Expiry, (msg.expire_s, seq, msg)))
        self._schedule_sweep(msg.expire_s)
        self._notify()
        self._sample()
        return msg

    def accept_redriven(self, msg: Message) -> Message:
        """Take a message moved here by another queue's redrive policy (same MessageId and sent time)."""
        return self._new_message(msg.message_id, msg.body, msg.group_id, msg.dedup_id, msg.sent_s,
                                 dict(msg.message_attributes), f"{msg.message_id}@{self.name}")

    def receivable(self) -> bool:
        """Whether a receive now would find a message (FIFO: a group with nothing in flight)."""
        if not self.fifo:
            return self.n_visible > 0
        ready, groups = self._ready, self._groups
        while ready:
            g = groups[ready[0].group_id]
            if g.inflight == 0 and self._clean_head(g):
                return True
            heapq.heappop(ready)
        return False

    @staticmethod
    def _clean_head(g):
        msgs = g.messages
        while msgs and msgs[0].state not in LIVE:
            msgs.popleft()
        return bool(msgs)

    def receive(self, max_messages: int, fits: Callable[[Message], bool] | None = None) -> list[Message]:
        """Hand out up to ``max_messages`` messages, now in flight for the visibility timeout.

        ``fits(msg)`` may refuse a message (it stays visible and the receive stops
        there). Messages past their retention are dropped on the way; ones over
        ``maxReceiveCount`` move to the dead-letter target.
        """
        out: list[Message] = []
        now = self.env.now
        if self.fifo:
            while not out and self.receivable():
                gid = heapq.heappop(self._ready).group_id
                for msg in list(self._groups[gid].messages):
                    if len(out) >= max_messages:
                        break
                    if msg.state != VISIBLE or not self._deliverable(msg, now):
                        continue
                    if fits is not None and not fits(msg):
                        break
                    self._take(msg, now)
                    out.append(msg)
                g = self._groups[gid]
                if g.inflight == 0 and self._clean_head(g):   # nothing taken (refused): stays ready
                    heapq.heappush(self._ready, _new(_Ready, (g.messages[0].seq, gid)))
                    break
        else:
            heap = self._visible
            while heap and len(out) < max_messages:
                top = heap[0]
                msg = top.message
                if msg.state != VISIBLE or msg.token != top.token:
                    heapq.heappop(heap)
                    continue
                if not self._deliverable(msg, now):
                    continue      # settled by _deliverable; its heap entry is now stale
                if fits is not None and not fits(msg):
                    break
                heapq.heappop(heap)
                self._take(msg, now)
                out.append(msg)
        if out:
            handles = [(m, m.receipt_handle) for m in out]
            self.env.timeout(self.visibility_timeout_s).callbacks.append(lambda _e: self._return(handles))
            self._sample()
        return out

    def _deliverable(self, msg, now):
        """Settle a visible message that may not be handed out (expired, or over maxReceiveCount)."""
        if msg.expire_s <= now:
            self._expire(msg, now)
            return False
        rp = self.redrive_policy
        if rp is not None and msg.receive_count >= rp.max_receive_count:
            self._dead_letter(msg, rp.dead_letter_target, now)
            return False
        return True

    def _take(self, msg, now):
        msg.state = INFLIGHT
        msg.receive_count += 1
        if msg.first_receive_s is None:
            msg.first_receive_s = now
        msg.receipt_handle = "AQEB" + base64.b64encode(self._rng.getrandbits(384).to_bytes(48, "big")).decode()
        msg.visible_at = now + self.visibility_timeout_s
        self.n_visible -= 1
        self.n_inflight += 1
        if self.fifo:
            self._groups[msg.group_id].inflight += 1

    def _return(self, handles):
        """The visibility timeout of one receive ended: messages not deleted become visible."""
        returned = False
        for msg, handle in handles:
            if msg.state == INFLIGHT and msg.receipt_handle == handle:
                self._make_visible(msg)
                returned = True
        if returned:
            self._notify()
            self._sample()

    def _make_visible(self, msg):
        msg.state = VISIBLE
        msg.token += 1
        self.n_inflight -= 1
        self.n_visible += 1
        if self.fifo:
            self._leave_flight(self._groups[msg.group_id])
        else:
            heapq.heappush(self._visible, _new(_Visible, (msg.seq, msg.token, msg)))

    def _leave_flight(self, g):
        g.inflight -= 1
        if g.inflight == 0 and self._clean_head(g):
            heapq.heappush(self._ready, _new(_Ready, (g.messages[0].seq, g.messages[0].group_id)))
            self._notify()

    def delete(self, msg: Message, receipt_handle: str) -> bool:
        """Delete ``msg`` if ``receipt_handle`` is its latest; return whether it was deleted."""
        if msg.state != INFLIGHT or msg.receipt_handle != receipt_handle:
            return False
        self._leave(msg, DELETED)
        self._settle(msg, SUCCEEDED, None)
        self._sample()
        return True

    def _leave(self, msg, state):
        """Take a live message out of the queue for good."""
        was = msg.state
        msg.state = state
        if was == INFLIGHT:
            self.n_inflight -= 1
            if self.fifo:
                self._leave_flight(self._groups[msg.group_id])
        else:
            self.n_visible -= 1
            if self.fifo:
                g = self._groups[msg.group_id]
                if g.inflight == 0 and self._clean_head(g):   # the group's next message may be ready now
                    heapq.heappush(self._ready, _new(_Ready, (g.messages[0].seq, msg.group_id)))

    def _dead_letter(self, msg, target, now):
        self._leave(msg, DEAD_LETTERED)
        if isinstance(target, SqsQueue):
            target.accept_redriven(msg)
        else:
            attrs = {"MessageId": msg.message_id, "SourceQueue": self.name,
                     "ApproximateReceiveCount": msg.receive_count,
                     "SentTimestamp": shapes.epoch_ms(self.account.epoch, msg.sent_s)}
            if msg.group_id is not None:
                attrs["MessageGroupId"] = msg.group_id
            target.send(now, msg.body, attrs)
        self._settle(msg, DEAD_LETTER_QUEUE, MAX_RECEIVE_COUNT_EXCEEDED)
        self._sample()

    def _expire(self, msg, now):
        self._leave(msg, EXPIRED)
        self._settle(msg, DROPPED, RETENTION_EXPIRED)
        self._sample()

    def _settle(self, msg, state, reason):
        now = self.env.now
        msg.settled_s = now
        msg.settle_order = next(self._settle_counter)
        self.ledger.settle(msg.ledger_key, state, now, reason)
        self.unsettled -= 1
        if self.unsettled == 0 and self._drain_waiters:
            waiters, self._drain_waiters = self._drain_waiters, []
            for ev in waiters:
                ev.succeed()

    # -- retention ---------------------------------------------------------------------
    def _schedule_sweep(self, t):
        if self._next_sweep is None or t < self._next_sweep:
            self._next_sweep = t
            self.env.timeout(max(0.0, t - self.env.now)).callbacks.append(lambda _e: self._sweep(t))

    def _sweep(self, t):
        if self._next_sweep == t:
            self._next_sweep = None
        now, heap = self.env.now, self._expiry
        while heap and (heap[0].message.state not in LIVE or heap[0].expire_s <= now):
            msg = heapq.heappop(heap).message
            if msg.state in LIVE:
                self._expire(msg, now)
        if heap:
            self._schedule_sweep(heap[0].expire_s)

    # -- signals -----------------------------------------------------------------------
    def wait_receivable(self) -> simpy.Event:
        """An event triggered the next time messages may have become receivable."""
        if self._changed is None:
            self._changed = self.env.event()
        return self._changed

    def _notify(self):
        ev, self._changed = self._changed, None
        if ev is not None:
            ev.succeed()

    def when_drained(self, after: simpy.Event | None = None) -> simpy.Process:
        """A simpy process that ends once ``after`` (an event, e.g. the producer) has happened and
        every message accepted by this queue has settled (deleted, dead-lettered or dropped)."""
        def wait() -> Generator[simpy.Event, Any, None]:
            if after is not None:
                yield after
            while self.unsettled:
                ev = self.env.event()
                self._drain_waiters.append(ev)
                yield ev
        return self.env.process(wait())

    @property
    def drained(self) -> bool:
        return self.unsettled == 0

    # -- records -----------------------------------------------------------------------
    def _oldest_sent(self):
        heap = self._expiry
        while heap and heap[0].message.state not in LIVE:
            heapq.heappop(heap)
        return heap[0].message.sent_s if heap else math.nan

    def _sample(self):
        now = self.env.now
        row = _new(SqsQueueSample, (now, self.n_visible, self.n_inflight, self._oldest_sent()))
        if self.samples[-1].time_s == now:
            self.samples[-1] = row
        else:
            self.samples.append(row)

    def system_attributes(self, msg: Message) -> dict[str, str | None]:
        """The message's ``Attributes`` as SQS returns them (strings)."""
        return shapes.system_attributes(msg, self.fifo, self.account.epoch)

    def lambda_record(self, msg: Message) -> dict[str, Any]:
        """One element of the ``Records`` list Lambda passes to the function."""
        return shapes.lambda_record(msg, self.system_attributes(msg), self.arn, self.account.region)

    def history(self) -> pd.DataFrame:
        """Every change of the queue's counts: time_s, visible, not_visible, oldest_sent_s."""
        return pd.DataFrame(self.samples, columns=SQS_QUEUE_HISTORY_COLUMNS)

    def metrics(self, period_s: float = 1.0, t0: float | None = None, t1: float | None = None) -> pd.DataFrame:
        """The SQS CloudWatch metrics sampled every ``period_s`` from ``t0`` to ``t1`` (default: now)."""
        samples = self.samples
        t0 = samples[0].time_s if t0 is None else validation.number("t0", t0, 0, unit=" seconds")
        t1 = self.env.now if t1 is None else validation.number("t1", t1, 0, unit=" seconds")
        validation.period("period_s", period_s, t1 - t0)
        times = [s.time_s for s in samples]
        rows = []
        n = int(math.floor((t1 - t0) / period_s + 1e-9))
        for k in range(n + 1):
            t = t0 + k * period_s
            s = samples[max(bisect.bisect_right(times, t) - 1, 0)]
            oldest = s.oldest_sent_s
            age = 0.0 if math.isnan(oldest) else t - oldest
            rows.append(SqsQueueMetrics(t, s.visible, s.not_visible, age))
        return pd.DataFrame(rows, columns=SQS_QUEUE_METRIC_COLUMNS)

    def states(self) -> pd.DataFrame:
        """One row per accepted message: ids, group, times, receive count, final state."""
        states = self.ledger.states
        rows = [_new(SqsMessageState, (m.message_id, key, m.group_id, m.seq, m.body, m.sent_s, m.first_receive_s,
                                       m.receive_count, m.settled_s, states[key].state, states[key].reason))
                for key, m in self.messages.items()]
        return pd.DataFrame(rows, columns=SQS_MESSAGE_COLUMNS)
