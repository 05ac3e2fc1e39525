"""Lesson 01 · Stateless vs stateful: the figures.

``plot_lost_updates``   lost increments (%) against concurrency, one line per work time
``plot_counter_race``   the widget's redraw: increments acknowledged vs the value stored
"""

from typing import Any

import pandas as pd
from matplotlib.axes import Axes

from labkit.plots import OKABE_ITO, STYLE, TIME_LABEL
from labkit.widgets import run_and_plot


def plot_lost_updates(curve: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Lost increments (%) against concurrency, one line per work time, with the limit in
    which every call overlaps every other (the counter then ends at calls / concurrency).
    Draws into ``ax``, or into a new figure in labkit's style; returns the Axes."""
    if ax is None:
        return run_and_plot(lambda: curve, plot_lost_updates)
    colours = [OKABE_ITO[k] for k in ("bluish_green", "blue", "vermillion", "reddish_purple", "orange")]
    cs = sorted(curve["concurrency"].unique())
    ax.plot(cs, [100.0 * (1 - 1 / c) for c in cs], ls=":", color=STYLE["colors"]["limit"],
            label="every call overlaps: 1 − 1/concurrency")
    for colour, (w, g) in zip(colours, curve.groupby("work_ms", sort=True), strict=False):
        ax.plot(g["concurrency"], g["lost_pct"], marker="o", color=colour, label=f"{w:g} ms between read and write")
    ax.set_xscale("log")
    ax.set_xticks(cs)
    ax.set_xticklabels([str(c) for c in cs])
    ax.minorticks_off()
    ax.set_ylim(-3, 103)
    ax.set_xlabel("concurrent callers")
    ax.set_ylabel("increments lost (%)")
    ax.set_title(f"Read-modify-write on one counter: lost updates grow with concurrency "
                 f"({int(curve['calls'].max())} increments per run)")
    ax.legend(loc="lower right")
    return ax


def plot_counter_race(race: dict[str, Any], ax: Axes) -> Axes:
    """The widget's plot: increments acknowledged to callers vs the value stored in the table."""
    colours = STYLE["colors"]
    ack = race["acknowledged"]
    # The blue line is drawn wider, so it still shows where the red one runs on top of it.
    ax.step([0.0] + ack, range(len(ack) + 1), where="post", color=colours["invocations"], lw=3.0,
            label="increments acknowledged to callers")
    hist = race["history"]
    ax.step([0.0] + [t for t, _ in hist], [0] + [v for _, v in hist], where="post",
            color=colours["throttles"], lw=1.5, label="value stored in the table")
    top = max(len(ack), 1)
    ax.set_ylim(0, top * 1.08)
    ax.set_xlim(0, max(race["finished_s"], 1e-3))
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("count")
    ax.set_title(f"{race['lost']} of {race['calls']} increments lost")
    ax.legend(loc="upper left")
    return ax
