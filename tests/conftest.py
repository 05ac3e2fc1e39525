"""Shared helpers for the runtime tests: a fresh Lab per test and handler modules as text."""

import textwrap

import pytest

import labkit as lk


@pytest.fixture
def lab():
    """A Lab with AWS's default limits and a fixed seed; its temporary /tmp dirs are removed after."""
    lab = lk.Lab(seed=1)
    yield lab
    lab.account.close()


def deploy(lab, source, **config):
    """Deploy a handler module given as (indented) text, e.g. ``deploy(lab, '''def handler...''')``."""
    return lab.function(source=textwrap.dedent(source), **config)


# A handler module whose globals count the invocations of its execution environment.
# The event may ask it to sleep ("s"), burn CPU ("cpu") or fail ("raise").
COUNTER = """
import labkit as lk
count = 0

def handler(event, context):
    global count
    count += 1
    if event.get("s"):
        lk.sleep(event["s"])
    if event.get("cpu"):
        lk.cpu(event["cpu"])
    if event.get("raise"):
        raise ValueError(event["raise"])
    return count
"""


def sleeper(seconds):
    """A handler module that sleeps ``seconds`` (or ``event["s"]`` when given) and returns the event."""
    return f"""
import labkit as lk

def handler(event, context):
    lk.sleep(event.get("s", {seconds!r}))
    return event
"""


def no_overlap(invocations):
    """True when no execution environment ever ran two invocations at the same time."""
    ran = invocations[invocations["outcome"] != "throttled"].sort_values(["environment_id", "start_s"])
    for _, g in ran.groupby("environment_id"):
        starts = g["start_s"].to_numpy()
        ends = g["end_s"].to_numpy()
        if (starts[1:] < ends[:-1]).any():
            return False
    return True
