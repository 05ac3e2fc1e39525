"""Lesson 02 (container reuse and caching): experiments, the keep-alive formula, and both exercises."""

import importlib.util
import json
import math
import time
from pathlib import Path

import pytest

from labkit import exercises as ex
from labkit.errors import InvalidParameterValueException
from labkit.lessons import lesson02 as L

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02-container-reuse-and-caching.ipynb"


# -- keep-alive: the cold-start rate of sparse Poisson traffic is e^(-lambda T) ---------------------

@pytest.mark.parametrize("rate_per_s, idle_s, seed", [
    (1 / 60, 60, 1),        # lambda T = 1
    (1 / 300, 600, 2),      # lambda T = 2, AWS's observed 10-minute reclaim
    (1 / 120, 60, 3),       # lambda T = 0.5
    (1 / 30, 30, 4),        # lambda T = 1 at a faster pace
])
def test_cold_start_rate_matches_exp_minus_lambda_t(rate_per_s, idle_s, seed):
    r = L.cold_start_rate(rate_per_s, idle_s, 2500 / rate_per_s, seed)
    expected = math.exp(-rate_per_s * idle_s)
    assert r["expected"] == pytest.approx(expected)
    assert r["calls"] > 2000
    assert r["std_error"] == pytest.approx(math.sqrt(expected * (1 - expected) / r["calls"]))
    # Within four standard errors (a false alarm about once in 15,000 runs; the seeds are fixed anyway).
    assert abs(r["rate"] - expected) < 4 * r["std_error"]


def test_cold_start_rate_pooled_over_seeds_is_tight():
    rate, idle = 1 / 240, 480   # lambda T = 2
    results = [L.cold_start_rate(rate, idle, 1500 / rate, seed) for seed in range(1, 6)]
    calls = sum(r["calls"] for r in results)
    colds = sum(r["cold_starts"] for r in results)
    p = math.exp(-2)
    assert abs(colds / calls - p) < 4 * math.sqrt(p * (1 - p) / calls)


def test_a_call_is_cold_exactly_when_its_idle_gap_reaches_the_reclaim_time():
    r = L.cold_start_rate(1 / 120, 180, 200 * 120, seed=7)
    mismatches = [(g, c) for g, c in zip(r["gaps_s"], r["cold"], strict=True) if c != (g >= 180)]
    assert mismatches == []


def test_cold_start_rate_is_deterministic_and_validates_its_input():
    a = L.cold_start_rate(1 / 60, 60, 6000, seed=3)
    b = L.cold_start_rate(1 / 60, 60, 6000, seed=3)
    assert a == b
    assert L.cold_start_rate(1 / 60, 60, 6000, seed=4)["gaps_s"] != a["gaps_s"]
    for bad in (0, -1, float("nan"), float("inf"), "1", True):
        with pytest.raises(InvalidParameterValueException):
            L.cold_start_rate(bad, 60, 100)
        with pytest.raises(InvalidParameterValueException):
            L.cold_start_rate(1, bad, 100)
    with pytest.raises(InvalidParameterValueException):
        L.keep_alive(calls_per_min=0)


def test_keep_alive_widget_function_is_fast_enough_for_a_slider():
    start = time.perf_counter()
    r = L.keep_alive(calls_per_min=0.2, idle_min=10)
    assert time.perf_counter() - start < 0.5
    assert 900 < r["calls"] < 1100
    assert abs(r["rate"] - math.exp(-2)) < 4 * r["std_error"]


def test_keep_alive_curves_follow_the_formula():
    df = L.keep_alive_curves(calls_per_min=(0.1, 1), idle_mins=(5, 20))
    assert len(df) == 4
    assert ((df["rate"] - df["expected"]).abs() <= 4 * df["std_error"] + 1e-12).all()


# -- caching ----------------------------------------------------------------------------------

def test_cache_handler_sources_cover_the_three_placements():
    assert "\nTTL_S = 60 " in L.cache_handler_source("global", 60)
    assert 'CACHE_FILE = "/tmp/prices.json"' in L.cache_handler_source("tmp", 7.5)
    assert "\nTTL_S = 7.5 " in L.cache_handler_source("tmp", 7.5)
    assert "TTL_S" not in L.cache_handler_source("none", None)
    for src in (L.cache_handler_source(p, 30) for p in L.PLACEMENTS):
        compile(src, "<handler>", "exec")
    with pytest.raises(InvalidParameterValueException):
        L.cache_handler_source("redis", 30)
    with pytest.raises(InvalidParameterValueException):
        L.cache_handler_source("global", -1)


