"""Lesson 02 (container reuse and caching): the figures.

``plot_cache_sweep``        hit ratio and worst staleness against the cache's TTL
``plot_keep_alive``         the widget's redraw: idle gaps before each call, warm and cold apart
``plot_keep_alive_curves``  cold-start rate against arrival rate, on the curve e^(-λT)
``plot_herd``               requests per second at the price service after a deploy
"""

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from labkit.plots import OKABE_ITO, STYLE, figure_style

from .experiments import HERD

_SHAPE_COLORS = {"steady": OKABE_ITO["blue"], "bursty": OKABE_ITO["vermillion"], "sparse": OKABE_ITO["bluish_green"]}
_SHAPE_MARKERS = {"steady": "o", "bursty": "s", "sparse": "^"}


def plot_cache_sweep(df: pd.DataFrame,
                     axes: Sequence[Axes] | np.ndarray | None = None) -> Sequence[Axes] | np.ndarray:
    """Two panels from ``cache_sweep``: hit ratio against TTL, and the worst staleness against TTL.
    Draws into ``axes`` (two Axes) or a new figure; returns the Axes."""
    with figure_style(axes is None):
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
        _draw_cache_sweep(df, axes)
    return axes


def _draw_cache_sweep(df, axes):
    left, right = axes
    for shape, g in df.groupby("shape", sort=False):
        style = dict(color=_SHAPE_COLORS.get(shape), marker=_SHAPE_MARKERS.get(shape), lw=1.6, label=shape)
        left.plot(g["ttl_s"], 100 * g["hit_ratio"], **style)
        right.plot(g["ttl_s"], g["max_staleness_s"] / 60, **style)
    ttls = sorted(df["ttl_s"].unique())
    right.plot(ttls, [t / 60 for t in ttls], color=STYLE["colors"]["limit"], ls=":", lw=1.2,
               label="staleness = TTL")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(ttls)
        ax.set_xticklabels([_fmt_seconds(t) for t in ttls])
        ax.minorticks_off()
        ax.set_xlabel("cache TTL")
    left.set_ylim(-3, 103)
    left.set_ylabel("hit ratio (% of calls served from the cache)")
    left.set_title("Hit ratio: the traffic shape matters more than the TTL")
    right.set_ylabel("worst staleness served (minutes)")
    right.set_title("Staleness: a cached copy can be as old as its TTL")
    right.legend(loc="upper left", title="traffic")
    return axes


def _fmt_seconds(s):
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s // 60:g} min"
    return f"{s:g} s"


def plot_keep_alive(data: dict[str, Any], ax: Axes) -> Axes:
    """The idle gaps before each call (minutes), warm and cold apart, with the reclaim time."""
    gaps = np.asarray(data["gaps_s"]) / 60
    cold = np.asarray(data["cold"], bool)
    idle_min = data["idle_s"] / 60
    # Bins a tenth of the reclaim time wide, so the reclaim time falls on a bin edge.
    width = idle_min / 10
    top = max(2.2 * idle_min, float(np.quantile(gaps, 0.98)) if len(gaps) else 1.0)
    edges = np.arange(0, top + width, width)
    top = float(edges[-1])
    c = STYLE["colors"]
    ax.hist(np.clip(gaps[~cold], 0, top), bins=edges.tolist(), color=c["warm"], alpha=0.8,
            label=f"warm: {int((~cold).sum())}")
    ax.hist(np.clip(gaps[cold], 0, top), bins=edges.tolist(), color=c["cold"], alpha=0.8,
            label=f"cold start: {int(cold.sum())}")
    ax.axvline(idle_min, color=c["limit"], ls="--", lw=1.4, label=f"idle reclaim: {idle_min:g} min")
    ax.set_xlim(0, top)
    ax.set_xlabel("idle time before the call (minutes; the last bar collects longer gaps)")
    ax.set_ylabel("calls")
    ax.set_title(f"cold starts: {100 * data['rate']:.1f}% simulated, "
                 f"{100 * data['expected']:.1f}% = e^(-λT) expected")
    ax.legend(loc="upper right")
    return ax


def plot_keep_alive_curves(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Cold-start rate against arrival rate, one colour per idle reclaim time: simulated
    points (with two standard errors) on the curve e^(-λT). Returns the Axes."""
    with figure_style(ax is None):
        if ax is None:
            _, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
        _draw_keep_alive_curves(df, ax)
    return ax


def _draw_keep_alive_curves(df, ax):
    colors = [OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"]]
    lo, hi = df["calls_per_min"].min(), df["calls_per_min"].max()
    x = np.geomspace(lo / 1.3, hi * 1.3, 200)
    for k, (idle, g) in enumerate(df.groupby("idle_min")):
        color = colors[k % len(colors)]
        ax.plot(x, 100 * np.exp(-x / 60 * idle * 60), color=color, lw=1.4, label=f"e^(-λT), T = {idle:g} min")
        ax.errorbar(g["calls_per_min"], 100 * g["rate"], yerr=200 * g["std_error"], fmt="o", ms=5,
                    color=color, capsize=2, label=f"simulated, T = {idle:g} min")
    ax.set_xscale("log")
    ticks = sorted(df["calls_per_min"].unique())
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("arrival rate λ (calls per minute, log scale)")
    ax.set_ylabel("calls that were cold starts (%)")
    ax.set_title("Keep-alive: the cold-start rate falls as calls come often enough to beat the idle reclaim")
    ax.set_ylim(-3, 103)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


def plot_herd(results: Mapping[str, dict[str, Any]],
              axes: Sequence[Axes] | np.ndarray | None = None) -> Sequence[Axes] | np.ndarray:
    """One panel per experiment (``results``: title -> ``herd_experiment`` result): requests per
    second at the price service (answered and refused), the service's limit, and the time before
    the traffic moved to the new function. The y axis stops at a few times the limit, so the
    refreshes stay readable; taller bars are cut and their peak written on the panel."""
    with figure_style(axes is None):
        if axes is None:
            _, grid = plt.subplots(len(results), 1, figsize=(10, 2.1 * len(results)), sharex=True,
                                   layout="constrained", squeeze=False)
            axes = grid[:, 0]
        _draw_herd(results, axes)
    return axes


def _draw_herd(results, axes):
    c = STYLE["colors"]
    limit = HERD["rps_limit"]
    top = 4 * limit
    for ax, (label, r) in zip(axes, results.items(), strict=False):
        ps = r["per_second"]
        total = ps["answered"] + ps["refused"]
        ax.bar(ps["second"], ps["answered"], width=1.0, align="edge", color=c["warm"], lw=0, label="answered (200)")
        ax.bar(ps["second"], ps["refused"], width=1.0, align="edge", bottom=ps["answered"], color=c["throttles"],
               lw=0, label="refused (429)")
        ax.axhline(limit, color=c["limit"], ls="--", lw=1.2, label=f"service limit: {limit:g} requests/s")
        ax.axvspan(0, r["traffic_from_s"], color=c["idle"], alpha=0.2, lw=0, label="before traffic moves over")
        peak = int(total.max())
        if peak > top:
            at = int(ps["second"][total.idxmax()])
            ax.annotate(f"cut: up to {peak} requests/s", xy=(at + 0.5, top), xytext=(at + 4, 0.8 * top),
                        fontsize=8, color="#222222", arrowprops=dict(arrowstyle="->", color="#444444", lw=0.8))
        ax.set_xlim(0, len(ps))
        ax.set_ylim(0, top)
        ax.set_ylabel("requests/s")
        ax.set_title(label, fontsize=10, loc="left")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    axes[-1].set_xlabel("seconds since the new version was deployed")
