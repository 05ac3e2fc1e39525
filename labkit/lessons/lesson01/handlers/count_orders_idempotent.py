import boto3
from botocore.exceptions import ClientError

stats = boto3.resource("dynamodb").Table("order-stats")
seen = boto3.resource("dynamodb").Table("seen-orders")


def handler(event, context):
    try:
        seen.put_item(                                     # claim this order id, once and for all:
            Item={"id": event["order_id"]},                # the put succeeds only if no item
            ConditionExpression="attribute_not_exists(id)",  # with this id exists yet
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return {"duplicate": event["order_id"]}        # already counted: succeed, change nothing
        raise
    stats.update_item(
        Key={"id": "today"},
        UpdateExpression="ADD orders_placed :one",
        ExpressionAttributeValues={":one": 1},
    )
    return {"counted": event["order_id"]}
