import random

import boto3
import labkit as lk
from botocore.exceptions import ClientError

table = boto3.resource("dynamodb").Table("counters")


def handler(event, context):
    lk.sleep(random.uniform(0.05, 0.15))
    attempt = 0
    while True:
        attempt += 1
        item = table.get_item(Key={"id": "page-views"})["Item"]        # read
        lk.sleep(event["work_s"])                                      # work
        try:
            table.put_item(                                            # write, but only if the value
                Item={"id": "page-views", "hits": item["hits"] + 1},   # is still the one we read
                ConditionExpression="hits = :seen",
                ExpressionAttributeValues={":seen": item["hits"]},
            )
            return {"hits": int(item["hits"]) + 1, "attempts": attempt}
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            lk.sleep(random.uniform(0, 0.01 * attempt))   # someone wrote first: wait a moment, read again
