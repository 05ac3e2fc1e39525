"""Lesson 03 (throttling per event-source type): experiments, widget function and exercise checkers."""

import json
import math
import pathlib
import time

import pytest

import labkit as lk
from labkit.errors import InvalidParameterValueException
from labkit.exercises import CORRECT, NOT_ATTEMPTED, WRONG
from labkit.lessons import lesson03 as L

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "03-throttling-per-source-type.ipynb"


@pytest.fixture(scope="module")
def overload():
    return L.run_overload()


@pytest.fixture(scope="module")
def table(overload):
    return L.outcome_table(overload).set_index("source")


# -- the same overload, four callers ---------------------------------------------------------

def test_every_source_gets_the_same_arrivals(overload):
    sent = {s: sorted(r.events["sent_s"].round(6)) for s, r in overload.items()}
    first = sent["synchronous"]
    assert len(first) == L.OVERLOAD_RATE * L.OVERLOAD_SECONDS
    assert all(v == first for v in sent.values())


def test_synchronous_caller_gets_429s_and_nothing_waits(overload, table):
    row = table.loc["synchronous"]
    assert row["processed"] == 100 and row["not processed"] == 200
    assert row["caller got"] == "429 for 200"
    assert row["delayed"] == 0 and row["peak concurrency"] == L.RESERVED
    inv = overload["synchronous"].run.invocations
    reasons = set(inv.loc[inv["outcome"] == "throttled", "throttle_reason"])
    assert reasons == {"ReservedFunctionConcurrentInvocationLimitExceeded"}


def test_asynchronous_events_wait_but_none_is_lost(table):
    row = table.loc["asynchronous"]
    assert row["caller got"] == "202 Accepted"
    assert row["not processed"] == 0 and row["delayed"] > 100
    assert row["Throttles"] > row["sent"]          # Lambda's own retries count in the metric
    assert row["peak concurrency"] == L.RESERVED


def test_kinesis_concurrency_is_the_shard_count_and_records_wait(overload, table):
    row = table.loc["Kinesis"]
    assert row["Throttles"] == 0 and row["peak concurrency"] == L.SHARDS
    assert row["not processed"] == 0 and row["max wait (s)"] > 60
    assert overload["Kinesis"].events["start_s"].notna().all()


def test_sqs_throttled_batches_come_back_after_the_visibility_timeout(table):
    row = table.loc["SQS"]
    assert row["not processed"] == 0 and row["Throttles"] > 0
    assert row["all done (s)"] > L.VISIBILITY_TIMEOUT_S


def test_sqs_maximum_concurrency_at_the_reservation_avoids_throttles(table):
    capped = L.outcome_table(L.run_overload(sources=("SQS",), sqs_maximum_concurrency=L.RESERVED)).iloc[0]
    assert capped["Throttles"] == 0 and capped["not processed"] == 0
    assert capped["all done (s)"] < table.loc["SQS", "all done (s)"]


def test_waiting_is_measured_per_source(overload):
    m = L.waiting_metrics(overload).set_index("source")["largest value (s)"]
    assert math.isnan(m["synchronous"])
    assert m["asynchronous"] > 10 and m["Kinesis"] > 60 and m["SQS"] > 10


def test_waiting_and_lost_steps():
    import pandas as pd
    ev = pd.DataFrame({"event_id": ["a", "b", "c"], "sent_s": [0.0, 1.0, 1.0], "start_s": [2.0, math.nan, 1.5],
                       "done_s": [3.0, 1.0, 2.5], "state": ["succeeded", "failed", "succeeded"]})
    t, w = L.waiting_steps(ev)
    level = dict(zip(t, w, strict=True))   # the last level at each instant
    assert level[0.0] == 1 and level[1.5] == 1 and level[2.0] == 0
    t, lost = L.lost_steps(ev)
    assert list(t) == [0.0, 1.0] and list(lost) == [0.0, 1.0]


def test_plots_draw(overload):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    axes = L.plot_overload(overload)
    assert axes.shape == (2, 4)
    assert axes[0, 1].get_title().startswith("asynchronous")
    plt.close("all")


# -- SDK retries -------------------------------------------------------------------------------

def test_sdk_retries_hide_a_spike_but_not_a_sustained_overload():
    spike = L.sdk_retry_table(workload=lk.workload.burst(20)).set_index("client")
    assert spike["failed calls"].tolist()[0] == 10
    assert spike["failed calls"].iloc[-1] == 0                # the caller sees no error ...
    assert spike["Throttles"].iloc[-1] > 10                    # ... the metric still does
    assert spike["slowest call (s)"].iloc[-1] > 2 * spike["slowest call (s)"].iloc[0]
    sustained = L.sdk_retry_table()
    assert sustained["failed calls"].iloc[-1] > 0
    assert list(sustained["Throttles"]) == sorted(sustained["Throttles"])   # more retries, more load


# -- scaling rate ------------------------------------------------------------------------------

