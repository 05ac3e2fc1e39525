"""The committed notebooks: executed, clean, and shaped like lessons.

nbval (``make test``) re-runs them and compares outputs; these checks catch what
nbval cannot: a cell left unexecuted, widget state, a missing lesson element.
"""

import pathlib
import re

import nbformat
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
LESSONS = [p for p in NOTEBOOKS if not p.name.startswith("00-")]


def _nb(path):
    return nbformat.read(path, as_version=4)


def _text(nb, kind=None):
    return "\n".join(c.source for c in nb.cells if kind is None or c.cell_type == kind)


def test_all_seven_notebooks_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_without_errors_or_widget_state(path):
    nb = _nb(path)
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        assert cell.execution_count is not None, cell.source[:80]
        for out in cell.outputs:
            assert out.output_type != "error", cell.source[:80]
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_genuinely_varying_outputs_are_excluded_from_nbval(path):
    for cell in _nb(path).cells:
        if "nbval-ignore-output" in cell.metadata.get("tags", []) or "NBVAL_IGNORE_OUTPUT" in cell.source:
            # versions (the setup check) and live widgets only
            assert "explore(" in cell.source or "__version__" in cell.source, cell.source[:120]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_shape(path):
    nb = _nb(path)
    md, code = _text(nb, "markdown"), _text(nb, "code")
    assert re.search(r"objectives|You will learn", md, re.I)
    assert re.search(r"\b\d+ minutes", md)
    assert re.search(r"prerequisite", md, re.I)
    assert "my_prediction" in code or re.search(r"predict", md, re.I)
    assert "explore(" in code and "static_figure(" in code
    for call in (".check(", ".hint(", ".solution("):
        assert code.count(call) + md.count(call) >= 2, call
    assert re.search(r"takeaways", md, re.I)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_links_to_other_notebooks_resolve(path):
    for target in re.findall(r"\((\d\d-[\w-]+\.ipynb)\)", _text(_nb(path), "markdown")):
        assert (path.parent / target).exists(), target
