import json
from concurrent.futures import ThreadPoolExecutor

import boto3

lam = boto3.client("lambda")


def run_segment(job):
    out = lam.invoke(FunctionName="scavenger", Payload=json.dumps(job))   # waits for the answer
    return json.loads(out["Payload"].read())


def coordinator(event, context):
    n = event["total_segments"]
    jobs = [{"segments": [s], "total_segments": n, "deleters": event["deleters"]} for s in range(n)]
    with ThreadPoolExecutor(max_workers=n) as pool:
        answers = list(pool.map(run_segment, jobs))
    return {"deleted": sum(a.get("deleted", 0) for a in answers)}
