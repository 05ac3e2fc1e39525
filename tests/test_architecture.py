"""labkit's architecture, checked: a strict import chain, no import-time side effects,
records read by name, and each Lab's state its own."""

import ast
import json
import pathlib
import subprocess
import sys

import pandas as pd
import pytest

import labkit as lk

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "labkit"
# Modules that are data, not code of the package: handler files a lesson deploys, the site's
# Sphinx configuration, the code zipped for real AWS.
NOT_PACKAGE_CODE = ("handlers", "site", "shim")


def _modules():
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if any(part in NOT_PACKAGE_CODE for part in rel.parts[1:-1]):
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module, is_package, node):
    """The labkit modules an import statement names (relative imports resolved)."""
    names = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
    found = set()
    for name in names:
        # the longest labkit module that the name is, or is inside
        parts = name.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in MODULES:
                found.add(candidate)
                break
            parts.pop()
    found.discard(module)
    return found


def _imports():
    """module -> (labkit modules imported at module level, imports made inside functions)."""
    graph, inner = {}, {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        top, nested = set(), []
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        in_function = {id(n) for f in functions for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                top |= _resolve(module, is_package, node)
                if id(node) in in_function:
                    nested.append((node.lineno, ast.unparse(node)))
        graph[module], inner[module] = top, nested
    return graph, inner


GRAPH, INNER = _imports()


def _cycle(graph):
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_import_graph_has_no_cycle():
    # A package's __init__ re-exports its modules, so "a.b imports a" is not a cycle of
    # concepts; count an import of a package as an import of the modules it names only.
    graph = {m: {n for n in deps if not (m.startswith(n + ".") and MODULES[n].name == "__init__.py")}
             for m, deps in GRAPH.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_imports_inside_functions():
    offenders = {m: lines for m, lines in INNER.items() if lines}
    assert offenders == {}


def test_importing_labkit_changes_nothing_outside_it():
    probe = (
        "import json, logging, os, sys\n"
        "env = dict(os.environ); handlers = list(logging.getLogger().handlers); mods = set(sys.modules)\n"
        "import labkit\n"
        "new = sorted(m for m in set(sys.modules) - mods if m.split('.')[0] in ('pymysql', 'dbutils'))\n"
        "print(json.dumps({'env': dict(os.environ) == env, 'handlers': logging.getLogger().handlers == handlers,\n"
        "                  'fakes': new}))\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "AWS_DEFAULT_REGION"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT,
                         check=True)
    assert json.loads(out.stdout) == {"env": True, "handlers": True, "fakes": []}


def test_creating_a_lab_installs_the_kernel_hooks_once():
    import logging
    import os
    lk.Lab(seed=1)
    lk.Lab(seed=2)
    assert os.environ.get("AWS_DEFAULT_REGION")
    mine = [h for h in logging.getLogger().handlers if type(h).__module__ == "labkit.logcapture"]
    assert len(mine) == 1


# Variables that hold records in labkit: none may be read by position.
RECORD_NAMES = {"row", "rec", "record", "entry", "last_row", "r"}


def test_no_record_is_read_by_number():
    offenders = []
    for path in list(MODULES.values()) + sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                    and node.value.id in RECORD_NAMES and isinstance(node.slice, ast.Constant)
                    and isinstance(node.slice.value, int)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


def test_a_run_is_a_value_that_later_time_does_not_change():
    lab = lk.Lab(seed=1)
    src = ("import labkit as lk\n"
           "def handler(event, context):\n"
           "    lk.sleep(1)\n"
           "    return event['n']\n")
    fn = lab.function(source=src, name="slow", timeout_s=30)
    q = lab.sqs_queue("jobs", visibility_timeout_s=60)
    lab.event_source_mapping(fn, q, batch_size=1)
    run = lab.send(q, lk.workload.burst(20), until_s=0.5)
    before = (run.event_states(), run.events, run.environments, run.lifecycle, run.invocations)
    lab.advance(3600)                                     # everything settles, environments are reclaimed
    lab.invoke(fn, lk.workload.burst(5))
    after = (run.event_states(), run.events, run.environments, run.lifecycle, run.invocations)
    assert before[0] == after[0]
    for a, b in zip(before[1:], after[1:], strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert run.event_states().get("pending")              # still pending *as of that run's end*


@pytest.mark.parametrize("first_seed", [1, 2])
def test_a_labs_results_do_not_depend_on_other_labs_in_the_process(first_seed):
    src = ("import boto3\n"
           "table = boto3.resource('dynamodb').Table('counts')\n"
           "def handler(event, context):\n"
           "    table.update_item(Key={'id': 'c'}, UpdateExpression='ADD n :one',\n"
           "                      ExpressionAttributeValues={':one': 1})\n"
           "    return event['n']\n")

    def experiment(seed):
        lab = lk.Lab(seed=seed)
        lab.dynamodb_table("counts")
        fn = lab.function(source=src, name="count")
        run = lab.invoke(fn, lk.workload.poisson(50, 2))
        return run.invocations.drop(columns=["response"]), lab.services.calls

    alone = experiment(3)
    experiment(first_seed)          # another Lab, before and beside
    again = experiment(3)
    for a, b in zip(alone, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
