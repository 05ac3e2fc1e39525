import boto3

accounts = boto3.resource("dynamodb").Table("accounts")


def handler(event, context):
    amount = event["amount"]
    source = accounts.get_item(Key={"id": event["from"]}).get("Item")
    target = accounts.get_item(Key={"id": event["to"]}).get("Item")
    if source is None or target is None:
        return {"status": "refused", "reason": "no such account"}
    if source["balance"] < amount:
        return {"status": "refused", "reason": "insufficient funds"}
    accounts.put_item(Item={"id": source["id"], "balance": source["balance"] - amount})
    accounts.put_item(Item={"id": target["id"], "balance": target["balance"] + amount})
    return {"status": "done"}
