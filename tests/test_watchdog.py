"""No handler can hold the kernel: code that never waits is stopped at its timeout, as Lambda
stops it (Sandbox.Timedout), in the handler and in init, even when it catches the stop; with
count_real_cpu a handler's real CPU time is spent as simulated time at its CPU share."""

import sys
import time

import pytest

import labkit as lk
from labkit import watchdog

SPIN = "def handler(event, context):\n    while True:\n        pass\n"
STUBBORN = ("def handler(event, context):\n"
            "    while True:\n"
            "        try:\n"
            "            while True:\n"
            "                pass\n"
            "        except BaseException:\n"
            "            pass\n")
SPIN_IN_INIT = "while True:\n    pass\n\ndef handler(event, context):\n    return 1\n"
BUSY = ("def handler(event, context):\n"
        "    total = 0\n"
        "    for i in range(event['n']):\n"
        "        total += i\n"
        "    return total\n")
MARGIN_S = 0.5     # the watchdog's polls, and a busy CI machine


def _timed(lab, fn, events):
    t = time.perf_counter()
    run = lab.invoke(fn, events)
    return run, time.perf_counter() - t


def test_an_infinite_loop_is_stopped_at_its_timeout():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SPIN, timeout_s=1, name="spin")
    run, wall = _timed(lab, fn, [{}])
    rec = run.invocations.iloc[0]
    assert (rec["outcome"], rec["error_type"], rec["duration_ms"]) == ("timeout", "Sandbox.Timedout", 1000.0)
    assert wall < 1 + MARGIN_S
    assert "Task timed out after 1.00 seconds" in rec["error_message"]
    assert sys.gettrace() is None


def test_code_that_catches_the_stop_is_stopped_too():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=STUBBORN, timeout_s=1, name="stubborn")
    run, wall = _timed(lab, fn, [{}, {}])
    inv = run.invocations
    assert inv["outcome"].tolist() == ["timeout", "timeout"]
    assert inv["start_type"].tolist() == ["cold", "reinit"]      # the environment was reset, as on AWS
    assert wall < 2 + 2 * MARGIN_S
    assert sys.gettrace() is None


def test_an_infinite_loop_in_init_times_out_the_init_and_then_the_invoke():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SPIN_IN_INIT, timeout_s=1, name="init-spin")
    run, wall = _timed(lab, fn, [{}])
    rec = run.invocations.iloc[0]
    assert rec["init_duration_ms"] == 10_000.0 and rec["outcome"] == "timeout"
    assert run.log()[0] == "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"
    assert wall < 11 + 2 * MARGIN_S


def test_real_time_counts_across_waits_in_exact_mode():
    # Busy for a while, then a short wait, again and again: the waits pass little simulated
    # time, but the kernel must not be held for much longer than the 1 s timeout.
    src = ("import time\n"
           "def handler(event, context):\n"
           "    while True:\n"
           "        for _ in range(1_000_000):\n"
           "            pass\n"
           "        time.sleep(0.001)\n")
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, timeout_s=1, name="busy-waits")
    run, wall = _timed(lab, fn, [{}])
    rec = run.invocations.iloc[0]
    assert (rec["outcome"], rec["duration_ms"]) == ("timeout", 1000.0)
    assert wall < 1 + MARGIN_S


def test_exact_mode_spends_no_simulated_time_on_real_cpu():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=BUSY, memory_mb=128, name="busy")
    run = lab.invoke(fn, [{"n": 300_000}])
    assert run.invocations.iloc[0]["duration_ms"] == 0.0


def test_count_real_cpu_spends_it_at_the_cpu_share():
    durations = {}
    for memory in (128, 1769):
        lab = lk.Lab(seed=1, count_real_cpu=True)
        fn = lab.function(source=BUSY, memory_mb=memory, name="busy")
        run = lab.invoke(fn, [{"n": 1_000_000}] * 3)
        durations[memory] = run.invocations["duration_ms"].median()
    assert durations[1769] > 1.0
    ratio = durations[128] / durations[1769]
    assert 5 < ratio < 30          # 1,769 / 128 = 13.8, measured on a machine shared with others


def test_count_real_cpu_times_out_a_long_computation():
    lab = lk.Lab(seed=1, count_real_cpu=True)
    fn = lab.function(source=BUSY, memory_mb=128, timeout_s=1, name="busy")
    run, wall = _timed(lab, fn, [{"n": 10 ** 9}])
    rec = run.invocations.iloc[0]
    assert (rec["outcome"], rec["duration_ms"]) == ("timeout", 1000.0)
    # At 128 MB one simulated second buys about 72 ms of real CPU.
    assert wall < 0.2 + MARGIN_S


def test_count_real_cpu_is_checked():
    with pytest.raises(lk.InvalidParameterValueException, match="count_real_cpu"):
        lk.Lab(count_real_cpu="yes")


def _busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_stop_is_never_left_pending_once_disarmed():
    # The protocol the runtime follows around every stretch of handler code: stops fired
    # near the moment the code ends are caught there or cancelled by disarm, and none
    # arrives afterwards (where it would land in the simulator's own loop).
    wd = watchdog.WATCHDOG
    fired = 0
    for k in range(60):
        token = wd.arm(0.0)
        try:
            _busy(0.001 * (k % 40))
        except watchdog.CpuLimit:
            fired += 1
        while True:
            try:
                wd.disarm(token)
                break
            except watchdog.CpuLimit:
                fired += 1
        _busy(2.5 * watchdog.POLL_S)          # a stop arriving now would fail the test
    assert fired > 0


def test_the_watchdog_fires_only_while_armed():
    assert watchdog.WATCHDOG.disarm(watchdog.WATCHDOG.arm(10.0)) is False
    token = watchdog.WATCHDOG.arm(0.0)
    with pytest.raises(watchdog.CpuLimit):
        end = time.perf_counter() + 2
        while time.perf_counter() < end:
            pass
    watchdog.WATCHDOG.disarm(token)
