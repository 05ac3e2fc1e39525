import base64
import json

import boto3
import labkit as lk

documents = boto3.resource("dynamodb").Table("documents")


def apply_edit(edit):
    if not isinstance(edit.get("op"), dict):
        raise ValueError(f"cannot read edit {edit['seq']} of {edit['doc']}")
    doc = documents.get_item(Key={"id": edit["doc"]}).get("Item", {"id": edit["doc"], "applied": ""})
    applied = doc["applied"].split()
    if str(edit["seq"]) in applied:
        return
    lk.sleep(0.02)
    doc["applied"] = " ".join(applied + [str(edit["seq"])])
    documents.put_item(Item=doc)


def reporting_handler(event, context):
    for record in event["Records"]:
        edit = json.loads(base64.b64decode(record["kinesis"]["data"]))
        try:
            apply_edit(edit)
        except ValueError:
            # Stop at the first failure and report it: Lambda keeps everything before
            # this record as done and retries from this record on.
            return {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}
    return {"batchItemFailures": []}
