"""Every lesson's widget redraws inside its own Output area, in a real kernel.

nbval cannot see this (widget cells are excluded from it, and nothing there moves a
control). Here a real ipykernel runs the lesson up to its ``explore(...)`` cell; the
test then sends the first control a new value through the widget's comm, exactly as
JupyterLab does, and watches the kernel's iopub messages the way the front-end does:
an output belongs to the Output widget only while that widget's ``msg_id`` names the
output's parent message. The test passes only if a new PNG arrives there.
"""

from __future__ import annotations

import base64
import os
import pathlib
import queue

import nbformat
import pytest

jupyter_client = pytest.importorskip("jupyter_client")
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(p for p in NOTEBOOKS.glob("0[1-9]-*.ipynb")
                 if any("explore(" in c.source for c in nbformat.read(p, as_version=4).cells))
TIMEOUT_S = 240


class Kernel:
    """A real ipykernel, spoken to over its channels like a front-end."""

    def __init__(self, cwd):
        # As under `make lab`: no MPLBACKEND, so the kernel picks matplotlib's inline backend.
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        env.setdefault("PYTHONHASHSEED", "0")
        # jupyter_client runs "python3"'s "python" as this very interpreter (sys.executable).
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd), env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def execute(self, code):
        """Run one cell; return its iopub messages (until the kernel is idle again)."""
        msg_id = self.kc.execute(code, store_history=False)
        return self.collect(msg_id)

    def send_comm(self, comm_id, data):
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def collect(self, parent_id):
        msgs = []
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"no answer from the kernel within {TIMEOUT_S} s") from None
            msgs.append(msg)
            if (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                    and msg["parent_header"].get("msg_id") == parent_id):
                return msgs

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


class WidgetModels:
    """The widget models a front-end would hold, kept up to date from iopub messages."""

    def __init__(self):
        self.state = {}

    def feed(self, msg):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open" and content.get("target_name") == "jupyter.widget":
            self.state[content["comm_id"]] = dict(content["data"]["state"])
        elif kind == "comm_msg" and content["comm_id"] in self.state:
            data = content["data"]
            if data.get("method") in ("update", "echo_update"):
                self.state[content["comm_id"]].update(data["state"])
        elif kind == "comm_close":
            self.state.pop(content["comm_id"], None)

    def of(self, model_name):
        return [k for k, s in self.state.items() if s.get("_model_name") == model_name]


def _pngs_inside(msgs, models, output_id):
    """PNGs that a front-end would show inside the Output widget ``output_id``: outputs
    whose parent message is the one the Output's ``msg_id`` names at that moment."""
    pngs, errors = [], []
    for msg in msgs:
        models.feed(msg)
        if msg["msg_type"] in ("display_data", "execute_result", "error", "stream"):
            owner = models.state.get(output_id, {}).get("msg_id")
            if owner and msg["parent_header"].get("msg_id") == owner:
                if msg["msg_type"] == "error":
                    errors.append(msg["content"]["ename"] + ": " + msg["content"]["evalue"])
                elif "image/png" in msg["content"].get("data", {}):
                    pngs.append(base64.b64decode(msg["content"]["data"]["image/png"]))
            if msg["msg_type"] == "error":
                errors.append(msg["content"]["ename"] + ": " + msg["content"]["evalue"])
    return pngs, errors


def _new_value(state):
    """A different position for a control, as a learner would pick it."""
    if "index" in state and state.get("_options_labels") is not None:
        n = len(state["_options_labels"])
        return {"index": (state["index"] + 1) % n}
    lo, hi, v = state["min"], state["max"], state["value"]
    return {"value": hi if v != hi else lo}


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_moving_the_first_control_redraws_inside_the_widget(path):
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    upto = next(i for i, src in enumerate(cells) if "explore(" in src)
    kernel = Kernel(path.parent)
    try:
        for src in cells[:upto]:
            for msg in kernel.execute(src):
                assert msg["msg_type"] != "error", (src[:80], msg["content"].get("evalue"))
        models = WidgetModels()
        msgs = kernel.execute(cells[upto])
        for msg in msgs:
            models.feed(msg)
        boxes = [k for k, s in models.state.items() if s.get("_model_name") == "VBoxModel"
                 and any(c == f"IPY_MODEL_{o}" for o in models.of("OutputModel") for c in s.get("children", []))]
        assert boxes, "explore() displayed no widget with an Output area"
        children = [c[len("IPY_MODEL_"):] for c in models.state[boxes[-1]]["children"]]
        [output_id] = [c for c in children if models.state[c]["_model_name"] == "OutputModel"]
        first = children[0]
        assert models.state[first]["_model_name"] != "OutputModel"
        # The first figure too belongs inside the widget, not below the cell.
        first_pngs, errors = _pngs_inside(msgs, WidgetModels(), output_id)
        assert not errors, errors
        assert len(first_pngs) == 1, f"{len(first_pngs)} figures inside the widget after the cell ran"

        parent = kernel.send_comm(first, {"method": "update", "state": _new_value(models.state[first]),
                                          "buffer_paths": []})
        pngs, errors = _pngs_inside(kernel.collect(parent), models, output_id)
        assert not errors, errors
        assert pngs, "the widget's Output area received no new figure"
        assert pngs[-1] != first_pngs[0], "the figure did not change"
        if "applies=lesson05.KINESIS_ONLY" in cells[upto]:
            # Kinesis -> SQS standard: shards and ParallelizationFactor no longer apply.
            labels = {models.state[c].get("description"): models.state[c] for c in children[1:-1]}
            assert labels["shards"]["disabled"] and labels["parallelization_factor"]["disabled"]
            assert not labels["documents"]["disabled"]
    finally:
        kernel.close()
