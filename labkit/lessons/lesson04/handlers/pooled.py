import pymysql
from dbutils.pooled_db import PooledDB
import labkit as lk

DB_HOST = "shop-db.c0labkitsim0.us-east-1.rds.amazonaws.com"
POOL_SIZE = 10   # connections per execution environment, opened in Init like a server's pool

pool = PooledDB(pymysql, mincached=POOL_SIZE, maxconnections=POOL_SIZE, blocking=True,
                host=DB_HOST, user="shop", password="s3cret", database="shop", autocommit=True)


def pooled_handler(event, context):
    with pool.connection() as conn, conn.cursor() as cur:   # borrow one; given back at the end of the block
        cur.execute("UPDATE stock SET quantity = quantity - 1 WHERE product_id = %s", (event["product"],))
    lk.sleep(0.15)
    return {"order": event["order"], "status": "placed"}
