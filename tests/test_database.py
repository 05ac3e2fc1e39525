"""The simulated relational database and its remedies (labkit.services.database, db_client, pool, proxy)."""

import math
import textwrap

import pytest

import labkit as lk
from labkit import facts, records
from labkit.event_sources.ledger import FINAL_STATES
from labkit.services import database as database_module
from labkit.services import db_client, fake_dbutils, pool, traditional
from labkit.services import proxy as proxy_module


def make_lab(seed=1, **db_options):
    lab = lk.Lab(seed=seed)
    db = lab.database("orders", **db_options)
    db.sql("CREATE TABLE items (id INTEGER PRIMARY KEY, stock INTEGER)")
    db.sql("INSERT INTO items VALUES (1, 1000000)")
    return lab, db


def deploy(lab, source, host, **config):
    return lab.function(source=textwrap.dedent(source).replace("HOST", repr(host)), **config)


# Connection opened in init: held by the execution environment for its life.
INIT_CONN = """
import pymysql
import labkit as lk
conn = pymysql.connect(host=HOST, user="admin", password="pw", database="app")

def handler(event, context):
    with conn.cursor() as cur:
        cur.execute("SELECT stock FROM items WHERE id = %s", (1,))
        stock = cur.fetchone()[0]
    lk.sleep(event.get("s", 0.1) if isinstance(event, dict) else 0.1)
    return {"stock": stock, "thread": conn.thread_id()}
"""

# Connection opened and closed in every invocation.
PER_INVOCATION = """
import pymysql
import labkit as lk

def handler(event, context):
    conn = pymysql.connect(host=HOST, user="admin", password="pw")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            value = cur.fetchone()[0]
    finally:
        conn.close()
    lk.sleep(event.get("s", 0.0))
    return value
"""


def final_or_pending(lab, event_ids):
    states = lab.ledger.states
    return all(states[e].state in FINAL_STATES + ("pending",) for e in event_ids)


# ---------------------------------------------------------------------------------------------
# The database: limit, error, ownership
# ---------------------------------------------------------------------------------------------

def test_max_connections_refuses_the_excess_with_mysql_error_1040():
    lab, db = make_lab(max_connections=5)
    fn = deploy(lab, INIT_CONN, db.host)
    run = lab.invoke(fn, lk.workload.parallel(8))
    df = run.invocations
    assert (df["outcome"] == "success").sum() == 5
    failed = df[df["outcome"] == "error"]
    assert len(failed) == 3
    assert set(failed["error_type"]) == {"OperationalError"}
    assert set(failed["error_message"]) == {"(1040, 'Too many connections')"}
    c = db.counters()
    assert c["peak_connections"] == 5 and c["connections_refused"] == 3
    assert db.status()["Threads_connected"] == 5
    assert len(db.refused) == 3 and set(db.refused["owner"]) == {"lambda"}


def test_handler_code_sees_pymysql_exception_classes():
    lab, db = make_lab(max_connections=1)
    fn = deploy(lab, """
        import pymysql
        held = pymysql.connect(host=HOST)

        def handler(event, context):
            try:
                pymysql.connect(host=HOST)
            except pymysql.err.OperationalError as e:
                return {"errno": e.args[0], "message": e.args[1],
                        "is_db_error": isinstance(e, pymysql.DatabaseError)}
        """, db.host)
    row = lab.invoke(fn, [{}]).invocations.iloc[0]
    assert row["response"] == {"errno": facts.MYSQL_ER_CON_COUNT_ERROR, "message": "Too many connections",
                               "is_db_error": True}


