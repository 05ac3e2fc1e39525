import json
import urllib.request

PRICES_URL = "https://prices.internal/prices"
PRICES = None       # the price list: the same for every customer, fine to keep between calls
basket = []         # the items of the order being priced


def handler(event, context):
    global PRICES
    if PRICES is None:                               # first call in this environment
        with urllib.request.urlopen(PRICES_URL) as response:
            PRICES = json.loads(response.read())["value"]
    for item in event["items"]:
        if item not in PRICES:
            raise ValueError(f"unknown item: {item}")
        basket.append(item)
    total = round(sum(PRICES[item] for item in basket), 2)
    return {"customer": event["customer"], "items": basket, "total": total}
