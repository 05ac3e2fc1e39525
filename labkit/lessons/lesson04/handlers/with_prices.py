import pymysql
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"

conn = pymysql.connect(host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)
PRICES = None   # the price list: loaded once per environment, by its first call


def handler_with_prices(event, context):
    global PRICES
    if PRICES is None:
        with conn.cursor() as cur:
            cur.execute("SELECT product_id, price FROM prices")   # the whole price list
            PRICES = dict(cur.fetchall())
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)
    return {"order": event["order"], "price": PRICES[event["product"]]}
