import pymysql
import labkit as lk

PROXY_HOST = "shop-proxy.proxy-c0labkitsim0.us-east-1.rds.amazonaws.com"   # the proxy's endpoint

conn = pymysql.connect(host=PROXY_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def proxied_handler(event, context):
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)
    return {"order": event["order"], "status": "placed"}
