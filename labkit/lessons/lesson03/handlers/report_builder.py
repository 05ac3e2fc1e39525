import labkit as lk


def report_builder(event, context):
    lk.sleep(10)   # rebuild one page of the monthly sales report
    return {"page": event["n"]}
