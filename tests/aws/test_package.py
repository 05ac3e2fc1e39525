"""The deployment package and the account-id mask, without any endpoint."""

import io
import json
import subprocess
import sys
import zipfile

from labkit.aws import resources

HANDLER = '''
import labkit as lk

def handler(event, context):
    lk.sleep(0.01)
    lk.cpu(0.01)
    return {"labkit": lk.__file__, "on_aws": lk.ON_AWS, "n": event["n"]}
'''


def test_zip_holds_the_module_the_shim_and_a_minimal_labkit_and_is_reproducible(tmp_path):
    data = resources.build_zip(HANDLER)
    assert data == resources.build_zip(HANDLER)            # same CodeSha256 for the same source
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == ["labkit/__init__.py", "labkit_handler.py", "labkit_shim.py"]
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    # The shim runs the handler unchanged against the zip's own labkit, and reports its environment.
    code = ("import labkit_shim, types, json; ctx = types.SimpleNamespace(aws_request_id='r-1');"
            "print(json.dumps(labkit_shim.handler({'n': 7}, ctx)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(tmp_path), "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                              "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/05/[$LATEST]abc"}).stdout.splitlines()
    start, end, result = out
    assert start.startswith("LABKIT ") and end.startswith("LABKIT ")
    start, end, result = json.loads(start[7:]), json.loads(end[7:]), json.loads(result)
    assert start["environment_id"] == end["environment_id"] and len(start["environment_id"]) == 32
    assert (start["init_type"], start["request_id"], start["log_stream"]) == ("on-demand", "r-1",
                                                                             "2026/12/05/[$LATEST]abc")
    assert start["t"] <= end["t"] and end["error"] is None
    assert result["on_aws"] is True and result["labkit"].startswith(str(tmp_path)) and result["n"] == 7


def test_mask_keeps_only_the_last_four_digits_of_an_account_id():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:labkit-x-fn"
    assert resources.mask(arn) == "arn:aws:lambda:us-east-1:********9012:function:labkit-x-fn"
    assert resources.mask("1733412345678 ms") == "1733412345678 ms"     # 13 digits: not an account id
    fn = resources.DeployedFunction("labkit-x-fn", arn, 128, 3, "x86_64")
    assert "123456789012" not in repr(fn) and "********9012" in repr(fn)


def test_no_function_takes_credentials():
    import inspect
    for obj in (resources.AwsSession, resources.Deployment, resources.cleanup, resources.find_leftovers):
        params = inspect.signature(obj).parameters
        assert not any(k in p.lower() for p in params for k in ("key", "secret", "token", "password", "profile"))