def test_flash_sale_against_the_scaling_models():
    t = L.scaling_table(L.scaling_models()).set_index("scaling model")
    today, east, central = (t.iloc[i] for i in range(3))
    # 400 t = 1,000 + 100 t: the per-function bucket runs dry at 3.33 s.
    assert today["first throttle (s)"] == pytest.approx(10 / 3, abs=0.05)
    assert east["Throttles"] == 0                              # a 3,000 burst covers it
    assert central["Throttles"] > today["Throttles"] > 0
    assert central["peak concurrency"] < 1200


# -- noisy neighbour ---------------------------------------------------------------------------

def test_noisy_neighbour_starves_checkout_and_reservation_isolates_it():
    shared = L.function_table(L.noisy_neighbour()).set_index("function")
    assert shared.loc["checkout", "Throttles"] > 100
    assert shared.loc["report-builder", "peak concurrency"] == L.NEIGHBOUR_ACCOUNT_LIMIT
    isolated = L.function_table(L.noisy_neighbour(40)).set_index("function")
    assert isolated.loc["checkout", "Throttles"] == 0
    assert isolated.loc["report-builder", "peak concurrency"] == L.NEIGHBOUR_ACCOUNT_LIMIT - 40


def test_checkout_alone_has_the_same_traffic_as_with_the_neighbour():
    alone = L.function_table(L.noisy_neighbour(day=2, neighbour=False)).set_index("function")
    shielded = L.function_table(L.noisy_neighbour(60, day=2)).set_index("function")
    assert alone.loc["checkout", "requests"] == shielded.loc["checkout", "requests"]
    assert alone.loc["checkout", "peak concurrency"] == shielded.loc["checkout", "peak concurrency"]


# -- widget ------------------------------------------------------------------------------------

def test_source_outcomes_is_pure_fast_and_complete():
    timings = []
    for _ in range(2):
        t0 = time.perf_counter()
        a = L.source_outcomes(reserved_concurrency=5, burst=300)
        timings.append(time.perf_counter() - t0)
    # About 0.15 s on a quiet 2-core machine (the widget's budget is 0.5 s); slack for busy CI.
    assert min(timings) < 2.0
    b = L.source_outcomes(reserved_concurrency=5, burst=300)
    assert a.equals(b)
    shares = a[["promptly", "late", "not processed"]].sum(axis=1)
    assert shares.round(9).eq(1.0).all()
    assert list(a["source"]) == list(L.SOURCE_TYPES)


def test_more_reservation_helps_everyone_but_kinesis():
    small = L.source_outcomes(10, 200).set_index("source")
    big = L.source_outcomes(40, 200).set_index("source")
    assert big.loc["synchronous", "not processed"] < small.loc["synchronous", "not processed"]
    assert big.loc["asynchronous", "max wait (s)"] < small.loc["asynchronous", "max wait (s)"]
    assert big.loc["Kinesis", "max wait (s)"] == small.loc["Kinesis", "max wait (s)"]


def test_widget_plot_draws():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from labkit.widgets import static_figure
    axes = static_figure(L.source_outcomes, L.plot_source_outcomes, [dict(reserved_concurrency=10, burst=40)])
    assert len(axes[0, 0].patches) == 3 * len(L.SOURCE_TYPES)
    plt.close("all")


# -- exercise 1: asynchronous settings ---------------------------------------------------------

GOOD_ASYNC = {"maximum_event_age_s": 3600, "maximum_retry_attempts": 2, "on_failure": True}


def test_async_reference_answers_pass():
    assert L.check_async_config(GOOD_ASYNC).status == CORRECT
    assert L.check_async_config({"maximum_event_age_s": 21600, "maximum_retry_attempts": 2,
                                 "dead_letter_queue": True}).status == CORRECT
    # A missing key keeps AWS's default (6 hours, 2 retries).
    assert L.check_async_config({"on_failure": True}).status == CORRECT


def test_async_published_solution_passes(capsys):
    ns = {"lesson03": L, "q1": L.async_exercise}
    exec(L.ASYNC_SOLUTION, ns)
    assert L.async_exercise.last_result.status == CORRECT
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [None, ..., L.ASYNC_PLACEHOLDER, dict(L.ASYNC_PLACEHOLDER, maximum_event_age_s=600)])
def test_async_placeholders_are_not_attempted(answer):
    assert L.check_async_config(answer).status == NOT_ATTEMPTED


