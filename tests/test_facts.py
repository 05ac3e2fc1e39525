"""Every AWS constant lives once in labkit.facts, with its source and the date it was checked."""

import pathlib
import re

from labkit import facts

LABKIT = pathlib.Path(facts.__file__).parent


def test_every_constant_has_a_source_and_a_date():
    names = [n for n in dir(facts) if n.isupper() and not n.startswith("_") and n != "SOURCES"]
    missing = [n for n in names if n not in facts.SOURCES]
    assert not missing, f"constants without a SOURCES entry: {missing}"
    for name, (source, checked) in facts.SOURCES.items():
        assert hasattr(facts, name), f"SOURCES names {name}, which facts.py does not define"
        assert source.strip()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", checked)


def test_unconfirmed_values_say_so():
    for name in ("IDLE_RECLAIM_S", "RUNTIME_INIT_MS", "THROTTLE_REASON_SCALING"):
        assert "UNCONFIRMED" in facts.SOURCES[name][0]


def test_key_aws_numbers_are_not_hard_coded_elsewhere():
    # The most error-prone numbers of the facts sheet must come from labkit.facts
    # (numbers in code only: prose in docstrings may quote them).
    import ast
    import io
    import tokenize
    banned = {1769.0, 10240.0, 0.0000166667, 0.0000133334, 0.0000002}
    offenders = []
    for path in LABKIT.rglob("*.py"):
        # Lessons may name memory sizes to sweep (1769, 10240 as data points); the model may not.
        if path.name == "facts.py" or path.parent.name == "lessons":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.NUMBER and ast.literal_eval(tok.string) in banned:
                offenders.append(f"{path.name}:{tok.start[0]}: {tok.line.strip()}")
    assert not offenders, offenders
