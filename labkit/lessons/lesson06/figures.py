"""Lesson 06 (vertical memory scaling): the figures.

``plot_sweeps``            duration and cost per million invocations against memory
``plot_threads_curve``     duration against memory for each (job, threads) of ``threads_curve``
``plot_cost_vs_duration``  the scavenger's runs: cost against time, with the article's own figures
``plot_progress``          the widget's redraw: stale items left against time
"""

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from labkit import facts
from labkit.plots import OKABE_ITO, STYLE, figure_style, legend_outside
from labkit.tuning import SweepResult

from .experiments import PER_MILLION, STALE_ITEMS, WRITE_UNITS_PER_S


def _vcpu_lines(ax, memory_max):
    """Dotted verticals where a single thread (1,769 MB) and then 2, 4 vCPUs are reached."""
    for k in (1, 2, 4):
        m = k * facts.MB_PER_VCPU
        if m <= memory_max:
            ax.axvline(m, color=STYLE["colors"]["limit"], linestyle=":", linewidth=1)
            ax.annotate(f"{k} vCPU{'s' if k > 1 else ''}\n({m:,} MB)", (m, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                        color=STYLE["colors"]["limit"])


def _memory_axis(ax, sizes):
    ax.set_xscale("log")
    ax.set_xticks(list(sizes))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("memory (MB, log scale)")


def _log_seconds_axis(ax):
    """A log y axis with plain tick labels at 1, 2, 5 x 10^k."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:,g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def plot_sweeps(results: Mapping[str, SweepResult], architecture: str = "x86_64") -> tuple[Axes, Axes]:
    """Two panels for the sweeps in ``results`` (label -> SweepResult): duration against
    memory, and cost per million invocations against memory. Returns the two Axes."""
    with figure_style(True):
        _, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained")
        sizes = set()
        for k, (label, res) in enumerate(results.items()):
            t = res.table[res.table["architecture"] == architecture].sort_values("memory_mb")
            sizes |= set(t["memory_mb"])
            color = STYLE["functions"][k % len(STYLE["functions"])]
            left.plot(t["memory_mb"], t["avg_duration_ms"], "-o", color=color, label=label)
            right.plot(t["memory_mb"], t["avg_cost_usd"] * PER_MILLION, "-o", color=color, label=label)
        for ax in (left, right):
            _memory_axis(ax, sorted(sizes))
            _vcpu_lines(ax, max(sizes))
        _log_seconds_axis(left)
        left.set_ylabel("average duration (ms, log scale)")
        left.set_title("Duration: more memory, more CPU")
        right.set_ylabel("cost per million invocations ($)")
        right.set_ylim(bottom=0)
        right.set_title("Cost: duration x memory x price")
        right.legend(loc="upper left")
    return left, right


def plot_threads_curve(curve: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Duration against memory for each (job, threads) line of ``threads_curve``."""
    with figure_style(ax is None):
        if ax is None:
            _, ax = plt.subplots(figsize=(10.0, 4.0), layout="constrained")
        # Lines that coincide are drawn thick first and thin on top, so each stays visible.
        styles = {("CPU work", 1): ("blue", "-", "o", 4.0, 10), ("CPU work", 2): ("sky_blue", "-", "s", 2.4, 7),
                  ("CPU work", 4): ("bluish_green", "-", "^", 1.2, 5), ("waiting", 1): ("orange", "--", "o", 1.6, 5),
                  ("waiting", 4): ("vermillion", "--", "^", 1.6, 5)}
        for (job, threads), g in curve.groupby(["job", "threads"], sort=False):
            color, line, marker, width, size = styles.get((job, threads), ("reddish_purple", "-", "x", 1.2, 5))
            g = g.sort_values("memory_mb")
            ax.plot(g["memory_mb"], g["duration_ms"] / 1000, linestyle=line, marker=marker, linewidth=width,
                    markersize=size, color=OKABE_ITO[color],
                    label=f"{job}, {threads} thread{'s' if threads > 1 else ''}")
        _memory_axis(ax, sorted(curve["memory_mb"].unique()))
        _vcpu_lines(ax, curve["memory_mb"].max())
        _log_seconds_axis(ax)
        ax.set_ylabel("duration (s, log scale)")
        ax.set_title("The same four-part job in 1, 2 or 4 threads")
        legend_outside(ax)
    return ax


def plot_cost_vs_duration(results: Sequence[dict[str, Any]], ax: Axes | None = None, article: bool = True) -> Axes:
    """Cost against duration, one labelled point per run (``memory, readers/deleters``);
    the article's own figures as hollow points when ``article``; the 15-minute limit."""
    limit_min = facts.TIMEOUT_S_RANGE[1] / 60
    with figure_style(ax is None):
        if ax is None:
            _, ax = plt.subplots(figsize=(10.0, 4.6), layout="constrained")
        ours = STYLE["colors"]["warm"]
        theirs = STYLE["colors"]["init"]
        # Runs of one memory size often land on the same spot: one label per size lists them all.
        for mem in sorted({r["memory_mb"] for r in results}):
            group = [r for r in results if r["memory_mb"] == mem]
            xs = [r["duration_s"] / 60 for r in group]
            ys = [r["cost_usd"] for r in group]
            ax.plot(xs, ys, "o", color=ours, markersize=7)
            settings = ", ".join(f"{r['readers']}/{r['deleters']}" for r in group)
            ax.annotate(f"{mem:,} MB: {settings}", (max(xs), min(ys)), textcoords="offset points", xytext=(7, -11),
                        fontsize=8, color=ours)
            if article and all("article_billed_ms" in r for r in group):
                axs = [r["article_billed_ms"] / 60_000 for r in group]
                ays = [r["article_cost_usd"] for r in group]
                ax.plot(axs, ays, "o", mfc="none", mec=theirs, mew=1.5, markersize=8)
                ax.annotate(f"{mem:,} MB", (sum(axs) / len(axs), max(ays)), textcoords="offset points",
                            xytext=(0, 8), ha="center", fontsize=8, color=theirs)
        ax.axvline(limit_min, color=STYLE["colors"]["throttles"], linestyle="--", linewidth=1.2)
        ax.annotate("15-minute limit\n(one invocation)", (limit_min, 0.8), xycoords=("data", "axes fraction"),
                    xytext=(4, -2), textcoords="offset points", va="top", fontsize=8,
                    color=STYLE["colors"]["throttles"])
        handles = [Line2D([], [], marker="o", linestyle="", color=ours, label="labkit (simulated)")]
        if article and any("article_billed_ms" in r for r in results):
            handles.append(Line2D([], [], marker="o", linestyle="", mfc="none", mec=theirs, mew=1.5,
                                  label="the article (measured, 2021)"))
        ax.legend(handles=handles, loc="upper right")
        ax.set_xlim(0, max(limit_min, max(r["duration_s"] / 60 for r in results)) * 1.15)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("time to clean the table (minutes; for several invocations, all of them)")
        ax.set_ylabel("cost of the whole clean-up ($)")
        ax.set_title("The scavenger: cost against time (labels: memory: readers/deleters)")
    return ax


def plot_progress(result: dict[str, Any], ax: Axes) -> Axes:
    """Stale items left against time for one ``scavenge`` result, the 15-minute limit of each
    invocation, and the fastest pace the table's write capacity allows."""
    times = [0.0] + [t / 60 for t in result["delete_times_s"]]
    left = [STALE_ITEMS - k for k in range(len(times))]
    end = result["duration_s"] / 60
    ax.step(times + [end], left + [left[-1]], where="post", color=OKABE_ITO["blue"], linewidth=1.8,
            label="stale items left")
    fastest_min = STALE_ITEMS / result.get("write_units_per_s", WRITE_UNITS_PER_S) / 60
    ax.plot([0, fastest_min], [STALE_ITEMS, 0], ":", color=STYLE["colors"]["limit"],
            label="fastest the table's writes allow")
    for k, t in enumerate(result["invocation_ends_s"][:-1]):
        ax.axvline(t / 60, color=STYLE["colors"]["throttles"], linestyle="--", linewidth=1,
                   label="an invocation hits the 15-minute limit" if k == 0 else None)
    ax.set_xlim(0, max(end, 10) * 1.02)
    ax.set_ylim(0, STALE_ITEMS * 1.05)
    ax.set_xlabel("minutes")
    ax.set_ylabel("stale items left")
    n = result["invocations_needed"]
    ax.set_title(f"{result['duration_s'] / 60:.1f} min, {n} invocation{'s' if n > 1 else ''}, "
                 f"${result['cost_usd']:.4f}")
    ax.legend(loc="upper right", fontsize=7)
    return ax
