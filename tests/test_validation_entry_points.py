"""Every public entry point with a numeric option refuses NaN, infinity, a bool, a negative and an
absurd value with an AWS-style error that names the parameter and states the allowed range.

Each case below is ``cases(name, call, parameter, ...)``: ``call(value)`` passes ``value`` to one
option; ``negative``/``absurd`` are the values tried besides NaN, inf and True (None: that kind of
value is allowed, or the option has no upper bound because nothing grows with it); ``inf=False``
where infinity is meaningful and documented.
"""

import functools
import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import labkit as lk  # noqa: E402
from labkit import metrics, validation  # noqa: E402
from labkit.aws import cost  # noqa: E402
from labkit.errors import InvalidParameterValueException  # noqa: E402
from labkit.exercises import Exercise, Scenario, correct  # noqa: E402
from labkit.lessons import lesson01, lesson02, lesson04, lesson05, lesson06  # noqa: E402
from labkit.services.fake_dbutils import PooledDB  # noqa: E402
from labkit.tuning import choose_best, power_tune  # noqa: E402

NAN, INF = math.nan, math.inf
SRC = "def handler(event, context):\n    return 1\n"
SLOW = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(2)\n    return 1\n"


def cases(name, call, parameter, *, negative=-1, absurd=None, inf=True):
    """pytest params ``(call, parameter, value)`` for one option. ``absurd`` may be ``(value,
    parameter)`` when a combined bound names another parameter."""
    out = [pytest.param(call, parameter, NAN, id=f"{name}-nan"),
           pytest.param(call, parameter, True, id=f"{name}-bool")]
    if inf:
        out.append(pytest.param(call, parameter, INF, id=f"{name}-inf"))
    if negative is not None:
        out.append(pytest.param(call, parameter, negative, id=f"{name}-negative"))
    if absurd is not None:
        value, param = absurd if isinstance(absurd, tuple) else (absurd, parameter)
        out.append(pytest.param(call, param, value, id=f"{name}-absurd"))
    return out


# -- things the calls need (built once; nothing below changes them) ---------------------------

def _lab():
    return lk.Lab(seed=1)


def _fn(lab, **config):
    return lab.function(source=SRC, **config)


@functools.cache
def _run():
    """A run that lasts a few simulated seconds (so a tiny period would mean millions of periods)."""
    lab = _lab()
    return lab.invoke(lab.function(source=SLOW), lk.workload.burst(3))


@functools.cache
def _advanced():
    """A Lab a minute old with an SQS queue, a database and a proxy."""
    lab = _lab()
    queue = lab.sqs_queue("q")
    db = lab.database("db")
    proxy = lab.db_proxy(db, "proxy")
    lab.advance(60)
    return lab, queue, db, proxy


def _kinesis_mapping(**options):
    lab = _lab()
    return lab.event_source_mapping(_fn(lab), lab.kinesis_stream("s"), **options)


def _sqs_mapping(**options):
    lab = _lab()
    return lab.event_source_mapping(_fn(lab), lab.sqs_queue("q"), **options)


def _function(name):
    return lambda v: _fn(_lab(), **{name: v})


def _table(name):
    return lambda v: _lab().dynamodb_table("tbl", **{name: v})


def _reference(name):
    return lambda v: _lab().reference_service("svc", {}, **{name: v})


def _database(name):
    return lambda v: _lab().database("db", **{name: v})


def _proxy(name):
    def call(v):
        lab = _lab()
        return lab.db_proxy(lab.database("db"), "proxy", **{name: v})
    return call


def _server(name):
    def call(v):
        lab = _lab()
        return lab.traditional_server(lab.database("db"), **{name: v})
    return call


def _estimate(name):
    return lambda v: cost.estimate(**{"requests": 10, "duration_ms": 100, name: v})


def _send(**options):
    lab = _lab()
    return lab.send(lab.sqs_queue("q"), lk.workload.burst(1), **options)


