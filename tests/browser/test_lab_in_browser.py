"""Every lesson, as a learner meets it: JupyterLab in a real (headless) browser.

For each notebook: open it in JupyterLab, run all cells on a fresh kernel, and check that no
cell shows an error. For lessons 01-06, also move the first control of the ``explore(...)``
widget the way a learner would and check that the figure in the widget is redrawn. A
screenshot of each notebook, and of each widget before and after the move, is saved
(``$LABKIT_SCREENSHOTS``, default ``tests/browser/screenshots/``).

Run with ``make browser``; skipped with the reason when Chromium or playwright is missing.
Warnings on stderr are reported in the summary but do not fail the test; tracebacks do.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from .conftest import NOTEBOOKS_DIR, SUMMARY, VIEWPORT

NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
WIDGET_TIMEOUT_S = 60
MAX_SHOT_HEIGHT = 30000   # px; a taller notebook is cut off in its full screenshot

# --- JavaScript run in the page (window.jupyterapp is there thanks to expose_app_in_browser) ---

PANEL = "(() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget; " \
        "return w && w.context && w.context.path === PATH ? w : null; })()"


def _with_panel(js):
    """``js`` with ``w`` bound to the notebook panel of ``PATH``: its ``const w = PANEL;`` filled in."""
    assert js.count("const w = PANEL;") == 1
    return js.replace("const w = PANEL;", f"const w = {PANEL};")


JS_READY = _with_panel("""async (path) => {
  const PATH = path; const w = PANEL;
  if (!w || !w.sessionContext.session || !w.sessionContext.session.kernel) return false;
  await w.context.ready; await w.sessionContext.ready; await w.revealed;
  return w.sessionContext.session.kernel.status === 'idle' && w.content.widgets.length > 0;
}""")

JS_RUN_ALL = _with_panel("""async (path) => {
  const PATH = path; const w = PANEL; const app = window.jupyterapp;
  w.content.activeCellIndex = 0;
  await app.commands.execute('notebook:clear-all-cell-outputs');
  window.__labkitRunAll = 'pending';
  app.commands.execute('notebook:run-all-cells').then(
      r => { window.__labkitRunAll = r; }, e => { window.__labkitRunAll = 'error: ' + e; });
}""")

JS_STATE = _with_panel("""(path) => {
  const PATH = path; const w = PANEL;
  const code = w.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
  return {
    runAll: window.__labkitRunAll,
    kernel: w.sessionContext.session && w.sessionContext.session.kernel
            ? w.sessionContext.session.kernel.status : 'none',
    cells: code.length,
    notRun: code.filter(c => c.model.executionCount == null).length,
    running: code.filter(c => (c.promptNode ? c.promptNode.textContent : '').includes('*')).length,
    progressBars: document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-progress').length,
  };
}""")

# Errors and stderr, from the notebook model (what would be saved) and from the page.
JS_OUTPUTS = _with_panel("""(path) => {
  const PATH = path; const w = PANEL;
  const errors = [], stderr = [];
  w.content.widgets.forEach((c, i) => {
    if (c.model.type !== 'code') return;
    const head = c.model.sharedModel.getSource().split('\\n')[0].slice(0, 60);
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(`cell ${i} (${head}): ${o.ename}: ${o.evalue}`);
      else if (o.output_type === 'stream' && o.name === 'stderr') {
        const text = Array.isArray(o.text) ? o.text.join('') : o.text;
        if (/Traceback \\(most recent call last\\)/.test(text))
          errors.push(`cell ${i} (${head}): traceback on stderr: ${text.slice(-300)}`);
        else stderr.push(`cell ${i} (${head}): ${text.trim().split('\\n').slice(-2).join(' | ').slice(0, 200)}`);
      }
    }
  });
  // The page: anything rendered as stderr/error, including inside widgets' Output areas.
  const dom = [];
  w.node.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], ' +
                          '[data-mime-type="application/vnd.jupyter.error"]').forEach(n => {
    const t = n.innerText;
    if (/Traceback|Error\\b.*\\n|-{20,}/.test(t) && /Error|Exception|Traceback/.test(t)) dom.push(t.slice(0, 400));
  });
  const widgetProblems = [];
  w.node.querySelectorAll('.jp-OutputArea-output').forEach(n => {
    const t = n.innerText || '';
    if (/Error displaying widget|model not found|Loading widget\\.\\.\\./.test(t)) widgetProblems.push(t.slice(0, 200));
  });
  return {errors, stderr, dom, widgetProblems};
}""")

JS_EXPLORE_CELL = _with_panel("""(path) => {
  const PATH = path; const w = PANEL;
  return w.content.widgets.findIndex(c => c.model.type === 'code'
                                          && c.model.sharedModel.getSource().includes('explore('));
}""")

JS_WIDGET = _with_panel("""([path, index]) => {
  const PATH = path; const w = PANEL; const cell = w.content.widgets[index];
  const box = cell.node.querySelector('.widget-vbox');
  const img = box ? box.querySelector('.widget-output img') : null;
  const first = box ? box.querySelector(':scope > .widget-inline-hbox') : null;
  let control = null;
  if (first) {
    const label = first.querySelector('.widget-label');
    const handle = first.querySelector('.noUi-handle');
    const select = first.querySelector('select');
    control = {
      kind: handle ? 'slider' : select ? 'dropdown' : 'other',
      label: label ? label.textContent : '',
      value: handle ? handle.getAttribute('aria-valuenow') : select ? select.value : null,
      readout: handle ? (first.querySelector('.widget-readout') || {}).textContent : null,
      max: handle ? handle.getAttribute('aria-valuemax') : null,
      options: select ? select.options.length : null,
      selectedIndex: select ? select.selectedIndex : null,
    };
  }
  return {
    box: !!box, control,
    src: img ? img.src : null, loaded: img ? img.complete && img.naturalWidth > 0 : false,
    naturalWidth: img ? img.naturalWidth : 0, naturalHeight: img ? img.naturalHeight : 0,
    shownWidth: img ? img.getBoundingClientRect().width : 0,
    boxWidth: box ? box.getBoundingClientRect().width : 0,
    kernel: w.sessionContext.session.kernel.status,
  };
}""")

JS_NOTEBOOK_HEIGHT = _with_panel("""(path) => {
  const PATH = path; const w = PANEL;
  const n = w.content.node.querySelector('.jp-WindowedPanel-outer') || w.content.node;   // the scroller
  w.content.activeCellIndex = 0;   // or JupyterLab scrolls back to the active (last) cell
  n.scrollTop = 0;
  return {scroll: n.scrollHeight, client: n.clientHeight, window: window.innerHeight};
}""")


def _digest(src):
    return hashlib.sha1(src.encode()).hexdigest()[:10] if src else None


def _wait(page, fn, arg, until, timeout_s, what, poll_s=0.5):
    """Poll ``fn(arg)`` in the page until ``until(result)``; return the last result."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = page.evaluate(fn, arg)
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last state: {result}")
        time.sleep(poll_s)


