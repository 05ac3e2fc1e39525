"""The final state of every event, so that nothing is ever lost silently.

Each event a workload produces is registered once as ``pending`` and then moves
to exactly one final state:

* ``succeeded``           a function invocation processed it;
* ``failed``              a synchronous caller received the error or throttle;
* ``failure_destination`` delivered to an on-failure destination (or an event
                          source's failure target);
* ``dead_letter_queue``   delivered to a dead-letter queue;
* ``dropped``             discarded by Lambda, with a reason (e.g. ``EventAgeExceeded``);

or it is still ``pending`` when the run ends.
"""

FINAL_STATES = ("succeeded", "failed", "failure_destination", "dead_letter_queue", "dropped")


class Ledger:
    def __init__(self):
        self.states = {}   # event_id -> [state, reason, time_s]

    def register(self, event_id, time_s):
        if event_id in self.states:
            raise ValueError(f"event {event_id} registered twice")
        self.states[event_id] = ["pending", None, time_s]

    def settle(self, event_id, state, time_s, reason=None):
        if state not in FINAL_STATES:
            raise ValueError(f"unknown final state {state!r}")
        entry = self.states[event_id]
        if entry[0] != "pending":
            raise ValueError(f"event {event_id} settled twice: {entry[0]} then {state}")
        entry[:] = [state, reason, time_s]

    def state(self, event_id):
        return self.states[event_id][0]

    def counts(self, event_ids=None):
        out = {}
        for eid in (self.states if event_ids is None else event_ids):
            s = self.states[eid][0]
            out[s] = out.get(s, 0) + 1
        return out
