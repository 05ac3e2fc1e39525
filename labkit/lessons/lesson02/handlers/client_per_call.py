import json
import time
import urllib.request

PRICES_URL = "https://prices.internal/prices"
HANDSHAKE_S = 0.1          # modelled cost of opening a connection (TCP and TLS round trips)


class PriceClient:
    """A client for the price service; creating one opens a new connection."""

    def __init__(self):
        time.sleep(HANDSHAKE_S)      # connect before the first request can go out
        self.requests = 0

    def price(self, sku):
        self.requests += 1
        with urllib.request.urlopen(PRICES_URL) as response:
            return json.loads(response.read())["value"][sku]


def handler(event, context):
    client = PriceClient()           # a new client, so a new connection, for every event
    price = client.price(event["sku"])
    return {"sku": event["sku"], "price": price, "requests_on_connection": client.requests}