def _full_screenshot(page, name, path):
    """The whole notebook in one image: make the window as tall as the notebook (JupyterLab
    scrolls inside its own panel, so Playwright's full_page alone shows one screen)."""
    try:
        for _ in range(3):   # the panel's height (and its scroll-past-end room) follows the window's
            h = page.evaluate(JS_NOTEBOOK_HEIGHT, name)
            if h["scroll"] <= h["client"] + 2 or h["window"] >= MAX_SHOT_HEIGHT:
                break
            height = min(MAX_SHOT_HEIGHT, h["scroll"] + h["window"] - h["client"])
            page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
            page.wait_for_timeout(700)
        page.evaluate(JS_NOTEBOOK_HEIGHT, name)   # back at the top
        page.wait_for_timeout(1000)   # re-layout, and let images decode
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(VIEWPORT)
        page.wait_for_timeout(300)
    return h["scroll"]


def _move_first_control(page, cell, control):
    """Change the first control as a learner would. Returns a description of the move."""
    first = cell.locator(".widget-vbox > .widget-inline-hbox").first
    if control["kind"] == "slider":
        handle = first.locator(".noUi-handle")
        handle.click()   # a click without a drag changes nothing; it focuses the handle
        # continuous_update=False: the value is sent on key release, one redraw per press.
        at_max = control["value"] is not None and float(control["value"]) >= float(control["max"])
        key = "ArrowLeft" if at_max else "ArrowRight"
        for _ in range(3):
            handle.press(key)
            page.wait_for_timeout(150)
        return f"slider {key} x3"
    if control["kind"] == "dropdown":
        select = first.locator("select")
        n, i = control["options"], control["selectedIndex"]
        target = i + 1 if i + 1 < n else i - 1
        select.select_option(index=target)
        return f"dropdown option {i} -> {target}"
    raise AssertionError(f"first control of the explore() widget is neither a slider nor a dropdown: {control}")