def _redrive(**options):
    lab = _lab()
    return lab.sqs_queue("q", dead_letter_queue=lab.queue("dlq"), **options)


def _async_queue(**config):
    lab = _lab()
    return lab.async_queue(_fn(lab), **config)


def _pair(call):
    """``throttle_backoff_s=(1, v)``: a (first, longest) pair whose second element is bad."""
    return lambda v: call(throttle_backoff_s=(1.0, v))


_BEST_TABLE = pd.DataFrame([{"avg_cost_usd": 1.0, "avg_duration_ms": 1.0}])

CASES = [
    # -- the Lab, its functions and its clock --------------------------------------------------
    *cases("Lab.idle_reclaim_s", lambda v: lk.Lab(idle_reclaim_s=v), "idle_reclaim_s", absurd=1e12),
    *cases("Lab.concurrency_limit", lambda v: lk.Lab(concurrency_limit=v), "ConcurrentExecutions", absurd=10 ** 9),
    *cases("Lab.seed", lambda v: lk.Lab(seed=v), "seed", negative=None),
    *cases("function.memory_mb", _function("memory_mb"), "MemorySize", absurd=10 ** 9),
    *cases("function.timeout_s", _function("timeout_s"), "Timeout", absurd=10 ** 6),
    *cases("function.ephemeral_storage_mb", _function("ephemeral_storage_mb"), "EphemeralStorage.Size",
           absurd=10 ** 9),
    *cases("function.reserved_concurrency", _function("reserved_concurrency"), "ReservedConcurrentExecutions",
           absurd=10 ** 9),
    *cases("function.provisioned_concurrency", _function("provisioned_concurrency"),
           "ProvisionedConcurrentExecutions", absurd=10 ** 9),
    *cases("function.runtime_init_ms", _function("runtime_init_ms"), "runtime_init_ms", absurd=1e9),
    *cases("lab.advance", lambda v: _lab().advance(v), "seconds", absurd=1e12),
    *cases("lab.send.until_s", lambda v: _send(until_s=v), "until_s", absurd=1e12),
    *cases("SdkRetry.max_attempts", lambda v: lk.SdkRetry(max_attempts=v), "max_attempts", absurd=10 ** 6),
    *cases("SdkRetry.base_s", lambda v: lk.SdkRetry(base_s=v), "base_s", absurd=1e9),
    *cases("SdkRetry.cap_s", lambda v: lk.SdkRetry(cap_s=v), "cap_s", inf=False),   # inf: no cap (legacy mode)
    # -- workloads ----------------------------------------------------------------------------
    *cases("constant.rate_per_s", lambda v: lk.workload.constant(v, 10), "rate_per_s",
           absurd=(1e12, "rate_per_s * seconds")),
    *cases("poisson.seconds", lambda v: lk.workload.poisson(1, v), "seconds", absurd=1e12),
    *cases("burst.n", lambda v: lk.workload.burst(v), "n", absurd=10 ** 12),
    *cases("burst.spread_s", lambda v: lk.workload.burst(3, spread_s=v), "spread_s", absurd=1e12),
    *cases("bursts.every_s", lambda v: lk.workload.bursts(3, v, 2), "every_s", absurd=1e12),
    *cases("ramp.end_rate", lambda v: lk.workload.ramp(0, v, 10), "end_rate", absurd=(1e12, "rate_per_s * seconds")),
    *cases("parallel.n", lambda v: lk.workload.parallel(v), "n", absurd=10 ** 12),
    *cases("closed_loop.clients", lambda v: lk.workload.closed_loop(v, requests_per_client=1), "clients",
           absurd=10 ** 9),
    *cases("closed_loop.think_s", lambda v: lk.workload.closed_loop(1, seconds=1, think_s=v), "think_s",
           absurd=1e12),
    *cases("sequential.n", lambda v: lk.workload.sequential(v), "requests_per_client", absurd=10 ** 12),
    *cases("replay.timestamps", lambda v: lk.workload.replay([0, v]), "timestamps[]", absurd=1e12),
    # -- a run's metrics and plots ------------------------------------------------------------
    *cases("run.metrics.period_s", lambda v: _run().metrics(v), "period_s", absurd=1e-9),
    *cases("metrics.cloudwatch.period_s", lambda v: metrics.cloudwatch(_run().invocations, v), "period_s",
           absurd=1e-9),
    *cases("plot.throttles.period_s", lambda v: _run().plot.throttles(v), "period_s", absurd=1e-9),
    *cases("plot.overview.period_s", lambda v: _run().plot.overview(v), "period_s", absurd=1e-9),
    *cases("plot.durations.bins", lambda v: _run().plot.durations(bins=v), "bins"),   # never more bins than values
    # -- asynchronous invocation --------------------------------------------------------------
    *cases("async.maximum_retry_attempts", lambda v: _async_queue(maximum_retry_attempts=v), "MaximumRetryAttempts",
           absurd=10 ** 6),
    *cases("async.maximum_event_age_s", lambda v: _async_queue(maximum_event_age_s=v), "MaximumEventAgeInSeconds",
           absurd=10 ** 9),
    *cases("async.duplicate_rate", lambda v: _async_queue(duplicate_rate=v), "duplicate_rate", absurd=2),
    # -- Kinesis ------------------------------------------------------------------------------
    *cases("kinesis_stream.shard_count", lambda v: _lab().kinesis_stream("s", v), "ShardCount", absurd=10 ** 6),
    *cases("kinesis_stream.retention_hours", lambda v: _lab().kinesis_stream("s", retention_hours=v),
           "RetentionPeriodHours", absurd=10 ** 6),
    *cases("kinesis_mapping.batch_size", lambda v: _kinesis_mapping(batch_size=v), "BatchSize", absurd=10 ** 9),
    *cases("kinesis_mapping.maximum_batching_window_s", lambda v: _kinesis_mapping(maximum_batching_window_s=v),
           "MaximumBatchingWindowInSeconds", absurd=10 ** 6),
    *cases("kinesis_mapping.parallelization_factor", lambda v: _kinesis_mapping(parallelization_factor=v),
           "ParallelizationFactor", absurd=1000),
    *cases("kinesis_mapping.maximum_retry_attempts", lambda v: _kinesis_mapping(maximum_retry_attempts=v),
           "MaximumRetryAttempts", negative=-2, absurd=10 ** 9),
    *cases("kinesis_mapping.maximum_record_age_s", lambda v: _kinesis_mapping(maximum_record_age_s=v),
           "MaximumRecordAgeInSeconds", negative=-2, absurd=10 ** 9),
    *cases("kinesis_mapping.retry_delay_s", lambda v: _kinesis_mapping(retry_delay_s=v), "retry_delay_s",
           absurd=1e12),
    *cases("kinesis_mapping.throttle_backoff_s", _pair(_kinesis_mapping), "throttle_backoff_s", absurd=1e12),
    # -- SQS ----------------------------------------------------------------------------------
    *cases("sqs_queue.visibility_timeout_s", lambda v: _lab().sqs_queue("q", visibility_timeout_s=v),
           "VisibilityTimeout", absurd=10 ** 9),
    *cases("sqs_queue.message_retention_s", lambda v: _lab().sqs_queue("q", message_retention_s=v),
           "MessageRetentionPeriod", absurd=10 ** 9),
    *cases("sqs_queue.max_receive_count", lambda v: _redrive(max_receive_count=v), "RedrivePolicy.maxReceiveCount",
           absurd=10 ** 9),
    *cases("sqs_mapping.batch_size", lambda v: _sqs_mapping(batch_size=v), "BatchSize", absurd=10 ** 9),
    *cases("sqs_mapping.maximum_batching_window_s", lambda v: _sqs_mapping(maximum_batching_window_s=v),
           "MaximumBatchingWindowInSeconds", absurd=10 ** 6),
    *cases("sqs_mapping.maximum_concurrency", lambda v: _sqs_mapping(maximum_concurrency=v),
           "ScalingConfig.MaximumConcurrency", absurd=10 ** 9),
    *cases("sqs_mapping.concurrency_cap", lambda v: _sqs_mapping(concurrency_cap=v), "concurrency_cap",
           absurd=10 ** 9),
    *cases("sqs_mapping.scale_up_per_minute", lambda v: _sqs_mapping(scale_up_per_minute=v), "scale_up_per_minute"),
    *cases("sqs_mapping.scale_down_per_minute", lambda v: _sqs_mapping(scale_down_per_minute=v),
           "scale_down_per_minute"),
    *cases("sqs_mapping.throttle_backoff_s", _pair(_sqs_mapping), "throttle_backoff_s", absurd=1e12),
    *cases("queue.metrics.period_s", lambda v: _advanced()[1].metrics(v), "period_s", absurd=1e-9),
    *cases("queue.metrics.t1", lambda v: _advanced()[1].metrics(1.0, t0=0, t1=v), "t1"),
    # -- DynamoDB, HTTP services, databases, servers --------------------------------------------
    *cases("dynamodb_table.read_units_per_s", _table("read_units_per_s"), "read_units_per_s"),
    *cases("dynamodb_table.write_units_per_s", _table("write_units_per_s"), "write_units_per_s"),
    *cases("dynamodb_table.burst_s", _table("burst_s"), "burst_s", absurd=1e12),
    *cases("dynamodb_table.latency_s", _table("latency_s"), "latency_s", absurd=1e12),
    *cases("dynamodb_table.jitter_s", _table("jitter_s"), "jitter_s", absurd=1e12),
    *cases("reference_service.latency_s", _reference("latency_s"), "latency_s", absurd=1e12),
    *cases("reference_service.rps_limit", _reference("rps_limit"), "rps_limit"),
    *cases("reference_service.version_every_s", _reference("version_every_s"), "version_every_s", absurd=1e12),
    *cases("database.max_connections", _database("max_connections"), "max_connections"),
    *cases("database.vcpus", _database("vcpus"), "vcpus"),
    *cases("database.query_cpu_s", _database("query_cpu_s"), "query_cpu_s", absurd=1e12),
    *cases("database.handshake_s", _database("handshake_s"), "handshake_s", absurd=1e12),
    *cases("database.auth_cpu_s", _database("auth_cpu_s"), "auth_cpu_s", absurd=1e12),
    *cases("database.network_rtt_s", _database("network_rtt_s"), "network_rtt_s", absurd=1e12),
    *cases("database.metrics.period_s", lambda v: _advanced()[2].metrics(v), "period_s", absurd=1e-9),
    *cases("db_proxy.max_connections_percent", _proxy("max_connections_percent"), "MaxConnectionsPercent",
           absurd=1000),
    *cases("db_proxy.connection_borrow_timeout_s", _proxy("connection_borrow_timeout_s"), "ConnectionBorrowTimeout",
           absurd=1e6),
    *cases("db_proxy.max_client_connections", _proxy("max_client_connections"), "max_client_connections"),
    *cases("db_proxy.handshake_s", _proxy("handshake_s"), "handshake_s", absurd=1e12),
    *cases("db_proxy.overhead_s", _proxy("overhead_s"), "overhead_s", absurd=1e12),
    *cases("db_proxy.metrics.period_s", lambda v: _advanced()[3].metrics(v), "period_s", absurd=1e-9),
    *cases("traditional_server.processes", _server("processes"), "processes", absurd=10 ** 7),
    *cases("traditional_server.pool_size", _server("pool_size"), "pool_size"),
    *cases("traditional_server.pool_timeout_s", _server("pool_timeout_s"), "pool_timeout_s", absurd=1e12),
    *cases("PooledDB.mincached", lambda v: PooledDB(lambda: None, mincached=v), "mincached"),
    *cases("PooledDB.maxconnections", lambda v: PooledDB(lambda: None, maxconnections=v), "maxconnections"),
    # -- memory sweeps, cost estimates, exercises -----------------------------------------------
    *cases("power_tune.invocations", lambda v: power_tune(source=SRC, memory_sizes=[128], invocations=v), "num",
           absurd=10 ** 9),
    *cases("power_tune.discard_top_bottom", lambda v: power_tune(source=SRC, memory_sizes=[128],
                                                                 discard_top_bottom=v),
           "discardTopBottom", absurd=0.5),
    *cases("choose_best.balanced_weight", lambda v: choose_best(_BEST_TABLE, "balanced", v), "balanced_weight",
           absurd=2),
    *cases("estimate.requests", _estimate("requests"), "requests"),
    *cases("estimate.duration_ms", _estimate("duration_ms"), "duration_ms"),
    *cases("estimate.memory_mb", _estimate("memory_mb"), "memory_mb", absurd=10 ** 9),
    *cases("estimate.timeout_s", _estimate("timeout_s"), "timeout_s", absurd=10 ** 6),
    *cases("estimate.cold_starts", _estimate("cold_starts"), "cold_starts"),
    *cases("estimate.provisioned_seconds", _estimate("provisioned_seconds"), "provisioned_seconds", absurd=1e12),
    *cases("estimate.invocations_per_call", _estimate("invocations_per_call"), "invocations_per_call"),
    *cases("Budget.budget_usd", lambda v: cost.Budget(v), "budget_usd"),
    *cases("Scenario.callers", lambda v: Scenario(callers=v), "callers", absurd=10 ** 9),
    *cases("Scenario.calls_each", lambda v: Scenario(calls_each=v), "calls_each", absurd=10 ** 9),
    *cases("Scenario.gap_s", lambda v: Scenario(gap_s=v), "gap_s", absurd=1e12),
    *cases("Exercise.hint.level", lambda v: Exercise("x", lambda a: correct("ok"), hints=["a"]).hint(v), "level"),
    # -- the lessons' experiment functions ------------------------------------------------------
    *cases("lesson01.counter_race.concurrency", lambda v: lesson01.counter_race(concurrency=v), "concurrency",
           absurd=10 ** 6),
    *cases("lesson01.counter_race.work_ms", lambda v: lesson01.counter_race(work_ms=v), "work_ms", absurd=1e9),
    *cases("lesson01.single_owner.rate_per_s", lambda v: lesson01.single_owner(rate_per_s=v), "rate_per_s",
           absurd=1e9),
    *cases("lesson01.at_least_once.duplicate_rate", lambda v: lesson01.at_least_once(SRC, duplicate_rate=v),
           "duplicate_rate", absurd=2),
    *cases("lesson01.at_least_once.rate_per_s", lambda v: lesson01.at_least_once(SRC, rate_per_s=v), "rate_per_s",
           absurd=1e9),
    *cases("lesson01.carry_state.rounds", lambda v: lesson01.carry_state(SRC, rounds=v), "rounds", absurd=10 ** 6),
    *cases("lesson02.cold_start_rate.idle_s", lambda v: lesson02.cold_start_rate(1, v, 10), "idle_s", absurd=1e12),
    *cases("lesson02.keep_alive.calls_per_min", lambda v: lesson02.keep_alive(calls_per_min=v), "calls_per_min",
           absurd=1e-9),
    *cases("lesson02.keep_alive.idle_min", lambda v: lesson02.keep_alive(idle_min=v), "idle_min", absurd=1e12),
    *cases("lesson02.herd_experiment.provisioned", lambda v: lesson02.herd_experiment(SRC, provisioned=v),
           "provisioned"),
    *cases("lesson02.cache_handler_source.ttl_s", lambda v: lesson02.cache_handler_source(ttl_s=v), "ttl_s",
           absurd=1e12),
    *cases("lesson04.pooled_source.pool_size", lambda v: lesson04.pooled_source(v), "pool_size"),
    *cases("lesson04.new_lab.held_by_others", lambda v: lesson04.new_lab(held_by_others=v), "held_by_others",
           absurd=10 ** 6),
    *cases("lesson05.edit_events.edits", lambda v: lesson05.edit_events(edits=v), "edits", absurd=10 ** 9),
    *cases("lesson05.edit_events.rate_per_s", lambda v: lesson05.edit_events(rate_per_s=v), "rate_per_s"),
    *cases("lesson05.edit_events.record_bytes", lambda v: lesson05.edit_events(record_bytes=v), "record_bytes",
           absurd=10 ** 12),
    *cases("lesson05.iterator_age_series.period_s", lambda v: lesson05.iterator_age_series(None, v), "period_s",
           absurd=1e12),
    *cases("lesson06.scavenge.readers", lambda v: lesson06.scavenge(readers=v), "readers", absurd=10 ** 6),
    *cases("lesson06.fan_out.workers", lambda v: lesson06.fan_out(workers=v), "workers", absurd=10 ** 6),
]


