"""labkit inside a real Lambda execution environment (deployed as ``labkit/__init__.py``).

Handler code written for the simulator (``import labkit as lk``; ``lk.sleep(s)``, ``lk.cpu(s)``)
runs here unchanged, spending real time: ``sleep`` is ``time.sleep``, and ``cpu(vcpu_seconds)``
busy-loops until this thread has used ``vcpu_seconds`` of CPU time, so, as in the simulator, it
takes longer on a function with less than one vCPU (memory below 1,769 MB).
"""

import time

ON_AWS = True


def sleep(seconds):
    time.sleep(seconds)


def cpu(vcpu_seconds):
    if vcpu_seconds != vcpu_seconds or vcpu_seconds < 0:   # NaN would otherwise return at once
        raise ValueError(f"cpu work must be non-negative, got {vcpu_seconds!r}")
    end = time.thread_time() + vcpu_seconds
    while time.thread_time() < end:
        pass


def __getattr__(name):
    raise AttributeError(f"labkit on AWS has only sleep() and cpu(); {name!r} belongs to the simulator")