def test_init_connection_is_held_across_warm_invocations_and_released_on_reclaim():
    lab, db = make_lab()
    fn = deploy(lab, INIT_CONN, db.host)
    run = lab.invoke(fn, lk.workload.sequential(5, gap_s=1.0))
    threads = {r["thread"] for r in run.invocations["response"]}
    assert threads == {1}                                   # one connection, reused warm
    conns = db.connections
    assert len(conns) == 1 and conns.loc[0, "opened_in"] == "init" and conns.loc[0, "queries"] == 5
    assert db.counters()["open_connections"] == 1           # held while the environment idles
    lab.advance(facts.IDLE_RECLAIM_S + 1)
    conns = db.connections
    ee = fn.environments[0]
    assert conns.loc[0, "close_reason"] == "reclaimed"
    assert conns.loc[0, "closed_s"] == pytest.approx(ee.freed_at + facts.IDLE_RECLAIM_S)
    assert db.counters()["open_connections"] == 0


def test_reclaimed_environment_never_blocks_a_newer_connection():
    # The runtime reclaims lazily; the database catches up before deciding.
    lab, db = make_lab(max_connections=1)
    a = deploy(lab, INIT_CONN, db.host, name="a")
    b = deploy(lab, INIT_CONN, db.host, name="b")
    lab.invoke(a, [{}])
    env = lab.account.env
    env.run(until=env.now + facts.IDLE_RECLAIM_S + 5)       # no lab.advance: nobody reclaimed yet
    run = lab.invoke(b, [{}])
    assert run.summary()["succeeded"] == 1
    first = db.connections.iloc[0]
    assert first["close_reason"] == "reclaimed" and first["closed_s"] < db.connections.iloc[1]["opened_s"]


def test_timeout_resets_the_environment_and_releases_its_connection():
    lab, db = make_lab()
    fn = deploy(lab, INIT_CONN, db.host, timeout_s=1)
    run = lab.invoke(fn, [{"s": 0.1}, {"s": 5.0}, {"s": 0.1}])   # sequential list: one environment
    assert list(run.invocations["outcome"]) == ["success", "timeout", "success"]
    conns = db.connections
    assert len(conns) == 2                                  # re-init after the reset opened a new one
    assert conns.loc[0, "close_reason"] == "reset"
    assert conns.loc[0, "holder"] == conns.loc[1, "holder"]
    assert conns.loc[1, "opened_in"] == "init" and math.isnan(conns.loc[1, "closed_s"])


def test_per_invocation_connection_pays_setup_every_time():
    lab, db = make_lab()
    fn = deploy(lab, PER_INVOCATION, db.host)
    run = lab.invoke(fn, lk.workload.sequential(4, gap_s=1.0))
    df = run.invocations
    assert (df["outcome"] == "success").all() and df["environment_id"].nunique() == 1
    conns = db.connections
    assert len(conns) == 4 and set(conns["opened_in"]) == {"invoke"} and set(conns["close_reason"]) == {"close"}
    setup = db.handshake_s + db.auth_cpu_s
    warm = df[~df["cold"]]
    assert (warm["duration_ms"] >= (setup + db.network_rtt_s + db.query_cpu_s) * 1000 - 1e-6).all()
    assert db.counters()["open_connections"] == 0


def test_connection_kept_referenced_without_close_leaks_until_reclaim():
    lab, db = make_lab()
    fn = deploy(lab, """
        import pymysql
        opened = []                      # a module-level reference: the leak

        def handler(event, context):
            conn = pymysql.connect(host=HOST)
            opened.append(conn)
            conn.cursor().execute("SELECT 1")
            return len(opened)
        """, db.host)
    run = lab.invoke(fn, lk.workload.sequential(6, gap_s=1.0))
    assert list(run.invocations["response"]) == [1, 2, 3, 4, 5, 6]
    assert db.counters()["open_connections"] == 6           # one environment, six connections
    lab.advance(facts.IDLE_RECLAIM_S + 1)
    assert db.counters()["open_connections"] == 0
    assert set(db.connections["close_reason"]) == {"reclaimed"}


