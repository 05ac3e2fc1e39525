"""Plots draw without error and label what they show, for typical and edge-case runs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import labkit as lk  # noqa: E402
from labkit import widgets  # noqa: E402
from labkit.plots import STYLE, RunPlots  # noqa: E402

SLEEPY = "import labkit as lk\ndef handler(event, context):\n    lk.sleep(0.2)\n    return {'ok': True}\n"
FLAKY = ("import labkit as lk\nimport random\n"
         "def handler(event, context):\n"
         "    lk.sleep(random.uniform(0.1, 1.5))\n"
         "    if random.random() < 0.1:\n        raise ValueError('boom')\n"
         "    return 1\n")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _normal():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SLEEPY, memory_mb=512)
    return lab.invoke(fn, lk.workload.poisson(rate_per_s=20, seconds=5))


def _throttled():
    lab = lk.Lab(seed=2)
    fn = lab.function(source=SLEEPY, memory_mb=512, reserved_concurrency=3)
    return lab.invoke(fn, lk.workload.burst(30, spread_s=1.0))


def _single():
    lab = lk.Lab(seed=3)
    fn = lab.function(source=SLEEPY)
    return lab.invoke(fn, [{"hello": "world"}])


def _several():
    # Two functions, one with provisioned concurrency, errors and timeouts (timeout 1 s),
    # then a second run after the idle reclaim, so warm, reclaimed and reused rows appear.
    lab = lk.Lab(seed=4)
    a = lab.function(source=FLAKY, name="orders", provisioned_concurrency=2, timeout_s=1)
    b = lab.function(source=SLEEPY, name="reports", reserved_concurrency=5)
    lab.simulate([(a, lk.workload.poisson(8, 4)), (b, lk.workload.poisson(30, 4))])
    lab.advance(lab.account.idle_reclaim_s + 5)
    return lab.simulate([(a, lk.workload.poisson(8, 3)), (b, lk.workload.poisson(30, 3))])


def _all_throttled():
    lab = lk.Lab(seed=5)
    fn = lab.function(source=SLEEPY, reserved_concurrency=0)
    return lab.invoke(fn, lk.workload.burst(3))


RUNS = {"normal": _normal, "throttled": _throttled, "single": _single, "several": _several,
        "all_throttled": _all_throttled}


@pytest.fixture(scope="module", params=sorted(RUNS))
def run(request):
    return RUNS[request.param]()


def _labelled(ax):
    assert isinstance(ax, matplotlib.axes.Axes)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    ax.figure.canvas.draw()   # render, so layout and collections really work


@pytest.mark.parametrize("method", ["concurrency", "environments", "throttles", "durations"])
def test_each_plot_returns_labelled_axes(run, method):
    assert isinstance(run.plot, RunPlots)
    _labelled(getattr(run.plot, method)())


def test_plots_draw_into_a_given_axes(run):
    fig, axes = plt.subplots(1, 4)
    for ax, method in zip(axes, ["concurrency", "environments", "throttles", "durations"], strict=True):
        assert getattr(run.plot, method)(ax=ax) is ax
    assert all(ax.get_title() for ax in axes)


def test_overview_is_two_by_two(run):
    axes = run.plot.overview()
    assert axes.shape == (2, 2)
    for ax in axes.flat:
        _labelled(ax)


def test_environment_rows_and_limit_lines():
    r = _throttled()
    ax = r.plot.environments()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["env-0001", "env-0002", "env-0003"]
    ax = r.plot.concurrency()
    labels = ax.get_legend_handles_labels()[1]
    assert any("reserved concurrency = 3" in s for s in labels)
    assert any("account concurrency limit" in s for s in labels)


def test_several_functions_get_one_line_each():
    r = _several()
    labels = r.plot.concurrency().get_legend_handles_labels()[1]
    assert {"orders", "reports", "all functions together"} <= set(labels)
    assert any("provisioned concurrency = 2" in s for s in labels)
    legend = [t.get_text() for t in r.plot.environments().get_legend().get_texts()]
    assert "provisioned environment" in legend and "error or timeout" in legend


def test_many_environments_drop_per_row_labels():
    lab = lk.Lab(seed=6)
    fn = lab.function(source=SLEEPY)
    r = lab.invoke(fn, lk.workload.parallel(STYLE["tick_labels_up_to"] + 20))
    ax = r.plot.environments()
    assert len(ax.get_yticks()) < STYLE["tick_labels_up_to"]
    assert not any(t.get_text().startswith("env-") for t in ax.get_yticklabels())


def test_bad_arguments_are_refused():
    r = _single()
    with pytest.raises(lk.InvalidParameterValueException):
        r.plot.throttles(period_s=0)
    with pytest.raises(lk.InvalidParameterValueException):
        r.plot.durations(bins=0)


# -- widgets -----------------------------------------------------------------------------

def _burst_summary(n=3):
    lab = lk.Lab(seed=7)
    fn = lab.function(source=SLEEPY)
    return lab.invoke(fn, lk.workload.parallel(n)).summary()


def _bar(summary, ax):
    ax.bar(["environments", "cold starts"], [summary["environments"], summary["cold_starts"]])
    ax.set_title("burst")


def test_pure_function_is_plain_data():
    assert _burst_summary(4)["environments"] == 4


def test_static_figure_draws_one_panel_per_setting():
    axes = widgets.static_figure(_burst_summary, _bar, [dict(n=1), dict(n=4)])
    assert axes.shape == (1, 2)
    assert [ax.get_title() for ax in axes.flat] == ["burst\nn=1", "burst\nn=4"]
    assert axes[0, 1].patches[0].get_height() == 4
    with pytest.raises(lk.InvalidParameterValueException):
        widgets.static_figure(_burst_summary, _bar, [])


def test_explore_builds_release_only_sliders(capsys):
    ui = widgets.explore(_burst_summary, _bar, n=(1, 10))
    slider = ui.controls["n"]
    assert ui.children[0] is slider and ui.children[-1] is ui.output
    assert slider.value == 3 and slider.continuous_update is False
    with pytest.raises(lk.InvalidParameterValueException):
        widgets.explore(_burst_summary, _bar, n=object())


def _kinds(n=3, kind="burst"):
    return {"environments": n, "cold_starts": n if kind == "burst" else 1}


def test_explore_redraws_on_every_move_with_the_settings_in_the_title(monkeypatch):
    shown = []
    monkeypatch.setattr(widgets, "display", lambda obj: shown.append(obj))
    ui = widgets.explore(_kinds, _bar, n=(1, 10), kind=["burst", "sequential"])
    assert shown[0] is ui                     # the widget ...
    figures = [o for o in shown if hasattr(o, "axes")]
    assert len(figures) == 1 and figures[0].axes[0].get_title() == "burst\nn=3, kind=burst"
    ui.controls["n"].value = 7
    ui.controls["kind"].value = "sequential"
    figures = [o for o in shown if hasattr(o, "axes")]
    assert ui.redraws == 3 and len(figures) == 3
    assert figures[-1].axes[0].get_title() == "burst\nn=7, kind=sequential"
    assert figures[-1].axes[0].patches[1].get_height() == 1
    assert not plt.get_fignums()              # each figure is closed once shown


def test_a_control_without_effect_is_disabled_and_left_out_of_the_title(monkeypatch):
    shown = []
    monkeypatch.setattr(widgets, "display", lambda obj: shown.append(obj))
    ui = widgets.explore(_kinds, _bar, kind=["burst", "sequential"], n=(1, 10),
                         applies={"n": lambda s: s["kind"] == "burst"})
    assert ui.controls["n"].disabled is False
    ui.controls["kind"].value = "sequential"
    assert ui.controls["n"].disabled is True
    assert shown[-1].axes[0].get_title() == "burst\nkind=sequential"
    ui.controls["kind"].value = "burst"
    assert ui.controls["n"].disabled is False
    with pytest.raises(lk.InvalidParameterValueException, match="applies"):
        widgets.explore(_kinds, _bar, n=(1, 10), applies={"shards": lambda s: True})


def test_control_labels_are_never_cut():
    ui = widgets.explore(_kinds, _bar, n=(1, 10), kind=["burst", "sequential"])
    for name, w in ui.controls.items():
        assert w.description == name and w.style.description_width == "initial"
