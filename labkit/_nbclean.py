"""Keep committed notebooks clean: ``python -m labkit._nbclean notebooks/*.ipynb``.

Widget views need their kernel: a stored view would show "model not found" to a
learner who opens the notebook before running it, and saved widget state changes
with every execution (random model ids). So widget-view outputs and widget state
are dropped; the lesson's static figure shows the same exploration.
"""

import sys

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean(path):
    nb = nbformat.read(path, as_version=4)
    changed = nb.metadata.pop("widgets", None) is not None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
        if len(kept) != len(cell.get("outputs", [])):
            cell.outputs = kept
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for p in sys.argv[1:]:
        if clean(p):
            print(f"cleaned {p}")
