import json

import pymysql
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"

conn = pymysql.connect(host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def worker_handler(event, context):
    for record in event["Records"]:          # a batch of up to 10 orders from SQS
        order = json.loads(record["body"])
        with conn.cursor() as cur:
            cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (order["product"],))
        lk.sleep(0.15)
    return {"placed": len(event["Records"])}
