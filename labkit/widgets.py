"""The widget pattern every lesson uses: controls -> a pure function -> a plot.

A lesson's exploration is split in two so it can be tested and read without a kernel:

* ``pure_fn(**settings)`` runs the simulation and returns plain data (numbers,
  dicts, DataFrames). No drawing, no printing: tests call it directly.
* ``plot_fn(data, ax)`` draws that data into the Axes it is given.

``explore(pure_fn, plot_fn, n=(1, 50), memory_mb=[128, 512, 1769])`` shows controls
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

How a redraw reaches the learner: each change renders a new figure and displays it
*inside the widget's own Output area* (``display(fig)`` within ``with output:``),
then closes it. Nothing depends on the name of matplotlib's inline backend (which
``ipywidgets.interactive`` relies on to flush figures, and which matplotlib has
renamed), and no stray copy of the figure is left below the cell.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets
import matplotlib.pyplot as plt
from IPython.display import display

from .errors import InvalidParameterValueException
from .plots import STYLE, figure_style


def run_and_plot(pure_fn, plot_fn, ax=None, **settings):
    """One step of the pattern: ``plot_fn(pure_fn(**settings), ax)``; returns the Axes."""
    with figure_style(ax is None):
        if ax is None:
            _, ax = plt.subplots(figsize=STYLE["figsize"], layout="constrained")
        plot_fn(pure_fn(**settings), ax)
    return ax


def settings_label(settings: Mapping[str, Any]) -> str:
    """``"route=kinesis, shards=2"``: the settings a figure shows, for its title."""
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def _add_settings_to_title(ax, settings):
    label = settings_label(settings)
    if label:
        ax.set_title(f"{ax.get_title()}\n{label}" if ax.get_title() else label, fontsize=10)


def figure_for(pure_fn, plot_fn, settings: Mapping[str, Any], shown: Mapping[str, Any] | None = None):
    """A new figure of ``plot_fn(pure_fn(**settings))`` whose title names ``shown``
    (default: every setting). The figure is not displayed; the caller owns it."""
    ax = run_and_plot(pure_fn, plot_fn, **settings)
    _add_settings_to_title(ax, settings if shown is None else shown)
    return ax.figure


def _make_controls(pure_fn, sliders):
    defaults = {k: p.default for k, p in inspect.signature(pure_fn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    controls = {}
    for name, abbrev in sliders.items():
        if isinstance(abbrev, ipywidgets.fixed):
            controls[name] = abbrev
            continue
        # A control starts at pure_fn's default for that argument, as with interact.
        widget = ipywidgets.interactive.widget_from_abbrev(abbrev, defaults.get(name, inspect.Parameter.empty))
        if widget is None:
            raise InvalidParameterValueException(name, abbrev, "a slider abbreviation as for ipywidgets.interact "
                                                 "((min, max[, step]), a list, a bool) or a widget")
        if hasattr(widget, "continuous_update"):
            widget.continuous_update = False   # each position is a full simulation
        if not widget.description:
            widget.description = name
        # The whole name, never cut to "reserved_…".
        widget.style.description_width = "initial"
        widget.layout.width = "auto" if isinstance(widget, ipywidgets.Checkbox) else "460px"
        controls[name] = widget
    return controls


class Explorer(ipywidgets.VBox):
    """Controls, then an Output area that always holds the figure for their values.

    ``controls`` maps each argument to its widget; ``output`` is the figure's area;
    ``settings`` the current values; ``redraw()`` draws again. A control whose
    ``applies`` predicate is false for the current settings is disabled and left
    out of the figure's title."""

    def __init__(self, pure_fn, plot_fn, controls, applies):
        self.pure_fn, self.plot_fn = pure_fn, plot_fn
        self.controls = controls
        self.applies = dict(applies)
        self.output = ipywidgets.Output()
        self.redraws = 0
        shown = [w for w in controls.values() if isinstance(w, ipywidgets.DOMWidget)]
        super().__init__(children=[*shown, self.output])
        for w in shown:
            w.observe(self._changed, names="value")
        self._update_enabled()

    @property
    def settings(self) -> dict[str, Any]:
        return {name: w.value for name, w in self.controls.items()}

    def shown_settings(self) -> dict[str, Any]:
        """The settings that have an effect now (those the figure's title names)."""
        s = self.settings
        return {k: v for k, v in s.items() if k not in self.applies or self.applies[k](s)}

    def _update_enabled(self):
        s = self.settings
        for name, rule in self.applies.items():
            w = self.controls[name]
            if hasattr(w, "disabled"):
                w.disabled = not rule(s)

    def _changed(self, change):
        self._update_enabled()
        self.redraw()

    def redraw(self):
        out = self.output
        with out:
            out.clear_output(wait=True)
            fig = figure_for(self.pure_fn, self.plot_fn, self.settings, self.shown_settings())
            try:
                with figure_style(True):
                    display(fig)
            finally:
                plt.close(fig)
            self.redraws += 1



def explore(pure_fn: Callable[..., Any], plot_fn: Callable[[Any, Any], Any], *,
            applies: Mapping[str, Callable[[dict], bool]] | None = None, **sliders):
    """Controls for ``pure_fn``'s arguments; on each release, re-run ``pure_fn`` and redraw.

    ``sliders`` are written as for ``ipywidgets.interact``: ``(min, max)`` or
    ``(min, max, step)`` for a slider, a list for a drop-down, a bool for a
    checkbox, a fixed value with ``ipywidgets.fixed(v)``, or any widget. Sliders
    update only when released (``continuous_update=False``): each position is a
    full simulation. ``applies`` maps a control's name to a predicate of the
    current settings; while it is false the control is disabled (it has no effect
    for that choice), e.g. ``applies={"shards": lambda s: s["route"] == "kinesis"}``.

    The figure is drawn into the widget's own Output area and titled with the
    settings it shows. Returns the widget (already displayed).
    """
    applies = dict(applies or {})
    for name, rule in applies.items():
        if name not in sliders or not callable(rule):
            raise InvalidParameterValueException("applies", name, f"names of the controls {list(sliders)}, "
                                                 "each with a function of the settings")
    controls = _make_controls(pure_fn, sliders)
    ui = Explorer(pure_fn, plot_fn, controls, applies)
    display(ui)
    ui.redraw()   # after the widget is shown, so its first figure lands in its Output area
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
    with figure_style(True):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols / 2, height * nrows),
                                 layout="constrained", squeeze=False)
        # nrows * ncols panels may be more than the settings: the spare ones are hidden below.
        for ax, settings in zip(axes.flat, grid, strict=False):
            run_and_plot(pure_fn, plot_fn, ax=ax, **settings)
            _add_settings_to_title(ax, settings)
        for ax in axes.flat[len(grid):]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
    return axes