def test_unreferenced_connection_is_closed_when_python_drops_it():
    # CPython closes the socket of a connection object nobody references any more.
    lab, db = make_lab()
    fn = deploy(lab, """
        import pymysql

        def handler(event, context):
            conn = pymysql.connect(host=HOST)      # no close(): dropped when the handler returns
            cur = conn.cursor()
            cur.execute("SELECT 1")
            return cur.fetchone()[0]
        """, db.host)
    run = lab.invoke(fn, lk.workload.sequential(3, gap_s=1.0))
    conns = db.connections
    assert set(conns["close_reason"]) == {"dropped"}
    ends = sorted(run.invocations["end_s"])
    assert list(conns["closed_s"]) == pytest.approx(ends)
    assert db.status()["Aborted_clients"] == 3 and db.counters()["open_connections"] == 0


# ---------------------------------------------------------------------------------------------
# Query latency
# ---------------------------------------------------------------------------------------------

def latency_at(concurrency, **db_options):
    lab, db = make_lab(**db_options)
    fn = deploy(lab, INIT_CONN, db.host)
    lab.invoke(fn, lk.workload.parallel(concurrency))        # warm up: connections opened
    q0 = len(db.query_records)
    lab.invoke(fn, lk.workload.parallel(concurrency))
    lat = [r.latency_ms for r in db.query_records[q0:]]
    return sum(lat) / len(lat), db


def test_query_latency_grows_as_the_database_cpu_saturates():
    light, db = latency_at(2, vcpus=2, query_cpu_s=0.004)
    heavy, _ = latency_at(40, vcpus=2, query_cpu_s=0.004)
    base = (db.network_rtt_s + db.query_cpu_s) * 1000
    assert light == pytest.approx(base)                      # below saturation: its own CPU time
    assert heavy == pytest.approx(db.network_rtt_s * 1000 + 40 / 2 * 4.0)   # 40 share 2 cores
    assert db.latency_ms(50) is not None and db.latency_ms(99) >= db.latency_ms(50)


def test_metrics_time_series_counts_queries_refusals_and_cpu():
    lab, db = make_lab(max_connections=10, vcpus=2, query_cpu_s=0.01)
    fn = deploy(lab, INIT_CONN, db.host)
    lab.invoke(fn, lk.workload.parallel(15))
    m = db.metrics(period_s=1.0)
    assert list(m.columns) == ["time_s", "open_connections", "connections_opened", "connections_closed", "refused",
                               "queries", "queries_per_s", "latency_p50_ms", "latency_p99_ms", "cpu_utilization"]
    assert m["refused"].sum() == 5 and m["queries"].sum() == 10 and m["open_connections"].max() == 10
    assert 0 < m["cpu_utilization"].max() <= 1
    steps = db.connection_steps()
    assert steps["open_connections"].max() == 10


# ---------------------------------------------------------------------------------------------
# Remedies
# ---------------------------------------------------------------------------------------------

POOLED = """
import pymysql
from dbutils.pooled_db import PooledDB
import labkit as lk

pool = PooledDB(pymysql, mincached=SIZE, maxconnections=SIZE, blocking=True, host=HOST)

def handler(event, context):
    with pool.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        value = cur.fetchone()[0]
    lk.sleep(0.1)
    return value
"""


def test_pool_size_one_is_enough_in_lambda_and_bigger_pools_waste_connections():
    results = {}
    for size in (1, 5):
        lab, db = make_lab()
        fn = deploy(lab, POOLED.replace("SIZE", str(size)), db.host)
        run = lab.invoke(fn, lk.workload.parallel(10))
        assert run.summary()["succeeded"] == 10
        conns = db.connections
        results[size] = (db.counters()["peak_connections"], int((conns["queries"] > 0).sum()))
    assert results[1] == (10, 10)            # one per environment, each used
    assert results[5] == (50, 10)            # five per environment, one used: 40 idle


def test_reserved_concurrency_caps_database_connections():
    lab, db = make_lab(max_connections=100)
    fn = deploy(lab, INIT_CONN, db.host, reserved_concurrency=20)
    run = lab.invoke(fn, lk.workload.parallel(300))
    s = run.summary()
    assert db.counters()["peak_connections"] == 20 and db.counters()["connections_refused"] == 0
    assert s["succeeded"] == 20 and s["throttles"] == 280      # the excess is throttled, not refused by the DB


