"""Lesson 04 (downstream connection pooling): the figures.

``plot_side_by_side``      one column per architecture: connections, refusals, query and end-to-end latency
``plot_connections``       small multiples: database connections against ``max_connections``
``plot_herd``              a deploy under steady traffic: connections by version, CPU, refusals
``plot_peak_connections``  the widget's redraw: connections and invocations in flight
"""

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from labkit.plots import STYLE, figure_style, legend_outside

from .experiments import HERD_AFTER_S, SERVER_POOL_SIZE, SERVER_PROCESSES, WIDGET_RAMP, HerdRun, RemedyRun


def _steps_xy(times, values, t0, t_end):
    values = np.asarray(values, float)
    x = np.concatenate([[0.0], np.asarray(times, float) - t0, [t_end]])
    y = np.concatenate([[0], values, [values[-1] if len(values) else 0]])
    return x, y


def _latency_by_second(requests, period_s=1.0):
    """p50 and p99 end-to-end latency (s) of the successful requests, by the second they were sent."""
    ok = requests[requests["ok"]]
    if not len(ok):
        return pd.DataFrame(columns=["time_s", "p50", "p99"])
    lat = ok["end_s"] - ok["sent_s"]
    k = np.floor(ok["sent_s"].to_numpy(float) / period_s)
    g = pd.DataFrame({"k": k, "lat": lat.to_numpy(float)}).groupby("k")["lat"]
    out = pd.DataFrame({"p50": g.quantile(0.5), "p99": g.quantile(0.99)}).reset_index()
    out["time_s"] = out["k"] * period_s + period_s / 2
    return out[["time_s", "p50", "p99"]]


def _db_series(r, period_s=1.0):
    m = r.db.metrics(period_s, t0=r.t0, t1=r.t0 + max(r.t1, period_s))
    m["time_s"] = m["time_s"] - r.t0
    return m


def plot_side_by_side(results: Sequence[RemedyRun],
                      title: str = "The same traffic ramp, two architectures") -> np.ndarray:
    """Columns: one per ``RemedyRun``. Rows: database connections against ``max_connections``;
    refused connections per second; query latency (p99, ms) per second; end-to-end latency
    of the requests (p50 and p99 by the second they were sent, log scale). Shared axes."""
    c = STYLE["colors"]
    n = len(results)
    t_end = max(r.t1 for r in results) * 1.02
    with figure_style(True):
        fig, axes = plt.subplots(4, n, figsize=(4.6 * n + 2.4, 9.0), sharex=True, sharey="row",
                                 layout="constrained", squeeze=False)
        for k, r in enumerate(results):
            col = axes[:, k]
            steps = r.db.connection_steps()
            x, y = _steps_xy(steps["time_s"], steps["open_connections"], r.t0, t_end)
            col[0].step(x, y, where="post", color=c["invocations"], lw=1.6, label="open connections")
            col[0].axhline(r.db.max_connections, color=c["limit"], ls="--", lw=1.1,
                           label=f"max_connections = {r.db.max_connections}")
            if r.server is not None:
                col[0].axhline(r.server.max_connections, color=c["provisioned"], ls=":", lw=1.4,
                               label=f"server bound: {SERVER_PROCESSES} x {SERVER_POOL_SIZE} = "
                                     f"{r.server.max_connections}")
            col[0].set_title(r.label, fontsize=10)
            m = _db_series(r)
            col[1].bar(m["time_s"] + 0.5, m["refused"], width=0.9, color=c["throttles"], label="refused (error 1040)")
            col[2].plot(m["time_s"] + 0.5, m["latency_p99_ms"], color=c["init"], lw=1.6, marker=".", ms=4,
                        label="query latency p99")
            lat = _latency_by_second(r.requests)
            col[3].plot(lat["time_s"], lat["p50"], color=c["invocations"], lw=1.4, label="p50")
            col[3].plot(lat["time_s"], lat["p99"], color=c["cold"], lw=1.6, label="p99")
            col[3].set_yscale("log")
            col[3].yaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]))
            col[3].yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            col[3].yaxis.set_minor_formatter(NullFormatter())
            col[3].set_xlabel("seconds since the ramp started (x: when the request was sent)" if k == 0 else
                              "seconds since the ramp started")
            col[3].set_xlim(0, t_end)
        axes[0, 0].set_ylabel("database connections")
        axes[1, 0].set_ylabel("refused per second")
        axes[2, 0].set_ylabel("query p99 (ms)")
        axes[3, 0].set_ylabel("end-to-end latency (s)")
        axes[0, 0].set_ylim(0, max(r.db.max_connections for r in results) * 1.15)
        for row in range(4):
            handles, labels = [], []
            for k in range(n):
                for h, lab in zip(*axes[row, k].get_legend_handles_labels(), strict=True):
                    if lab not in labels:
                        handles.append(h)
                        labels.append(lab)
            axes[row, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.suptitle(title, fontsize=12)
    return axes


def plot_connections(results: Sequence[RemedyRun], ncols: int = 3) -> np.ndarray:
    """Small multiples, one panel per ``RemedyRun``: database connections over time against
    ``max_connections`` and, for Lambda, invocations in flight (execution environments busy)."""
    c = STYLE["colors"]
    n = len(results)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    t_end = max(r.t1 for r in results) * 1.02
    top = max(max(r.db.max_connections, r.summary()["max_concurrency"] if r.function is not None else 0)
              for r in results) * 1.1
    with figure_style(True):
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.0 * nrows), sharex=True, sharey=True,
                                 layout="constrained", squeeze=False)
        for ax, r in zip(axes.flat, results, strict=False):
            if r.function is not None:
                steps = r.run.concurrency()
                x, y = _steps_xy(steps["time_s"], steps["concurrency"], r.t0, t_end)
                ax.step(x, y, where="post", color=c["idle"], lw=1.0, label="invocations in flight")
            steps = r.db.connection_steps()
            x, y = _steps_xy(steps["time_s"], steps["open_connections"], r.t0, t_end)
            ax.step(x, y, where="post", color=c["invocations"], lw=1.8, label="database connections")
            ax.axhline(r.db.max_connections, color=c["limit"], ls="--", lw=1.1, label="max_connections")
            s = r.summary()
            ax.set_title(f"{r.label}\npeak {s['peak_db_connections']} connections, "
                         f"{s['refused_connections']:,} refused",
                         fontsize=9)
            ax.set_xlim(0, t_end)
            ax.set_ylim(0, top)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for ax in axes[-1, :]:
            ax.set_xlabel("seconds since the ramp started")
        for ax in axes[:, 0]:
            ax.set_ylabel("count")
        handles, labels = [], []
        for ax in axes.flat[:n]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9, frameon=False)
    return axes


