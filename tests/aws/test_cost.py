"""Cost estimates against AWS's published price examples, and the budget guard."""

import threading

import pytest

from labkit import facts, workload
from labkit.aws import cost
from labkit.errors import InvalidParameterValueException


def test_the_pricing_page_example_without_free_tier():
    # aws.amazon.com/lambda/pricing: 512 MB, 3 million requests of 1 s each in a month:
    # 1,500,000 GB-s x $0.0000166667 = $25.00 before the free tier, requests 3M x $0.20/1M = $0.60.
    est = cost.estimate(requests=3_000_000, duration_ms=1000, memory_mb=512, cold_starts=0)
    assert est.duration_usd == pytest.approx(25.00005, abs=1e-6)
    assert est.request_usd == pytest.approx(0.60)
    assert est.total_usd == pytest.approx(25.60, abs=0.001)


def test_price_per_millisecond_table_of_the_facts_sheet():
    # 1 ms at 128 MB costs $0.0000000021 (x86) and $0.0000000017 (arm64); one million of them:
    for arch, per_ms in (("x86_64", 0.0000000021), ("arm64", 0.0000000017)):
        est = cost.estimate(requests=1_000_000, duration_ms=1, memory_mb=128, architecture=arch, cold_starts=0)
        assert est.duration_usd == pytest.approx(per_ms * 1_000_000, rel=0.03)


def test_cold_starts_bill_the_init_since_august_2025_and_not_before():
    new = cost.estimate(requests=1, duration_ms=1655.10, init_duration_ms=322.04, memory_mb=1024, cold_starts=1)
    old = cost.estimate(requests=1, duration_ms=1655.10, init_duration_ms=322.04, memory_mb=1024, cold_starts=1,
                        billing_model="2020-12")
    per_ms = facts.PRICE_PER_GB_S_USD["x86_64"] / 1000
    assert new.duration_usd == pytest.approx(1978 * per_ms)      # ceil(1655.10 + 322.04)
    assert old.duration_usd == pytest.approx(1656 * per_ms)


def test_provisioned_concurrency_is_billed_in_five_minute_steps_while_configured():
    # 10 environments x 1 GB for one hour = 36,000 GB-s x $0.0000041667 = $0.15
    assert cost.provisioned_cost(10, 1024, 3600) == pytest.approx(0.150001, abs=1e-5)
    # 61 s is billed as 300 s
    assert cost.provisioned_cost(1, 1024, 61) == pytest.approx(300 * cost.PROVISIONED_PRICE_PER_GB_S_USD)
    est = cost.estimate(requests=10, duration_ms=100, provisioned_concurrency=2, provisioned_seconds=60)
    assert est.provisioned_usd > 0 and est.cold_starts == 8   # 10 parallel calls, 2 already warm
    assert "provisioned" in str(est)


def test_estimates_count_open_and_closed_loop_workloads():
    est = cost.estimate(workload.constant(rate_per_s=10, seconds=2), duration_ms=100)
    assert est.requests == 20 and est.cold_starts == 3          # arrivals 0.1 s apart, each 0.25 s long (init)
    est = cost.estimate(workload.parallel(7), duration_ms=100)
    assert (est.requests, est.cold_starts) == (7, 7)
    est = cost.estimate(workload.closed_loop(3, requests_per_client=4), duration_ms=100)
    assert (est.requests, est.cold_starts) == (12, 3)
    est = cost.estimate(workload.closed_loop(2, seconds=1.0), duration_ms=250)
    assert est.requests == 2 * 5                                 # an upper bound
    # Without a duration the whole timeout is assumed.
    assert cost.estimate(requests=1, timeout_s=3).duration_ms == 3000


def test_every_estimate_names_what_it_excludes():
    text = str(cost.estimate(requests=5, duration_ms=10))
    assert "CloudWatch Logs" in text and "free tier" in text


def test_budget_refuses_an_estimate_over_it_with_a_clear_message():
    budget = cost.Budget()                      # small default
    assert budget.budget_usd == cost.DEFAULT_BUDGET_USD <= 1.0
    big = cost.estimate(requests=3_000_000, duration_ms=1000, memory_mb=512, cold_starts=0)
    with pytest.raises(cost.BudgetExceeded, match=r"estimated at \$25\.\d+.*Nothing was created"):
        budget.check(big)
    small = cost.estimate(requests=100, duration_ms=50)
    assert budget.check(small) is small
    with pytest.raises(InvalidParameterValueException) as e:
        cost.Budget(0)
    assert e.value.parameter == "budget_usd"


def test_budget_running_total_stops_dispatching_when_reached():
    budget = cost.Budget(0.001)
    granted = 0
    while budget.reserve(0.0003):
        granted += 1
        budget.settle(0.0003, 0.0002)
    assert granted == 4 and budget.stopped
    assert budget.spent_usd == pytest.approx(0.0008)
    assert not budget.reserve(1e-9)             # once stopped, stays stopped


def test_budget_is_thread_safe():
    budget = cost.Budget(1.0)
    ok = []

    def worker():
        for _ in range(2000):
            if budget.reserve(0.0001):
                ok.append(1)
                budget.settle(0.0001, 0.0001)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 10000 - 1 or len(ok) == 10000
    assert budget.spent_usd <= 1.0 + 1e-9
