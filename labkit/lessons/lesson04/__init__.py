"""Lesson 04 support: downstream connection pooling.

Pure functions behind the notebook's experiments, its widget and its exercises. Every
function builds its own seeded Lab, so results repeat exactly.

``handlers/``      the handler modules, as files (``DIRECT_SOURCE``, ``POOLED_SOURCE``, ... are
                   their texts)
``experiments``    ``new_lab`` (the shop's database), ``order_traffic``, ``run_remedy`` (the ramp
                   through one architecture) and ``comparison``, ``deploy_herd`` / ``herd_table``,
                   ``peak_connections_and_errors`` (the widget), ``pool_size_demo``
``figures``        ``plot_side_by_side``, ``plot_connections``, ``plot_herd``,
                   ``plot_peak_connections`` (the widget's redraw)
``exercises``      ``settings_exercise`` (reserved concurrency and pool size for a ramp),
                   ``remedy_exercise`` (the remedy for two described workloads),
                   ``prediction_note``

Every name the notebook uses is re-exported here: ``from labkit.lessons import lesson04``,
then ``lesson04.run_remedy(...)``.
"""


from .exercises import (
    CHOICES,
    CPU_LIMIT,
    EX1_HELD_BY_OTHERS,
    EX1_P99_BOUND_S,
    EX1_RAMP,
    IMPORT_DEADLINE_S,
    REMEDY_HINTS,
    REMEDY_PLACEHOLDER,
    REMEDY_SOLUTION,
    SETTINGS_HINTS,
    SETTINGS_KEYS,
    SETTINGS_PLACEHOLDER,
    SETTINGS_SOLUTION,
    WORKLOADS,
    check_remedy_choice,
    check_settings,
    normalise_choice,
    prediction_note,
    remedy_exercise,
    remedy_settings,
    settings_exercise,
    settings_report,
    settings_trial,
    show_choices,
    trial_report,
    try_remedy,
    workload_traffic,
)
from .experiments import (
    ADMIN_HEADROOM,
    DB_HOST,
    DB_NAME,
    DB_PASSWORD,
    DB_SCHEMA,
    DB_USER,
    FUNCTION_TIMEOUT_S,
    HERD_AFTER_S,
    HERD_RATE,
    HERD_SHIFT_S,
    HERD_SHIFTS,
    HERD_STEADY_S,
    HERD_WARMUP_S,
    LATE_AFTER_S,
    MAX_CONNECTIONS,
    MEMORY_MB,
    PRODUCTS,
    PROXY_BORROW_TIMEOUT_S,
    PROXY_HOST,
    PROXY_MAX_CONNECTIONS_PERCENT,
    PROXY_NAME,
    QUEUE_BATCH_SIZE,
    QUEUE_MAX_CONCURRENCY,
    RAMP_END,
    RAMP_SECONDS,
    RAMP_START,
    REFERENCE_LOAD_CPU_S,
    REFERENCE_ROWS,
    REMEDIES,
    REMEDY_LABELS,
    REQUEST_COLUMNS,
    RESERVED,
    SERVER_POOL_SIZE,
    SERVER_PROCESSES,
    VISIBILITY_TIMEOUT_S,
    WIDGET_MAX_CONNECTIONS,
    WIDGET_POOL_SIZES,
    WIDGET_QUEUE_MAX_CONCURRENCY,
    WIDGET_RAMP,
    WIDGET_REMEDIES,
    WIDGET_RESERVED,
    WORK_S,
    HerdRun,
    RemedyRun,
    comparison,
    deploy_herd,
    handler_name,
    herd_table,
    new_lab,
    order,
    order_traffic,
    peak_connections_and_errors,
    place_order,
    pool_size_demo,
    pooled_handler_source,
    pooled_source,
    query_cpu,
    run_remedy,
)
from .figures import plot_connections, plot_herd, plot_peak_connections, plot_side_by_side
from .handlers import (
    DIRECT_SOURCE,
    POOLED_QUEUE_WORKER_SOURCE,
    POOLED_SOURCE,
    PROXIED_SOURCE,
    QUEUE_WORKER_SOURCE,
    REFERENCE_SOURCE,
)

__all__ = [
    # handlers
    "DIRECT_SOURCE", "POOLED_SOURCE", "PROXIED_SOURCE", "QUEUE_WORKER_SOURCE", "REFERENCE_SOURCE",
    "POOLED_QUEUE_WORKER_SOURCE",
    # experiments
    "DB_NAME", "DB_HOST", "PROXY_NAME", "PROXY_HOST", "DB_USER", "DB_PASSWORD", "DB_SCHEMA", "MAX_CONNECTIONS",
    "PRODUCTS", "WORK_S", "REFERENCE_ROWS", "REFERENCE_LOAD_CPU_S", "RAMP_START", "RAMP_END", "RAMP_SECONDS",
    "LATE_AFTER_S", "SERVER_PROCESSES", "SERVER_POOL_SIZE", "ADMIN_HEADROOM", "RESERVED", "QUEUE_MAX_CONCURRENCY",
    "QUEUE_BATCH_SIZE", "PROXY_MAX_CONNECTIONS_PERCENT", "FUNCTION_TIMEOUT_S", "VISIBILITY_TIMEOUT_S",
    "PROXY_BORROW_TIMEOUT_S", "MEMORY_MB", "query_cpu", "new_lab", "order", "order_traffic", "place_order",
    "pooled_source", "handler_name", "REMEDIES", "REMEDY_LABELS", "REQUEST_COLUMNS", "RemedyRun", "run_remedy",
    "pooled_handler_source", "comparison", "HERD_RATE", "HERD_WARMUP_S", "HERD_STEADY_S", "HERD_AFTER_S",
    "HERD_SHIFT_S", "HERD_SHIFTS", "HerdRun", "deploy_herd", "herd_table", "WIDGET_MAX_CONNECTIONS", "WIDGET_RAMP",
    "WIDGET_REMEDIES", "WIDGET_QUEUE_MAX_CONCURRENCY", "WIDGET_RESERVED", "WIDGET_POOL_SIZES",
    "peak_connections_and_errors", "pool_size_demo",
    # figures
    "plot_side_by_side", "plot_connections", "plot_herd", "plot_peak_connections",
    # exercises
    "EX1_RAMP", "EX1_HELD_BY_OTHERS", "EX1_P99_BOUND_S", "SETTINGS_KEYS", "SETTINGS_PLACEHOLDER", "settings_trial",
    "settings_report", "check_settings", "SETTINGS_HINTS", "SETTINGS_SOLUTION", "settings_exercise", "CHOICES",
    "WORKLOADS", "CPU_LIMIT", "IMPORT_DEADLINE_S", "workload_traffic", "remedy_settings", "normalise_choice",
    "try_remedy", "trial_report", "show_choices", "REMEDY_PLACEHOLDER", "check_remedy_choice", "REMEDY_HINTS",
    "REMEDY_SOLUTION", "remedy_exercise", "prediction_note",
]
