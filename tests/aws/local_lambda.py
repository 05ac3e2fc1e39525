"""A local AWS endpoint for labkit.aws's tests: moto's server for the control plane, in front of it
a small proxy, and behind the proxy a real Lambda data plane.

* Control plane: moto's ``ThreadedMotoServer`` (IAM, Lambda CreateFunction/tags/concurrency,
  CloudWatch Logs, STS) on 127.0.0.1, Lambda configured with ``use_docker: false``.
* The proxy (``Proxy``) is what boto3 talks to. It forwards every request to moto unchanged, except:
  ``POST /2015-03-31/functions/{name}/invocations`` goes to the data plane, ``GET
  /2016-08-19/account-settings`` (which moto lacks) is answered from the data plane's account limit,
  and the data plane *watches* the requests that change a function (create, code, configuration,
  reserved concurrency, delete) after moto has accepted them. So only moto's public HTTP API is
  used: nothing of moto's internals is patched.
* The data plane (``DataPlane``) starts execution environments as subprocesses running AWS's own
  runtime interface client, ``python -m awslambdaric labkit_shim.handler``, each with its own
  Runtime API server (``RuntimeApi``: ``/2018-06-01/runtime/invocation/next``, ``/response``,
  ``/error``, ``/init/error``) named by ``AWS_LAMBDA_RUNTIME_API``, the unzipped code on
  ``sys.path``. It reuses the most recently freed idle environment, starts a new one (a cold start
  with a measured Init Duration) when all are busy, throttles beyond reserved concurrency or the
  account limit with ``TooManyRequestsException`` (429, AWS's Reason), stops an invocation at its
  timeout (the process is killed: the environment is reset), and writes START/END/REPORT lines
  with measured durations (``labkit.logs`` format, Billed Duration from ``labkit.billing``, Max
  Memory Used from the process's peak RSS) into moto's CloudWatch Logs and into the
  ``LogType=Tail`` result. ``InvocationType=Event`` is answered 202 and run by a worker pool,
  throttles retried, function errors retried ``async_retries`` times after ``async_retry_delays_s``.

Not modelled: CPU share by memory (a 128 MB function gets the machine's CPU), the scaling rate,
provisioned concurrency, versions and aliases (invocations run $LATEST), the 6 MB payload limit.
"""

import base64
import fcntl
import http.client
import http.server
import json
import logging
import math
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit

import boto3

from labkit import billing, facts, logs

TAIL_BYTES = 4096
RUNTIME_VERSION = f"python:{sys.version_info.major}.{sys.version_info.minor}.local"


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):   # a runtime killed mid-request is expected
        pass


# -- Runtime API (one per execution environment) ------------------------------------------------

class _NoDelay:
    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _RuntimeHandler(_NoDelay, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        env = self.server.environment
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self._send(404)
        inv = env.next_invocation()
        if inv is None:                              # shutting down
            return self._send(500, b'{"errorMessage":"environment shutting down"}')
        self._send(200, inv.payload, [
            ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(int(inv.deadline_unix * 1000))),
            ("Lambda-Runtime-Invoked-Function-Arn", env.function.arn),
            ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
            ("Content-Type", "application/json")])

    def do_POST(self):
        env = self.server.environment
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        m = re.fullmatch(r"/2018-06-01/runtime/invocation/([^/]+)/(response|error)", self.path)
        if m:
            ok = env.complete(m.group(1), body, error_type if m.group(2) == "error" else None,
                              is_error=m.group(2) == "error")
            return self._send(202 if ok else 400, b'{"status":"OK"}' if ok else b'{"errorType":"InvalidRequestID"}')
        if self.path == "/2018-06-01/runtime/init/error":
            env.init_failed(body, error_type)
            return self._send(202, b'{"status":"OK"}')
        return self._send(404)


class RuntimeApi:
    def __init__(self, environment):
        self.server = _QuietServer(("127.0.0.1", 0), _RuntimeHandler)
        self.server.environment = environment
        host, port = self.server.server_address[:2]
        self.address = f"{host}:{port:d}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# -- functions, invocations, environments -------------------------------------------------------

