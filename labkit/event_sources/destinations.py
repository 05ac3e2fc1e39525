"""Simulated destination queues (SQS/SNS-style targets) that learners can read."""

from dataclasses import dataclass, field


@dataclass
class Message:
    time_s: float
    body: dict
    attributes: dict = field(default_factory=dict)


class DestinationQueue:
    """A destination or dead-letter queue: messages in arrival order, with their simulated time."""

    def __init__(self, name):
        self.name = name
        self.messages = []

    def send(self, time_s, body, attributes=None):
        self.messages.append(Message(time_s, body, dict(attributes or {})))

    def __len__(self):
        return len(self.messages)

    def __repr__(self):
        return f"<DestinationQueue {self.name}: {len(self.messages)} messages>"