def test_queue_in_front_turns_a_spike_into_a_bounded_delayed_flow():
    lab, db = make_lab(max_connections=100)
    fn = deploy(lab, """
        import pymysql
        import labkit as lk
        conn = pymysql.connect(host=HOST)

        def handler(event, context):
            for record in event["Records"]:
                conn.cursor().execute("UPDATE items SET stock = stock - 1 WHERE id = 1")
                lk.sleep(0.2)
        """, db.host, timeout_s=30)
    q = lab.sqs_queue("orders", visibility_timeout_s=180)
    lab.event_source_mapping(fn, q, batch_size=1, maximum_concurrency=5)
    run = lab.send(q, lk.workload.burst(500, at_s=0.0))
    states = lab.ledger.counts(run.event_ids)
    assert states == {"succeeded": 500}
    assert db.counters()["peak_connections"] <= 5 and db.counters()["connections_refused"] == 0
    assert db.sql("SELECT stock FROM items WHERE id = 1")[0][0] == 1000000 - 500
    assert run.t1 - run.t0 > 500 * 0.2 / 5 * 0.9           # delayed: about 20 s of draining


PROXIED = """
import pymysql
import labkit as lk
conn = pymysql.connect(host=HOST, autocommit=True)

def handler(event, context):
    with conn.cursor() as cur:
        cur.execute(event.get("sql", "SELECT 1"))
    lk.sleep(0.5)
    return 1
"""


def test_proxy_multiplexes_many_environments_onto_few_database_connections():
    lab, db = make_lab(max_connections=10)
    proxy = lab.db_proxy(db, max_connections_percent=50)
    assert proxy.pool_limit == 5
    fn = deploy(lab, PROXIED, proxy.host)
    run = lab.invoke(fn, lk.workload.parallel(200))
    assert run.summary()["succeeded"] == 200
    c = proxy.counters()
    assert c["client_connections_peak"] == 200                 # every environment holds a client connection
    assert c["database_connections_peak"] <= 5 and db.counters()["peak_connections"] <= 5
    assert db.counters()["connections_refused"] == 0 and c["borrow_timeouts"] == 0
    assert set(db.connections["owner"]) == {"proxy"}
    assert c["borrow_wait_p99_ms"] > 0                         # some statements waited their turn
    lab.advance(facts.IDLE_RECLAIM_S + 1)
    assert proxy.counters()["client_connections_open"] == 0    # released with the environments
    assert proxy.counters()["database_connections_open"] == c["database_connections_open"]   # the proxy keeps its pool


def test_proxy_borrow_timeout_fails_the_statement_after_the_wait():
    lab, db = make_lab(max_connections=1)
    proxy = lab.db_proxy(db, connection_borrow_timeout_s=1)
    fn = deploy(lab, PROXIED, proxy.host, timeout_s=10)
    run = lab.invoke(fn, lk.workload.parallel(3, payload={"sql": "SELECT SLEEP(2)"}))
    df = run.invocations.sort_values("end_s")
    assert list(df["outcome"]) == ["error", "error", "success"]
    failed = df[df["outcome"] == "error"]
    msg = f"({facts.RDS_PROXY_BORROW_TIMEOUT_ERROR}, '{facts.RDS_PROXY_BORROW_TIMEOUT_MESSAGE}')"
    assert set(failed["error_type"]) == {"OperationalError"} and set(failed["error_message"]) == {msg}
    b = proxy.borrows
    timeouts = b[b["outcome"] == "timeout"]
    assert timeouts["wait_ms"].tolist() == pytest.approx([1000.0, 1000.0])
    assert proxy.counters()["borrow_timeouts"] == 2


