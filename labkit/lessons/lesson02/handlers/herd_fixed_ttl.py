import json
import random
import time
import urllib.error
import urllib.request

PRICES_URL = "https://prices.internal/prices"
TTL_S = 60


def fetch_prices(tries=4):
    """GET the price list; after a 429, pause for a random time and try again."""
    for attempt in range(1, tries + 1):
        try:
            with urllib.request.urlopen(PRICES_URL) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            if e.code != 429 or attempt == tries:
                raise
            time.sleep(random.uniform(0, 0.25 * 2 ** attempt))   # "full jitter" backoff


if __name__ == "lambda_function":                    # Init (see section 1)
    prices, fetched_at = fetch_prices(), time.time()


def handler(event, context):
    global prices, fetched_at
    if time.time() - fetched_at >= TTL_S:            # expired: refresh on this call
        prices, fetched_at = fetch_prices(), time.time()
    time.sleep(0.2)                                  # the rest of the work
    sku = event["sku"]
    return {"sku": sku, "price": prices["value"][sku], "version": prices["version"]}
