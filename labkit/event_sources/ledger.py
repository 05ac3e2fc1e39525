"""The final state of every event, so that nothing is ever lost silently.

Each event a workload produces is registered once as ``pending`` and then moves
to exactly one final state:

* ``succeeded``           a function invocation processed it;
* ``failed``              a synchronous caller received the error or throttle;
* ``failure_destination`` delivered to an on-failure destination (or an event
                          source's failure target);
* ``dead_letter_queue``   delivered to a dead-letter queue;
* ``dropped``             discarded by Lambda, with a reason (e.g. ``EventAgeExceeded``);

or it is still ``pending`` when the run ends. Settling an event twice, or in an
unknown state, is a bug in labkit and raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..records import FINAL_STATES, PENDING, LedgerEntry

__all__ = ["Ledger", "FINAL_STATES"]


class Ledger:
    """``states`` maps each event id to its ``LedgerEntry`` (state, reason, time_s)."""

    def __init__(self) -> None:
        self.states: dict[str, LedgerEntry] = {}

    def register(self, event_id: str, time_s: float) -> None:
        if event_id in self.states:
            raise ValueError(f"event {event_id} registered twice")
        self.states[event_id] = LedgerEntry(PENDING, None, time_s)

    def settle(self, event_id: str, state: str, time_s: float, reason: str | None = None) -> None:
        if state not in FINAL_STATES:
            raise ValueError(f"unknown final state {state!r}")
        entry = self.states[event_id]
        if entry.state != PENDING:
            raise ValueError(f"event {event_id} settled twice: {entry.state} then {state}")
        entry.state, entry.reason, entry.time_s = state, reason, time_s

    def state(self, event_id: str) -> str:
        return self.states[event_id].state

    def counts(self, event_ids: Iterable[str] | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for eid in (self.states if event_ids is None else event_ids):
            s = self.states[eid].state
            out[s] = out.get(s, 0) + 1
        return out
