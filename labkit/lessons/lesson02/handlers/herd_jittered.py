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


def next_refresh():
    """A random moment in the second half of the TTL: environments that loaded
    together spread their refreshes out instead of all refreshing together."""
    return time.time() + TTL_S * random.uniform(0.5, 1.0)


if __name__ == "lambda_function":                    # Init (see section 1)
    prices, refresh_at = fetch_prices(), next_refresh()


def handler(event, context):
    global prices, refresh_at
    if time.time() >= refresh_at:                    # due: refresh on this call (lazily)
        try:
            prices, refresh_at = fetch_prices(tries=1), next_refresh()
        except urllib.error.HTTPError:               # refused: keep the copy we have, retry soon
            refresh_at = time.time() + random.uniform(1, 5)
    time.sleep(0.2)                                  # the rest of the work
    sku = event["sku"]
    return {"sku": sku, "price": prices["value"][sku], "version": prices["version"]}
