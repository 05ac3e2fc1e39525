"""In-function concurrency: worker threads overlap I/O and share the environment's vCPUs."""

import pytest

import labkit as lk
from labkit import facts

IO = '''import time
from concurrent.futures import ThreadPoolExecutor
def io(i):
    time.sleep(1.0)
    return i
def handler(event, context):
    with ThreadPoolExecutor(max_workers=event["w"]) as pool:
        return sum(pool.map(io, range(8)))
'''

CPU = '''import labkit as lk
from concurrent.futures import ThreadPoolExecutor, as_completed
def work(i):
    lk.cpu(1.0)
    return i
def handler(event, context):
    if event["w"] == 0:
        for i in range(6):
            work(i)
        return []
    with ThreadPoolExecutor(max_workers=event["w"]) as pool:
        fs = [pool.submit(work, i) for i in range(6)]
        return sorted(f.result() for f in as_completed(fs))
'''


def _duration(source, event, **cfg):
    lab = lk.Lab(seed=1)
    fn = lab.function(source=source, runtime_init_ms=0, timeout_s=cfg.pop("timeout_s", 120), **cfg)
    inv = lab.invoke(fn, [event]).invocations
    return inv["duration_ms"][0] / 1000, inv


@pytest.mark.parametrize("workers, seconds", [(1, 8.0), (2, 4.0), (4, 2.0), (8, 1.0), (16, 1.0)])
def test_io_bound_tasks_overlap(workers, seconds):
    d, inv = _duration(IO, {"w": workers})
    assert d == pytest.approx(seconds)
    assert inv["response"][0] == sum(range(8))


@pytest.mark.parametrize("memory_mb, workers, seconds", [
    (512, 0, 6 * facts.MB_PER_VCPU / 512),     # below one vCPU: threads do not help
    (512, 6, 6 * facts.MB_PER_VCPU / 512),
    (1769, 1, 6.0),
    (1769, 6, 6.0),                             # one vCPU: six threads share it
    (3538, 0, 6.0),                             # sequential code is capped at one vCPU ...
    (3538, 2, 3.0),                             # ... two threads use two
    (3538, 6, 3.0),
    (10240, 6, 6 / (10240 / facts.MB_PER_VCPU)),  # six vCPUs visible, 5.79 vCPU-s per second
])
def test_cpu_bound_tasks_share_the_vcpus(memory_mb, workers, seconds):
    d, inv = _duration(CPU, {"w": workers}, memory_mb=memory_mb)
    assert d == pytest.approx(seconds, rel=1e-6)
    assert inv["outcome"][0] == "success"


def test_task_errors_reach_the_caller_and_timeouts_stop_the_workers():
    src = '''import time
from concurrent.futures import ThreadPoolExecutor
def boom(i):
    time.sleep(0.1)
    if i == 2:
        raise KeyError(i)
    return i
def forever(i):
    while True:
        time.sleep(1)
def handler(event, context):
    with ThreadPoolExecutor(4) as pool:
        if event.get("hang"):
            pool.submit(forever, 0)
            return "never"
        return [f.result() for f in [pool.submit(boom, i) for i in range(4)]]
'''
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, timeout_s=3)
    inv = lab.invoke(fn, [{}, {"hang": True}, {}]).invocations
    assert inv["error_type"].tolist() == ["KeyError", "Sandbox.Timedout", "KeyError"]
    assert inv["duration_ms"][1] == 3000.0
    assert inv["start_type"][2] == "reinit"   # the timeout reset the environment


def test_workers_still_running_when_the_handler_returns_are_stopped():
    src = '''import time
from concurrent.futures import ThreadPoolExecutor
POOL = None
def slow(i):
    time.sleep(5)
    print("should never print")
def handler(event, context):
    pool = ThreadPoolExecutor(2)
    pool.submit(slow, 1)
    return "returned early"
'''
    lab = lk.Lab(seed=1)
    run = lab.invoke(lab.function(source=src, timeout_s=10), [{}, {}])
    assert run.invocations["duration_ms"].tolist() == [0.0, 0.0]
    assert not any("should never print" in line for line in run.log_lines())


def test_outside_a_simulation_the_real_thread_pool_is_used():
    from labkit.concurrency import ThreadPoolExecutor
    import concurrent.futures
    with ThreadPoolExecutor(2) as pool:
        assert isinstance(pool, concurrent.futures.ThreadPoolExecutor)
        assert list(pool.map(abs, [-1, -2])) == [1, 2]
