import boto3
from botocore.exceptions import ClientError

accounts = boto3.resource("dynamodb").Table("accounts")


def refused(e):
    return e.response["Error"]["Code"] == "ConditionalCheckFailedException"


def handler(event, context):
    amount = event["amount"]
    # 1. Debit, but only if the money is there: the check and the change are one request.
    try:
        accounts.update_item(
            Key={"id": event["from"]},
            UpdateExpression="ADD balance :minus",
            ConditionExpression="balance >= :amount",
            ExpressionAttributeValues={":minus": -amount, ":amount": amount},
        )
    except ClientError as e:
        if refused(e):
            return {"status": "refused", "reason": "insufficient funds (or no such account)"}
        raise
    # 2. Credit, but only an account that exists (ADD on a missing item would create it).
    try:
        accounts.update_item(
            Key={"id": event["to"]},
            UpdateExpression="ADD balance :amount",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":amount": amount},
        )
    except ClientError as e:
        if not refused(e):
            raise
        # 3. Compensate: give the money back (an ADD always succeeds on an existing account).
        accounts.update_item(
            Key={"id": event["from"]},
            UpdateExpression="ADD balance :amount",
            ExpressionAttributeValues={":amount": amount},
        )
        return {"status": "refused", "reason": "no such account"}
    return {"status": "done"}
