"""Memory sweeps (Power Tuning style), the pricing model, and the sweep's best-size choice."""

import itertools
import math

import pytest

from labkit import billing, facts
from labkit.errors import InvalidParameterValueException
from labkit.tuning import NoBestConfiguration, choose_best, power_tune, price_table, trimmed_mean

CPU = "import labkit as lk\ndef handler(event, context):\n    lk.cpu(0.4)\n    lk.sleep(0.05)\n    return 1\n"
IO = "import time\ndef handler(event, context):\n    time.sleep(0.3)\n    return 1\n"


@pytest.mark.parametrize("memory_mb, x86, arm", [
    (128, 0.0000000021, 0.0000000017), (512, 0.0000000083, 0.0000000067),
    (1024, 0.0000000167, 0.0000000133), (2048, 0.0000000333, 0.0000000267)])
def test_published_per_millisecond_prices(memory_mb, x86, arm):
    table = price_table([memory_mb]).iloc[0]
    assert table["x86_64_usd_per_ms"] == pytest.approx(x86, abs=1e-13)
    assert table["arm64_usd_per_ms"] == pytest.approx(arm, abs=1e-13)


def test_trimmed_mean_discards_top_and_bottom_share_like_power_tuning():
    assert trimmed_mean([1, 2, 3, 4, 100], 0.2) == 3
    assert trimmed_mean([1, 2, 3, 4, 100], 0.0) == 22
    assert trimmed_mean([5, 7], 0.4) == 6          # nothing discarded with two values


def _sweep(**kw):
    return power_tune(source=kw.pop("source", CPU), memory_sizes=[128, 256, 512, 1024, 1769, 3008],
                      invocations=10, timeout_s=30, **kw)


def test_cpu_bound_duration_halves_with_memory_until_one_vcpu_then_stays_flat():
    t = _sweep().table.set_index("memory_mb")
    d = t["avg_duration_ms"]
    assert d[128] == pytest.approx(400 * facts.MB_PER_VCPU / 128 + 50)
    assert d[256] == pytest.approx(400 * facts.MB_PER_VCPU / 256 + 50)
    assert d[1769] == d[3008] == pytest.approx(450)
    # the cold-start view adds the default runtime init
    assert t["cold_duration_ms"][1769] == pytest.approx(450 + facts.RUNTIME_INIT_MS)


def test_io_bound_duration_does_not_change_so_more_memory_only_costs_more():
    t = _sweep(source=IO).table
    assert t["avg_duration_ms"].nunique() == 1
    assert t["avg_cost_usd"].is_monotonic_increasing


def test_the_sweep_reports_its_own_cost_from_its_invocations():
    r = _sweep(architectures=("x86_64", "arm64"))
    assert r.sweep_cost_usd == pytest.approx(r.table["total_cost_usd"].sum())
    row = r.table.iloc[0]   # 128 MB, x86: 1 cold + 9 warm
    cold_billed = billing.billed_duration_ms(400 * facts.MB_PER_VCPU / 128 + 50, facts.RUNTIME_INIT_MS)
    warm_billed = billing.billed_duration_ms(400 * facts.MB_PER_VCPU / 128 + 50)
    expect = billing.invocation_cost(128, cold_billed) + 9 * billing.invocation_cost(128, warm_billed)
    assert row["total_cost_usd"] == pytest.approx(expect)
    assert (r.table.query("architecture == 'arm64'")["avg_cost_usd"].to_numpy()
            < r.table.query("architecture == 'x86_64'")["avg_cost_usd"].to_numpy()).all()


@pytest.mark.parametrize("strategy, weight", [("cost", 0.5), ("speed", 0.5), ("balanced", 0.0),
                                              ("balanced", 0.3), ("balanced", 0.5), ("balanced", 1.0)])