def test_proxy_keeps_the_connection_for_a_whole_transaction():
    lab, db = make_lab(max_connections=1)
    proxy = lab.db_proxy(db)
    fn = deploy(lab, """
        import pymysql
        import labkit as lk
        conn = pymysql.connect(host=HOST)            # autocommit off, as pymysql's default

        def handler(event, context):
            cur = conn.cursor()
            if event["write"]:
                cur.execute("UPDATE items SET stock = stock - 1 WHERE id = 1")
                lk.sleep(1.0)                        # the transaction stays open...
                conn.commit()                        # ...until here
            else:
                lk.sleep(0.1)
                cur.execute("SELECT stock FROM items WHERE id = 1")
            return cur.rowcount
        """, proxy.host)
    lab.invoke(fn, lk.workload.parallel(2, payload=lambda i, rng: {"write": i == 0}))
    waits = proxy.borrows.sort_values("time_s")["wait_ms"].tolist()
    assert waits[0] < 50 and waits[1] > 800                  # the reader waited for the COMMIT
    assert proxy.counters()["database_connections_peak"] == 1


def test_proxy_pins_a_session_that_sets_state():
    lab, db = make_lab(max_connections=10)
    proxy = lab.db_proxy(db)
    fn = deploy(lab, """
        import pymysql
        conn = pymysql.connect(host=HOST, autocommit=True)

        def handler(event, context):
            conn.cursor().execute("SET @customer = 7")
            conn.cursor().execute("SELECT 1")
            return 1
        """, proxy.host)
    lab.invoke(fn, lk.workload.parallel(4))
    c = proxy.counters()
    assert c["pinned_clients"] == 4 and c["database_connections_peak"] == 4
    assert proxy.idle == []                                    # each stays tied to its client


def test_traditional_server_never_exceeds_processes_times_pool_size():
    lab, db = make_lab(max_connections=100)

    def request(event, conn):
        with conn.cursor() as cur:
            cur.execute("SELECT stock FROM items WHERE id = 1")
        lk.sleep(0.05)
        return cur.rowcount

    server = lab.traditional_server(db, request, processes=5, pool_size=10)
    result = server.serve(lk.workload.burst(1000, at_s=0.0))
    s = result.summary()
    assert s["calls"] == 1000 and s["succeeded"] == 1000 and s["pending"] == 0
    assert s["peak_db_connections"] == 50 == server.max_connections
    assert db.counters()["peak_connections"] == 50 and db.counters()["connections_refused"] == 0
    req = result.requests
    assert req["wait_ms"].max() > 0                            # backpressure: requests queued for a connection
    assert set(req["process"]) == {f"server-p{k}" for k in range(1, 6)}


def test_traditional_server_pool_timeout_fails_requests_visibly():
    lab, db = make_lab()

    def slow(event, conn):
        conn.cursor().execute("SELECT SLEEP(1)")

    server = lab.traditional_server(db, slow, processes=1, pool_size=2, pool_timeout_s=1.5)
    result = server.serve(lk.workload.burst(10, at_s=0.0))
    req = result.requests
    assert (req["outcome"] == "success").sum() == 4
    failed = req[req["outcome"] == "error"]
    assert len(failed) == 6 and set(failed["error_type"]) == {"PoolTimeout"}
    assert lab.ledger.counts(list(req["event_id"])) == {"succeeded": 4, "failed": 6}


def test_thousand_environments_against_max_connections_100():
    lab, db = make_lab(max_connections=100)
    fn = deploy(lab, INIT_CONN, db.host)
    run = lab.invoke(fn, lk.workload.parallel(1000))
    s = run.summary()
    assert s["environments"] == 1000
    assert s["succeeded"] == 100 and s["errors"] == 900
    c = db.counters()
    assert c["peak_connections"] == 100 and c["connections_refused"] == 900
    assert lab.ledger.counts(run.event_ids) == {"succeeded": 100, "failed": 900}


