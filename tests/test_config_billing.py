"""Function configuration (validated like the Lambda API), CPU share and the cost model."""

import math

import pytest

import labkit as lk
from labkit import billing, facts
from labkit.config import FunctionConfig
from labkit.errors import InvalidParameterValueException

from conftest import deploy, sleeper


# -- 10. Validation -------------------------------------------------------------------------

@pytest.mark.parametrize("option, parameter, value, allowed", [
    ("memory_mb", "MemorySize", 127, ("128", "10,240")),
    ("memory_mb", "MemorySize", 10241, ("128", "10,240")),
    ("memory_mb", "MemorySize", 128.5, ("128", "10,240")),
    ("timeout_s", "Timeout", 0, ("1", "900")),
    ("timeout_s", "Timeout", 901, ("1", "900")),
    ("ephemeral_storage_mb", "EphemeralStorage.Size", 511, ("512", "10,240")),
    ("ephemeral_storage_mb", "EphemeralStorage.Size", 10241, ("512", "10,240")),
])
def test_out_of_range_configuration_is_rejected_with_a_helpful_message(lab, option, parameter, value, allowed):
    for make in (lambda: FunctionConfig(**{option: value}),
                 lambda: deploy(lab, sleeper(0), **{option: value})):
        with pytest.raises(InvalidParameterValueException) as e:
            make()
        err = e.value
        assert (err.parameter, err.value) == (parameter, value)
        msg = str(err)
        assert msg.startswith(f"{parameter}={value!r} is not valid: allowed ")
        lo, hi = allowed
        assert f"from {lo} to {hi}" in msg
        assert err.status == 400 and err.code == "InvalidParameterValueException"


@pytest.mark.parametrize("bad", [dict(memory_mb="512"), dict(memory_mb=True), dict(timeout_s=3.5),
                                 dict(reserved_concurrency=-1), dict(provisioned_concurrency=-1),
                                 dict(architecture="sparc"), dict(runtime_init_ms=-1), dict(name=""),
                                 dict(name="x" * 65)])
def test_other_bad_configuration_is_rejected(bad):
    with pytest.raises(InvalidParameterValueException):
        FunctionConfig(**bad)


def test_boundary_values_are_accepted():
    for kw in (dict(memory_mb=128), dict(memory_mb=10240), dict(memory_mb=1024.0), dict(timeout_s=1),
               dict(timeout_s=900), dict(ephemeral_storage_mb=512), dict(ephemeral_storage_mb=10240)):
        cfg = FunctionConfig(**kw)
        for k, v in kw.items():
            assert getattr(cfg, k) == v and isinstance(getattr(cfg, k), int)
    cfg = FunctionConfig()
    assert (cfg.memory_mb, cfg.timeout_s, cfg.ephemeral_storage_mb) == (128, 3, 512)


def test_lab_options_are_validated():
    for bad in (dict(concurrency_limit=99), dict(concurrency_limit=1000.0), dict(seed=1.5),
                dict(billing_model="2019"), dict(scaling_model="fast"), dict(idle_reclaim_s=-5)):
        with pytest.raises(InvalidParameterValueException):
            lk.Lab(**bad)


# -- 12. CPU share ----------------------------------------------------------------------------

@pytest.mark.parametrize("memory, vcpus, speed", [(128, 1, 128 / 1769), (1769, 1, 1.0), (1770, 2, 1.0),
                                                 (3538, 2, 1.0), (3539, 3, 1.0), (10240, 6, 1.0)])
def test_vcpus_and_single_thread_speed(memory, vcpus, speed):
    cfg = FunctionConfig(memory_mb=memory)
    assert cfg.vcpus == vcpus
    assert cfg.single_thread_speed == pytest.approx(speed)
    assert cfg.cpu_share == pytest.approx(min(vcpus, memory / 1769))


# -- 13. Billing -----------------------------------------------------------------------------

@pytest.mark.parametrize("duration, init, model, billed", [
    (1655.10, 322.04, "2025-08", 1978),
    (1233.96, 463.512, "2025-08", 1698),
    (5000.00, 578.07, "2025-08", 5579),
    (26.73, math.nan, "2025-08", 27),
    (1154.11, 216.65, "2020-12", 1155),
    (385, 0.0, "pre-2020-12", 400),
    (5, 0.0, "pre-2020-12", 100),
    (1419.71, 0.0, "pre-2020-12", 1500),
    (100.0, 0.0, "pre-2020-12", 100),
    (3000.0, 0.0, "2025-08", 3000),
])
def test_billed_duration(duration, init, model, billed):
    init = 0.0 if math.isnan(init) else init
    assert billing.billed_duration_ms(duration, init, model=model) == billed