def test_best_size_agrees_with_brute_force(strategy, weight):
    r = _sweep(architectures=("x86_64", "arm64"), strategy=strategy, balanced_weight=weight)
    rows = r.table.to_dict("records")
    max_c = max(x["avg_cost_usd"] for x in rows)
    max_d = max(x["avg_duration_ms"] for x in rows)

    def score(x):
        if strategy == "cost":
            return (x["avg_cost_usd"], x["avg_duration_ms"])
        if strategy == "speed":
            return (x["avg_duration_ms"], x["avg_cost_usd"])
        return (weight * x["avg_cost_usd"] / max_c + (1 - weight) * x["avg_duration_ms"] / max_d,)

    best = rows[0]
    for x in rows[1:]:   # brute force: compare every pair
        if score(x) < score(best):
            best = x
    assert all(score(best) <= score(x) for x, _ in itertools.product(rows, [0]))
    assert (r.best["memory_mb"], r.best["architecture"]) == (best["memory_mb"], best["architecture"])


def test_parallel_sweeps_are_all_cold_starts():
    t = power_tune(source=IO, memory_sizes=[256], invocations=5, parallel=True).table
    assert math.isclose(t["avg_duration_ms"][0], 300.0)
    assert t["cold_duration_ms"][0] == pytest.approx(300 + facts.RUNTIME_INIT_MS)


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(invocations=0), "num"), (dict(discard_top_bottom=0.5), "discardTopBottom"),
    (dict(strategy="cheap"), "strategy"), (dict(strategy="balanced", balanced_weight=2), "balanced_weight"),
    (dict(memory_sizes=[64]), "MemorySize"), (dict(memory_sizes=[]), "powerValues")])
def test_bad_sweep_settings_are_clear_errors(kwargs, parameter):
    with pytest.raises(InvalidParameterValueException) as e:
        power_tune(source=IO, **{"memory_sizes": [128], **kwargs})
    assert e.value.parameter == parameter


def test_choose_best_rejects_unknown_strategy():
    import pandas as pd
    with pytest.raises(InvalidParameterValueException):
        choose_best(pd.DataFrame([{"avg_cost_usd": 1, "avg_duration_ms": 1}]), "fastest")


ZERO_MS = "def handler(event, context):\n    return 1\n"
FAILS = "def handler(event, context):\n    raise ValueError('always')\n"


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_balanced_strategy_with_a_handler_that_takes_no_time(weight):
    # Every duration is 0 ms: the duration term is 0 for all (no division by zero), so the
    # cost term decides and the cheapest size wins.
    r = power_tune(source=ZERO_MS, memory_sizes=[128, 256, 512], invocations=3, strategy="balanced",
                   balanced_weight=weight)
    assert (r.table["avg_duration_ms"] == 0).all()
    assert r.best["memory_mb"] == 128


def test_an_all_errors_sweep_names_no_best_size():
    r = power_tune(source=FAILS, memory_sizes=[128, 256], invocations=3)
    assert r.table["errors"].tolist() == [3, 3] and r.table["avg_duration_ms"].isna().all()
    assert not r.has_best
    assert choose_best(r.table) is None
    with pytest.raises(NoBestConfiguration, match="There is no best configuration: all 6 calls of the sweep failed"):
        _ = r.best
    import matplotlib.pyplot as plt
    ax = r.plot()                      # the plot says so instead of ringing a made-up best
    assert "no best configuration" in " ".join(t.get_text() for t in ax.texts)
    plt.close(ax.figure)


def test_a_size_whose_calls_all_failed_cannot_be_best():
    import pandas as pd
    table = pd.DataFrame([{"memory_mb": 128, "avg_cost_usd": math.nan, "avg_duration_ms": math.nan},
                          {"memory_mb": 256, "avg_cost_usd": 2.0, "avg_duration_ms": 5.0}])
    for strategy in ("cost", "speed", "balanced"):
        assert choose_best(table, strategy)["memory_mb"] == 256


@pytest.mark.parametrize("weight", [math.nan, math.inf, True, -0.1, 1.5])
def test_balanced_weight_must_be_a_number_from_0_to_1(weight):
    with pytest.raises(InvalidParameterValueException) as e:
        power_tune(source=IO, memory_sizes=[128], strategy="balanced", balanced_weight=weight)
    assert e.value.parameter == "balanced_weight" and "from 0 (speed) to 1 (cost)" in str(e.value)
