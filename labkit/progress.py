"""Running the simulation loop, with a progress bar for long runs in JupyterLab.

A bar appears only when a run has already taken ``SHOW_AFTER_S`` of wall time,
only inside a Jupyter kernel, and never when ``CI`` or ``LABKIT_NO_PROGRESS``
is set (``make test`` sets it for nbval), so stored notebook outputs stay exact.
"""

import math
import os
import time

SHOW_AFTER_S = 2.0
_STEPS = 100


def _wanted():
    if os.environ.get("CI") or os.environ.get("LABKIT_NO_PROGRESS"):
        return False
    try:
        from IPython import get_ipython
        ip = get_ipython()
    except ImportError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def run_until(env, done, t0, horizon_s):
    """Run ``env`` until ``done`` fires (or nothing is left to happen)."""
    if horizon_s <= 0 or not _wanted():
        _run(env, done)
        return
    wall0 = time.perf_counter()
    step = horizon_s / _STEPS
    bar = None
    target = t0
    while not done.triggered and env.peek() != math.inf:
        target = max(target + step, env.now)
        try:
            env.run(until=min(target, env.peek() + step) if env.peek() > target else target)
        except ValueError:
            pass
        if bar is None and time.perf_counter() - wall0 > SHOW_AFTER_S:
            bar = _make_bar()
        if bar is not None:
            bar.value = min(100, int(100 * (env.now - t0) / horizon_s))
    _run(env, done)
    if bar is not None:
        bar.close()


def _run(env, done):
    if done.triggered:
        return
    if env.peek() == math.inf:
        return
    env.run(until=done)


def _make_bar():
    try:
        import ipywidgets as w
        from IPython.display import display
    except ImportError:
        return None
    bar = w.IntProgress(min=0, max=100, description="simulating")
    display(bar)
    return bar
