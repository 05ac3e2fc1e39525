import pymysql
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"   # on AWS: an environment variable

# Init: one connection per execution environment, reused by every call it serves.
conn = pymysql.connect(host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def handler(event, context):
    with conn.cursor() as cur:
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)   # the rest of the request: payment, e-mail, response (150 ms)
    return {"order": event["order"], "status": "placed"}
