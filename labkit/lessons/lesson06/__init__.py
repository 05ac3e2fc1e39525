"""Lesson 06 support: vertical memory scaling, threads, fan-out, and what they cost.

Pure functions behind the notebook's experiments, its widget and its exercises. Every
function builds its own seeded Lab(s), so results repeat exactly.

``handlers/``      the handler modules, as files (``CPU_BOUND_SOURCE``, ``SCAVENGER_SOURCE``, ...
                   are their texts)
``experiments``    memory sweeps (``sweep``, ``sweep_table``, ``architecture_table``), threads
                   (``threads_curve``), the scavenger (``scavenge``, also the widget's function;
                   ``article_runs``, ``results_table``), fan-out (``fan_out``, ``plans``,
                   ``plans_table``)
``figures``        ``plot_sweeps``, ``plot_threads_curve``, ``plot_cost_vs_duration``,
                   ``plot_progress`` (the widget's redraw)
``exercises``      ``cheapest_exercise`` (the cheapest configuration that meets a deadline),
                   ``doubling_exercise`` (does doubling memory halve the cost?)

Every name the notebook uses is re-exported here: ``from labkit.lessons import lesson06``,
then ``lesson06.scavenge(...)``.
"""


from .exercises import (
    CHEAPEST_HINTS,
    CHEAPEST_KEYS,
    CHEAPEST_PLACEHOLDER,
    CHEAPEST_SOLUTION,
    CHEAPEST_TOLERANCE,
    DEADLINE_S,
    DOUBLING_CASES,
    DOUBLING_HINTS,
    DOUBLING_PLACEHOLDER,
    DOUBLING_SOLUTION,
    PREDICTIONS,
    REFERENCE_CANDIDATES,
    cheapest_exercise,
    cheapest_reference,
    check_cheapest,
    check_doubling,
    doubling_exercise,
    doubling_sweep,
)
from .experiments import (
    ARTICLE_RUNS,
    DELETERS_RANGE,
    FAN_OUT_VIA,
    FRESH_ITEMS,
    MAX_AGE_H,
    MAX_INVOCATIONS,
    PER_MILLION,
    READERS_RANGE,
    SCALE,
    STALE_ITEMS,
    SWEEP_INVOCATIONS,
    SWEEP_MEMORY,
    TABLE,
    TABLE_LATENCY_S,
    THREADS_MEMORY,
    WIDGET_DELETERS,
    WIDGET_MEMORY,
    WIDGET_READERS,
    WRITE_UNITS_PER_S,
    architecture_table,
    article_runs,
    fan_out,
    plans,
    plans_table,
    results_table,
    scavenge,
    sweep,
    sweep_table,
    table_items,
    threads_curve,
)
from .figures import plot_cost_vs_duration, plot_progress, plot_sweeps, plot_threads_curve
from .handlers import (
    COORDINATOR_SOURCE,
    CPU_BOUND_SOURCE,
    DOUBLING_SOURCE,
    IO_BOUND_SOURCE,
    SCAVENGER_SOURCE,
    THREADS_SOURCE,
)

__all__ = [
    # handlers
    "CPU_BOUND_SOURCE", "IO_BOUND_SOURCE", "THREADS_SOURCE", "SCAVENGER_SOURCE", "COORDINATOR_SOURCE",
    "DOUBLING_SOURCE",
    # experiments
    "SWEEP_MEMORY", "SWEEP_INVOCATIONS", "THREADS_MEMORY", "PER_MILLION", "sweep", "sweep_table", "architecture_table",
    "threads_curve", "TABLE", "SCALE", "MAX_AGE_H", "STALE_ITEMS", "FRESH_ITEMS", "TABLE_LATENCY_S",
    "WRITE_UNITS_PER_S", "MAX_INVOCATIONS", "READERS_RANGE", "DELETERS_RANGE", "table_items", "scavenge",
    "ARTICLE_RUNS", "article_runs", "results_table", "FAN_OUT_VIA", "fan_out", "plans", "plans_table", "WIDGET_MEMORY",
    "WIDGET_READERS", "WIDGET_DELETERS",
    # figures
    "plot_sweeps", "plot_threads_curve", "plot_cost_vs_duration", "plot_progress",
    # exercises
    "DEADLINE_S", "CHEAPEST_TOLERANCE", "CHEAPEST_PLACEHOLDER", "CHEAPEST_KEYS", "REFERENCE_CANDIDATES",
    "cheapest_reference", "check_cheapest", "CHEAPEST_HINTS", "CHEAPEST_SOLUTION", "cheapest_exercise",
    "DOUBLING_CASES", "PREDICTIONS", "DOUBLING_PLACEHOLDER", "doubling_sweep", "check_doubling", "DOUBLING_HINTS",
    "DOUBLING_SOLUTION", "doubling_exercise",
]
