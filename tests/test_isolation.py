"""Honest isolation of simulated handler code (labkit.isolation), through a real Lab: what a
Lambda function cannot reach fails as on Lambda or with a clear labkit error, and the kernel's
own code is unaffected."""

import os
import pathlib
import shutil
import socket
import sys
import tempfile

import pytest

import labkit as lk
from labkit import facts, isolation

PROBE = r'''
import os, socket, subprocess, pathlib, io, shutil, tempfile, sqlite3, urllib.request
def attempt(f):
    try:
        r = f()
        return "ok" if r is None else r
    except Exception as e:
        return f"{type(e).__name__}: {e}"
def handler(event, context):
    return {name: attempt(CASES[name]) for name in event["cases"]}
'''


def _probe(cases, **options):
    lab = lk.Lab(seed=1)
    fn = lab.function(source=PROBE + "CASES = {" + ",".join(f"{k!r}: lambda: {v}" for k, v in cases.items()) + "}\n",
                      **options)
    run = lab.invoke(fn, [{"cases": list(cases)}])
    assert run.invocations["outcome"][0] == "success", run.invocations["error_message"][0]
    return run.invocations["response"][0], run


def test_the_real_network_is_refused_with_a_clear_error():
    out, run = _probe({
        "connect": "socket.create_connection(('192.0.2.1', 443), timeout=1)",
        "dns": "socket.getaddrinfo('example.com', 443)",
        "udp": "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.1', 53))",
        "bind": "socket.socket().bind(('127.0.0.1', 0))",
    })
    for name, result in out.items():
        assert result.startswith("ConnectionRefusedError: [Errno 111] labkit refused socket."), (name, result)
        assert "simulated services" in result
    assert any(line.startswith("[labkit] refused socket.") for line in run.log_lines())


def test_requests_and_a_real_botocore_client_cannot_reach_aws():
    pytest.importorskip("requests")
    out, run = _probe({
        "requests": "__import__('requests').get('https://example.com', timeout=1)",
        "botocore": "__import__('botocore.session').session.get_session().create_client("
                    "'s3', region_name='us-east-1').list_buckets()",
    })
    assert out["requests"].startswith("ConnectionError") and "labkit refused" in out["requests"]
    assert out["botocore"].startswith("EndpointConnectionError")
    assert sum("[labkit] refused socket.getaddrinfo" in line for line in run.log_lines()) >= 2


