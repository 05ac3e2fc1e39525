"""threading and queue inside handler code work in simulated time (labkit.sim_threading)."""

import time

import pytest

import labkit as lk


def _run(src, event=None, **options):
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, **options)
    t0 = time.perf_counter()
    run = lab.invoke(fn, [event or {}])
    assert time.perf_counter() - t0 < 10            # never hangs the kernel
    return run.invocations.iloc[0], run


def test_locks_events_and_queues_inside_executor_workers_wait_in_simulated_time():
    src = '''
import threading, queue, time
from concurrent.futures import ThreadPoolExecutor
lock = threading.Lock()
ready = threading.Event()
q = queue.Queue()
total = {"n": 0}
def producer():
    for i in range(5):
        time.sleep(0.1)
        q.put(i)
    ready.set()
    q.put(None)
def consumer():
    got = []
    while (item := q.get()) is not None:
        with lock:
            n = total["n"]
            time.sleep(0.05)            # read-modify-write under the lock: no lost update
            total["n"] = n + item
        got.append(item)
    return got
def handler(event, context):
    with ThreadPoolExecutor(max_workers=2) as pool:
        c = pool.submit(consumer)
        pool.submit(producer)
        assert ready.wait(timeout=5)
        return {"got": c.result(), "total": total["n"]}
'''
    row, _ = _run(src, timeout_s=10)
    assert row["outcome"] == "success", row["error_message"]
    assert row["response"] == {"got": [0, 1, 2, 3, 4], "total": 10}
    assert row["duration_ms"] == pytest.approx(550, abs=1)


def test_threads_start_join_and_share_a_lock_and_a_condition():
    src = '''
import threading, time
cond = threading.Condition()
items = []
order = []
class Worker(threading.Thread):
    def run(self):
        with cond:
            cond.wait_for(lambda: items)
            order.append((self.name, items.pop()))
def handler(event, context):
    workers = [Worker(name=f"w{i}") for i in range(3)]
    for w in workers:
        w.start()
    for i in range(3):
        time.sleep(1)
        with cond:
            items.append(i)
            cond.notify()
    for w in workers:
        w.join()
    t = threading.Thread(target=lambda: time.sleep(2))
    t.start()
    t.join(timeout=0.5)
    alive = t.is_alive()
    t.join()
    return {"order": order, "alive_after_half_a_second": alive, "main": threading.current_thread().name}
'''
    row, _ = _run(src, timeout_s=10)
    assert row["outcome"] == "success", row["error_message"]
    assert row["response"]["order"] == [["w0", 0], ["w1", 1], ["w2", 2]]
    assert row["response"]["alive_after_half_a_second"] is True
    assert row["response"]["main"] == "MainThread"
    assert row["duration_ms"] == pytest.approx(5000, abs=1)


def test_semaphores_barriers_rlocks_locals_and_simple_queues():
    src = '''
import threading, queue, time
sem = threading.BoundedSemaphore(2)
barrier = threading.Barrier(3)
rlock = threading.RLock()
local = threading.local()
active = {"now": 0, "max": 0}
out = queue.SimpleQueue()
def work(i):
    local.i = i
    with sem:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        time.sleep(1)
        active["now"] -= 1
    barrier.wait()
    with rlock:
        with rlock:
            out.put(local.i)
def handler(event, context):
    ts = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in ts: t.start()
    for t in ts: t.join()
    try:
        sem.release(); sem.release(); sem.release()
        over = "no error"
    except ValueError as e:
        over = str(e)
    try:
        queue.Queue().get(timeout=0.5)
    except queue.Empty:
        empty = "Empty"
    return {"max": active["max"], "got": sorted(out.get() for _ in range(3)), "over": over, "empty": empty}
'''
    row, _ = _run(src, timeout_s=10)
    assert row["outcome"] == "success", row["error_message"]
    assert row["response"] == {"max": 2, "got": [0, 1, 2], "over": "Semaphore released too many times",
                               "empty": "Empty"}
    assert row["duration_ms"] == pytest.approx(2500, abs=1)


def test_a_deadlock_ends_at_the_invocations_timeout_not_in_a_hung_kernel():
    src = '''
import threading
a, b = threading.Lock(), threading.Lock()
def other():
    with b:
        import time; time.sleep(0.1)
        with a:
            pass
def handler(event, context):
    t = threading.Thread(target=other)
    with a:
        t.start()
        import time; time.sleep(0.1)
        with b:
            pass
    return "unreachable"
'''
    row, _ = _run(src, timeout_s=2)
    assert row["outcome"] == "timeout" and row["error_type"] == "Sandbox.Timedout"


def test_an_exception_in_a_thread_goes_to_the_log():
    src = ("import threading\n"
           "def handler(event, context):\n"
           "    t = threading.Thread(target=lambda: 1 / 0, name='boom')\n"
           "    t.start(); t.join()\n"
           "    return 'handler went on'\n")
    row, run = _run(src)
    assert row["response"] == "handler went on"
    lines = run.log(row["request_id"])
    assert "Exception in thread boom:" in lines and "ZeroDivisionError: division by zero" in lines
