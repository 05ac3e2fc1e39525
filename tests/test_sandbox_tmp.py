"""Handler code's /tmp is the execution environment's own, through open, os and os.path."""

import os

import labkit as lk

SRC = '''import os, json
from os.path import exists
import labkit as lk
def handler(event, context):
    p = "/tmp/cache.json"
    hit = exists(p) and os.path.exists(p)
    if not hit:
        with open(p, "w") as f:
            json.dump({"n": event["n"]}, f)
    lk.sleep(event.get("s", 0.1))
    return {"hit": hit, "files": sorted(os.listdir("/tmp"))}
'''


def test_tmp_is_per_environment_and_survives_a_reset_but_not_the_real_tmp():
    lab = lk.Lab(seed=1)
    fn = lab.function(source=SRC, timeout_s=1)
    seq = lab.invoke(fn, lk.workload.sequential(2)).invocations["response"].tolist()
    assert [r["hit"] for r in seq] == [False, True]
    par = lab.invoke(fn, lk.workload.parallel(2)).invocations
    assert sorted(r["hit"] for r in par["response"]) == [False, True]   # the new environment has an empty /tmp
    after = lab.invoke(fn, [{"n": 9, "s": 5}, {"n": 10}]).invocations   # timeout, then re-init
    assert after["start_type"].tolist() == ["warm", "reinit"]
    assert after["response"][1] == {"hit": True, "files": ["cache.json"]}
    lab.account.close()
    assert not os.path.exists("/tmp/cache.json") or open("/tmp/cache.json").read() != '{"n": 0}'
