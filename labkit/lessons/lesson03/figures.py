"""Lesson 03 (throttling per event-source type): the figures.

``plot_overload``         per source type: events waiting and lost, invocations in flight
``plot_scaling_models``   concurrency and throttles per second, one line per scaling model
``plot_source_outcomes``  the widget's redraw: promptly / late / not processed, per source type
"""

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from labkit.plots import STYLE, figure_style, legend_outside
from labkit.run import Run

from .experiments import RESERVED, WHAT_THE_CALLER_GETS, SourceRun, lost_steps, waiting_steps


def plot_overload(results: Mapping[str, SourceRun], reserved_concurrency: int = RESERVED) -> np.ndarray:
    """Side by side, one column per source type: events waiting and events lost (top),
    invocations in flight against the reserved concurrency (bottom). Shared axes."""
    n = len(results)
    c = STYLE["colors"]
    t_end = max(float(r.events["done_s"].max()) for r in results.values()) * 1.03
    with figure_style(True):
        fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 5.6), sharex=True, sharey="row",
                                 layout="constrained", squeeze=False)
        for k, (source, res) in enumerate(results.items()):
            top, bottom = axes[0, k], axes[1, k]
            t, w = waiting_steps(res.events)
            top.fill_between(np.append(t, t_end), np.append(w, w[-1]), step="post",
                             color=c["idle"], alpha=0.45, lw=0, label="events waiting")
            t, lost = lost_steps(res.events)
            top.step(np.append(t, t_end), np.append(lost, lost[-1]), where="post", color=c["throttles"],
                     lw=1.8, label="events not processed (total)")
            top.set_title(f"{source}\n{WHAT_THE_CALLER_GETS[source]}", fontsize=10)
            steps = res.run.concurrency()
            x = np.concatenate([[0.0], steps["time_s"].to_numpy(float) - res.run.t0, [t_end]])
            y = np.concatenate([[0], steps["concurrency"].to_numpy(int),
                                [steps["concurrency"].iloc[-1] if len(steps) else 0]])
            bottom.step(x, y, where="post", color=c["invocations"], lw=1.4, label="invocations in flight")
            bottom.axhline(reserved_concurrency, color=c["limit"], ls="--", lw=1.0,
                           label=f"reserved concurrency = {reserved_concurrency}")
            bottom.set_xlabel("seconds since the first order")
            bottom.set_xlim(0, t_end)
        axes[0, 0].set_ylabel("events")
        axes[1, 0].set_ylabel("concurrent executions")
        axes[1, 0].set_ylim(0, max(reserved_concurrency, 1) * 1.3)
        legend_outside(axes[0, -1])
        legend_outside(axes[1, -1])
        fig.suptitle("The same overload, four callers", fontsize=12)
    return axes


def plot_scaling_models(runs: Mapping[str, Run], period_s: float = 1.0) -> tuple[Axes, Axes]:
    """Concurrency (top) and throttles per second (bottom), one line per scaling model."""
    palette = STYLE["functions"]
    with figure_style(True):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(STYLE["figsize"][0], 6.4), sharex=True,
                                          layout="constrained")
        for k, (label, run) in enumerate(runs.items()):
            color = palette[k % len(palette)]
            steps = run.concurrency()
            x = np.concatenate([[0.0], steps["time_s"].to_numpy(float) - run.t0])
            y = np.concatenate([[0], steps["concurrency"].to_numpy(int)])
            top.step(x, y, where="post", color=color, lw=1.6, label=label)
            m = run.metrics(period_s)
            bottom.step(m["period_start_s"] - run.t0, m["Throttles"], where="post", color=color, lw=1.6,
                        label=label)
        top.set_title("Invocations in flight")
        top.set_ylabel("concurrent executions")
        bottom.set_title(f"Throttles per {period_s:g} s")
        bottom.set_ylabel("throttled requests")
        bottom.set_xlabel("seconds since the sale started")
        legend_outside(top)
        legend_outside(bottom)
    return top, bottom


def plot_source_outcomes(data: pd.DataFrame, ax: Axes) -> Axes:
    """Horizontal stacked bars: promptly / late / not processed, one bar per source type."""
    c = STYLE["colors"]
    y = np.arange(len(data))[::-1]
    left = np.zeros(len(data))
    for col, color in (("promptly", c["provisioned"]), ("late", c["init"]), ("not processed", c["throttles"])):
        vals = data[col].to_numpy(float) * 100
        ax.barh(y, vals, left=left, color=color, label=col, height=0.6)
        left += vals
    for yi, w in zip(y, data["max wait (s)"], strict=True):
        ax.text(101, yi, f"max wait {w:g} s", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(data["source"])
    ax.set_xlim(0, 135)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of the orders")
    ax.set_title("What became of the orders")
    ax.grid(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.22), ncol=3, fontsize=8, frameon=False)
    return ax
