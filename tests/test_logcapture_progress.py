"""Handler logging is captured per invocation in AWS's format; progress bars stay out of CI."""

import pytest
import simpy

import labkit as lk
from labkit import billing, progress

SRC = '''import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
def handler(event, context):
    logger.info("processing %s", event["n"])
    logging.getLogger("quiet").debug("not shown: below INFO")
    print("plain print")
    return 1
'''


def test_logging_lines_have_the_python_runtime_format():
    lab = lk.Lab(seed=1)
    run = lab.invoke(lab.function(source=SRC), lk.workload.sequential(2, gap_s=1.5))
    rid = run.invocations["request_id"][1]
    lines = run.log(rid)
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[1] == f"[INFO]\t2026-01-01T00:00:01.650Z\t{rid}\tprocessing 1"
    assert lines[2] == "plain print"
    assert lines[3] == f"END RequestId: {rid}"
    assert lines[4].startswith(f"REPORT RequestId: {rid}\t")
    assert not any("not shown" in line for line in run.log_lines())


def test_a_zero_length_invocation_still_bills_one_step():
    assert billing.billed_duration_ms(0.0) == 1
    assert billing.billed_duration_ms(0.0, model="pre-2020-12") == 100


def test_no_progress_bar_under_ci_or_outside_jupyter(monkeypatch):
    monkeypatch.delenv("LABKIT_PROGRESS", raising=False)
    monkeypatch.setenv("CI", "true")
    assert progress.mode() == "off"
    monkeypatch.delenv("CI")
    monkeypatch.setenv("LABKIT_NO_PROGRESS", "1")
    assert progress.mode() == "off"
    monkeypatch.delenv("LABKIT_NO_PROGRESS")
    assert progress.mode() == "off"         # plain Python, not a Jupyter kernel
    monkeypatch.setenv("LABKIT_PROGRESS", "always")
    assert progress.mode() == "always"


class _Bar:
    def __init__(self):
        self.values = []
        self.closed = False

    @property
    def value(self):
        return self.values[-1] if self.values else 0

    @value.setter
    def value(self, v):
        self.values.append(v)

    def close(self):
        self.closed = True


SRC_RANDOM_WAITS = ("import random, labkit as lk\n"
                    "def handler(event, context):\n"
                    "    lk.sleep(random.uniform(0.05, 0.5))\n"
                    "    return event['n']\n")


def _everything(lab, runs):
    """All a learner could look at after some runs: records, states and the clock."""
    out = [lab.now, sorted(map(tuple, lab.account.lifecycle))]
    for run in runs:
        out += [run.t0, run.t1, run.invocations.to_dict("list"), run.lifecycle.to_dict("list"),
                run.events.to_dict("list"), run.summary()]
    return repr(out)


def _scenario():
    """Synchronous calls with retries, a service whose process never ends, a Kinesis stream,
    an SQS queue, then an idle wait: every driver that steps the clock."""
    lab = lk.Lab(seed=4)
    svc = lab.reference_service("prices", {"a": 1}, version_every_s=7.0)
    src = SRC_RANDOM_WAITS + (f"import urllib.request\n"
                              f"def fetch(event, context):\n"
                              f"    return urllib.request.urlopen('{svc.url}/a').read().decode()\n")
    fn = lab.function(source=src, reserved_concurrency=20)
    fetcher = lab.function(source=src, handler_name="fetch", name="fetch")
    runs = [lab.invoke(fn, lk.workload.poisson(60, 120), retry=lk.SdkRetry()),
            lab.invoke(fetcher, lk.workload.poisson(5, 30))]
    stream = lab.kinesis_stream("s", shard_count=2)
    lab.event_source_mapping(lab.function(source="def handler(e, c):\n    return None\n", name="k"),
                             stream, batch_size=10)
    runs.append(lab.send(stream, lk.workload.poisson(20, 30), partition_key=lambda e: str(e["n"] % 5)))
    queue = lab.sqs_queue("q")
    lab.event_source_mapping(lab.function(source="import labkit as lk\ndef handler(e, c):\n"
                                                 "    lk.sleep(0.3)\n", name="s"), queue, batch_size=5)
    runs.append(lab.send(queue, lk.workload.poisson(20, 30)))
    lab.advance(100)
    runs.append(lab.invoke(fn, lk.workload.burst(30)))
    return _everything(lab, runs)


def test_stepping_for_a_progress_bar_changes_no_result(monkeypatch):
    """In JupyterLab a long run updates its bar between events; nothing a learner can see
    may change: records, event states, summaries, and the clock afterwards (lab.now)."""
    monkeypatch.delenv("LABKIT_PROGRESS", raising=False)
    plain = _scenario()
    bars = []

    def make_bar():
        bars.append(_Bar())
        return bars[-1]

    monkeypatch.delenv("LABKIT_NO_PROGRESS", raising=False)   # make test sets it, CI may too
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress, "_EVENTS_PER_CHECK", 7)    # look at the clock very often
    monkeypatch.setattr(progress, "_make_bar", make_bar)
    monkeypatch.setenv("LABKIT_PROGRESS", "always")
    stepped = _scenario()
    assert bars and all(b.closed and b.value == 100 for b in bars)
    assert any(len(b.values) > 10 for b in bars)
    assert stepped == plain


def test_a_run_ends_at_the_instant_its_last_event_settles(monkeypatch):
    """The clock stops when the run is over, not at the next bar update."""
    monkeypatch.delenv("LABKIT_NO_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress, "_make_bar", _Bar)
    monkeypatch.setenv("LABKIT_PROGRESS", "always")
    lab = lk.Lab(seed=1)
    lab.reference_service("ticker", {"a": 1}, version_every_s=1.0)   # a process that never ends
    fn = lab.function(source="import labkit as lk\ndef handler(e, c):\n    lk.sleep(0.25)\n")
    run = lab.invoke(fn, lk.workload.burst(3))
    assert lab.now == run.t1 == run.invocations["end_s"].max() == 0.25 + fn.config.runtime_init_ms / 1000


def test_the_bar_leaves_no_text_in_a_saved_notebook(monkeypatch):
    shown = []
    monkeypatch.setattr(progress, "display", lambda obj, raw=False: shown.append((obj, raw)))
    bar = progress._make_bar()
    assert bar is not None
    bar.close()
    [(bundle, raw)] = shown
    assert raw and list(bundle) == ["application/vnd.jupyter.widget-view+json"]


def test_a_run_without_a_horizon_never_shows_a_bar(monkeypatch):
    # A slow run whose workload has no horizon (nothing to measure progress against) once
    # made a bar anyway and divided by zero on its first update.
    monkeypatch.setattr(progress, "mode", lambda: "auto")
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    monkeypatch.setattr(progress, "_make_bar", lambda: pytest.fail("a bar was made"))
    env = simpy.Environment()

    def ticks():
        for _ in range(5000):
            yield env.timeout(1)
    done = env.process(ticks())
    progress.run_until(env, done, 0.0, 0.0)
    assert env.now == 5000
