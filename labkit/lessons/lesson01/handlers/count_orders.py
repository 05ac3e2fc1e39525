import boto3

stats = boto3.resource("dynamodb").Table("order-stats")


def handler(event, context):
    stats.update_item(                        # count the order: +1, atomically
        Key={"id": "today"},
        UpdateExpression="ADD orders_placed :one",
        ExpressionAttributeValues={":one": 1},
    )
    return {"counted": event["order_id"]}