@pytest.mark.parametrize("call, parameter, value", CASES)
def test_a_bad_number_is_refused_with_the_parameter_and_the_allowed_range(call, parameter, value):
    with pytest.raises(InvalidParameterValueException) as e:
        call(value)
    plt.close("all")
    err = e.value
    assert err.parameter == parameter
    assert str(err).startswith(f"{parameter}=") and " is not valid: allowed " in str(err)
    # The allowed range, with its bounds (only a seed may be any integer at all).
    assert re.search(r"\d", err.allowed) or err.allowed == "an integer", err.allowed


def test_every_case_name_is_unique():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids))


# -- the bugs this sweep fixed --------------------------------------------------------------------

@pytest.mark.parametrize("period_s", [0, -1.0, NAN, INF])
def test_run_metrics_refuses_a_period_that_divided_by_zero_or_broke(period_s):
    with pytest.raises(InvalidParameterValueException) as e:
        _run().metrics(period_s)
    assert e.value.parameter == "period_s" and "seconds > 0" in e.value.allowed


def test_a_period_giving_too_many_rows_is_refused_and_says_the_smallest_period():
    run = _run()
    span = run.t1 - run.t0
    with pytest.raises(InvalidParameterValueException) as e:
        run.metrics(span / (validation.MAX_PERIODS * 10))
    assert "1,000,000 periods" in str(e.value) and "labkit's limit" in str(e.value)
    assert len(run.metrics(span / 1000)) >= 1000      # a fine period that fits is still fine


