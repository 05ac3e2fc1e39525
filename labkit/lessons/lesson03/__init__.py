"""Lesson 03 support: throttling per event-source type.

Pure functions behind the notebook's experiments, its widget and its exercises. Every
function builds its own seeded Lab(s), so results repeat exactly.

``handlers/``      the handler modules, as files (``WORKER_SOURCE``, ... are their texts)
``experiments``    ``run_overload`` (the same overload through a synchronous caller, an
                   asynchronous caller, Kinesis and SQS), ``outcome_table``, ``waiting_metrics``,
                   ``sdk_retry_table``, ``scaling_models``, ``noisy_neighbour`` /
                   ``function_table``, ``source_outcomes`` (the widget)
``figures``        ``plot_overload``, ``plot_scaling_models``, ``plot_source_outcomes`` (the
                   widget's redraw)
``exercises``      ``async_exercise`` (an asynchronous configuration that loses no event
                   silently), ``reserve_exercise`` (reserved concurrency that shields a
                   critical function)

Every name the notebook uses is re-exported here: ``from labkit.lessons import lesson03``,
then ``lesson03.run_overload(...)``.
"""


from .exercises import (
    ASYNC_HINTS,
    ASYNC_KEYS,
    ASYNC_PLACEHOLDER,
    ASYNC_SOLUTION,
    DESTINATION_CHOICES,
    HEADROOM,
    POISON_AT,
    POISON_EVERY,
    RECEIPT_ORDERS,
    RECEIPT_RESERVED,
    RECEIPT_SPREAD_S,
    RESERVE_HINTS,
    RESERVE_SOLUTION,
    TEAM_CONFIG,
    async_exercise,
    async_settings,
    check_async_config,
    check_reservation,
    max_reservable,
    receipt_burst,
    receipt_order,
    receipt_orders,
    receipt_report,
    reserve_exercise,
)
from .experiments import (
    CHECKOUT_RATE,
    CHECKOUT_SECONDS,
    DAYS,
    LATE_AFTER_S,
    NEIGHBOUR_ACCOUNT_LIMIT,
    OVERLOAD_RATE,
    OVERLOAD_SECONDS,
    REPORT_AT_S,
    REPORT_PAGES,
    REPORT_SPREAD_S,
    RESERVED,
    RETRY_POLICIES,
    SCALING_MODELS,
    SHARDS,
    SOURCE_TYPES,
    VISIBILITY_TIMEOUT_S,
    WHAT_THE_CALLER_GETS,
    WIDGET_SPREAD_S,
    WORKER_TIMEOUT_S,
    SourceRun,
    checkout_peak,
    checkout_traffic,
    function_table,
    lost_steps,
    noisy_neighbour,
    outcome_table,
    overload,
    report_traffic,
    run_overload,
    scaling_models,
    scaling_table,
    sdk_retry_table,
    source_outcomes,
    waiting_metrics,
    waiting_steps,
)
from .figures import plot_overload, plot_scaling_models, plot_source_outcomes
from .handlers import CHECKOUT_SOURCE, FLASH_SALE_SOURCE, RECEIPT_SOURCE, REPORT_SOURCE, WORKER_SOURCE

__all__ = [
    # handlers
    "WORKER_SOURCE", "CHECKOUT_SOURCE", "REPORT_SOURCE", "RECEIPT_SOURCE", "FLASH_SALE_SOURCE",
    # experiments
    "SOURCE_TYPES", "WHAT_THE_CALLER_GETS", "RESERVED", "OVERLOAD_RATE", "OVERLOAD_SECONDS", "SHARDS",
    "VISIBILITY_TIMEOUT_S", "WORKER_TIMEOUT_S", "LATE_AFTER_S", "overload", "SourceRun", "run_overload",
    "outcome_table", "waiting_metrics", "waiting_steps", "lost_steps", "RETRY_POLICIES", "sdk_retry_table",
    "SCALING_MODELS", "scaling_models", "scaling_table", "NEIGHBOUR_ACCOUNT_LIMIT", "CHECKOUT_RATE", "CHECKOUT_SECONDS",
    "REPORT_PAGES", "REPORT_AT_S", "REPORT_SPREAD_S", "DAYS", "checkout_traffic", "report_traffic", "noisy_neighbour",
    "function_table", "checkout_peak", "WIDGET_SPREAD_S", "source_outcomes",
    # figures
    "plot_overload", "plot_scaling_models", "plot_source_outcomes",
    # exercises
    "RECEIPT_RESERVED", "RECEIPT_ORDERS", "RECEIPT_SPREAD_S", "POISON_EVERY", "POISON_AT", "TEAM_CONFIG",
    "ASYNC_PLACEHOLDER", "ASYNC_KEYS", "receipt_order", "receipt_orders", "DESTINATION_CHOICES", "async_settings",
    "receipt_burst", "receipt_report", "check_async_config", "ASYNC_HINTS", "ASYNC_SOLUTION", "async_exercise",
    "HEADROOM", "max_reservable", "check_reservation", "RESERVE_HINTS", "RESERVE_SOLUTION", "reserve_exercise",
]
