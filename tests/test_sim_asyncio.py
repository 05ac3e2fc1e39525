"""asyncio inside handler code runs on the simulation's clock (labkit.sim_asyncio)."""

import asyncio
import time

import pytest

import labkit as lk


def _run(src, n=1, **options):
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, **options)
    t0 = time.perf_counter()
    run = lab.invoke(fn, lk.workload.parallel(n))
    assert time.perf_counter() - t0 < 10
    return run.invocations, run


def test_sleep_gather_tasks_wait_for_and_to_thread_pass_simulated_time():
    src = '''
import asyncio, time
async def fetch(i):
    await asyncio.sleep(0.1 * (i + 1))
    return i
def blocking():
    time.sleep(0.5)
    return "thread"
async def main():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    task = asyncio.create_task(fetch(9))
    results = await asyncio.gather(*(fetch(i) for i in range(3)))
    try:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.2)
        timed_out = False
    except asyncio.TimeoutError:
        timed_out = True
    from_thread = await asyncio.to_thread(blocking)
    return {"results": results, "task": await task, "timed_out": timed_out, "thread": from_thread,
            "elapsed": round(loop.time() - t0, 6)}
def handler(event, context):
    return asyncio.run(main())
'''
    inv, _ = _run(src, n=3, timeout_s=10)
    assert inv["outcome"].tolist() == ["success"] * 3, inv["error_message"].tolist()
    r = inv["response"][0]
    assert r == {"results": [0, 1, 2], "task": 9, "timed_out": True, "thread": "thread", "elapsed": 1.0}
    assert inv["duration_ms"].tolist() == pytest.approx([1000.0] * 3)   # three invocations interleaved


def test_a_loop_that_could_only_wait_for_ever_fails_clearly_and_real_io_is_refused():
    src = '''
import asyncio
async def forever():
    await asyncio.get_running_loop().create_future()
async def connect():
    await asyncio.open_connection("example.com", 80)
def handler(event, context):
    out = {}
    for name, coro in (("forever", forever), ("connect", connect)):
        try:
            asyncio.run(coro())
        except Exception as e:
            out[name] = f"{type(e).__name__}: {e}"
    return out
'''
    inv, _ = _run(src)
    r = inv["response"][0]
    assert r["forever"].startswith("RuntimeError: labkit: the asyncio event loop has nothing scheduled")
    assert r["connect"].startswith("ConnectionRefusedError") and "labkit refused" in r["connect"]


def test_asyncio_outside_handlers_is_the_real_one():
    async def main():
        await asyncio.sleep(0)
        return 7
    assert asyncio.run(main()) == 7
