"""Bad input gets a clear AWS-style error: parameter, value, allowed range; NaN, inf and
absurd sizes are refused before they can hang or kill a Lab."""

import inspect
import math

import pytest

import labkit as lk
from labkit import validation
from labkit.errors import InvalidParameterValueException

NAN, INF = math.nan, math.inf
SRC = "def handler(event, context):\n    return 1\n"


def _refused(call, parameter):
    with pytest.raises(InvalidParameterValueException) as e:
        call()
    assert e.value.parameter == parameter
    assert "is not valid: allowed" in str(e.value)
    return e.value


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_lab_and_function_options_refuse_nan_and_inf(bad):
    _refused(lambda: lk.Lab(idle_reclaim_s=bad), "idle_reclaim_s")
    _refused(lambda: lk.Lab(concurrency_limit=bad), "ConcurrentExecutions")
    lab = lk.Lab(seed=1)
    _refused(lambda: lab.function(source=SRC, runtime_init_ms=bad), "runtime_init_ms")
    _refused(lambda: lab.function(source=SRC, memory_mb=bad), "MemorySize")
    _refused(lambda: lab.function(source=SRC, timeout_s=bad), "Timeout")
    _refused(lambda: lab.advance(bad), "seconds")
    _refused(lambda: lk.SdkRetry(base_s=bad), "base_s")


def test_advance_inf_no_longer_kills_the_lab():
    lab = lk.Lab(seed=1)
    _refused(lambda: lab.advance(INF), "seconds")
    fn = lab.function(source=SRC)
    assert lab.invoke(fn, [{}]).summary()["succeeded"] == 1


@pytest.mark.parametrize("make, parameter", [
    (lambda: lk.workload.poisson(NAN, 10), "rate_per_s"),
    (lambda: lk.workload.poisson(10, INF), "seconds"),
    (lambda: lk.workload.constant(INF, 1), "rate_per_s"),
    (lambda: lk.workload.burst(3, at_s=NAN), "at_s"),
    (lambda: lk.workload.ramp(0, NAN, 10), "end_rate"),
    (lambda: lk.workload.replay([0, NAN]), "timestamps[]"),
    (lambda: lk.workload.closed_loop(2, seconds=NAN), "seconds"),
    (lambda: lk.workload.sequential(3, gap_s=INF), "think_s"),
])
def test_workloads_refuse_nan_and_inf(make, parameter):
    _refused(make, parameter)


@pytest.mark.parametrize("make, parameter", [
    (lambda: lk.workload.burst(10 ** 12), "n"),
    (lambda: lk.workload.parallel(10 ** 9), "n"),
    (lambda: lk.workload.poisson(1e6, 3600), "rate_per_s * seconds"),
    (lambda: lk.workload.constant(1e5, 1e4), "rate_per_s * seconds"),
    (lambda: lk.workload.bursts(10 ** 6, 1, 100), "rate_per_s * seconds"),
    (lambda: lk.workload.ramp(0, 1e6, 3600), "rate_per_s * seconds"),
    (lambda: lk.workload.closed_loop(10 ** 6, requests_per_client=1), "clients"),
    (lambda: lk.workload.closed_loop(1000, requests_per_client=10 ** 5), "rate_per_s * seconds"),
    (lambda: lk.workload.poisson(1, 10 ** 9), "seconds"),
])
def test_absurd_workload_sizes_are_refused_at_once(make, parameter):
    err = _refused(make, parameter)
    assert "labkit" in str(err) or "seconds" in str(err)


def test_the_largest_course_experiment_still_fits():
    # 5,000 requests per second for 10 minutes: 3 million calls (the speed issue's target).
    assert lk.workload.constant(5000, 600).horizon_s == pytest.approx(600, abs=1e-3)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "eu-central-2"])
def test_regions_are_names_of_regions(region):
    assert lk.Lab(region=region).account.region == region


@pytest.mark.parametrize("region", ["", "US-EAST-1", "mars", "us-east", 7, None])
def test_a_bad_region_is_refused(region):
    _refused(lambda: lk.Lab(region=region), "region")


def test_booleans_are_not_numbers():
    _refused(lambda: lk.Lab(seed=True), "seed")
    _refused(lambda: lk.workload.burst(True), "n")
    lab = lk.Lab(seed=1)
    _refused(lambda: lab.function(source=SRC, memory_mb=True), "MemorySize")


def test_generated_descriptions():
    with pytest.raises(InvalidParameterValueException, match=r"allowed an integer from 128 to 10,240 MB"):
        validation.integer("MemorySize", 64, 128, 10240, unit=" MB")
    with pytest.raises(InvalidParameterValueException, match=r"allowed a finite number > 0 and <= 5"):
        validation.number("x", 0, 0, 5, lo_open=True)
    with pytest.raises(InvalidParameterValueException, match=r"allowed one of \('a', 'b'\)"):
        validation.choice("kind", "c", ("a", "b"))
    assert validation.integer("n", 512.0, 1, 1024, whole_floats=True) == 512
    assert validation.number("cap_s", INF, 0, allow_inf=True) == INF


def test_period_and_delay_pair():
    assert validation.period("period_s", 0.5, 60) == 0.5
    with pytest.raises(InvalidParameterValueException, match=r"at least 6e-05 .* 1,000,000 periods"):
        validation.period("period_s", 1e-9, 60)
    for bad in (0, -1, NAN, INF, True, "1"):
        _refused(lambda bad=bad: validation.period("period_s", bad, 60), "period_s")
    assert validation.delay_pair("backoff", (1, 30)) == (1, 30)
    for bad in ((0, 1), (2, 1), (1, NAN), (1, INF), (True, 2), [1, 2], (1, 2, 3), ("1", 2), (1, 1e12)):
        _refused(lambda bad=bad: validation.delay_pair("backoff", bad), "backoff")


def test_event_count_takes_a_lower_bound():
    assert validation.event_count("n", 0) == 0
    with pytest.raises(InvalidParameterValueException, match=r"an integer from 1 to 10,000,000"):
        validation.event_count("n", 0, 1)


def test_labkit_bounds_are_documented_with_a_reason():
    source = inspect.getsource(validation)
    for name in ("MAX_EVENTS_PER_WORKLOAD", "MAX_SIMULATED_S", "MAX_PERIODS", "MAX_SHARDS",
                 "MAX_SIMULATED_PROCESSES", "MAX_CONCURRENCY"):
        line = source.index(f"\n{name} = ")
        assert source[:line].rstrip().splitlines()[-1].startswith("#"), f"{name} needs a comment with its reason"
