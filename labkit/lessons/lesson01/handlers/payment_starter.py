import boto3
import labkit as lk

accounts = boto3.resource("dynamodb").Table("accounts")
payments = boto3.resource("dynamodb").Table("payments")   # empty, keyed by "id": yours to use


def handler(event, context):
    lk.sleep(0.1)          # confirm the payment with the card network (100 ms)
    accounts.update_item(
        Key={"id": event["account"]},
        UpdateExpression="ADD balance :amount",
        ExpressionAttributeValues={":amount": event["amount"]},
    )
    return {"payment_id": event["payment_id"], "status": "applied"}