def test_staleness_counts_from_the_moment_a_newer_version_appeared():
    import labkit as lk
    lab = lk.Lab(seed=1)
    svc = L.add_price_service(lab, version_every_s=100)
    assert L.staleness_s(svc, 1, 50) == 0.0
    assert L.staleness_s(svc, 1, 130) == pytest.approx(30)      # version 2 since t = 100
    assert L.staleness_s(svc, 1, 250) == pytest.approx(150)     # version 3 since 200, but 2 since 100
    assert L.staleness_s(svc, 3, 250) == 0.0


def test_hit_ratio_depends_on_the_traffic_shape():
    steady = L.cache_experiment("global", 60, "steady")
    bursty = L.cache_experiment("global", 60, "bursty")
    assert steady["hit_ratio"] > 0.95 and steady["refusals"] == 0 and steady["errors"] == 0
    # Each burst spreads over 30 environments, one call each, and 2 minutes outlive a 60 s TTL.
    assert bursty["environments"] == 30 and bursty["hit_ratio"] == 0.0 and bursty["fetches"] == bursty["calls"]
    longer = L.cache_experiment("global", 300, "bursty")
    assert longer["hit_ratio"] > 0.5


def test_staleness_never_exceeds_the_ttl():
    df = L.cache_sweep(ttls=(10, 60, 300), shapes=("steady", "sparse"))
    assert (df["max_staleness_s"] <= df["ttl_s"] + 1e-9).all()
    steady = df[df["shape"] == "steady"].sort_values("ttl_s")
    assert list(steady["fetches"]) == sorted(steady["fetches"], reverse=True)


def test_tmp_survives_a_reset_and_globals_do_not():
    g, t = L.reset_experiment("global"), L.reset_experiment("tmp")
    assert g["failed_by"] == t["failed_by"] == {"Sandbox.Timedout": 25}
    assert t["fetches"] == t["environments"]                  # one fetch per environment
    assert g["fetches"] == g["environments"] + 25             # plus one after every reset


def test_global_and_tmp_caches_agree_without_resets():
    g = L.cache_experiment("global", 60, "steady")
    t = L.cache_experiment("tmp", 60, "steady")
    assert (g["fetches"], g["hit_ratio"]) == (t["fetches"], t["hit_ratio"])
    none = L.cache_experiment("none", None, "steady")
    assert none["hit_ratio"] == 0.0 and none["fetches"] == none["calls"]


# -- clients ------------------------------------------------------------------------------------

def test_a_client_in_init_opens_one_connection_per_environment():
    per_call = L.client_experiment(L.CLIENT_PER_CALL_SOURCE)
    in_init = L.client_experiment(L.CLIENT_IN_INIT_SOURCE)
    assert per_call["connections_opened"] == per_call["calls"]
    assert in_init["connections_opened"] == in_init["environments"]
    assert per_call["requests_to_service"] == per_call["calls"] and in_init["requests_to_service"] == in_init["calls"]
    assert per_call["duration_p50_ms"] == pytest.approx(in_init["duration_p50_ms"] + 100)   # the handshake
    assert in_init["init_duration_ms"] == pytest.approx(per_call["init_duration_ms"] + 100)
    assert per_call["environments"] > in_init["environments"]


# -- the cold-start herd --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def herd():
    pc = L.HERD["provisioned"]
    return {"A": L.herd_experiment(L.HERD_FIXED_TTL_SOURCE),
            "A + PC": L.herd_experiment(L.HERD_FIXED_TTL_SOURCE, provisioned=pc),
            "B": L.herd_experiment(L.HERD_JITTERED_SOURCE),
            "B + PC": L.herd_experiment(L.HERD_JITTERED_SOURCE, provisioned=pc)}


def test_a_deploy_herds_the_reference_service(herd):
    a = herd["A"]
    assert a["refusals_before_traffic"] == 0
    assert a["refusals_during_traffic"] > 100
    assert a["peak_rps"] > 10 * L.HERD["rps_limit"]
    assert a["environments"] > 2 * L.HERD["provisioned"]     # slow inits pulled in more environments