def plot_herd(herds: Sequence[HerdRun], before_s: float = 5.0) -> np.ndarray:
    """Columns: one per ``HerdRun``. Rows: open connections by version (stacked) against
    ``max_connections``; database CPU; refused connections. Time 0 is the deploy."""
    c = STYLE["colors"]
    n = len(herds)
    period = 0.25
    with figure_style(True):
        fig, axes = plt.subplots(3, n, figsize=(4.8 * n + 2.4, 7.0), sharex=True, sharey="row",
                                 layout="constrained", squeeze=False)
        for k, h in enumerate(herds):
            col = axes[:, k]
            t0, t1 = h.t_deploy - before_s, h.t_deploy + HERD_AFTER_S
            grid = np.linspace(t0, t1, 2001)
            conns = h.db.connections
            levels = []
            for fn in (h.v1, h.v2):
                mine = conns[conns["function"] == fn.name]
                opened = mine["opened_s"].to_numpy(float)
                closed = mine["closed_s"].fillna(np.inf).to_numpy(float)
                levels.append(((opened[None, :] <= grid[:, None]) & (closed[None, :] > grid[:, None])).sum(axis=1))
            col[0].stackplot(grid - h.t_deploy, levels[0], levels[1], step="post",
                             colors=[c["idle"], c["invocations"]], alpha=0.85,
                             labels=["held by version 1 (old)", "opened by version 2 (new)"])
            col[0].axhline(h.db.max_connections, color=c["limit"], ls="--", lw=1.1,
                           label=f"max_connections = {h.db.max_connections}")
            col[0].axvline(0, color=c["limit"], lw=0.8, ls=":")
            col[0].set_title(f"traffic moves to version 2 {h.shift}", fontsize=10)
            m = h.db.metrics(period, t0=t0, t1=t1)
            x = m["time_s"] - h.t_deploy
            col[1].step(x, m["cpu_utilization"] * 100, where="post", color=c["init"], lw=1.6, label="database CPU")
            col[1].axvline(0, color=c["limit"], lw=0.8, ls=":")
            col[2].bar(x + period / 2, m["refused"] / period, width=period * 0.9, color=c["throttles"],
                       label="refused connections")
            col[2].axvline(0, color=c["limit"], lw=0.8, ls=":", label="the deploy")
            col[2].set_xlabel("seconds since the deploy")
            col[2].set_xlim(-before_s, HERD_AFTER_S)
        axes[0, 0].set_ylabel("database connections")
        axes[1, 0].set_ylabel("CPU busy (%)")
        axes[1, 0].set_ylim(0, 105)
        axes[2, 0].set_ylabel("refused per second")
        axes[0, 0].set_ylim(0, herds[0].db.max_connections * 1.15)
        for row in range(3):
            legend_outside(axes[row, -1])
        fig.suptitle("A deploy under steady traffic: every new environment connects and loads the price list",
                     fontsize=12)
    return axes


def plot_peak_connections(data: dict[str, Any], ax: Axes) -> Axes:
    """Database connections and invocations in flight over time, ``max_connections``, and the
    headline figures in a box."""
    c = STYLE["colors"]
    t_end = max(data["t_end"], WIDGET_RAMP[2]) * 1.02
    x, y = _steps_xy(data["concurrency"]["time_s"], data["concurrency"]["in_flight"], 0.0, t_end)
    ax.step(x, y, where="post", color=c["idle"], lw=1.0, label="invocations in flight")
    x, y = _steps_xy(data["connections"]["time_s"], data["connections"]["open"], 0.0, t_end)
    ax.step(x, y, where="post", color=c["invocations"], lw=1.8, label="database connections")
    ax.axhline(data["max_connections"], color=c["limit"], ls="--", lw=1.1, label="max_connections")
    p99 = data["latency_p99_s"]
    text = (f"peak connections: {data['peak_connections']} / {data['max_connections']}\n"
            f"refused: {data['refused']:,}   failed requests: {data['failed']:,}\n"
            f"throttles: {data['throttles']:,}   p99: {'-' if p99 != p99 else f'{p99:.2f} s'}")
    bad = data["refused"] or data["failed"]
    ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=8,
            bbox=dict(boxstyle="round", fc="white", ec=c["throttles"] if bad else c["provisioned"], lw=1.2))
    ax.set_xlim(0, t_end)
    ax.set_ylim(0, max(data["max_connections"] * 2.2, data["max_concurrency"] * 1.1))
    ax.set_xlabel("seconds since the ramp started")
    ax.set_ylabel("count")
    ax.set_title("Connections and invocations in flight")
    ax.legend(loc="upper right", fontsize=7)
    return ax
