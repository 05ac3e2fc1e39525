import time
from concurrent.futures import ThreadPoolExecutor

import labkit as lk

PARTS = 4          # the job comes in four equal parts ...
PART_S = 0.3       # ... of 0.3 vCPU-seconds of work, or 0.3 s of waiting, each


def split_job(event, context):
    if event["kind"] == "cpu":
        part = lambda _: lk.cpu(PART_S)      # e.g. compress one chunk of a file
    else:
        part = lambda _: time.sleep(PART_S)  # e.g. wait for one call to another service
    with ThreadPoolExecutor(max_workers=event["threads"]) as pool:
        list(pool.map(part, range(PARTS)))
    return {"parts": PARTS}
