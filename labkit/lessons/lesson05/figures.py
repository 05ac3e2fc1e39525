"""Lesson 05 (shard ordering): the figures.

``plot_edits``          the widget's redraw: every written edit, in order, late or lost
``plot_iterator_age``   IteratorAge over time, per mapping or per shard
"""

from collections.abc import Iterable
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from labkit.plots import STYLE, TIME_LABEL, figure_style, legend_outside

from .experiments import ROUTE_LABELS, iterator_age_series


def plot_edits(result: dict[str, Any], ax: Axes) -> Axes:
    """Every written edit as a mark: x = when it was written, y = its document. Blue dots
    were applied in order; orange triangles after a later edit of the same document;
    red crosses were erased by a concurrent write (lost)."""
    log = result["log"]
    c = STYLE["colors"]
    docs = sorted(set(log["doc"])) if len(log) else []
    row = {d: i for i, d in enumerate(docs)}
    y = log["doc"].map(row).to_numpy(float)
    x = log["write_s"].to_numpy(float)
    ok = ~(log["lost"] | log["out_of_order"]).to_numpy(bool)
    late = (log["out_of_order"] & ~log["lost"]).to_numpy(bool)
    lost = log["lost"].to_numpy(bool)
    ax.scatter(x[ok], y[ok], s=9, color=c["warm"], linewidths=0, label="applied in order")
    ax.scatter(x[late], y[late], s=22, marker="^", color=c["init"], linewidths=0,
               label="applied after a later edit")
    ax.scatter(x[lost], y[lost], s=26, marker="x", color=c["throttles"], linewidths=1.2,
               label="lost (overwritten)")
    ax.set_ylim(len(docs) - 0.5, -0.5)
    if len(docs) <= 12:
        ax.set_yticks(range(len(docs)))
        ax.set_yticklabels(docs)
    ax.set_xlim(0, max(1.0, float(x.max()) * 1.03) if len(x) else 1.0)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("document")
    ax.set_title(f"{ROUTE_LABELS[result['route']].split(',')[0]}: {result['lost']} lost, "
                 f"{result['out_of_order']} out of order, last write at {result['done_s']:.1f} s")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=7, frameon=False,
              handletextpad=0.3, columnspacing=1.0)
    return ax


def plot_iterator_age(mappings: Any, ax: Axes | None = None, per_shard: bool = False, t0: float = 0.0,
                      title: str = "IteratorAge (maximum per second)",
                      marks: Iterable[tuple[float, str]] = ()) -> Axes:
    """IteratorAge over time: one line per entry of ``mappings`` (a dict label -> a Kinesis
    mapping or an ``iterator_age_series`` frame), or with ``per_shard`` one line per shard of
    each. ``marks`` are ``(time_s, label)`` pairs drawn as dotted vertical lines."""
    if not isinstance(mappings, dict):
        mappings = {"": mappings}
    with figure_style(ax is None):
        if ax is None:
            _, ax = plt.subplots(figsize=STYLE["figsize"], layout="constrained")
        palette = STYLE["functions"]
        k = 0
        for label, mapping in mappings.items():
            series = mapping if isinstance(mapping, pd.DataFrame) else iterator_age_series(mapping, per_shard=per_shard)
            for shard, g in series.groupby("shard_id", sort=True):
                name = " ".join(p for p in (label, shard if per_shard else "") if p) or "IteratorAge"
                ax.plot(g["period_start_s"] - t0, g["iterator_age_s"], color=palette[k % len(palette)], lw=1.6,
                        marker="o", ms=2.5, label=name)
                k += 1
        for t, text in marks:
            ax.axvline(t - t0, color=STYLE["colors"]["limit"], ls=":", lw=1.2, label=text)
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.set_title(title)
        ax.set_xlabel(TIME_LABEL)
        ax.set_ylabel("age of the batch's last record (s)")
        legend_outside(ax)
    return ax
