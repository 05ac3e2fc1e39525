import time

import labkit as lk


def fetch_quote(event, context):
    lk.cpu(0.002)     # build the request and parse the answer: 2 ms of CPU
    time.sleep(0.3)   # wait 300 ms for a partner's API to answer
    return {"quote": 42}
