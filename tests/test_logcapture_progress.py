"""Handler logging is captured per invocation in AWS's format; progress bars stay out of CI."""

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
    monkeypatch.setenv("CI", "true")
    assert progress._wanted() is False
    monkeypatch.delenv("CI")
    monkeypatch.setenv("LABKIT_NO_PROGRESS", "1")
    assert progress._wanted() is False
    monkeypatch.delenv("LABKIT_NO_PROGRESS")
    assert progress._wanted() is False     # plain Python, not a Jupyter kernel


def test_stepping_for_a_progress_bar_changes_no_result(monkeypatch):
    """In JupyterLab a long run advances in chunks to update its bar; the records must not change."""
    src = ("import random, labkit as lk\n"
           "def handler(event, context):\n"
           "    lk.sleep(random.uniform(0.05, 0.5))\n"
           "    return event['n']\n")

    def run():
        lab = lk.Lab(seed=4)
        fn = lab.function(source=src, reserved_concurrency=20)
        return lab.invoke(fn, lk.workload.poisson(60, 120), retry=lk.SdkRetry()).invocations

    plain = run()

    class Bar:
        value = 0
        updates = 0

        def close(self):
            pass

    bar = Bar()
    monkeypatch.setattr(progress, "_wanted", lambda: True)
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    monkeypatch.setattr(progress, "_make_bar", lambda: bar)
    stepped = run()
    assert bar.value == 100
    assert stepped.equals(plain)
