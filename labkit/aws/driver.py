"""Drive a workload against a deployed function on the wall clock; one record per invocation attempt.

Records are plain dicts with exactly the keys of ``labkit.records.INVOCATION_COLUMNS`` (the
simulator's columns, meanings in ``labkit.run``), so a real run and a simulated one tabulate alike;
times are seconds since the run started. Environment rows have ``ENVIRONMENT_COLUMNS``.

* A thread pool sized to the workload's concurrency (a closed loop's clients; for an open loop, the
  most arrivals that can overlap within one timeout), and botocore's connection pool sized to match.
  botocore's own retries are off (``total_max_attempts=1``), so every throttle is a row; the only
  retry logic is the ``retry`` object passed in (``labkit.SdkRetry``: ``max_attempts`` and full-jitter
  ``delay(failed_attempt, rng)``), replayed on the wall clock.
* Synchronous calls ask for ``LogType=Tail``: the REPORT line (``labkit.aws.reportlog``) gives
  Duration, Billed Duration, Init Duration and Max Memory Used; the shim's ``LABKIT`` lines give the
  execution environment, its init type and the handler's start and end.
* Asynchronous calls (``InvocationType=Event``) are answered 202 at once; their REPORT and ``LABKIT``
  lines are read back from CloudWatch Logs (``FilterLogEvents``, paginated) until every request has a
  REPORT or ``log_wait_s`` has passed. A Lambda retry of a failed event is a second REPORT with the
  same request id: one row per REPORT.
* Before each attempt the driver reserves its expected cost in the ``Budget``; once a reservation
  is refused it stops dispatching (``stopped_by_budget``). Each reservation is settled with the cost
  of the REPORT line (``labkit.billing``).

The handler's clock (AWS's) and the driver's are compared as they are: ``invoke_start_s`` can be off
by the clock skew between them; it is clamped between the call's start and end.
"""

import base64
import json
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from .. import billing
from ..records import INVOCATION_COLUMNS
from ..workload import payload_fn
from . import cost, reportlog
from .resources import mask

ENVIRONMENT_COLUMNS = ("environment_id", "function", "provisioned", "created_s", "invocations", "reclaimed_s",
                       "log_stream_name")
MAX_WORKERS = 256
NAN = math.nan


def labkit_lines(text):
    """The shim's ``LABKIT {...}`` records of a log text (each a dict)."""
    out = []
    for line in (text or "").splitlines():
        i = line.find("LABKIT {")
        if i >= 0:
            try:
                out.append(json.loads(line[i + 7:]))
            except ValueError:
                pass
    return out


def _record(**values):
    row = dict.fromkeys(INVOCATION_COLUMNS)
    for k in ("arrival_s", "start_s", "invoke_start_s", "end_s", "init_duration_ms", "duration_ms",
              "billed_duration_ms", "cost_usd"):
        row[k] = NAN
    unknown = set(values) - set(INVOCATION_COLUMNS)
    if unknown:
        raise KeyError(f"not invocation columns: {sorted(unknown)}")
    row.update(values)
    return row


@dataclass
class DriverResult:
    invocations: list = field(default_factory=list)
    environments: list = field(default_factory=list)
    stopped_by_budget: bool = False
    wall_s: float = 0.0

    def invocations_frame(self):
        return pd.DataFrame.from_records(self.invocations, columns=list(INVOCATION_COLUMNS))

    def environments_frame(self):
        return pd.DataFrame.from_records(self.environments, columns=list(ENVIRONMENT_COLUMNS))


