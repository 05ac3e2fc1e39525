"""Lesson 01 · Stateless vs stateful: the experiments, the widget and the two exercises.

Everything here is a pure function of its arguments (and a seed): it builds a fresh
``Lab``, runs handler code in it and returns plain data, so the notebook, the widget
and the tests all call the same code and get the same numbers.

``handlers/``      the handler modules, as files (``READ_MODIFY_WRITE``, ... are their texts)
``experiments``    ``counter_race`` / ``lost_updates``, ``lost_updates_curve``, ``race_timeline``,
                   ``single_owner``, ``carry_state``, ``at_least_once`` and their tables
``figures``        ``plot_lost_updates``; ``plot_counter_race`` (the widget's redraw)
``exercises``      ``transfer_exercise`` (a transfer correct at concurrency 50),
                   ``idempotency_exercise`` (a payment applied once, whatever the redelivery)

Every name the notebook uses is re-exported here: ``from labkit.lessons import lesson01``,
then ``lesson01.counter_race(...)``.
"""

from .exercises import (
    ACCOUNTS_TABLE,
    ASYNC_DUPLICATE_RATE,
    ASYNC_PAYMENTS,
    OPENING_BALANCES,
    PAYMENT_ACCOUNT,
    PAYMENT_HINTS,
    PAYMENT_SCENARIOS,
    PAYMENTS_TABLE,
    TRANSFER_HINTS,
    TRANSFER_SCENARIOS,
    TRANSFERS,
    check_idempotent_payment,
    check_transfer,
    expected_sequential,
    idempotency_exercise,
    payment_event,
    payment_setup,
    prediction_note,
    transfer_demo,
    transfer_event,
    transfer_exercise,
    transfer_setup,
    verify_payments,
    verify_transfers,
)
from .experiments import (
    COMPARISON_COLUMNS,
    COUNTER_ATTR,
    COUNTER_ID,
    COUNTER_TABLE,
    DUPLICATE_GRACE_S,
    RACE_TIMEOUT_S,
    SEEN_TABLE,
    STATS_TABLE,
    STRATEGIES,
    at_least_once,
    calls_table,
    carry_state,
    comparison,
    counter_race,
    lost_updates,
    lost_updates_curve,
    per_environment,
    race_timeline,
    single_owner,
)
from .figures import plot_counter_race, plot_lost_updates
from .handlers import (
    ATOMIC_UPDATE,
    CONDITIONAL_WRITE,
    COUNT_ORDERS,
    COUNT_ORDERS_IDEMPOTENT,
    PAYMENT_SOLUTION,
    PAYMENT_STARTER,
    READ_MODIFY_WRITE,
    TRANSFER_SOLUTION,
    TRANSFER_STARTER,
)

__all__ = [
    # handlers
    "READ_MODIFY_WRITE", "ATOMIC_UPDATE", "CONDITIONAL_WRITE", "COUNT_ORDERS", "COUNT_ORDERS_IDEMPOTENT",
    "TRANSFER_STARTER", "TRANSFER_SOLUTION", "PAYMENT_STARTER", "PAYMENT_SOLUTION",
    # experiments
    "COUNTER_TABLE", "COUNTER_ID", "COUNTER_ATTR", "RACE_TIMEOUT_S", "STRATEGIES", "counter_race", "race_timeline",
    "lost_updates", "lost_updates_curve", "single_owner", "COMPARISON_COLUMNS", "comparison", "calls_table",
    "per_environment", "carry_state", "STATS_TABLE", "SEEN_TABLE", "DUPLICATE_GRACE_S", "at_least_once",
    # figures
    "plot_lost_updates", "plot_counter_race",
    # exercises
    "prediction_note", "ACCOUNTS_TABLE", "OPENING_BALANCES", "TRANSFERS", "TRANSFER_HINTS", "transfer_event",
    "transfer_setup", "expected_sequential", "verify_transfers", "TRANSFER_SCENARIOS", "check_transfer",
    "transfer_exercise", "transfer_demo", "PAYMENTS_TABLE", "PAYMENT_ACCOUNT", "PAYMENT_HINTS", "payment_event",
    "payment_setup", "PAYMENT_SCENARIOS", "ASYNC_PAYMENTS", "ASYNC_DUPLICATE_RATE", "verify_payments",
    "check_idempotent_payment", "idempotency_exercise",
]