def test_provisioned_concurrency_moves_the_herd_before_traffic(herd):
    for k in ("A + PC", "B + PC"):
        r = herd[k]
        assert r["refusals_before_traffic"] > 0 and r["errors"] == 0
        assert r["refusals_during_traffic"] < herd["A"]["refusals_during_traffic"] / 50


def test_jittered_refresh_flattens_the_refresh_waves(herd):
    assert herd["B + PC"]["refusals_during_traffic"] == 0
    assert herd["B + PC"]["peak_rps"] <= L.HERD["rps_limit"] < herd["A + PC"]["peak_rps"]
    assert min(herd, key=lambda k: herd[k]["refusals_during_traffic"]) == "B + PC"
    table = L.herd_table(herd)
    assert list(table["variant"]) == list(herd)


def test_herd_experiment_rejects_bad_provisioning():
    with pytest.raises(InvalidParameterValueException):
        L.herd_experiment(L.HERD_FIXED_TTL_SOURCE, provisioned=-1)


# -- exercise 1: cache placement and TTL ------------------------------------------------------------

def test_cache_exercise_reference_answers_pass():
    ns = {}
    exec(L.CACHE_SOLUTION, ns)
    assert L.check_cache_choice(ns["my_cache"]).status == ex.CORRECT
    r = L.check_cache_choice({"placement": "tmp", "ttl_s": 60})
    assert r.ok and "/tmp" in r.message


def test_cache_solution_describes_the_checked_scenario():
    # The solution's comment quotes the environment count of the exercise's own traffic.
    counts = {L.run_cache_task("global", 30, seed)["environments"] for seed in L.CACHE_CHECK_SEEDS}
    assert counts <= {7, 8} and "7 or 8 environments" in L.CACHE_SOLUTION


def test_cache_exercise_not_attempted():
    for answer in (None, ..., {"placement": ..., "ttl_s": ...}):
        assert L.check_cache_choice(answer).status == ex.NOT_ATTEMPTED


def test_cache_exercise_wrong_answers_get_their_own_messages():
    verdicts = {
        "none": L.check_cache_choice({"placement": "none", "ttl_s": ...}),
        "too short": L.check_cache_choice({"placement": "global", "ttl_s": 0.5}),
        "too long": L.check_cache_choice({"placement": "global", "ttl_s": 300}),
        "bad placement": L.check_cache_choice({"placement": "redis", "ttl_s": 30}),
        "bad ttl": L.check_cache_choice({"placement": "global", "ttl_s": -5}),
        "missing key": L.check_cache_choice({"placement": "global"}),
        "not a dict": L.check_cache_choice(60),
        "half done": L.check_cache_choice({"placement": ..., "ttl_s": 30}),
    }
    assert all(v.status == ex.WRONG for v in verdicts.values())
    assert "no cache" in verdicts["none"].message and "429" in verdicts["none"].message
    assert "refreshes too often" in verdicts["too short"].message
    assert "out of date" in verdicts["too long"].message and "90 s" in verdicts["too long"].message
    assert "placement must be one of" in verdicts["bad placement"].message
    assert "ttl_s must be" in verdicts["bad ttl"].message
    assert "needs the key ttl_s" in verdicts["missing key"].message
    assert "as a dict" in verdicts["not a dict"].message
    assert len({v.message for v in verdicts.values()}) == len(verdicts)


def test_cache_exercise_checks_never_suggest_a_ttl():
    for answer in ({"placement": "none", "ttl_s": ...}, {"placement": "global", "ttl_s": 0.5},
                   {"placement": "global", "ttl_s": 300}):
        text = L.check_cache_choice(answer).text()
        assert "ttl_s" not in text and "TTL of" not in text and "try " not in text.lower()


def test_cache_exercise_has_progressive_hints_and_a_solution(capsys):
    q = L.cache_exercise
    assert len(q.hints) >= 2
    q.hint()
    assert "Hint 1 of" in capsys.readouterr().out
    q.solution()
    assert "my_cache" in capsys.readouterr().out


# -- exercise 2: no leaks between callers --------------------------------------------------------------

def _variant(old, new, source=L.BASKET_SOURCE):
    assert old in source
    return source.replace(old, new)


SUCCESS_ONLY_CLEAR = _variant(
    '''    return {"customer": event["customer"], "items": basket, "total": total}''',
    '''    result = {"customer": event["customer"], "items": list(basket), "total": total}
    basket.clear()
    return result''')