def test_no_request_is_lost_silently():
    lab, db = make_lab(max_connections=20)
    proxy = lab.db_proxy(db, max_connections_percent=10, connection_borrow_timeout_s=2)
    direct = deploy(lab, INIT_CONN, db.host, name="direct", timeout_s=3)
    proxied = deploy(lab, PROXIED, proxy.host, name="proxied", timeout_s=3)
    run = lab.simulate([(direct, lk.workload.poisson(rate_per_s=60, seconds=3)),
                        (proxied, lk.workload.burst(80, at_s=0.5, payload={"sql": "SELECT SLEEP(0.3)"}))])
    df = run.invocations
    assert set(df["outcome"]) <= {"success", "error", "timeout", "throttled"}
    assert df.loc[df["outcome"] != "success", "error_type"].notna().all()   # every failure says why
    counts = lab.ledger.counts(run.event_ids)
    assert sum(counts.values()) == len(run.event_ids) == df["event_id"].nunique()
    assert set(counts) <= set(FINAL_STATES) and counts.get("failed", 0) > 0
    assert final_or_pending(lab, run.event_ids)
    server = lab.traditional_server(db, processes=2, pool_size=2, pool_timeout_s=0.01)
    result = server.serve(lk.workload.burst(50, at_s=0.0, payload={"sql": "SELECT SLEEP(0.1)"}))
    req = result.requests
    assert set(req["outcome"]) <= {"success", "error"} and req["outcome"].notna().all()
    assert sum(lab.ledger.counts(list(req["event_id"])).values()) == 50


# ---------------------------------------------------------------------------------------------
# The pymysql shape
# ---------------------------------------------------------------------------------------------

def test_pymysql_shape_cursors_errors_and_notebook_use():
    lab, db = make_lab(user="admin", password="secret")
    pymysql = lab.services.pymysql
    conn = pymysql.connect(host=db.host, user="admin", password="secret", database="app",
                           cursorclass=pymysql.cursors.DictCursor)
    assert db.counters()["connections_opened"] == 0            # a notebook connection opens at first use
    with conn.cursor() as cur:
        assert cur.execute("SELECT id, stock FROM items WHERE id = %(id)s", {"id": 1}) == 1
        assert cur.fetchone() == {"id": 1, "stock": 1000000}
        cur.execute("INSERT INTO items (id, stock) VALUES (%s, %s)", (2, 5))
        assert cur.lastrowid == 2
        cur.execute("SHOW STATUS LIKE 'Threads_connected'")
        assert cur.fetchall() == [{"Variable_name": "Threads_connected", "Value": "1"}]
        with pytest.raises(pymysql.err.ProgrammingError):
            cur.execute("SELECT * FROM nowhere")
    conn.close()
    with pytest.raises(pymysql.err.Error, match="Already closed"):
        conn.close()
    with pytest.raises(pymysql.err.InterfaceError):
        conn.cursor().execute("SELECT 1")
    with pytest.raises(pymysql.OperationalError) as e:
        pymysql.connect(host="elsewhere.example.com").cursor().execute("SELECT 1")
    assert e.value.args[0] == facts.MYSQL_CR_CONN_HOST_ERROR
    with pytest.raises(pymysql.OperationalError) as e:
        pymysql.connect(host=db.host, user="admin", password="wrong").cursor().execute("SELECT 1")
    assert e.value.args[0] == facts.MYSQL_ER_ACCESS_DENIED_ERROR
    with pytest.raises(TypeError):
        pymysql.connect(db.host)                               # keyword arguments only, as pymysql 1.x
    assert issubclass(db_client.OperationalError, db_client.DatabaseError)


def test_bad_configuration_raises_invalid_parameter():
    lab = lk.Lab(seed=1)
    with pytest.raises(lk.InvalidParameterValueException):
        lab.database("db", max_connections=0)
    with pytest.raises(lk.InvalidParameterValueException):
        lab.database("db", vcpus=1.5)
    db = lab.database("db")
    with pytest.raises(lk.InvalidParameterValueException):
        lab.database("db")                                     # same host
    with pytest.raises(lk.InvalidParameterValueException):
        lab.db_proxy(db, max_connections_percent=0)
    with pytest.raises(lk.InvalidParameterValueException):
        lab.db_proxy(db, connection_borrow_timeout_s=4000)
    with pytest.raises(lk.InvalidParameterValueException):
        lab.traditional_server(db, processes=0)
    with pytest.raises(lk.InvalidParameterValueException):
        lab.db_proxy("db")                                     # not a simulated database
    with pytest.raises(lk.InvalidParameterValueException):
        lab.db_proxy(lk.Lab(seed=2).database("db"), name="p2")     # another Lab's database


