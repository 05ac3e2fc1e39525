import boto3
import labkit as lk
from botocore.exceptions import ClientError

accounts = boto3.resource("dynamodb").Table("accounts")
payments = boto3.resource("dynamodb").Table("payments")


def handler(event, context):
    # Claim the payment id first. The conditional put is one atomic request: of two copies
    # of the same event, however close together, exactly one succeeds.
    try:
        payments.put_item(
            Item={"id": event["payment_id"], "amount": event["amount"]},
            ConditionExpression="attribute_not_exists(id)",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            # A copy of a payment already claimed: succeed without applying it again.
            return {"payment_id": event["payment_id"], "status": "duplicate"}
        raise
    lk.sleep(0.1)          # confirm the payment with the card network (100 ms)
    accounts.update_item(
        Key={"id": event["account"]},
        UpdateExpression="ADD balance :amount",
        ExpressionAttributeValues={":amount": event["amount"]},
    )
    return {"payment_id": event["payment_id"], "status": "applied"}
