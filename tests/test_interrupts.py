"""An interrupt, or any exception escaping a run, leaves the Lab consistent: the run is aborted,
its invocations in flight end recorded, its callers stop, nothing leaks into the next run, and
the Lab can be used again. Runs that could never end are stopped with a clear error."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import pytest

import labkit as lk
from labkit.errors import SimulationError

WORK = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(0.05)\n    return event['n']\n"
SPIN = "def handler(event, context):\n    while True:\n        pass\n"


def _interrupt_after(seconds):
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def _assert_consistent(lab, *functions):
    for fn in functions:
        assert not [ee for ee in fn.environments if ee.busy]
        assert fn.inflight == 0
    assert lab.account.unreserved_claimed == 0
    assert not [e for e in lab.ledger.states.values() if e.state == "pending"]


def _assert_usable(lab, fn):
    run = lab.invoke(fn, lk.workload.burst(3))
    assert len(run.invocations) == 3 and run.event_states() == {"succeeded": 3}


def test_sigint_mid_run_aborts_it_and_the_lab_stays_usable():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=WORK, name="work", reserved_concurrency=50)
    _interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        lab.invoke(fn, lk.workload.poisson(2000, 600))
    _assert_consistent(lab, fn)
    reasons = Counter(e.reason for e in lab.ledger.states.values())
    assert reasons["labkit.RunInterrupted"] > 0           # the calls in flight, recorded as interrupted
    _assert_usable(lab, fn)


def test_sigint_while_handler_code_spins_stops_it_at_once():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SPIN, name="spin", timeout_s=900)
    ok = lab.function(source=WORK, name="ok")
    _interrupt_after(0.5)
    t = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        lab.invoke(fn, lk.workload.burst(3))
    assert time.perf_counter() - t < 3            # not the 900 s timeout
    _assert_consistent(lab, fn)
    _assert_usable(lab, ok)


def test_an_exception_from_a_payload_function_aborts_the_run_cleanly():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=WORK, name="work")

    def payload(i):
        if i == 500:
            raise ValueError("a bad event")
        return {"n": i}

    with pytest.raises(ValueError, match="a bad event"):
        lab.invoke(fn, lk.workload.poisson(100, 60, payload=payload))
    _assert_consistent(lab, fn)
    _assert_usable(lab, fn)


def test_an_interrupted_asynchronous_run_drops_its_events_and_retries_nothing_later():
    lab = lk.Lab(seed=1)
    boom = lab.function(source="def handler(event, context):\n    raise ValueError('no')\n", name="boom")

    def payload(i):
        if i == 200:
            raise RuntimeError("stop here")
        return {"n": i}

    with pytest.raises(RuntimeError):
        lab.invoke_async(boom, lk.workload.poisson(50, 60, payload=payload))
    _assert_consistent(lab, boom)
    states = Counter((e.state, e.reason) for e in lab.ledger.states.values())
    assert states[("dropped", "RunInterrupted")] > 0     # waiting for their one- and two-minute retries
    lab.advance(3600)
    ok = lab.function(source=WORK, name="ok")
    run = lab.invoke(ok, lk.workload.burst(3))
    assert set(run.invocations["function"]) == {"ok"}    # no old retry ran in the new run


def test_a_handler_raising_keyboardinterrupt_is_a_runtime_exit_not_a_crash():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    raise KeyboardInterrupt\n", name="kbd")
    rec = lab.invoke(fn, [{}]).invocations.iloc[0]
    assert (rec["outcome"], rec["error_type"]) == ("error", "Runtime.ExitError")
    assert "KeyboardInterrupt" in rec["error_message"]
    _assert_consistent(lab, fn)


def test_a_closed_loop_whose_handler_never_waits_is_stopped_with_a_clear_error():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return 1\n", name="instant", runtime_init_ms=0)
    t = time.perf_counter()
    with pytest.raises(SimulationError, match="without any simulated time passing"):
        lab.invoke(fn, lk.workload.closed_loop(1, seconds=1))
    assert time.perf_counter() - t < 30
    _assert_consistent(lab, fn)
    assert lab.invoke(fn, lk.workload.closed_loop(2, requests_per_client=5)).summary()["succeeded"] == 10


def test_a_function_that_invokes_itself_twice_ends():
    lab = lk.Lab(seed=1)
    src = textwrap.dedent("""
        import json, boto3
        lam = boto3.client("lambda")
        def handler(event, context):
            for _ in range(2):
                lam.invoke(FunctionName="doubler", InvocationType="Event", Payload=json.dumps(event))
            return 1
        """)
    fn = lab.function(source=src, name="doubler")
    t = time.perf_counter()
    run = lab.invoke(fn, [{}])
    lab.advance(60)
    assert time.perf_counter() - t < 60
    dropped = Counter(e.reason for e in lab.ledger.states.values() if e.state == "dropped")
    assert dropped["RecursiveInvocation"] == 2 ** 16      # what each 16th invocation of a chain sent
    assert run.summary()["errors"] == 0
    _assert_consistent(lab, fn)


def test_a_synchronous_self_invoke_chain_gets_recursive_invocation_exception():
    lab = lk.Lab(seed=1)
    src = textwrap.dedent("""
        import json, boto3
        lam = boto3.client("lambda")
        def handler(event, context):
            out = lam.invoke(FunctionName="deep", Payload=json.dumps({"d": event["d"] + 1}))
            return json.loads(out["Payload"].read())
        """)
    fn = lab.function(source=src, name="deep", timeout_s=60)
    run = lab.invoke(fn, [{"d": 0}])
    inv = run.invocations
    # The 16th invocation of the chain may not invoke a 17th: its call raises, its error goes
    # back up the chain as each caller's answer.
    deepest = inv[inv["outcome"] == "error"]
    assert len(inv) == 16 and len(deepest) == 1
    assert deepest.iloc[0]["error_type"] == "RecursiveInvocationException"
    assert "recursive loop" in deepest.iloc[0]["error_message"]


SCRIPT = textwrap.dedent("""
    import json, labkit as lk
    lab = lk.Lab(seed=1)
    src = "import labkit as lk\\ndef handler(event, context):\\n    lk.sleep(0.05)\\n    return event['n']\\n"
    fn = lab.function(source=src, name="work", reserved_concurrency=50)
    print("ready", flush=True)
    try:
        lab.invoke(fn, lk.workload.poisson(2000, 3600))
        print(json.dumps({"interrupted": False}))
    except KeyboardInterrupt:
        busy = sum(ee.busy for ee in fn.environments)
        pending = sum(e.state == "pending" for e in lab.ledger.states.values())
        run = lab.invoke(fn, lk.workload.burst(3))
        print(json.dumps({"interrupted": True, "busy": busy, "inflight": fn.inflight, "pending": pending,
                          "next": len(run.invocations), "next_ok": run.summary()["succeeded"]}))
    """)


def test_a_real_sigint_to_a_kernel_like_process_mid_run():
    env = {**os.environ, "LABKIT_NO_PROGRESS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    import json
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"interrupted": True, "busy": 0, "inflight": 0, "pending": 0, "next": 3, "next_ok": 3}, err
