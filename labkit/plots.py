"""Plots of one Run: ``run.plot.concurrency()``, ``.environments()``, ``.throttles()``,
``.durations()`` and ``.overview()``.

Every method draws into ``ax`` when one is given, else into a new figure, and
returns the Axes (``overview`` returns a 2x2 array of them). Time on the x axis
is the Lab's simulated clock in seconds, the same clock as ``start_s`` and
``end_s`` in ``run.invocations``.

Colours and theme. All plots share ``STYLE``: the Okabe-Ito colour-blind-safe
palette, without its yellow and black (too faint on white, invisible on dark).
Figures that these functions create are drawn as *opaque white cards with dark
text* (``STYLE["rc"]``), so they read the same in a light or a dark JupyterLab
theme, and in a saved PNG. When you pass your own ``ax``, its figure keeps your
styling; the data colours are mid-tones that stay visible on either background.

The course's figure style is public for lessons and learners who draw their own
figures: ``figure_style(own_figure)`` (a context manager), ``new_axes()``,
``legend_outside(ax)``, ``no_data(ax, text)``, ``STYLE``, ``OKABE_ITO`` and ``TIME_LABEL``.

Only matplotlib (and numpy, which it brings) and the pandas frames of the Run are used.
"""

import contextlib
import math
from typing import TYPE_CHECKING, Any, TypedDict

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from . import metrics, validation

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType   # matplotlib >= 3.8; only the type checker reads it

# Okabe & Ito (2008), "Color Universal Design"; yellow and black left out (see above).
OKABE_ITO = {"orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
             "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}



class Style(TypedDict):
    """The type of ``STYLE``: what each of its keys holds."""
    colors: dict[str, str]               # colour of each kind of mark, by name
    functions: list[str]                 # one colour per function, in order
    rc: "dict[RcKeyType, Any]"           # matplotlib rcParams for the figures labkit creates
    figsize: tuple[float, float]         # (width, height) of a one-axes figure, in inches
    tick_labels_up_to: int               # environment rows: name each row only up to this many


STYLE: Style = {
    "colors": {
        "init": OKABE_ITO["orange"],                 # Init phase of a cold start
        "cold": OKABE_ITO["vermillion"],             # the invoke right after a cold start
        "warm": OKABE_ITO["blue"],                   # an invoke on a warm environment
        "provisioned": OKABE_ITO["bluish_green"],    # an invoke on a provisioned environment
        "reinit": OKABE_ITO["reddish_purple"],       # an invoke that re-ran init after a reset
        "idle": "#8C8C8C",                           # a grey that reads on white and on dark
        "failed": "#222222",
        "invocations": OKABE_ITO["blue"],
        "throttles": OKABE_ITO["vermillion"],
        "limit": "#555555",
    },
    # One colour per function (concurrency plot), in this order.
    "functions": [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "reddish_purple",
                                         "sky_blue", "vermillion")],
    # Applied only to figures labkit creates: an opaque white card with dark text.
    "rc": {
        "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
        "text.color": "#222222", "axes.labelcolor": "#222222", "axes.edgecolor": "#444444",
        "axes.titlecolor": "#222222", "xtick.color": "#333333", "ytick.color": "#333333",
        "legend.facecolor": "white", "legend.edgecolor": "#CCCCCC", "legend.framealpha": 0.9,
        "axes.grid": True, "axes.axisbelow": True, "grid.color": "#DDDDDD", "grid.linewidth": 0.6,
        "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8,
        "xtick.labelsize": 9, "ytick.labelsize": 9,
    },
    "figsize": (10.0, 3.6),
    "tick_labels_up_to": 30,    # environment rows: name each row only up to this many
}

TIME_LABEL = "simulated time (s)"


@contextlib.contextmanager
def figure_style(own_figure):
    """The course's figure style (``STYLE["rc"]``) while labkit draws a figure of its own;
    the caller's style otherwise (``own_figure`` False: drawing into the caller's axes)."""
    if own_figure:
        with mpl.rc_context(STYLE["rc"]):
            yield
    else:
        yield


def new_axes(figsize=None):
    """A new figure with one axes, in the course's size, laid out so labels never overlap."""
    fig, ax = plt.subplots(figsize=figsize or STYLE["figsize"], layout="constrained")
    return ax