@pytest.mark.parametrize("plot", [
    lambda r: r.plot.throttles(period_s=0), lambda r: r.plot.throttles(period_s=NAN),
    lambda r: r.plot.overview(period_s=INF), lambda r: r.plot.durations(bins=0),
    lambda r: r.plot.durations(bins=2.5), lambda r: r.plot.durations(bins=True)])
def test_plot_arguments_are_checked_before_a_figure_is_made(plot):
    before = plt.get_fignums()
    with pytest.raises(InvalidParameterValueException):
        plot(_run())
    assert plt.get_fignums() == before


def test_time_sleep_nan_in_a_handler_fails_as_in_python_instead_of_taking_no_time():
    lab = _lab()
    fn = lab.function(source="import time\nimport labkit as lk\n"
                             "def handler(event, context):\n"
                             "    (time.sleep if event['f'] == 'sleep' else lk.cpu)(float('nan'))\n")
    inv = lab.invoke(fn, [{"f": "sleep"}, {"f": "cpu"}]).invocations
    assert list(inv["error_type"]) == ["ValueError", "ValueError"]
    assert "NaN" in inv["error_message"].iloc[0]


def test_a_nan_estimate_does_not_fit_in_a_budget():
    with pytest.raises(InvalidParameterValueException) as e:
        cost.Budget(1.0).check(NAN)
    assert e.value.parameter == "est"
