import labkit as lk

WORK_PER_EVENT_S = 1.0   # one second of work for each order


def handler(event, context):
    # A batch from Kinesis or SQS carries "Records"; a direct call carries one order.
    records = event.get("Records", [event])
    lk.sleep(WORK_PER_EVENT_S * len(records))
    return {"processed": len(records)}