def no_data(ax, text):
    """Write ``text`` in the middle of empty axes."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=STYLE["colors"]["limit"])


class RunPlots:
    """The plots of one ``Run`` (``run.plot``)."""

    def __init__(self, run):
        self.run = run

    # -- concurrency -----------------------------------------------------------------
    def concurrency(self, ax=None):
        """The exact number of in-flight invocations over time (init included), one line per
        function, with the limits that apply: each function's reserved concurrency, the
        account's unreserved pool and its concurrency limit. Limits far above the traffic
        are listed in the legend instead of squashing the plot."""
        with figure_style(ax is None):
            ax = ax or new_axes()
            run, recs = self.run, self.run.records
            inv = run.invocations
            t0, t1 = _window(run)
            palette = STYLE["functions"]
            peak = 0
            several = len(run.functions) > 1
            for k, fn in enumerate(run.functions):
                steps = metrics.concurrency_steps(inv[inv["function"] == fn.name])
                x, y = _step_xy(steps, t0, t1)
                peak = max(peak, int(y.max()))
                label = fn.name if several else f"{fn.name}: in-flight invocations"
                ax.step(x, y, where="post", color=palette[k % len(palette)], lw=1.6, label=label)
            if several:
                x, y = _step_xy(run.concurrency(), t0, t1)
                peak = max(peak, int(y.max()))
                ax.step(x, y, where="post", color=STYLE["colors"]["idle"], lw=1.0, ls="-", alpha=0.9,
                        label="all functions together", zorder=1)
            # Limits: drawn when close enough to the traffic to be worth the vertical space.
            visible_up_to = max(4 * peak, 10)
            limits = []
            for k, fn in enumerate(run.functions):
                r = fn.config.reserved_concurrency
                if r is not None:
                    limits.append((r, f"{fn.name}: reserved concurrency = {r:,}", palette[k % len(palette)], "--"))
            for k, fn in enumerate(run.functions):
                pc = fn.config.provisioned_concurrency
                if pc:
                    limits.append((pc, f"{fn.name}: provisioned concurrency = {pc:,}", palette[k % len(palette)], ":"))
            pool = recs.unreserved_concurrency
            if any(fn.config.reserved_concurrency is None for fn in run.functions) and pool != recs.concurrency_limit:
                limits.append((pool, f"unreserved pool = {pool:,}", STYLE["colors"]["limit"], ":"))
            limits.append((recs.concurrency_limit, f"account concurrency limit = {recs.concurrency_limit:,}",
                           STYLE["colors"]["limit"], "-."))
            top = peak
            for value, label, color, ls in limits:
                if value <= visible_up_to:
                    ax.axhline(value, color=color, ls=ls, lw=1.2, label=label)
                    top = max(top, value)
                else:
                    ax.plot([], [], color=color, ls=ls, lw=1.2, label=f"{label} (above this plot)")
            ax.set_xlim(t0, t1)
            ax.set_ylim(0, max(1, top) * 1.12)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title("Concurrency: invocations in flight")
            ax.set_xlabel(TIME_LABEL)
            ax.set_ylabel("concurrent executions")
            legend_outside(ax)
            return ax

    # -- environment timeline --------------------------------------------------------
    def environments(self, ax=None):
        """One row per execution environment (in order of first use): the Init phase of
        cold starts, each invocation coloured by how it started, and idle time as a thin
        line until the environment is reclaimed or the run ends. Provisioned environments
        carry a marker at the left; failed invocations a cross at their end."""
        run = self.run
        inv = run.invocations
        ran = inv[inv["outcome"] != "throttled"]
        envs = run.environments
        order = _environment_order(envs, ran, [f.name for f in run.functions])
        n = len(order)
        with figure_style(ax is None):
            if ax is None:
                ax = new_axes((STYLE["figsize"][0], float(np.clip(1.3 + 0.3 * n, 2.6, 7.0))))
            t0, t1 = _window(run)
            colors = STYLE["colors"]
            pad = 0.01 * (t1 - t0)   # bars at the very start or end stay off the frame
            ax.set_xlim(t0 - pad, t1 + pad)
            ax.set_title("Execution environments over time")
            ax.set_xlabel(TIME_LABEL)
            ax.set_ylabel("execution environment")
            ax.grid(False)
            if n == 0:
                no_data(ax, "no invocation ran (all throttled)")
                ax.set_yticks([])
                return ax
            row = {eid: i for i, eid in enumerate(order)}
            y = ran["environment_id"].map(row).to_numpy(float)
            h = 0.7 if n <= STYLE["tick_labels_up_to"] else 0.9   # thin rows still touch lightly
            start, inv_start, end = (ran[c].to_numpy(float) for c in ("start_s", "invoke_start_s", "end_s"))
            cold = ran["cold"].to_numpy(bool)
            stype = ran["start_type"].to_numpy(object)
            # Idle gaps: from each invocation's end to the next one on the same environment,
            # or to the reclaim (or the end of the run).
            idle = _idle_segments(ran, envs, row, t0, t1)
            handles = []
            if len(idle):
                ax.add_collection(LineCollection(idle, colors=colors["idle"], linewidths=1.0, zorder=1))
                handles.append(Line2D([], [], color=colors["idle"], lw=1.0, label="idle (warm, waiting)"))
            # Init bars (cold starts), then invoke bars by start type.
            _bars(ax, y[cold], start[cold], inv_start[cold], h, colors["init"])
            if cold.any():
                handles.insert(0, Patch(color=colors["init"], label="init (cold start)"))
            for kind, label in (("cold", "invoke after a cold start"), ("warm", "warm invoke"),
                                ("provisioned", "invoke on provisioned concurrency"),
                                ("reinit", "invoke that re-ran init (after a reset)")):
                m = stype == kind
                if m.any():
                    _bars(ax, y[m], inv_start[m], end[m], h, colors[kind])
                    handles.append(Patch(color=colors[kind], label=label))
            # Back-to-back invocations (a closed-loop caller) would merge into one long bar:
            # separate them with a hairline in the background colour.
            seps = _touching(ran, row, h)
            if len(seps):
                ax.add_collection(LineCollection(seps, colors=[ax.get_facecolor()], linewidths=1.0, zorder=2.5))
            # Markers: provisioned rows, reclaimed environments, failed invocations.
            prov = envs[envs["provisioned"].astype(bool) & envs["environment_id"].isin(order)]
            if len(prov):
                # At the left edge, dark-edged so it shows on top of the (green) bars.
                mark = dict(ls="none", marker=">", mfc=colors["provisioned"], mec=colors["failed"], mew=0.6)
                ax.plot(np.zeros(len(prov)), prov["environment_id"].map(row), transform=ax.get_yaxis_transform(),
                        ms=6 if n <= 60 else 3, clip_on=False, zorder=5, **mark)
                handles.append(Line2D([], [], ms=6, label="provisioned environment", **mark))
            rec = envs[(envs["reclaimed_s"] >= t0) & (envs["reclaimed_s"] <= t1) & envs["environment_id"].isin(order)]
            if len(rec):
                ax.plot(rec["reclaimed_s"], rec["environment_id"].map(row), ls="none", marker="|", ms=8,
                        mew=1.5, color=colors["limit"], zorder=3)
                handles.append(Line2D([], [], ls="none", marker="|", ms=8, mew=1.5, color=colors["limit"],
                                      label="reclaimed"))
            bad = ran["outcome"].isin(["error", "timeout"]).to_numpy()
            if bad.any():
                ax.plot(end[bad], y[bad], ls="none", marker="x", ms=5, mew=1.3, color=colors["failed"], zorder=4)
                handles.append(Line2D([], [], ls="none", marker="x", color=colors["failed"],
                                      label="error or timeout"))
            ax.set_ylim(n - 0.5, -0.5)     # first environment at the top
            if n <= STYLE["tick_labels_up_to"]:
                ax.set_yticks(range(n))
                ax.set_yticklabels(order)
            else:
                ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
                ax.set_ylabel("execution environment (row = order of first use)")
            self._function_bands(ax, envs, order)
            legend_outside(ax, handles=handles)
            return ax

    def _function_bands(self, ax, envs, order):
        """With several functions: a separator and the function's name per group of rows."""
        if len(self.run.functions) < 2 or not len(order):
            return
        fn_of = dict(zip(envs["environment_id"], envs["function"], strict=True))
        groups = []
        for i, eid in enumerate(order):
            if not groups or groups[-1][0] != fn_of[eid]:
                groups.append([fn_of[eid], i, i])
            groups[-1][2] = i
        for name, first, _last in groups:
            if first:
                ax.axhline(first - 0.5, color=STYLE["colors"]["limit"], lw=0.8)
            ax.text(0.995, first - 0.45, name, transform=ax.get_yaxis_transform(), ha="right", va="top",
                    fontsize=8, color="#222222", zorder=6,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))

    # -- throttles -------------------------------------------------------------------
    def throttles(self, period_s=1.0, ax=None):
        """Invocations and Throttles per period (stacked: together they are the requests that
        arrived), from ``run.metrics(period_s)``."""
        validation.period("period_s", period_s, self.run.t1 - self.run.t0)
        with figure_style(ax is None):
            ax = ax or new_axes()
            m = self.run.metrics(period_s)
            x = m["period_start_s"].to_numpy(float)
            inv, thr = m["Invocations"].to_numpy(int), m["Throttles"].to_numpy(int)
            c = STYLE["colors"]
            ax.bar(x, inv, width=period_s, align="edge", color=c["invocations"], label="Invocations",
                   linewidth=0)
            ax.bar(x, thr, width=period_s, bottom=inv, align="edge", color=c["throttles"], label="Throttles",
                   linewidth=0)
            ax.set_xlim(x[0], x[-1] + period_s)
            ax.set_ylim(0, max(1, int((inv + thr).max())) * 1.12)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"Invocations and throttles per {_fmt_s(period_s)}")
            ax.set_xlabel(TIME_LABEL)
            ax.set_ylabel(f"requests per {_fmt_s(period_s)}")
            legend_outside(ax)
            return ax

    # -- durations -------------------------------------------------------------------
    def durations(self, ax=None, bins=40, include_init=True):
        """Histogram (at most ``bins`` bins) of how long invocations took, cold starts and warm apart.
        With ``include_init`` (the default) a cold start counts Init Duration + Duration:
        the time the caller waited inside Lambda; otherwise only the REPORT line's Duration."""
        validation.integer("bins", bins, 1)   # no upper bound: never more bins than durations
        with figure_style(ax is None):
            ax = ax or new_axes()
            inv = self.run.invocations
            ran = inv[inv["outcome"] != "throttled"]
            cold = ran["cold"].astype(bool)
            warm_ms = ran.loc[~cold, "duration_ms"].to_numpy(float)
            cold_ms = ran.loc[cold, "duration_ms"].to_numpy(float)
            if include_init:
                cold_ms = cold_ms + np.nan_to_num(ran.loc[cold, "init_duration_ms"].to_numpy(float))
            both = np.concatenate([warm_ms, cold_ms])
            ax.set_title("Invocation durations: cold starts vs warm")
            ax.set_xlabel("Init Duration + Duration (ms)" if include_init and len(cold_ms) else "Duration (ms)")
            ax.set_ylabel("invocations")
            if not len(both):
                no_data(ax, "no invocation ran (all throttled)")
                return ax
            lo, hi = float(both.min()), float(both.max())
            if hi - lo < 1e-9:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, min(bins, max(5, len(both))) + 1)   # few values: few bins
            c = STYLE["colors"]
            cold_label = "cold start" + (" (incl. init)" if include_init else "")
            for values, color, label in ((warm_ms, c["warm"], "warm"), (cold_ms, c["cold"], cold_label)):
                if len(values):
                    ax.hist(values, bins=edges, color=color, alpha=0.55, label=f"{label}: {len(values):,}")
                    ax.hist(values, bins=edges, color=color, histtype="step", lw=1.2)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            legend_outside(ax)
            return ax

    # -- all four --------------------------------------------------------------------
    def overview(self, period_s=None):
        """Concurrency, environments, throttles and durations in one 2x2 figure; returns the
        2x2 array of Axes. ``period_s`` defaults to a period giving at most ~120 bars."""
        if period_s is None:
            period_s = _nice_period((self.run.t1 - self.run.t0) / 120)
        validation.period("period_s", period_s, self.run.t1 - self.run.t0)   # before the figure exists
        with figure_style(True):
            fig, axes = plt.subplots(2, 2, figsize=(16, 8), layout="constrained")
            self.concurrency(ax=axes[0, 0])
            self.environments(ax=axes[0, 1])
            self.throttles(period_s, ax=axes[1, 0])
            self.durations(ax=axes[1, 1])
            s = self.run.summary()
            fig.suptitle(f"{', '.join(f.name for f in self.run.functions)}: {s['calls']:,} calls, "
                         f"{s['throttles']:,} throttles, {s['cold_starts']:,} cold starts, "
                         f"{s['environments']:,} environments")
        return axes


