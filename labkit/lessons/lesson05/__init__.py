"""Lesson 05 support: shard ordering (partition keys, per-key order, poison records).

The lesson's running example is a shared document editor: users edit documents at the
same time, every edit is an event ``{"doc": "doc-3", "seq": 7, "user": "user-12", "op": {...}}``
and a Lambda function applies it to the document, stored in a simulated DynamoDB table, by
reading the document, changing it and writing it back, with no lock.

``handlers/``      the editor's handler modules, as files (``EDITOR_SOURCE``,
                   ``REPORTING_EDITOR_SOURCE``)
``experiments``    ``edit_events`` / ``edit_workload``, ``edit_log`` / ``edit_summary``,
                   ``edit_documents`` (the widget), ``comparison_table``, ``iterator_age_series``,
                   ``poison_trial`` / ``remedy_table``
``figures``        ``plot_edits`` (the widget's redraw), ``plot_iterator_age``
``exercises``      ``design_exercise`` (partition key and shard count for a required throughput),
                   ``poison_exercise`` (mapping settings that stop a poison record from blocking
                   its shard without losing it)

Every name the notebook uses is re-exported here: ``from labkit.lessons import lesson05``,
then ``lesson05.edit_documents(...)``.
"""


from .exercises import (
    DESIGN_DOCUMENTS,
    DESIGN_FIELDS,
    DESIGN_HINTS,
    DESIGN_PLACEHOLDER,
    DESIGN_RATE,
    DESIGN_RECORD_BYTES,
    DESIGN_SECONDS,
    DESIGN_SOLUTION,
    MAX_BLOCK_S,
    MB,
    POISON_HINTS,
    POISON_PLACEHOLDER,
    POISON_SOLUTION,
    check_design,
    check_poison_settings,
    design_events,
    design_exercise,
    design_trial,
    poison_exercise,
)
from .experiments import (
    BATCH_SIZE,
    DOCUMENTS,
    EDIT_RATE,
    EDITOR_TIMEOUT_S,
    EDITS,
    KINESIS_ONLY,
    LOG_COLUMNS,
    ON_FAILURE_CHOICES,
    POISON_EDITS,
    POISON_INDEX,
    POISON_RATE,
    POISON_RUN_S,
    POISON_SHARDS,
    POISON_TEXT,
    ROUTE_LABELS,
    ROUTES,
    SETTING_NAMES,
    TABLE,
    PoisonTrial,
    by_document,
    comparison_table,
    deliver,
    describe_settings,
    edit_documents,
    edit_events,
    edit_log,
    edit_summary,
    edit_workload,
    iterator_age_series,
    mapping_settings,
    poison_trial,
    poison_workload,
    records_in,
    remedy_table,
)
from .figures import plot_edits, plot_iterator_age
from .handlers import EDITOR_SOURCE, REPORTING_EDITOR_SOURCE

__all__ = [
    # handlers
    "EDITOR_SOURCE", "REPORTING_EDITOR_SOURCE",
    # experiments
    "TABLE", "ROUTES", "ROUTE_LABELS", "KINESIS_ONLY", "EDITS", "EDIT_RATE", "DOCUMENTS", "BATCH_SIZE",
    "EDITOR_TIMEOUT_S", "POISON_TEXT", "edit_events", "edit_workload", "by_document", "LOG_COLUMNS", "edit_log",
    "edit_summary", "deliver", "edit_documents", "comparison_table", "iterator_age_series", "POISON_EDITS",
    "POISON_RATE", "POISON_SHARDS", "POISON_INDEX", "POISON_RUN_S", "SETTING_NAMES", "poison_workload",
    "ON_FAILURE_CHOICES", "mapping_settings", "PoisonTrial", "records_in", "poison_trial", "describe_settings",
    "remedy_table",
    # figures
    "plot_edits", "plot_iterator_age",
    # exercises
    "MAX_BLOCK_S", "DESIGN_RATE", "DESIGN_DOCUMENTS", "DESIGN_RECORD_BYTES", "DESIGN_SECONDS", "DESIGN_FIELDS", "MB",
    "DESIGN_PLACEHOLDER", "design_events", "design_trial", "check_design", "DESIGN_HINTS", "DESIGN_SOLUTION",
    "design_exercise", "POISON_PLACEHOLDER", "check_poison_settings", "POISON_HINTS", "POISON_SOLUTION",
    "poison_exercise",
]
