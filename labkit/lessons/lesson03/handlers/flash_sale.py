import labkit as lk


def handler(event, context):
    lk.sleep(5)   # five seconds per request
    return {"ok": True}