# -- helpers -------------------------------------------------------------------------------

def _window(run):
    """The run's time span, widened to 1 s when nothing took any time (all throttled)."""
    return run.t0, (run.t1 if run.t1 - run.t0 > 1e-6 else run.t0 + 1.0)


def legend_outside(ax, **kw):
    """The legend to the right of the axes, so it never hides data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, **kw)


def _step_xy(steps, t0, t1):
    """Step-function points covering [t0, t1], starting and ending at the right level."""
    x = np.concatenate([[t0], steps["time_s"].to_numpy(float), [t1]])
    y = np.concatenate([[0], steps["concurrency"].to_numpy(int), [steps["concurrency"].iloc[-1] if len(steps) else 0]])
    return x, y


def _environment_order(envs, ran, function_names):
    """Environment ids grouped by function (run order), then by first use in the run."""
    first = ran.groupby("environment_id")["start_s"].min()
    rank = {name: i for i, name in enumerate(function_names)}
    ids = [e for e in envs["environment_id"] if e in first.index]
    fn_of = dict(zip(envs["environment_id"], envs["function"], strict=True))
    return sorted(ids, key=lambda e: (rank.get(fn_of[e], len(rank)), first[e], e))


def _bars(ax, y, x0, x1, h, color):
    if not len(y):
        return
    verts = np.empty((len(y), 4, 2))
    verts[:, 0] = np.c_[x0, y - h / 2]
    verts[:, 1] = np.c_[x0, y + h / 2]
    verts[:, 2] = np.c_[x1, y + h / 2]
    verts[:, 3] = np.c_[x1, y - h / 2]
    # A thin edge in the same colour keeps very short invocations visible.
    ax.add_collection(PolyCollection(verts, facecolors=color, edgecolors=color, linewidths=0.6, zorder=2))


def _idle_segments(ran, envs, row, t0, t1):
    segs = []
    reclaimed = dict(zip(envs["environment_id"], envs["reclaimed_s"], strict=True))
    for eid, g in ran.sort_values("start_s").groupby("environment_id", sort=False):
        y = row[eid]
        s, e = g["start_s"].to_numpy(float), g["end_s"].to_numpy(float)
        if s[0] > t0 and _created_before(envs, eid, t0):     # warm from an earlier run
            segs.append(((t0, y), (s[0], y)))
        for a, b in zip(e[:-1], s[1:], strict=True):
            if b > a:
                segs.append(((a, y), (b, y)))
        r = reclaimed.get(eid, math.nan)
        stop = t1 if (r is None or math.isnan(r) or r > t1) else r
        if stop > e[-1]:
            segs.append(((e[-1], y), (stop, y)))
    return segs


def _touching(ran, row, h):
    """Vertical segments where an invocation starts the instant the previous one on the
    same environment ended."""
    segs = []
    for eid, g in ran.sort_values("start_s").groupby("environment_id", sort=False):
        s, e = g["start_s"].to_numpy(float), g["end_s"].to_numpy(float)
        y = row[eid]
        for x in s[1:][np.abs(s[1:] - e[:-1]) < 1e-9]:
            segs.append(((x, y - h / 2), (x, y + h / 2)))
    return segs


def _created_before(envs, eid, t0):
    c = envs.loc[envs["environment_id"] == eid, "created_s"]
    return bool(len(c)) and float(c.iloc[0]) < t0


def _fmt_s(seconds):
    return f"{seconds:g} s" if seconds < 60 or seconds % 60 else f"{seconds / 60:g} min"


def _nice_period(raw):
    for p in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if p >= raw:
            return float(p)
    return 3600.0 * math.ceil(raw / 3600)


def sweep(result, ax=None):
    """A memory sweep (``labkit.tuning.SweepResult``): cost per invocation against duration.

    One point per configuration, labelled with its memory size, one colour per
    architecture; the strategy's best configuration is ringed. A sweep in which every
    call failed has nothing to draw, and says so."""
    own = ax is None
    with figure_style(own):
        if own:
            ax = new_axes((7.0, 4.2))
        if not result.has_best:
            ax.set_title("Memory sweep: cost against duration")
            no_data(ax, "every call failed at every memory size: nothing measured, no best configuration")
            return ax
        table = result.table
        for k, (arch, rows) in enumerate(table.groupby("architecture", sort=False)):
            color = STYLE["functions"][k % len(STYLE["functions"])]
            rows = rows.sort_values("memory_mb")
            ax.plot(rows["avg_duration_ms"], rows["avg_cost_usd"] * 1e6, "-o", color=color, label=arch)
            for _, r in rows.iterrows():
                ax.annotate(f"{int(r['memory_mb'])} MB", (r["avg_duration_ms"], r["avg_cost_usd"] * 1e6),
                            textcoords="offset points", xytext=(5, 4), fontsize=8)
        best = result.best
        ax.plot([best["avg_duration_ms"]], [best["avg_cost_usd"] * 1e6], "o", markersize=16, mfc="none",
                mec=STYLE["colors"]["limit"], mew=1.5, label=f"best for {result.strategy}")
        ax.set_xscale("log")
        # Label the 1-2-5 steps: a log axis over less than a decade would otherwise show one tick.
        ax.xaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.set_xlabel("average duration (ms, log scale)")
        ax.set_ylabel("cost per invocation (µUSD)")
        ax.set_title("Memory sweep: cost against duration")
        ax.legend(loc="best")
    return ax


__all__ = ["RunPlots", "STYLE", "OKABE_ITO", "TIME_LABEL", "sweep", "figure_style", "new_axes", "no_data",
           "legend_outside"]