@pytest.mark.parametrize("name", NOTEBOOKS, ids=[n.removesuffix(".ipynb") for n in NOTEBOOKS])
def test_notebook_runs_and_its_widget_redraws(name, lab_server, browser, screenshot_dir, run_timeout):
    stem = name.removesuffix(".ipynb")
    lab_server.shutdown_sessions()   # a fresh kernel for each notebook
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page_errors = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    shots, failures, widget_note = [], [], "no widget (not a lesson)"
    t0 = time.monotonic()
    state = outputs = None
    t_open = t_run = 0.0
    seen_bars = 0
    try:
        # ?reset: a clean workspace, just this notebook in the main area.
        page.goto(f"{lab_server.url}/lab/tree/{name}?token={lab_server.token}&reset", timeout=60_000)
        _wait(page, JS_READY, name, bool, 90, f"{name} to open with an idle kernel")
        t_open = time.monotonic() - t0

        t1 = time.monotonic()
        page.evaluate(JS_RUN_ALL, name)

        def done(s):
            nonlocal seen_bars
            seen_bars = max(seen_bars, s["progressBars"])
            return (s["runAll"] != "pending" and s["kernel"] == "idle" and s["notRun"] == 0
                    and s["running"] == 0)

        state = _wait(page, JS_STATE, name, done, run_timeout, f"all cells of {name} to run")
        # Idle once more after a short pause: a display can trail the last reply.
        page.wait_for_timeout(1000)
        state = _wait(page, JS_STATE, name, done, 30, f"{name} to settle")
        t_run = time.monotonic() - t1
        outputs = page.evaluate(JS_OUTPUTS, name)
        if state["runAll"] is not True:
            failures.append(f"notebook:run-all-cells resolved to {state['runAll']!r} (false: a cell failed)")

        index = page.evaluate(JS_EXPLORE_CELL, name)
        if not stem.startswith("00"):
            if index < 0:
                failures.append("no cell calls explore(")
            else:
                widget_note = _exercise_widget(page, name, index, stem, screenshot_dir, shots, failures)
                outputs = page.evaluate(JS_OUTPUTS, name)   # again: the redraws may have failed

        full = screenshot_dir / f"{stem}.png"
        height = _full_screenshot(page, name, full)
        shots.insert(0, full)
        if height > MAX_SHOT_HEIGHT:
            widget_note += f"; notebook {height}px tall, full screenshot cut at {MAX_SHOT_HEIGHT}px"
    except Exception:
        shot = screenshot_dir / f"{stem}.failure.png"
        try:
            page.screenshot(path=str(shot))
            shots.append(shot)
        except Exception:
            pass
        raise
    finally:
        cells = state["cells"] if state else "?"
        n_err = len(outputs["errors"]) + len(outputs["dom"]) if outputs else "?"
        n_warn = len(outputs["stderr"]) if outputs else "?"
        line = (f"{stem}: {cells} code cells run in {time.monotonic() - t0:.0f} s, errors: {n_err}, "
                f"stderr warnings: {n_warn}, {widget_note}; screenshots: {', '.join(str(s) for s in shots) or 'none'}")
        if outputs:
            line += "".join(f"\n    stderr  {s}" for s in outputs["stderr"])
            line += "".join(f"\n    ERROR   {s}" for s in outputs["errors"] + outputs["dom"])
            line += "".join(f"\n    WIDGET  {s}" for s in outputs["widgetProblems"])
        if state:
            line += f"\n    (opened in {t_open:.1f} s, run-all {t_run:.1f} s, progress bars seen: {seen_bars})"
        line += "".join(f"\n    page error: {e[:200]}" for e in page_errors)
        SUMMARY.append(line)
        context.close()
        lab_server.shutdown_sessions()

    assert not outputs["errors"], "error outputs:\n" + "\n".join(outputs["errors"])
    assert not outputs["dom"], "tracebacks shown in the page:\n" + "\n".join(outputs["dom"])
    assert not outputs["widgetProblems"], "widgets that did not render:\n" + "\n".join(outputs["widgetProblems"])
    assert not failures, "\n".join(failures)


