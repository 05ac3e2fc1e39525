import random

import boto3
import labkit as lk

table = boto3.resource("dynamodb").Table("counters")


def handler(event, context):
    lk.sleep(random.uniform(0.05, 0.15))      # the same other work as before
    lk.sleep(event["work_s"])                 # the same work, but no read comes before it
    result = table.update_item(               # DynamoDB adds 1 to the stored value, in one request
        Key={"id": "page-views"},
        UpdateExpression="ADD hits :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return {"hits": int(result["Attributes"]["hits"])}