class Driver:
    """Sends a workload's events to one ``DeployedFunction`` and records what happened."""

    def __init__(self, session, function, budget=None, retry=None, seed=0, expected_duration_ms=None,
                 max_workers=None, log_wait_s=60.0, poll_s=0.5):
        self.session, self.fn = session, function
        self.budget = budget if budget is not None else cost.Budget()
        self.retry = retry
        self.seed = seed
        self.expected_duration_ms = (function.timeout_s * 1000.0 if expected_duration_ms is None
                                     else float(expected_duration_ms))
        self.max_workers = max_workers
        self.log_wait_s, self.poll_s = log_wait_s, poll_s
        self._events = 0
        self._lock = threading.Lock()

    def __repr__(self):
        return f"Driver(function={self.fn.name!r}, budget={self.budget!r}, session={self.session!r})"

    # -- plumbing -----------------------------------------------------------------------------
    def _client(self, workers):
        return self.session.client("lambda", max_pool_connections=max(10, workers),
                                   retries={"total_max_attempts": 1, "mode": "standard"},
                                   read_timeout=self.fn.timeout_s + 30, connect_timeout=10)

    def _pool_size(self, wl):
        if self.max_workers:
            return self.max_workers
        _, conc = cost.workload_shape(wl, self.fn.timeout_s, self.seed)
        return max(1, min(MAX_WORKERS, conc))

    def _reserve_usd(self):
        billed = billing.billed_duration_ms(self.expected_duration_ms)
        return billing.invocation_cost(self.fn.memory_mb, billed, self.fn.architecture)

    def _next_event_id(self):
        with self._lock:
            self._events += 1
            return f"evt-{self._events:06d}"

    def _cost(self, rep):
        if rep is None or math.isnan(rep.billed_duration_ms):
            return NAN
        return billing.invocation_cost(rep.memory_size_mb or self.fn.memory_mb, rep.billed_duration_ms,
                                       self.fn.architecture)

    def _kwargs(self):
        return {"FunctionName": self.fn.name, **({"Qualifier": self.fn.qualifier} if self.fn.qualifier else {})}

    # -- the two loops --------------------------------------------------------------------------
    def _run(self, wl, call):
        self._m0, self._t0 = time.monotonic(), time.time()
        rows, lock = [], threading.Lock()
        workers = self._pool_size(wl)
        client = self._client(workers)

        def record(row):
            with lock:
                rows.append(row)

        def one_call(event, arrival, client_no=None):
            event_id = self._next_event_id()
            rng = random.Random(f"{self.seed}:{event_id}")
            attempts = self.retry.max_attempts if self.retry is not None else 1
            for attempt in range(1, attempts + 1):
                reserved = self._reserve_usd()
                if not self.budget.reserve(reserved):
                    return
                row = call(client, event, event_id, attempt, arrival, client_no)
                actual = row["cost_usd"] if isinstance(row["cost_usd"], float) and not math.isnan(row["cost_usd"]) \
                    else (0.0 if row["outcome"] == "throttled" else reserved)
                self.budget.settle(reserved, actual)
                record(row)
                if row["outcome"] != "throttled" or attempt == attempts:
                    return
                time.sleep(self.retry.delay(attempt, rng))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labkit-aws-driver") as pool:
            if getattr(wl, "closed", False):
                make = payload_fn(wl.payload)
                payload_rng = random.Random(self.seed)
                payload_lock = threading.Lock()
                counter = [0]          # one numbering across clients, in sending order (as the simulator)

                def client_loop(k):
                    n = 0
                    while (wl.requests_per_client is None or n < wl.requests_per_client) and not self.budget.stopped:
                        if wl.seconds is not None and self._now() >= wl.seconds:
                            return
                        with payload_lock:
                            event = make(counter[0], payload_rng)
                            counter[0] += 1
                        one_call(event, self._now(), k)
                        n += 1
                        if wl.think_s:
                            time.sleep(wl.think_s)
                futures = [pool.submit(client_loop, k) for k in range(wl.clients)]
            else:
                futures = []
                for offset, event in wl.events(random.Random(self.seed)):
                    delay = offset - self._now()
                    if delay > 0:
                        time.sleep(delay)
                    if self.budget.stopped:
                        break
                    futures.append(pool.submit(one_call, event, offset))
            for f in futures:
                f.result()
        return rows

    def _now(self):
        return time.monotonic() - self._m0

    def _rel(self, unix):
        return unix - self._t0

    # -- synchronous ----------------------------------------------------------------------------
    def invoke(self, wl):
        """Synchronous calls (``RequestResponse``, ``LogType=Tail``); returns a ``DriverResult``."""
        rows = self._run(wl, self._sync_call)
        return self._result(rows)

    def _sync_call(self, client, event, event_id, attempt, arrival, client_no):
        base = dict(function=self.fn.name, event_id=event_id, attempt=attempt, invocation_type="RequestResponse",
                    client=client_no, arrival_s=arrival, memory_mb=self.fn.memory_mb)
        start = self._now()
        try:
            resp = client.invoke(InvocationType="RequestResponse", LogType="Tail",
                                 Payload=json.dumps(event).encode(), **self._kwargs())
        except Exception as exc:   # botocore ClientError / connection errors
            end = self._now()
            err = getattr(exc, "response", {}) or {}
            code = err.get("Error", {}).get("Code") or type(exc).__name__
            rid = err.get("ResponseMetadata", {}).get("RequestId")
            throttled = code == "TooManyRequestsException"
            return _record(**base, request_id=rid, start_s=start, end_s=end, invoke_start_s=start,
                           outcome="throttled" if throttled else "error", error_type=code,
                           error_message=mask(err.get("Error", {}).get("Message") or str(exc)),
                           throttle_reason=err.get("Reason") if throttled else None, cost_usd=0.0 if throttled else NAN)
        end = self._now()
        rid = resp["ResponseMetadata"].get("RequestId")
        tail = base64.b64decode(resp.get("LogResult") or b"").decode("utf-8", "replace")
        payload = resp["Payload"].read()
        try:
            body = json.loads(payload) if payload else None
        except ValueError:
            body = payload.decode("utf-8", "replace")
        rep = reportlog.reports(tail).get(rid)
        marks = [m for m in labkit_lines(tail) if m.get("request_id") == rid]
        row = _record(**base, request_id=rid, start_s=start, end_s=end, response=body)
        self._fill(row, rep, marks, start, end)
        if resp.get("FunctionError"):
            etype = body.get("errorType") if isinstance(body, dict) else None
            row.update(outcome="timeout" if etype == "Sandbox.Timedout" or (rep and rep.status == "timeout")
                       else "error", error_type=etype,
                       error_message=body.get("errorMessage") if isinstance(body, dict) else None)
        return row

    def _fill(self, row, rep, marks, start, end):
        """Fill a row from its REPORT line and the shim's LABKIT lines."""
        start_mark = next((m for m in marks if m.get("event") == "start"), None)
        end_mark = next((m for m in marks if m.get("event") == "end"), None)
        if rep is not None:
            row.update(init_duration_ms=rep.init_duration_ms, duration_ms=rep.duration_ms,
                       billed_duration_ms=rep.billed_duration_ms, memory_mb=rep.memory_size_mb or row["memory_mb"],
                       cost_usd=self._cost(rep), cold=rep.cold)
        init_ms = 0.0 if rep is None or math.isnan(rep.init_duration_ms) else rep.init_duration_ms
        if start_mark:
            row["environment_id"] = start_mark.get("environment_id")
            provisioned = start_mark.get("init_type") == "provisioned-concurrency"
            row["start_type"] = "provisioned" if provisioned else ("cold" if init_ms else "warm")
            inv_start = self._rel(start_mark["t"])
            row["invoke_start_s"] = min(max(inv_start, start), end) if not math.isnan(end) else inv_start
        else:
            row["invoke_start_s"] = start + init_ms / 1000.0 if not math.isnan(start) else NAN
            if rep is not None:
                row["start_type"] = "cold" if rep.cold else "warm"
        if row["cold"] is None:
            row["cold"] = bool(init_ms)
        row["outcome"] = "success"
        if rep is not None and rep.status == "timeout":
            row.update(outcome="timeout", error_type="Sandbox.Timedout")
        elif rep is not None and rep.status == "error":
            row.update(outcome="error", error_type=rep.error_type)
        elif end_mark and end_mark.get("error"):
            row.update(outcome="error", error_type=end_mark["error"])
        row["_log_stream"] = start_mark.get("log_stream") if start_mark else None
        row["_init_type"] = start_mark.get("init_type") if start_mark else None

    # -- asynchronous ---------------------------------------------------------------------------
    def invoke_async(self, wl):
        """Asynchronous calls (``InvocationType=Event``); results read back from CloudWatch Logs."""
        dispatched = self._run(wl, self._async_call)
        rows = [r for r in dispatched if r["outcome"] == "throttled" or r["outcome"] == "error"]
        accepted = {r["request_id"]: r for r in dispatched if r["outcome"] == "queued"}
        found = self._read_logs(set(accepted))
        for rid, call in accepted.items():
            reports = found.get(rid, {}).get("reports", [])
            marks = found.get(rid, {}).get("marks", [])
            if not reports:
                rows.append(dict(call, outcome=None, error_message=f"no REPORT line within {self.log_wait_s:.0f} s"))
                continue
            starts = sorted((m for m in marks if m.get("event") == "start"), key=lambda m: m.get("t", 0))
            ends = sorted((m for m in marks if m.get("event") == "end"), key=lambda m: m.get("t", 0))
            for k, (ts, stream, rep) in enumerate(sorted(reports, key=lambda x: x[0])):
                row = dict(call, attempt=k + 1)
                these = starts[k:k + 1] + ends[k:k + 1]
                end = self._rel(ends[k]["t"]) if k < len(ends) else self._rel(ts / 1000.0)
                inv_start = self._rel(starts[k]["t"]) if k < len(starts) else end - rep.duration_ms / 1000.0
                init_s = 0.0 if math.isnan(rep.init_duration_ms) else rep.init_duration_ms / 1000.0
                row.update(start_s=inv_start - init_s, end_s=end, response=None)
                self._fill(row, rep, these, row["start_s"], NAN)
                row["invoke_start_s"] = inv_start
                if row["_log_stream"] is None:
                    row["_log_stream"] = stream
                self.budget.settle(0.0, row["cost_usd"] if not math.isnan(row["cost_usd"]) else 0.0)
                rows.append(row)
        return self._result(rows)

    def _async_call(self, client, event, event_id, attempt, arrival, client_no):
        base = dict(function=self.fn.name, event_id=event_id, attempt=attempt, invocation_type="Event",
                    client=client_no, arrival_s=arrival, memory_mb=self.fn.memory_mb)
        start = self._now()
        try:
            resp = client.invoke(InvocationType="Event", Payload=json.dumps(event).encode(), **self._kwargs())
        except Exception as exc:
            err = getattr(exc, "response", {}) or {}
            code = err.get("Error", {}).get("Code") or type(exc).__name__
            throttled = code == "TooManyRequestsException"
            return _record(**base, request_id=err.get("ResponseMetadata", {}).get("RequestId"), start_s=start,
                           end_s=self._now(), outcome="throttled" if throttled else "error", error_type=code,
                           error_message=mask(err.get("Error", {}).get("Message") or str(exc)),
                           throttle_reason=err.get("Reason") if throttled else None, cost_usd=0.0)
        # Queued: billed later, when it runs (settled from its REPORT line).
        return _record(**base, request_id=resp["ResponseMetadata"].get("RequestId"), start_s=start,
                       outcome="queued", cost_usd=0.0)

    def _read_logs(self, request_ids):
        logs = self.session.client("logs")
        group = self.fn.log_group
        found = {}
        deadline = time.monotonic() + self.log_wait_s
        while True:
            found = {}
            kwargs = {"logGroupName": group, "startTime": int((self._t0 - 5) * 1000)}
            try:
                for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
                    for ev in page.get("events", []):
                        msg = ev.get("message", "")
                        rec = reportlog.parse_line(msg)
                        if rec is not None and rec.kind == "REPORT" and rec.request_id in request_ids:
                            found.setdefault(rec.request_id, {"reports": [], "marks": []})["reports"].append(
                                (ev.get("timestamp", 0), ev.get("logStreamName"), rec))
                        for m in labkit_lines(msg):
                            if m.get("request_id") in request_ids:
                                found.setdefault(m["request_id"], {"reports": [], "marks": []})["marks"].append(m)
            except Exception as exc:
                if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
            if all(found.get(r, {}).get("reports") for r in request_ids) or time.monotonic() > deadline:
                return found
            time.sleep(self.poll_s)

    # -- environments -----------------------------------------------------------------------------
    def _result(self, rows):
        envs = {}
        for r in rows:
            eid = r.get("environment_id")
            if not eid:
                continue
            e = envs.setdefault(eid, {"environment_id": eid, "function": r["function"], "provisioned": False,
                                      "created_s": math.inf, "invocations": 0, "reclaimed_s": NAN,
                                      "log_stream_name": None})
            e["invocations"] += 1
            e["provisioned"] = e["provisioned"] or r.get("_init_type") == "provisioned-concurrency"
            created = r["start_s"] if r["cold"] else r["invoke_start_s"]
            if isinstance(created, float) and not math.isnan(created):
                e["created_s"] = min(e["created_s"], created)
            e["log_stream_name"] = e["log_stream_name"] or r.get("_log_stream")
        for e in envs.values():
            if e["created_s"] == math.inf:
                e["created_s"] = NAN
        clean = [{k: r[k] for k in INVOCATION_COLUMNS} for r in rows]
        clean.sort(key=lambda r: (r["start_s"] if not math.isnan(r["start_s"]) else math.inf,))
        return DriverResult(clean, list(envs.values()), self.budget.stopped, self._now())