class FunctionState:
    def __init__(self, name, arn, handler, memory_mb, timeout_s, variables, code, runtime="python3.12"):
        self.name, self.arn, self.handler = name, arn, handler
        self.memory_mb, self.timeout_s, self.variables, self.runtime = memory_mb, timeout_s, variables, runtime
        self.reserved = None
        self.code_dir = None
        self.set_code(code)

    def set_code(self, code):
        self.code_dir = tempfile.mkdtemp(prefix=f"local-lambda-{self.name}-")
        with zipfile.ZipFile(__import__("io").BytesIO(code)) as zf:
            zf.extractall(self.code_dir)


class Invocation:
    def __init__(self, payload, invocation_type, request_id=None):
        self.request_id = request_id or str(uuid.uuid4())
        self.payload = payload or b"{}"
        self.invocation_type = invocation_type
        self.delivered = threading.Event()
        self.done = threading.Event()
        self.delivered_at = self.done_at = None
        self.deadline_unix = None
        self.body = None
        self.error_type = None
        self.is_error = False
        self.status = None          # None | "timeout" | "error" (platform-reported, on the REPORT line)
        self.lines = []             # function output during this invocation
        self.end_seen = threading.Event()


class Environment:
    def __init__(self, plane, function):
        self.plane, self.function = plane, function
        self.id = uuid.uuid4().hex
        self.created_mono = time.monotonic()
        day = time.strftime("%Y/%m/%d", time.gmtime())
        self.log_stream = f"{day}/[$LATEST]{self.id}"
        self.state = "initializing"
        self.cold_pending = True      # the next invocation reports Init Duration
        self.init_ms = math.nan
        self.init_lines = []
        self.current = None
        self.inbox = queue.Queue()
        self.first_next = threading.Event()
        self.init_error = None
        self.exited = threading.Event()
        self.last_used = time.monotonic()
        self.api = RuntimeApi(self)
        self.proc = None
        self.spawned_mono = None

    def start(self):
        fn = self.function
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC",
               "HOME": tempfile.gettempdir(), "PYTHONPATH": fn.code_dir, "PYTHONUNBUFFERED": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "LAMBDA_TASK_ROOT": fn.code_dir, "_HANDLER": fn.handler,
               "AWS_LAMBDA_RUNTIME_API": self.api.address, "AWS_LAMBDA_FUNCTION_NAME": fn.name,
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb), "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
               "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}", "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
               "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_REGION": self.plane.region,
               "AWS_DEFAULT_REGION": self.plane.region}
        env.update(fn.variables or {})
        self.spawned_mono = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "awslambdaric", fn.handler], cwd=fn.code_dir, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        threading.Thread(target=self._read_output, daemon=True).start()

    # output ------------------------------------------------------------------------------
    def _read_output(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            inv = self.current
            if inv is None or not inv.delivered.is_set():
                self.init_lines.append((time.time(), line))
            else:
                inv.lines.append((time.time(), line))
                if line.startswith("LABKIT ") and '"event":"end"' in line and inv.request_id in line:
                    inv.end_seen.set()
        self.proc.wait()
        self.exited.set()
        inv = self.current
        if inv is not None and not inv.done.is_set():
            self._finish(inv, json.dumps({"errorType": "Runtime.ExitError", "errorMessage":
                         f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status "
                         f"{self.proc.returncode}"}).encode(), "Runtime.ExitError", status="error")

    def _pipe_empty(self):
        try:
            buf = bytearray(4)
            fcntl.ioctl(self.proc.stdout.fileno(), termios.FIONREAD, buf)
            return int.from_bytes(buf, sys.byteorder) == 0
        except (OSError, ValueError):
            return True

    # Runtime API callbacks -------------------------------------------------------------------
    def next_invocation(self):
        if not self.first_next.is_set():
            self.init_ms = (time.monotonic() - self.spawned_mono) * 1000.0
            deadline = time.monotonic() + 0.05
            while not self._pipe_empty() and time.monotonic() < deadline:    # let init output land first
                time.sleep(0.002)
            self.first_next.set()
        inv = self.inbox.get()
        if inv is None:
            return None
        inv.delivered_at = time.monotonic()
        inv.deadline_unix = time.time() + self.function.timeout_s
        inv.delivered.set()
        return inv

    def complete(self, request_id, body, error_type, is_error):
        inv = self.current
        if inv is None or inv.request_id != request_id or inv.done.is_set():
            return False
        inv.end_seen.wait(0.5)                       # the shim's last line, then any runtime error log
        if is_error:
            deadline = time.monotonic() + 0.2
            while not any(x.startswith("[ERROR]") for _, x in inv.lines) and time.monotonic() < deadline:
                time.sleep(0.002)
        self._finish(inv, body, error_type, is_error=is_error)
        return True

    def init_failed(self, body, error_type):
        self.init_error = (body, error_type or "Runtime.Unknown")
        self.init_ms = (time.monotonic() - self.spawned_mono) * 1000.0
        inv = self.current
        if inv is not None and not inv.done.is_set():
            self._finish(inv, body, error_type or "Runtime.Unknown", status="error", is_error=True)

    def _finish(self, inv, body, error_type, status=None, is_error=None):
        inv.done_at = time.monotonic()
        inv.body, inv.error_type = body, error_type
        inv.is_error = bool(error_type) if is_error is None else is_error
        inv.status = status
        inv.done.set()

    # driving ---------------------------------------------------------------------------------
    def run(self, inv):
        """Run one invocation to its end (response, error, timeout or crash); return it."""
        self.current = inv
        if not self.exited.is_set():
            self.inbox.put(inv)
        init_limit = facts.INIT_LIMIT_S if self.cold_pending else 1.0
        if not inv.delivered.wait(init_limit + (0 if self.cold_pending else 5)):
            if not inv.done.is_set():       # init timed out or the runtime never asked for work
                self._finish(inv, json.dumps({"errorType": "Runtime.InitTimeout", "errorMessage":
                             f"RequestId: {inv.request_id} Error: init did not finish"}).encode(),
                             "Runtime.InitTimeout", status="timeout")
                self.kill()
            return inv
        remaining = self.function.timeout_s - (time.monotonic() - inv.delivered_at)
        if not inv.done.wait(max(0.0, remaining)):
            self.kill()
            self._finish(inv, json.dumps({"errorType": "Sandbox.Timedout", "errorMessage":
                         f"RequestId: {inv.request_id} Error: Task timed out after "
                         f"{self.function.timeout_s:.2f} seconds"}).encode(), "Sandbox.Timedout", status="timeout")
            inv.done_at = inv.delivered_at + self.function.timeout_s
        return inv

    def peak_rss_mb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(math.ceil(int(line.split()[1]) / 1024))
        except OSError:
            pass
        return None

    @property
    def alive(self):
        return self.proc is not None and not self.exited.is_set() and self.init_error is None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
        self.inbox.put(None)

    def close(self):
        self.kill()
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.api.close()


# -- the data plane -----------------------------------------------------------------------------

class Throttled(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class DataPlane:
    def __init__(self, moto_url, region="us-east-1", account_limit=facts.REGIONAL_CONCURRENCY_LIMIT,
                 idle_reclaim_s=facts.IDLE_RECLAIM_S, async_retries=facts.ASYNC_DEFAULT_MAX_RETRY_ATTEMPTS,
                 async_retry_delays_s=facts.ASYNC_FUNCTION_ERROR_RETRY_DELAYS_S, async_max_age_s=60.0):
        self.region = region
        self.account_limit = account_limit
        self.idle_reclaim_s = idle_reclaim_s
        self.async_retries, self.async_retry_delays_s, self.async_max_age_s = \
            async_retries, async_retry_delays_s, async_max_age_s
        self.functions = {}
        self.environments = {}          # name -> [Environment]
        self.lock = threading.Lock()
        self.logs = boto3.client("logs", region_name=region, endpoint_url=moto_url)
        self._streams = set()
        self._async = ThreadPoolExecutor(max_workers=32, thread_name_prefix="local-lambda-async")
        self._closed = threading.Event()
        self.reclaimed = []             # (function, environment id, time) of reclaimed environments
        threading.Thread(target=self._reaper, daemon=True).start()

    # control-plane notifications (from the proxy, after moto accepted the request) ----------------
    def created(self, request, response):
        code = base64.b64decode(request["Code"]["ZipFile"])
        variables = (request.get("Environment") or {}).get("Variables") or {}
        fn = FunctionState(response["FunctionName"], response["FunctionArn"], request["Handler"],
                           int(request.get("MemorySize", facts.DEFAULT_MEMORY_MB)),
                           int(request.get("Timeout", facts.DEFAULT_TIMEOUT_S)), variables, code,
                           request.get("Runtime", "python3.12"))
        with self.lock:
            self.functions[fn.name] = fn
            self.environments.setdefault(fn.name, [])

    def code_updated(self, name, request):
        with self.lock:
            fn = self.functions.get(name)
        if fn and request.get("ZipFile"):
            fn.set_code(base64.b64decode(request["ZipFile"]))
            self._retire(name)

    def configuration_updated(self, name, response):
        with self.lock:
            fn = self.functions.get(name)
            if fn is None:
                return
            fn.memory_mb, fn.timeout_s = int(response.get("MemorySize", fn.memory_mb)), \
                int(response.get("Timeout", fn.timeout_s))
            fn.handler = response.get("Handler", fn.handler)
            fn.variables = (response.get("Environment") or {}).get("Variables") or fn.variables
        self._retire(name)

    def reserved_set(self, name, value):
        with self.lock:
            if name in self.functions:
                self.functions[name].reserved = None if value is None else int(value)

    def deleted(self, name):
        with self.lock:
            fn = self.functions.pop(name, None)
        self._retire(name, everything=True)
        if fn:
            shutil.rmtree(fn.code_dir, ignore_errors=True)

    def account_settings(self):
        with self.lock:
            reserved = sum(f.reserved or 0 for f in self.functions.values())
            n = len(self.functions)
        return {"AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                                 "CodeSizeZipped": 52428800, "ConcurrentExecutions": self.account_limit,
                                 "UnreservedConcurrentExecutions": self.account_limit - reserved},
                "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": n}}

    def _retire(self, name, everything=False):
        """A configuration or code change: idle environments go; busy ones finish, then go."""
        with self.lock:
            envs = self.environments.get(name, [])
            idle = [e for e in envs if e.state == "idle" or everything]
            for e in idle:
                envs.remove(e)
            for e in envs:
                e.retire = True
        for e in idle:
            e.close()

    # concurrency ------------------------------------------------------------------------------
    def _busy(self, name=None):
        return sum(1 for n, envs in self.environments.items() if name is None or n == name
                   for e in envs if e.state in ("busy", "initializing"))

    def _acquire(self, name):
        """An environment for one invocation (``cold`` if new), or ``Throttled``. Call under the lock."""
        fn = self.functions[name]
        if fn.reserved is not None:
            if self._busy(name) >= fn.reserved:
                raise Throttled(facts.THROTTLE_REASON_RESERVED)
        else:
            reserved_total = sum(f.reserved or 0 for f in self.functions.values())
            unreserved_busy = sum(self._busy(n) for n, f in self.functions.items() if f.reserved is None)
            if unreserved_busy >= self.account_limit - reserved_total:
                raise Throttled(facts.THROTTLE_REASON_ACCOUNT)
        idle = [e for e in self.environments[name] if e.state == "idle" and e.alive]
        if idle:
            env = max(idle, key=lambda e: e.last_used)          # the most recently freed
            env.state = "busy"
            return env, False
        env = Environment(self, fn)
        env.retire = False
        env.state = "initializing"
        self.environments[name].append(env)
        return env, True

    def _release(self, env):
        with self.lock:
            env.last_used = time.monotonic()
            envs = self.environments.get(env.function.name, [])
            if not env.alive or getattr(env, "retire", False) or env not in envs:
                if env in envs:
                    envs.remove(env)
                dead = True
            else:
                env.state = "idle"
                dead = False
        if dead:
            threading.Thread(target=env.close, daemon=True).start()

    def _reaper(self):
        while not self._closed.wait(0.2):
            now = time.monotonic()
            with self.lock:
                old = [(n, e) for n, envs in self.environments.items() for e in envs
                       if e.state == "idle" and now - e.last_used > self.idle_reclaim_s]
                for n, e in old:
                    self.environments[n].remove(e)
                    self.reclaimed.append((n, e.id, time.time()))
            for _, e in old:
                e.close()

    # invocation --------------------------------------------------------------------------------
    def invoke_sync(self, name, payload, log_tail):
        inv = Invocation(payload, "RequestResponse")
        with self.lock:
            env, cold = self._acquire(name)
        if cold:
            env.start()
        try:
            env.run(inv)
        finally:
            self._release(env)
        text = self._write_logs(env, inv, cold)
        headers = [("X-Amz-Executed-Version", "$LATEST")]
        if inv.is_error:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        if log_tail:
            headers.append(("X-Amz-Log-Result", base64.b64encode(text.encode()[-TAIL_BYTES:]).decode()))
        return inv, headers

    def invoke_async(self, name, payload):
        inv_id = str(uuid.uuid4())
        self._async.submit(self._run_async, name, payload, inv_id, time.monotonic())
        return inv_id

    def _run_async(self, name, payload, request_id, received):
        attempt, backoff = 0, 0.05
        while not self._closed.is_set():
            inv = Invocation(payload, "Event", request_id)
            try:
                with self.lock:
                    if name not in self.functions:
                        return
                    env, cold = self._acquire(name)
            except Throttled:
                if time.monotonic() - received > self.async_max_age_s:
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if cold:
                env.start()
            try:
                env.run(inv)
            finally:
                self._release(env)
            self._write_logs(env, inv, cold)
            if not inv.is_error or attempt >= self.async_retries:
                return
            time.sleep(self.async_retry_delays_s[min(attempt, len(self.async_retry_delays_s) - 1)])
            attempt += 1

    # logs ---------------------------------------------------------------------------------------
    def _write_logs(self, env, inv, cold):
        fn = env.function
        rid = inv.request_id
        end_unix = time.time()
        if inv.delivered_at is None:
            duration_ms = 0.0
        else:
            duration_ms = (inv.done_at - inv.delivered_at) * 1000.0
        if inv.status == "timeout" and inv.error_type == "Sandbox.Timedout":
            duration_ms = fn.timeout_s * 1000.0                 # clamped to the timeout, as on AWS
        init_ms = env.init_ms if cold else math.nan
        env.cold_pending = False
        billed = billing.billed_duration_ms(duration_ms, 0.0 if math.isnan(init_ms) else init_ms)
        mem_used = env.peak_rss_mb() or facts.MAX_MEMORY_USED_MB
        lines = []
        if cold:
            lines.append(f"INIT_START Runtime Version: {RUNTIME_VERSION}\tRuntime Version ARN: "
                         f"arn:aws:lambda:{self.region}::runtime:local")
            lines += [line for _, line in env.init_lines]
            env.init_lines = []
            if env.init_error is not None:
                lines.append(f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\t"
                             f"Error Type: {env.init_error[1]}")
        lines.append(logs.start_line(rid))
        lines += [line for _, line in inv.lines]
        lines.append(logs.end_line(rid))
        lines.append(logs.report_line(rid, duration_ms, billed, fn.memory_mb, init_duration_ms=init_ms,
                                      status=inv.status, error_type=inv.error_type if inv.status == "error" else None,
                                      max_memory_used_mb=mem_used))
        self._put(fn.name, env.log_stream, lines, end_unix)
        return "\n".join(lines) + "\n"

    def _put(self, name, stream, lines, end_unix):
        group = f"/aws/lambda/{name}"
        if (group, stream) not in self._streams:
            try:
                self.logs.create_log_group(logGroupName=group)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass
            try:
                self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass
            self._streams.add((group, stream))
        ts = int(end_unix * 1000)
        self.logs.put_log_events(logGroupName=group, logStreamName=stream,
                                 logEvents=[{"timestamp": ts, "message": line} for line in lines])

    def environment_count(self, name):
        with self.lock:
            return len(self.environments.get(name, []))

    def close(self):
        self._closed.set()
        self._async.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            envs = [e for es in self.environments.values() for e in es]
            self.environments.clear()
            fns = list(self.functions.values())
            self.functions.clear()
        for e in envs:
            e.close()
        for f in fns:
            shutil.rmtree(f.code_dir, ignore_errors=True)


