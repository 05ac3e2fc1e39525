"""Lesson 02 (container reuse and caching): experiments, widget functions and exercises.

Every experiment here is a **pure function**: it builds its own seeded ``Lab``, runs one
simulation and returns plain data (dicts, lists, DataFrames). The notebook draws them; the
tests call them directly.

``handlers/``      the handler modules, as files (``*_SOURCE`` are their texts)
``experiments``    the price service; cold and warm; caching (``cache_handler_source``,
                   ``run_cached``, ``cache_sweep``, ``reset_experiment``); a client per call or
                   per environment; keep-alive (``cold_start_rate``, ``keep_alive``); the
                   cold-start herd after a deploy (``herd_experiment``)
``figures``        ``plot_cache_sweep``, ``plot_keep_alive`` (the widget's redraw),
                   ``plot_keep_alive_curves``, ``plot_herd``
``exercises``      ``cache_exercise`` (cache placement and TTL), ``basket_exercise`` (no
                   caller's data leaks into the next warm invocation)

Every name the notebook uses is re-exported here: ``from labkit.lessons import lesson02``,
then ``lesson02.keep_alive(...)``.
"""


from .exercises import (
    BASKET_HINTS,
    CACHE_CHECK_SEEDS,
    CACHE_HINTS,
    CACHE_PLACEHOLDER,
    CACHE_SOLUTION,
    CACHE_TASK,
    LEAK_SCENARIOS,
    ORDERS,
    basket_demo,
    basket_exercise,
    cache_exercise,
    cache_task_traffic,
    check_basket,
    check_cache_choice,
    run_cache_task,
)
from .experiments import (
    HERD,
    PLACEMENTS,
    PRICE_HOST,
    PRICE_LATENCY_S,
    PRICE_SERVICE,
    PRICE_VERSION_EVERY_S,
    PRICES_URL,
    SKUS,
    TRAFFIC_SHAPES,
    add_price_service,
    cache_experiment,
    cache_handler_source,
    cache_sweep,
    client_experiment,
    cold_start_rate,
    deploy,
    fetches_by_request,
    herd_experiment,
    herd_table,
    keep_alive,
    keep_alive_curves,
    order,
    price_data,
    reset_experiment,
    run_cached,
    staleness_s,
    traffic_shape,
)
from .figures import plot_cache_sweep, plot_herd, plot_keep_alive, plot_keep_alive_curves
from .handlers import (
    BASKET_SOLUTION,
    BASKET_SOURCE,
    CLIENT_IN_INIT_SOURCE,
    CLIENT_PER_CALL_SOURCE,
    HERD_FIXED_TTL_SOURCE,
    HERD_JITTERED_SOURCE,
    PRICE_LOOKUP_SOURCE,
)

__all__ = [
    # handlers
    "PRICE_LOOKUP_SOURCE", "CLIENT_PER_CALL_SOURCE", "CLIENT_IN_INIT_SOURCE", "HERD_FIXED_TTL_SOURCE",
    "HERD_JITTERED_SOURCE", "BASKET_SOURCE", "BASKET_SOLUTION",
    # experiments
    "PRICE_SERVICE", "PRICES_URL", "PRICE_HOST", "SKUS", "PRICE_LATENCY_S", "PRICE_VERSION_EVERY_S", "price_data",
    "add_price_service", "order", "staleness_s", "deploy", "fetches_by_request", "PLACEMENTS", "cache_handler_source",
    "TRAFFIC_SHAPES", "traffic_shape", "run_cached", "cache_experiment", "cache_sweep", "reset_experiment",
    "client_experiment", "cold_start_rate", "keep_alive", "keep_alive_curves", "HERD", "herd_experiment", "herd_table",
    # figures
    "plot_cache_sweep", "plot_keep_alive", "plot_keep_alive_curves", "plot_herd",
    # exercises
    "CACHE_TASK", "CACHE_CHECK_SEEDS", "CACHE_PLACEHOLDER", "CACHE_HINTS", "CACHE_SOLUTION", "cache_task_traffic",
    "run_cache_task", "check_cache_choice", "cache_exercise", "ORDERS", "LEAK_SCENARIOS", "BASKET_HINTS",
    "check_basket", "basket_exercise", "basket_demo",
]
