import random

import boto3
import labkit as lk

table = boto3.resource("dynamodb").Table("counters")


def handler(event, context):
    lk.sleep(random.uniform(0.05, 0.15))                       # other work: parse the request, check the user
    item = table.get_item(Key={"id": "page-views"})["Item"]    # 1. read the counter
    lk.sleep(event["work_s"])                                  # 2. work between the read and the write
    new_hits = item["hits"] + 1
    table.put_item(Item={"id": "page-views", "hits": new_hits})   # 3. write the new value back
    return {"hits": int(new_hits)}