def test_a_real_botocore_client_sees_the_placeholder_credentials_not_the_kernels(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAKERNELREALKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kernel-secret")
    out, _ = _probe({"key": "__import__('botocore.session').session.get_session().get_credentials().access_key",
                     "env": "os.environ['AWS_SECRET_ACCESS_KEY']"})
    assert out == {"key": isolation.FAKE_ACCESS_KEY_ID, "env": isolation.FAKE_SECRET_ACCESS_KEY}
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAKERNELREALKEY"


def test_processes_are_refused():
    out, _ = _probe({"run": "subprocess.run(['true'])", "system": "os.system('true')",
                     "popen": "os.popen('true').read()", "exec": "os.execv('/bin/true', ['true'])",
                     "spawn": "os.posix_spawn('/bin/true', ['true'], {})", "kill": "os.kill(os.getpid(), 0)",
                     "fork": "os.fork()"})
    for name, result in out.items():
        assert result.startswith("PermissionError: [Errno 1] labkit refused"), (name, result)


@pytest.fixture
def outside_tmp():
    """A folder outside /tmp (under /tmp, handler code would see its own /tmp instead): next to
    this file, or in the home folder when the checkout itself lies under /tmp (CI clones there)."""
    base = pathlib.Path(__file__).resolve().parent
    if str(base) == "/tmp" or str(base).startswith("/tmp/"):
        base = pathlib.Path.home()
    if str(base).startswith("/tmp"):
        pytest.skip("no writable folder outside /tmp")
    path = pathlib.Path(tempfile.mkdtemp(prefix=".isolation-test-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_writes_outside_tmp_fail_as_on_lambda_and_reading_is_allowed(outside_tmp):
    tmp_path = outside_tmp
    target = tmp_path / "notebook-folder-file.txt"
    target.write_text("precious")
    t = repr(str(target))
    out, _ = _probe({
        "open_w": f"open({t}, 'w')", "open_a": f"open({t}, 'a')", "open_rplus": f"open({t}, 'r+')",
        "os_open": f"os.open({t}, os.O_WRONLY)", "remove": f"os.remove({t})", "rename": f"os.rename({t}, {t} + '2')",
        "mkdir": f"os.mkdir({t} + 'd')", "chmod": f"os.chmod({t}, 0o777)",
        "rmtree": f"shutil.rmtree({repr(str(tmp_path))})",
        "copy_out": f"shutil.copy({t}, {t} + '.bak')", "pathlib": f"pathlib.Path({t}).write_text('x')",
        "relative": "open('output.csv', 'w')", "sqlite": "sqlite3.connect('local.db')",
        "read": f"open({t}).read()", "read_path": f"pathlib.Path({t}).read_text()",
    })
    for name in ("open_w", "open_a", "open_rplus", "os_open", "remove", "rename", "mkdir", "chmod", "copy_out",
                 "pathlib", "rmtree"):
        assert out[name].startswith("OSError: [Errno 30] Read-only file system: '"), (name, out[name])
    assert out["open_w"] == f"OSError: [Errno 30] Read-only file system: {t}"
    assert out["relative"] == "OSError: [Errno 30] Read-only file system: 'output.csv'"
    assert out["sqlite"] == "OSError: [Errno 30] Read-only file system: 'local.db'"
    assert out["read"] == out["read_path"] == "precious"
    assert target.read_text() == "precious" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert not os.path.exists("output.csv")


def test_pathlib_io_shutil_tempfile_and_sqlite_see_the_environments_own_tmp():
    src = r'''
import io, os, pathlib, shutil, sqlite3, tempfile
from pathlib import Path
import labkit as lk
def handler(event, context):
    Path("/tmp/a.txt").write_text(event["who"])
    with io.open("/tmp/b.txt", "w") as f:
        f.write("b")
    shutil.copy("/tmp/a.txt", "/tmp/c.txt")
    with tempfile.NamedTemporaryFile("w", delete=False, suffix=".t") as f:
        f.write("t")
    db = sqlite3.connect("/tmp/db.sqlite")
    db.execute("create table if not exists t(x)")
    db.execute("insert into t values (1)")
    db.commit()
    lk.sleep(1)
    return {"files": sorted(p.name for p in Path("/tmp").iterdir() if not p.name.endswith(".t")),
            "a": Path("/tmp/a.txt").read_text(), "temp_in_own_tmp": os.path.exists(f.name),
            "rows": db.execute("select count(*) from t").fetchone()[0],
            "str": str(Path("/tmp/a.txt")), "glob": sorted(str(p) for p in Path("/tmp").glob("*.txt"))}
'''
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src)
    run = lab.invoke(fn, lk.workload.parallel(2, payload=lambda i: {"who": ["first", "second"][i]}))
    r1, r2 = run.invocations.sort_values("environment_id")["response"]
    assert r1["files"] == r2["files"] == ["a.txt", "b.txt", "c.txt", "db.sqlite"]
    assert {r1["a"], r2["a"]} == {"first", "second"} and r1["rows"] == r2["rows"] == 1
    assert r1["temp_in_own_tmp"] and r1["str"] == "/tmp/a.txt"
    assert r1["glob"] == ["/tmp/a.txt", "/tmp/b.txt", "/tmp/c.txt"]
    assert not os.path.exists("/tmp/a.txt") or open("/tmp/a.txt").read() not in ("first", "second")
    again = lab.invoke(fn, [{"who": "third"}]).invocations["response"][0]
    assert again["rows"] == 2                                  # /tmp persists in the warm environment


def test_writing_the_machines_real_tmp_through_a_library_is_refused_clearly():
    out, _ = _probe({"real": "__import__('builtins').open('/tmp/labkit-test-real-tmp', 'w')",
                     "other_env": "__import__('builtins').open(__import__('tempfile').gettempdir() + '/../x', 'w')"})
    assert out["real"].startswith("PermissionError: [Errno 13] labkit: this writes to the machine's real /tmp")
    assert out["other_env"].startswith("PermissionError")
    assert not os.path.exists("/tmp/labkit-test-real-tmp")


def test_os_environ_is_per_environment_with_lambdas_variables_and_the_functions_own():
    src = r'''
import os
INIT = dict(os.environ)
def handler(event, context):
    before = os.environ.get("COUNT", "0")
    os.environ["COUNT"] = str(int(before) + 1)
    os.putenv("IGNORED", "1")
    if event.get("drop"):
        del os.environ["TABLE"]
    import labkit as lk
    lk.sleep(event.get("s", 0))
    return {"init": INIT, "count": os.environ["COUNT"], "table": os.getenv("TABLE"), "n": len(os.environ)}
'''
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, name="orders-api", memory_mb=256, environment={"TABLE": "orders", "LANG": "C"})
    kernel_env = dict(os.environ)
    run = lab.invoke(fn, lk.workload.parallel(2, payload=lambda i: {"s": 1}))   # two environments at once
    r1, r2 = run.invocations["response"]
    init = r1["init"]
    assert init["AWS_LAMBDA_FUNCTION_NAME"] == "orders-api"
    assert init["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert init["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert init["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders-api"
    assert init["AWS_LAMBDA_LOG_STREAM_NAME"].startswith("2026/01/01/[$LATEST]")
    assert init["AWS_REGION"] == init["AWS_DEFAULT_REGION"] == "us-east-1"
    assert init["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}"
    assert init["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert init["_HANDLER"] == "lambda_function.handler"
    assert init["LAMBDA_TASK_ROOT"] == "/var/task" and init["TZ"] == facts.ENV_VARS_RUNTIME["TZ"]
    assert init["AWS_ACCESS_KEY_ID"] == isolation.FAKE_ACCESS_KEY_ID and "LABKIT" in init["AWS_ACCESS_KEY_ID"]
    assert init["TABLE"] == "orders" and init["LANG"] == "C"
    assert "HOME" not in init and "PYTHONHASHSEED" not in init     # nothing of the kernel's
    assert r1["count"] == r2["count"] == "1"                   # each environment its own
    warm = lab.invoke(fn, [{"drop": True}, {}]).invocations["response"].tolist()
    assert [w["count"] for w in warm] == ["2", "3"] and warm[1]["table"] is None
    assert dict(os.environ) == kernel_env                      # the kernel's never changed
    assert "COUNT" not in os.environ and os.getenv("IGNORED") is None


def test_a_reset_environment_starts_again_from_the_configuration():
    src = ("import os, labkit as lk\n"
           "def handler(event, context):\n"
           "    before = os.environ['STAGE']\n"
           "    os.environ['STAGE'] = 'changed'\n"
           "    lk.sleep(event['s'])\n"
           "    return before\n")
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, timeout_s=1, environment={"STAGE": "prod"})
    inv = lab.invoke(fn, lk.workload.sequential(4, payload=lambda i: {"s": 5 if i == 2 else 0})).invocations
    assert inv["outcome"].tolist() == ["success", "success", "timeout", "success"]
    assert inv["response"].tolist()[:2] == ["prod", "changed"]
    assert inv["response"][3] == "prod"                        # re-initialised after the timeout


def test_provisioned_environments_say_so():
    src = "import os\nTYPE = os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\ndef handler(e, c):\n    return TYPE\n"
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, provisioned_concurrency=1)
    assert lab.invoke(fn, [{}]).invocations["response"][0] == "provisioned-concurrency"


@pytest.mark.parametrize("variables, text", [
    ({"AWS_REGION": "eu-west-1", "OK": "1"}, "Reserved keys used in this request: AWS_REGION"),
    ({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
     "Reserved keys used in this request: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"),
    ({"_HANDLER": "x"}, "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"),
    ({"1ABC": "x"}, "Invalid keys used in this request: 1ABC"),
    ({"A": "x"}, "Invalid keys used in this request: A"),            # at least two characters
    ({"BIG": "x" * 4096}, "exceeded the 4KB limit. String measured: {\"BIG\":"),
    ({"NUM": 1}, "is not a str"),
    (["A", "B"], "a dict of variable names to string values"),
])
def test_environment_variables_are_checked_like_aws(variables, text):
    lab = lk.Lab(seed=1)
    with pytest.raises(lk.InvalidParameterValueException) as e:
        lab.function(source="def handler(e, c):\n    return 1\n", environment=variables)
    assert text in str(e.value)


def test_the_size_limit_counts_the_compact_json_of_all_variables():
    body = 4096 - len('{"KEY":""}')
    lk.FunctionConfig(environment={"KEY": "x" * body})                    # exactly 4 KB
    with pytest.raises(lk.InvalidParameterValueException):
        lk.FunctionConfig(environment={"KEY": "x" * (body + 1)})
    assert lk.FunctionConfig(environment={"KEY": "v"}).environment == {"KEY": "v"}
    hash(lk.FunctionConfig(environment={"KEY": "v"}))                    # still a frozen, hashable config


def test_the_kernels_own_code_is_unaffected_during_a_run(tmp_path):
    out_file = tmp_path / "kernel.txt"

    def payload(i):                                  # kernel code, running while the simulation steps
        with open(out_file, "a") as f:
            f.write(f"{i}\n")
        os.environ["LABKIT_KERNEL_PROBE"] = str(i)
        socket.getaddrinfo("localhost", 80)          # allowed outside handler code
        return {"n": i}
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(e, c):\n    return e['n']\n")
    lab.invoke(fn, lk.workload.sequential(3, payload=payload))
    assert out_file.read_text() == "0\n1\n2\n"
    assert os.environ.pop("LABKIT_KERNEL_PROBE") == "2"


def test_library_sleeps_inside_a_handler_pass_simulated_time():
    src = ("import time as real_time_module\n"
           "sleep = __import__('importlib').import_module('time').sleep\n"   # the real one, as a library has it
           "def handler(e, c):\n"
           "    sleep(30)\n"
           "    return 1\n")
    import time
    lab = lk.Lab(seed=1)
    fn = lab.function(source=src, timeout_s=60)
    t0 = time.perf_counter()
    inv = lab.invoke(fn, [{}]).invocations
    assert time.perf_counter() - t0 < 5
    assert inv["duration_ms"][0] == pytest.approx(30_000)