def _exercise_widget(page, name, index, stem, screenshot_dir, shots, failures):
    """Check the explore() widget's first figure, move its first control, wait for the redraw."""
    page.evaluate(_with_panel("""([path, i]) => {
                      const PATH = path; const w = PANEL; const node = w.content.widgets[i].node;
                      w.content.activeCellIndex = i; node.setAttribute('data-labkit-explore', '');
                      node.scrollIntoView({block: 'start'}); }"""), [name, index])
    cell = page.locator(".jp-Cell[data-labkit-explore]")
    before = _wait(page, JS_WIDGET, [name, index], lambda s: s["box"] and s["loaded"], WIDGET_TIMEOUT_S,
                   "the explore() widget to show a loaded figure")
    control = before["control"]
    if control is None:
        failures.append("the explore() widget has no control")
        return "widget without controls"
    page.wait_for_timeout(500)
    shot = screenshot_dir / f"{stem}.widget-before.png"
    cell.screenshot(path=str(shot))
    shots.append(shot)

    t = time.monotonic()
    how = _move_first_control(page, cell, control)
    try:
        _wait(page, JS_WIDGET, [name, index], lambda s: s["src"] and s["src"] != before["src"],
              WIDGET_TIMEOUT_S, f"the figure to change after moving {control['label']!r}")
    except AssertionError as e:
        failures.append(str(e).replace(before["src"] or "", "<data>"))
    t_first = time.monotonic() - t
    # Let every queued redraw finish: kernel idle and the image unchanged for a second.
    last = {"src": None}

    def settled(s):
        stable = s["kernel"] == "idle" and s["src"] == last["src"] and s["loaded"]
        last["src"] = s["src"]
        return stable

    after = _wait(page, JS_WIDGET, [name, index], settled, WIDGET_TIMEOUT_S, "the widget to settle", poll_s=1.0)
    t_all = time.monotonic() - t
    page.evaluate(_with_panel("""([path, i]) => { const PATH = path; const w = PANEL;
                                    w.content.widgets[i].node.scrollIntoView({block: 'start'}); }"""), [name, index])
    page.wait_for_timeout(500)
    shot = screenshot_dir / f"{stem}.widget-after.png"
    cell.screenshot(path=str(shot))
    shots.append(shot)
    shot = screenshot_dir / f"{stem}.widget-view.png"   # what the learner's screen shows
    page.screenshot(path=str(shot))
    shots.append(shot)

    changed = after["src"] != before["src"]
    if not changed:
        failures.append(f"the figure did not change after moving {control['label']!r} ({how})")
    if not after["loaded"]:
        failures.append("the figure in the widget did not load (naturalWidth 0)")
    new_value = after["control"]["value"] if after["control"] else None
    if new_value == control["value"]:
        failures.append(f"the control {control['label']!r} still shows {new_value} after {how}")
    return (f"widget {control['kind']} {control['label']!r} {control['value']} -> {new_value} ({how}): "
            f"figure {'changed' if changed else 'NOT changed'} ({_digest(before['src'])} -> {_digest(after['src'])}, "
            f"first change after {t_first:.1f} s, settled after {t_all:.1f} s, "
            f"{after['naturalWidth']}x{after['naturalHeight']} px shown {after['shownWidth']:.0f} px wide "
            f"in a {after['boxWidth']:.0f} px widget)")