PER_CUSTOMER = _variant('''    for item in event["items"]:''', '''    basket = baskets.setdefault(event["customer"], [])
    for item in event["items"]:''',
                        _variant("basket = []         # the items of the order being priced", "baskets = {}"))

CLEAR_AT_START = _variant('''    for item in event["items"]:''', '''    basket.clear()
    for item in event["items"]:''')

FETCH_EVERY_CALL = _variant("    if PRICES is None:                               # first call in this environment\n",
                            "    if True:\n", L.BASKET_SOLUTION)


def test_basket_solution_passes():
    r = L.check_basket(L.BASKET_SOLUTION)
    assert r.status == ex.CORRECT, r.text()


def test_basket_placeholder_is_not_attempted():
    r = L.check_basket(L.BASKET_SOURCE)
    assert r.status == ex.NOT_ATTEMPTED
    assert "still the starter handler" in r.message and "placeholder" not in r.message
    assert L.check_basket(None).status == ex.NOT_ATTEMPTED
    # Comments and spacing alone do not make an attempt.
    assert L.check_basket(L.BASKET_SOURCE.replace("# the items", "#   items")).status == ex.NOT_ATTEMPTED


def test_the_original_handler_leaks_caller_a_into_caller_b():
    r = L.check_basket.__wrapped__(L.BASKET_SOURCE)
    assert r.status == ex.WRONG
    assert r.message.startswith("Caller ada then caller grace on environment env-0001: grace saw ada's data.")
    assert "2 calls one after another" in r.details


def test_clearing_only_on_success_leaks_a_failed_calls_items():
    r = L.check_basket(SUCCESS_ONLY_CLEAR)
    assert r.status == ex.WRONG
    assert "failed part-way" in r.message and "only when a call succeeds" in r.message
    assert "#3 (alan)" in r.message and "#4 (edsger)" in r.message


def test_a_global_keyed_by_customer_still_leaks():
    r = L.check_basket(PER_CUSTOMER)
    assert r.status == ex.WRONG
    assert "ada ordered twice" in r.message and "keyed by customer" in r.message


def test_fetching_the_price_list_every_call_is_an_over_correction():
    r = L.check_basket(FETCH_EVERY_CALL)
    assert r.status == ex.WRONG
    assert "No order leaked" in r.message and "keep caching it" in r.message


def test_clearing_at_the_start_is_behaviourally_correct():
    assert L.check_basket(CLEAR_AT_START).ok


def test_basket_messages_are_distinct():
    messages = {L.check_basket.__wrapped__(s).message
                for s in (L.BASKET_SOURCE, SUCCESS_ONLY_CLEAR, PER_CUSTOMER, FETCH_EVERY_CALL)}
    assert len(messages) == 4


def test_basket_check_accepts_a_handler_function(tmp_path):
    path = tmp_path / "fixed_basket.py"
    path.write_text(L.BASKET_SOLUTION)
    spec = importlib.util.spec_from_file_location("fixed_basket", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert L.check_basket(module.handler).ok


def test_basket_demo_shows_the_leak():
    df = L.basket_demo(L.BASKET_SOURCE)
    assert list(df["customer"]) == ["ada", "grace"]
    assert list(df["items returned"].iloc[0]) == ["espresso", "croissant"]      # as returned at the time
    assert list(df["items returned"].iloc[1]) == ["espresso", "croissant", "tea"]


def test_basket_exercise_hints_and_solution(capsys):
    q = L.basket_exercise
    assert len(q.hints) >= 2
    q.hint(2)
    out = capsys.readouterr().out
    assert "Hint 2 of" in out
    q.solution()
    assert "basket = []" in capsys.readouterr().out


# -- the notebook deploys exactly the code this module describes --------------------------------------

def test_notebook_handler_cells_are_the_lesson_sources():
    nb = json.loads(NOTEBOOK.read_text())
    cells = {"".join(c["source"]).rstrip("\n") for c in nb["cells"] if c["cell_type"] == "code"}
    for source in (L.PRICE_LOOKUP_SOURCE, L.cache_handler_source("global", 60), L.CLIENT_PER_CALL_SOURCE,
                   L.CLIENT_IN_INIT_SOURCE, L.HERD_FIXED_TTL_SOURCE, L.HERD_JITTERED_SOURCE, L.BASKET_SOURCE):
        assert source.rstrip("\n") in cells