def test_float_noise_does_not_add_a_millisecond():
    assert billing.billed_duration_ms(0.1 + 0.2, 0.0) == 1
    assert billing.billed_duration_ms(1000 * (0.1 + 0.2), 0.0) == 300
    assert billing.billed_duration_ms(100.00000000001, 0.0, model="pre-2020-12") == 100


def test_unknown_billing_model_is_rejected():
    with pytest.raises(InvalidParameterValueException):
        billing.billed_duration_ms(1, 0, model="1999")


# The facts sheet's table (section 6): price per 1 ms, first tier.
PRICE_TABLE = {128: ("0.0000000021", "0.0000000017"), 512: ("0.0000000083", "0.0000000067"),
               1024: ("0.0000000167", "0.0000000133"), 2048: ("0.0000000333", "0.0000000267")}


@pytest.mark.parametrize("memory", sorted(PRICE_TABLE))
def test_price_per_ms_matches_the_pricing_table(memory):
    x86, arm = PRICE_TABLE[memory]
    assert billing.price_per_ms(memory, "x86_64") == float(x86)
    assert billing.price_per_ms(memory, "arm64") == float(arm)


def test_gb_seconds_and_invocation_cost():
    assert billing.gb_seconds(1024, 1000) == 1.0
    assert billing.gb_seconds(256, 1978) == pytest.approx(0.25 * 1.978)
    assert billing.gb_seconds(1536, 500) == pytest.approx(0.75)
    assert billing.invocation_cost(1024, 1000) == pytest.approx(0.0000002 + 0.0000166667)
    assert billing.invocation_cost(2048, 500, "arm64") == pytest.approx(0.0000002 + 1.0 * 0.0000133334)
    assert facts.PRICE_PER_REQUEST_USD == pytest.approx(0.20 / 1e6)


def _cost(memory, billed, arch):
    return facts.PRICE_PER_REQUEST_USD + memory / 1024 * billed / 1000 * facts.PRICE_PER_GB_S_USD[arch]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_each_invocation_costs_request_plus_gb_seconds(lab, arch):
    fn = deploy(lab, sleeper(0.25), memory_mb=512, architecture=arch)
    run = lab.invoke(fn, lk.workload.sequential(3))
    df = run.invocations
    assert list(df["billed_duration_ms"]) == [400, 250, 250]      # 150 ms init billed on the cold start
    for row in df.itertuples():
        assert row.cost_usd == pytest.approx(_cost(512, row.billed_duration_ms, arch), rel=1e-12)
    s = run.summary()
    assert s["billed_gb_s"] == pytest.approx(0.5 * 0.9, abs=1e-6)
    assert s["cost_usd"] == pytest.approx(df["cost_usd"].sum(), abs=1e-10)


def test_a_timed_out_cold_start_bills_timeout_plus_init():
    lab = lk.Lab(seed=1)
    fn = deploy(lab, sleeper(10), memory_mb=1024, timeout_s=5, runtime_init_ms=578.07)
    row = lab.invoke(fn, [{}]).invocations.iloc[0]
    assert row["outcome"] == "timeout"
    assert row["init_duration_ms"] == pytest.approx(578.07)
    assert row["billed_duration_ms"] == 5579


@pytest.mark.parametrize("model, cold_billed, warm_billed", [("2025-08", 476, 326), ("2020-12", 326, 326),
                                                             ("pre-2020-12", 400, 400)])
def test_lab_billing_model(model, cold_billed, warm_billed):
    lab = lk.Lab(seed=1, billing_model=model)
    fn = deploy(lab, sleeper(0.3255), runtime_init_ms=150)
    df = lab.invoke(fn, lk.workload.sequential(2)).invocations
    assert list(df["billed_duration_ms"]) == [cold_billed, warm_billed]


def test_throttles_cost_nothing(lab):
    fn = deploy(lab, sleeper(0.1), reserved_concurrency=0)
    df = lab.invoke(fn, lk.workload.parallel(3)).invocations
    assert (df["cost_usd"] == 0).all() and (df["billed_duration_ms"] == 0).all()
