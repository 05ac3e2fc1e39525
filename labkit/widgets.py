"""The widget pattern every lesson uses: sliders -> a pure function -> a plot.

A lesson's exploration is split in two so it can be tested and read without a kernel:

* ``pure_fn(**settings)`` runs the simulation and returns plain data (numbers,
  dicts, DataFrames). No drawing, no printing: tests call it directly.
* ``plot_fn(data, ax)`` draws that data into the Axes it is given.

``explore(pure_fn, plot_fn, n=(1, 50), memory_mb=[128, 512, 1769])`` shows sliders
(built like ``ipywidgets.interact`` builds them) that re-run both when released.
``static_figure(pure_fn, plot_fn, [dict(n=5), dict(n=50)])`` draws the same plot
for a few fixed settings side by side, so the stored notebook shows the idea
even to a reader with no kernel running.

    def scaling(burst=10):                      # pure: simulation -> data
        lab = lk.Lab(seed=1)
        fn = lab.function(handler, timeout_s=10)
        return lab.invoke(fn, lk.workload.parallel(burst)).summary()

    def show(summary, ax):                      # plot: data -> Axes
        ax.bar(["environments", "cold starts"], [summary["environments"], summary["cold_starts"]])

    from labkit.widgets import explore, static_figure
    explore(scaling, show, burst=(1, 100))
    static_figure(scaling, show, [dict(burst=1), dict(burst=10), dict(burst=100)])
"""

import inspect

import matplotlib.pyplot as plt

from .errors import InvalidParameterValueException
from .plots import STYLE, _figure_style


def run_and_plot(pure_fn, plot_fn, ax=None, **settings):
    """One step of the pattern: ``plot_fn(pure_fn(**settings), ax)``; returns the Axes."""
    with _figure_style(ax is None):
        if ax is None:
            _, ax = plt.subplots(figsize=STYLE["figsize"], layout="constrained")
        plot_fn(pure_fn(**settings), ax)
    return ax


def explore(pure_fn, plot_fn, **sliders):
    """Sliders for ``pure_fn``'s arguments; on each release, re-run ``pure_fn`` and redraw.

    ``sliders`` are written as for ``ipywidgets.interact``: ``(min, max)`` or
    ``(min, max, step)`` for a slider, a list for a drop-down, a bool for a
    checkbox, a fixed value with ``ipywidgets.fixed(v)``, or any widget. Sliders
    update only when released (``continuous_update=False``): each position is a
    full simulation. Returns the ``ipywidgets.interactive`` (already displayed).
    """
    import ipywidgets
    from IPython.display import display

    defaults = {k: p.default for k, p in inspect.signature(pure_fn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    controls = {}
    for name, abbrev in sliders.items():
        # A slider starts at pure_fn's default for that argument, as with interact.
        widget = ipywidgets.interactive.widget_from_abbrev(abbrev, defaults.get(name, inspect.Parameter.empty))
        if widget is None:
            raise InvalidParameterValueException(name, abbrev, "a slider abbreviation as for ipywidgets.interact "
                                                 "((min, max[, step]), a list, a bool) or a widget")
        if hasattr(widget, "continuous_update"):
            widget.continuous_update = False
        controls[name] = widget

    def _update(**settings):
        # interactive() shows the new figure in its output area itself (inline backend).
        run_and_plot(pure_fn, plot_fn, **settings)

    ui = ipywidgets.interactive(_update, **controls)
    display(ui)
    return ui


def static_figure(pure_fn, plot_fn, grid, ncols=None, title=None):
    """Small multiples: one panel per settings dict in ``grid``, each titled with its
    settings, sharing nothing but the style. Returns the array of Axes."""
    grid = [dict(g) for g in grid]
    if not grid:
        raise InvalidParameterValueException("grid", grid, "a non-empty list of settings dicts")
    ncols = ncols or min(len(grid), 3)
    nrows = -(-len(grid) // ncols)
    width, height = STYLE["figsize"]
    with _figure_style(True):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols / 2, height * nrows),
                                 layout="constrained", squeeze=False)
        for ax, settings in zip(axes.flat, grid):
            run_and_plot(pure_fn, plot_fn, ax=ax, **settings)
            label = ", ".join(f"{k}={v}" for k, v in settings.items())
            ax.set_title(f"{ax.get_title()}\n{label}" if ax.get_title() else label, fontsize=10)
        for ax in axes.flat[len(grid):]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
    return axes
