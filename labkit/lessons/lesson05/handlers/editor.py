import base64
import json

import boto3
import labkit as lk

documents = boto3.resource("dynamodb").Table("documents")


def edits_in(event):
    """The edits in a batch, whether it came from Kinesis or from SQS."""
    for record in event["Records"]:
        if "kinesis" in record:
            yield json.loads(base64.b64decode(record["kinesis"]["data"]))
        else:
            yield json.loads(record["body"])


def apply_edit(edit):
    if not isinstance(edit.get("op"), dict):
        raise ValueError(f"cannot read edit {edit['seq']} of {edit['doc']}")
    # Read the document, change it, write it back: no lock, no condition.
    doc = documents.get_item(Key={"id": edit["doc"]}).get("Item", {"id": edit["doc"], "applied": ""})
    applied = doc["applied"].split()          # numbers of the edits applied so far, in order
    if str(edit["seq"]) in applied:
        return                    # delivered again (a retry): already applied, nothing to do
    lk.sleep(0.02)                # merging the edit into the text takes 20 ms
    doc["applied"] = " ".join(applied + [str(edit["seq"])])
    documents.put_item(Item=doc)


def handler(event, context):
    for edit in edits_in(event):
        apply_edit(edit)