@pytest.mark.parametrize("answer, expected", [
    ({"maximum_event_age_s": 60, "maximum_retry_attempts": 2, "on_failure": True}, "MaximumEventAgeInSeconds"),
    ({"maximum_event_age_s": 21600, "maximum_retry_attempts": 0, "on_failure": True}, "no retry left"),
    ({"maximum_event_age_s": 21600, "maximum_retry_attempts": 1, "on_failure": True}, "no retry left"),
    ({"maximum_event_age_s": 21600, "maximum_retry_attempts": 2, "on_failure": None}, "dropped"),
    ({"maximum_event_age_s": 30, "maximum_retry_attempts": 2, "on_failure": True}, "would reject"),
    ({"maximum_event_age_s": 3600, "maximum_retry_attempts": 3, "on_failure": True}, "MaximumRetryAttempts"),
    ({"max_age": 3600}, "Unknown setting"),
    ([3600, 2, True], "Give a dict"),
    ({"maximum_event_age_s": 3600, "maximum_retry_attempts": 2, "on_failure": 5}, "on_failure takes True"),
    # Only True or None: a truthy word is not a destination.
    ({"maximum_event_age_s": 3600, "maximum_retry_attempts": 2, "on_failure": "yes"}, "on_failure takes True"),
    ({"maximum_event_age_s": 3600, "maximum_retry_attempts": 2, "on_failure": "receipt-failures"},
     "on_failure takes True"),
    ({"maximum_event_age_s": 3600, "maximum_retry_attempts": 2, "on_failure": False}, "on_failure takes True"),
    ({"maximum_event_age_s": 3600, "maximum_retry_attempts": 2, "dead_letter_queue": 1}, "dead_letter_queue takes"),
])
def test_async_wrong_answers_have_specific_messages(answer, expected):
    result = L.check_async_config(answer)
    assert result.status == WRONG
    assert expected in result.message


def test_receipt_burst_refuses_a_destination_that_is_not_true_or_none():
    with pytest.raises(InvalidParameterValueException):
        L.receipt_burst({"on_failure": "yes"})


def test_async_team_config_reports_every_problem():
    msg = L.check_async_config(L.TEAM_CONFIG).message
    assert "MaximumEventAgeInSeconds" in msg and "no retry left" in msg and "dropped" in msg


def test_async_wrong_messages_do_not_reveal_the_answer():
    for answer in (L.TEAM_CONFIG, {"maximum_event_age_s": 60, "maximum_retry_attempts": 2, "on_failure": True}):
        msg = L.check_async_config(answer).message
        assert "3600" not in msg and "21600" not in msg and "21,600" not in msg


def test_receipt_report_separates_valid_and_poison_orders():
    report = L.receipt_report(L.receipt_burst(GOOD_ASYNC))
    valid = report[report["order"] == "valid order"]
    assert valid["state"].tolist() == ["succeeded"]
    assert int(valid["events"].sum()) == L.RECEIPT_ORDERS - L.RECEIPT_ORDERS // L.POISON_EVERY
    poison = report[report["order"] != "valid order"]
    assert set(poison["state"]) == {"failure_destination"}


# -- exercise 2: reserved concurrency ----------------------------------------------------------

def _busiest():
    return max(L.checkout_peak(d) for d in L.DAYS)


def test_reservation_reference_answers_pass():
    peak = _busiest()
    for r in (peak, peak + 5, int(peak * L.HEADROOM)):
        assert L.check_reservation(r).status == CORRECT, r


def test_reservation_published_solution_passes(capsys):
    ns = {"lesson03": L, "q2": L.reserve_exercise}
    exec(L.RESERVE_SOLUTION, ns)
    assert L.reserve_exercise.last_result.status == CORRECT
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [None, ...])
def test_reservation_placeholders_are_not_attempted(answer):
    assert L.check_reservation(answer).status == NOT_ATTEMPTED


@pytest.mark.parametrize("answer, expected", [
    (5, "throttled"),
    (0, "switch a function off"),
    (-3, "negative"),
    (101, "InvalidParameterValueException"),
    (150, "at most 100 can be reserved"),
    (100, "sat idle"),
    ("40", "whole number"),
    (37.5, "whole number"),
    (40.0, "without the decimal point"),
    (True, "whole number"),
])
def test_reservation_wrong_answers_have_specific_messages(answer, expected):
    result = L.check_reservation(answer)
    assert result.status == WRONG
    assert expected in result.message


def test_reservation_rejects_a_float_even_at_the_right_size():
    peak = _busiest()
    result = L.check_reservation(float(peak))
    assert result.status == WRONG and "without the decimal point" in result.message


def test_reservation_just_below_the_busiest_day_fails_on_that_day():
    peak = _busiest()
    result = L.check_reservation(peak - 1)
    assert result.status == WRONG and "On day" in result.message
    assert str(peak) not in result.message


# -- the notebook shows the same handlers the module runs -------------------------------------

def test_notebook_handler_cells_match_the_module_sources():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    sources = {"".join(c["source"]).strip() for c in cells if c["cell_type"] == "code"}
    for name in ("WORKER_SOURCE", "CHECKOUT_SOURCE", "REPORT_SOURCE", "RECEIPT_SOURCE"):
        assert getattr(L, name).strip() in sources, name


def test_notebook_links_to_the_next_lesson():
    text = NOTEBOOK.read_text()
    assert "04-downstream-pooling.ipynb" in text
