import random
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.exceptions import ClientError

import labkit as lk

table = boto3.resource("dynamodb").Table("workers")

MAX_AGE_H = 48          # delete completed items older than this
PAGE_SIZE = 100         # items per Scan page
# CPU work per item, in vCPU-seconds (one item here stands for a bundle of 100 real ones)
CHECK_VCPU_S = 0.02     # decode one scanned item and check its age
DELETE_VCPU_S = 0.05    # build and sign its DeleteItem request


def delete(item):
    """One deleter's job: delete one item, backing off while the table refuses writes."""
    lk.cpu(DELETE_VCPU_S)
    backoff_s = 1.0
    while True:
        try:
            table.delete_item(Key={"worker_id": item["worker_id"], "start_time": item["start_time"]})
            return 1
        except ClientError as e:
            if e.response["Error"]["Code"] != "ProvisionedThroughputExceededException":
                raise
        time.sleep(random.uniform(0, backoff_s))   # refused: wait a random while, then retry,
        backoff_s = min(2 * backoff_s, 20.0)       # up to twice as long after each refusal


def read_segment(segment, total_segments, delete_pool):
    """One reader's job: scan one segment page by page, hand stale items to the deleters."""
    futures = []
    request = {"Segment": segment, "TotalSegments": total_segments, "Limit": PAGE_SIZE}
    while True:
        page = table.scan(**request)
        for item in page["Items"]:
            lk.cpu(CHECK_VCPU_S)
            if item["completed"] == 1 and item["age_h"] > MAX_AGE_H:
                futures.append(delete_pool.submit(delete, item))
        if "LastEvaluatedKey" not in page:
            return futures
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def handler(event, context):
    # event: {"segments": [0, 1, ...], "total_segments": n, "deleters": d}
    segments, total = event["segments"], event["total_segments"]
    with ThreadPoolExecutor(max_workers=event["deleters"]) as delete_pool:
        with ThreadPoolExecutor(max_workers=len(segments)) as read_pool:
            reads = [read_pool.submit(read_segment, s, total, delete_pool) for s in segments]
        deleted = sum(f.result() for r in reads for f in r.result())
    return {"deleted": deleted}