def test_same_seed_same_database_metrics():
    def once():
        lab, db = make_lab(max_connections=30)
        fn = deploy(lab, PER_INVOCATION, db.host)
        lab.invoke(fn, lk.workload.poisson(rate_per_s=80, seconds=2, payload={"s": 0.2}))
        return db.metrics(0.5).to_dict(), db.connections.to_dict()
    assert once() == once()


# ---------------------------------------------------------------------------------------------
# Records by name, and the modules lessons import
# ---------------------------------------------------------------------------------------------

def test_records_are_named_and_columns_are_their_fields():
    # The DataFrame columns as they were when they were written out by hand.
    dbm, pxm = database_module, proxy_module
    assert dbm.CONNECTION_COLUMNS == ("connection_id", "owner", "holder", "function", "opened_in", "request_id",
                                      "opened_s", "closed_s", "close_reason", "queries")
    assert dbm.QUERY_COLUMNS == ("connection_id", "owner", "request_id", "statement", "start_s", "end_s",
                                 "latency_ms", "cpu_ms", "outcome")
    assert dbm.REFUSAL_COLUMNS == ("time_s", "owner", "holder", "function", "request_id")
    assert dbm.METRIC_COLUMNS == ("time_s", "open_connections", "connections_opened", "connections_closed",
                                  "refused", "queries", "queries_per_s", "latency_p50_ms", "latency_p99_ms",
                                  "cpu_utilization")
    assert pxm.CLIENT_COLUMNS == ("client_connection_id", "owner", "holder", "function", "request_id", "opened_s",
                                  "closed_s", "close_reason", "statements", "pinned")
    assert pxm.BORROW_COLUMNS == ("time_s", "wait_ms", "outcome", "client_connection_id", "request_id")
    assert pxm.PROXY_METRIC_COLUMNS == ("time_s", "client_connections", "database_connections", "borrows",
                                        "borrow_timeouts", "borrow_wait_p99_ms")
    assert traditional.SERVER_COLUMNS == records.SERVER_COLUMNS == tuple(records.ServerRequest.__dataclass_fields__)

    lab, db = make_lab(max_connections=1)
    px = lab.db_proxy(db, max_connections_percent=100, connection_borrow_timeout_s=1)
    held = deploy(lab, INIT_CONN, db.host, name="held")
    proxied = deploy(lab, PROXIED, px.host, name="proxied")
    lab.invoke(held, lk.workload.parallel(2))
    lab.invoke(proxied, lk.workload.parallel(1))
    q = db.query_records[0]
    assert isinstance(q, records.QueryRecord) and q.outcome == records.OK and q.statement == "SELECT"
    assert isinstance(db.refusals[0], records.RefusedConnection) and db.refusals[0].owner == "lambda"
    first = db.conns[0].as_record()
    assert isinstance(first, records.ConnectionRecord) and tuple(db.connections.columns) == first._fields
    assert db.connections.iloc[0]["connection_id"] == first.connection_id and first.holder is not None
    b = px.borrow_records[0]
    assert isinstance(b, records.BorrowRecord) and b.outcome in (records.OK, records.TIMEOUT)
    assert isinstance(px.clients[0].as_record(), records.ClientConnectionRecord)
    assert list(db.metrics().columns) == list(records.DatabaseMetrics._fields)


def test_pool_module_keeps_its_names():
    for name in ("PooledDB", "TooManyConnections", "PooledDBError", "DBUTILS_MODULES", "install_kernel_modules"):
        assert getattr(pool, name) is getattr(fake_dbutils, name)
    for name in ("TraditionalServer", "ServerRun", "ServerRequest", "PoolTimeout", "SERVER_COLUMNS",
                 "default_request"):
        assert getattr(pool, name) is getattr(traditional, name)
    assert set(pool.__all__) <= set(dir(pool))