# -- the proxy in front of moto -----------------------------------------------------------------

_INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations/?")
_FUNCTION = re.compile(r"/2015-03-31/functions/([^/]+)/?")
_CODE = re.compile(r"/2015-03-31/functions/([^/]+)/code/?")
_CONFIG = re.compile(r"/2015-03-31/functions/([^/]+)/configuration/?")
_CONCURRENCY = re.compile(r"/2017-10-31/functions/([^/]+)/concurrency/?")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}


def _fname(s):
    name = unquote(s)
    return name.rsplit(":function:", 1)[-1].split(":")[0] if name.startswith("arn:") else name.split(":")[0]


class _ProxyHandler(_NoDelay, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, body):
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(proxy.moto_host, proxy.moto_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP], data
        finally:
            conn.close()

    def _handle(self):
        plane = self.server.proxy.plane
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        m = _INVOKE.fullmatch(path)
        if m and self.command == "POST" and _fname(m.group(1)) in plane.functions:
            return self._invoke(_fname(m.group(1)), body)
        if path.rstrip("/") == "/2016-08-19/account-settings" and self.command == "GET":
            data = json.dumps(plane.account_settings()).encode()
            return self._reply(200, data, [("Content-Type", "application/json")])
        status, headers, data = self._forward(body)
        if 200 <= status < 300:
            self._observe(path, body, data)
        self._reply(status, data, headers)

    def _observe(self, path, body, data):
        plane = self.server.proxy.plane
        if not path.startswith(("/2015-03-31/functions", "/2017-10-31/functions")):
            return
        try:
            req = json.loads(body) if body else {}
            resp = json.loads(data) if data else {}
        except ValueError:
            return
        if path.rstrip("/") == "/2015-03-31/functions" and self.command == "POST":
            plane.created(req, resp)
        elif _CODE.fullmatch(path) and self.command == "PUT":
            plane.code_updated(_fname(_CODE.fullmatch(path).group(1)), req)
        elif _CONFIG.fullmatch(path) and self.command == "PUT":
            plane.configuration_updated(_fname(_CONFIG.fullmatch(path).group(1)), resp)
        elif _CONCURRENCY.fullmatch(path) and self.command in ("PUT", "DELETE"):
            name = _fname(_CONCURRENCY.fullmatch(path).group(1))
            plane.reserved_set(name, req.get("ReservedConcurrentExecutions") if self.command == "PUT" else None)
        elif _FUNCTION.fullmatch(path) and self.command == "DELETE":
            plane.deleted(_fname(_FUNCTION.fullmatch(path).group(1)))

    def _invoke(self, name, body):
        plane = self.server.proxy.plane
        inv_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        try:
            if inv_type == "Event":
                rid = plane.invoke_async(name, body)
                # Async invokes are queued; a throttle shows later, as retries in the logs.
                return self._reply(202, b"", [("x-amzn-RequestId", rid), ("Content-Type", "application/json")])
            if inv_type == "DryRun":
                return self._reply(204, b"", [("x-amzn-RequestId", str(uuid.uuid4()))])
            inv, headers = plane.invoke_sync(name, body, self.headers.get("X-Amz-Log-Type") == "Tail")
        except Throttled as t:
            data = json.dumps({"Reason": t.reason, "Type": "User", "message": "Rate Exceeded."}).encode()
            return self._reply(429, data, [("x-amzn-RequestId", str(uuid.uuid4())),
                                           ("x-amzn-ErrorType", "TooManyRequestsException"),
                                           ("Content-Type", "application/json")])
        self._reply(200, inv.body or b"null", headers + [("x-amzn-RequestId", inv.request_id),
                                                         ("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


class Proxy:
    def __init__(self, moto_host, moto_port, plane):
        self.moto_host, self.moto_port, self.plane = moto_host, moto_port, plane
        self.server = _QuietServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.proxy = self
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port:d}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class LocalAws:
    """moto's server + the proxy + the data plane, all on 127.0.0.1. ``url`` is boto3's endpoint_url."""

    def __init__(self, region="us-east-1", **plane_options):
        from moto.server import ThreadedMotoServer
        logging.getLogger("werkzeug").setLevel(logging.ERROR)     # moto's request log
        # AWS-managed policies (AWSLambdaBasicExecutionRole) exist in IAM; moto's /moto-api/config
        # cannot switch this on, its environment variable can (read when IAM is first used).
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        self.region = region
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("POST", "/moto-api/config", body=json.dumps({"lambda": {"use_docker": False}}),
                     headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 201
        conn.close()
        self.plane = DataPlane(self.moto_url, region, **plane_options)
        self.proxy = Proxy(host, port, self.plane)
        self.url = self.proxy.url

    def reset_moto(self):
        conn = http.client.HTTPConnection(self.proxy.moto_host, self.proxy.moto_port, timeout=10)
        conn.request("POST", "/moto-api/reset")
        conn.getresponse().read()
        conn.close()

    def close(self):
        self.plane.close()
        self.proxy.close()
        self.moto.stop()


__all__ = ["LocalAws", "DataPlane", "Proxy"]
