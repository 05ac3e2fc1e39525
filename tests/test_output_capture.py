"""Everything handler code writes to stdout and stderr goes to its invocation's log, line by line."""

import sys

import labkit as lk

SRC = '''import pprint, sys, traceback
print("init line")
sys.stderr.write("init err\\n")
def handler(event, context):
    print("a", end="")
    sys.stdout.write("b")
    print("c")
    sys.stdout.write("two\\nlines\\n")
    print("to stderr", file=sys.stderr)
    sys.stdout.writelines(["x\\n", "y\\n"])
    sys.stdout.buffer.write("bytes é\\n".encode())
    pprint.pprint({"library": "pprint"})
    try:
        1 / 0
    except ZeroDivisionError:
        traceback.print_exc()
    sys.stdout.write("open at the end")
    return event["n"]
'''


def test_prints_writes_and_library_output_go_to_the_invocations_log(capsys):
    lab = lk.Lab(seed=1)
    run = lab.invoke(lab.function(source=SRC), lk.workload.sequential(2))
    first, second = (run.log(rid) for rid in run.invocations["request_id"])
    body = first[1:-2]
    assert body[:2] == ["init line", "init err"]
    assert body[2:9] == ["abc", "two", "lines", "to stderr", "x", "y", "bytes é"]
    assert body[9] == "{'library': 'pprint'}"
    assert "Traceback (most recent call last):" in body
    assert body[-2] == "ZeroDivisionError: division by zero"
    assert body[-1] == "open at the end"
    assert second[1] == "abc"                       # the open line of the first call stayed there
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""          # nothing reached the notebook


def test_the_kernels_own_output_is_untouched_and_streams_are_restored(capsys):
    lab = lk.Lab(seed=1)
    before = sys.stdout, sys.stderr

    def payload(i):
        print(f"kernel {i}")           # runs in the kernel while the run steps
        return {"n": i}
    run = lab.invoke(lab.function(source=SRC), lk.workload.sequential(2, payload=payload))
    assert capsys.readouterr().out == "kernel 0\nkernel 1\n"
    assert run.log(run.invocations["request_id"][0])[3] == "abc"
    # Handler code that replaces sys.stdout changes it until the run ends, then it is put back.
    src = "import sys\ndef handler(event, context):\n    sys.stdout = None\n    print('mine')\n    return 1\n"
    run = lab.invoke(lab.function(source=src), lk.workload.sequential(1))
    assert (sys.stdout, sys.stderr) == before
    assert run.log(run.invocations["request_id"][0])[1] == "mine"


def test_streams_are_restored_when_a_run_is_interrupted():
    lab = lk.Lab(seed=1)
    src = "def handler(event, context):\n    raise KeyboardInterrupt\n"
    before = sys.stdout, sys.stderr
    try:
        lab.invoke(lab.function(source=src), lk.workload.sequential(1))
    except BaseException:
        pass
    assert (sys.stdout, sys.stderr) == before
