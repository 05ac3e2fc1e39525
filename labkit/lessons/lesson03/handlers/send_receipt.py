import random

import labkit as lk


def handler(event, context):
    if "email" not in event:
        raise ValueError(f"order {event['order']} has no e-mail address")
    lk.sleep(0.5)   # talk to the mail provider
    if random.random() < 0.1:   # the provider is sometimes too busy
        raise ConnectionError("421 mail server busy, try again later")
    return {"sent_to": event["email"]}
