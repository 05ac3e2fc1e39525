"""Create, tag, verify and delete the AWS resources of one experiment.

* ``AwsSession(region)``: boto3 clients from boto3's **default credential chain only** (environment,
  shared config/SSO profile, instance role). No function here takes credentials, and none prints
  them. ``endpoint_url`` exists for the local test endpoint (moto + a local data plane).
* ``mask(text)``: the account id is masked everywhere labkit prints or represents it: every
  12-digit number keeps only its last four digits (``123456789012`` -> ``********9012``), enough to
  tell two accounts apart, not enough to identify one.
* ``Deployment(session, budget)``: a context manager. ``function(source=..., memory_mb=...,
  timeout_s=..., architecture=..., reserved_concurrency=..., provisioned_concurrency=...)`` checks the
  account's concurrency first (``GetAccountSettings``; new accounts can have 10), creates an IAM role
  with only ``AWSLambdaBasicExecutionRole`` under the path ``/labkit/`` (retrying the known IAM
  propagation error), a log group with a 1-day retention, and the function: the handler module's
  source zipped with labkit's shim (``labkit/aws/shim``) and a minimal real ``labkit`` module.
  Provisioned concurrency publishes a version, points the alias ``live`` at it and waits for READY.
  Every resource is named ``labkit-<run id>-...`` and tagged ``labkit:lab``, ``labkit:run-id`` and
  ``labkit:expires``. Leaving the ``with`` block, or the interpreter exiting, tears everything down:
  provisioned concurrency first, then functions, log groups and the role, each verified gone.
* ``find_leftovers`` / ``cleanup``: what ``python -m labkit.aws cleanup`` runs: every function and log
  group carrying labkit's name prefix *and* tag, and every role under ``/labkit/``, deleted and
  verified, with a report.
"""

import atexit
import datetime as _dt
import inspect
import io
import json
import logging
import pathlib
import re
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from .. import facts
from . import cost

log = logging.getLogger("labkit.aws")

NAME_PREFIX = "labkit-"
IAM_PATH = "/labkit/"
LAB_TAG, LAB_VALUE = "labkit:lab", "lambda-concurrency-lab"
RUN_TAG = "labkit:run-id"
EXPIRES_TAG = "labkit:expires"
BASIC_EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ROLE_NOT_ASSUMABLE = "cannot be assumed by Lambda"      # "The role defined for the function cannot be ..."
DEFAULT_RUNTIME = "python3.12"
ALIAS = "live"
SHIM_HANDLER = "labkit_shim.handler"
LOG_RETENTION_DAYS = 1
_SHIM_DIR = pathlib.Path(__file__).with_name("shim")
_ACCOUNT_ID = re.compile(r"(?<!\d)\d{8}(\d{4})(?!\d)")


def mask(text):
    """``text`` with every 12-digit number (an AWS account id) reduced to its last four digits."""
    return _ACCOUNT_ID.sub(lambda m: "********" + m.group(1), str(text))


class _MaskFilter(logging.Filter):
    def filter(self, record):
        record.msg = mask(record.getMessage())
        record.args = ()
        return True


log.addFilter(_MaskFilter())


class AwsSession:
    """boto3 clients for one Region, with credentials from boto3's default chain only."""

    def __init__(self, region=None, endpoint_url=None):
        self._session = boto3.session.Session(region_name=region)
        self.region = self._session.region_name
        if not self.region:
            raise ValueError("no AWS Region: pass region=... or set AWS_REGION / a profile's region")
        self.endpoint_url = endpoint_url
        self._clients = {}
        self._lock = threading.Lock()
        self._account = None

    def __repr__(self):
        acct = mask(self._account) if self._account else "?"
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"AwsSession(region={self.region!r}, account={acct!r}{where})"

    def client(self, service, **config):
        """A (cached, thread-safe) boto3 client; ``config`` goes to ``botocore.config.Config``."""
        key = (service, json.dumps(config, sort_keys=True, default=str))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, endpoint_url=self.endpoint_url, config=Config(**config) if config else None)
            return self._clients[key]

    @property
    def account_id(self):
        """The caller's account id (use ``mask`` before showing it anywhere)."""
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account


def _error_code(exc):
    return getattr(exc, "response", {}).get("Error", {}).get("Code")


# -- account limits ----------------------------------------------------------------------------

@dataclass
class AccountConcurrency:
    limit: int
    unreserved: int
    needed: int
    reserved: "int | None"

    @property
    def min_unreserved(self):
        # AWS keeps 100 unreserved; a small account keeps its whole (smaller) figure unreserved.
        return min(facts.MIN_UNRESERVED_CONCURRENCY, self.limit)

    @property
    def reservable(self):
        return max(0, self.unreserved - self.min_unreserved)

    @property
    def reserved_ok(self):
        return self.reserved is None or self.reserved <= self.reservable

    @property
    def explanation(self):
        msgs = []
        if self.limit < facts.REGIONAL_CONCURRENCY_LIMIT:
            msgs.append(f"This account can run {self.limit} executions at once in this Region (AWS's default is "
                        f"{facts.REGIONAL_CONCURRENCY_LIMIT:,}; new accounts can start as low as 10). Ask for more "
                        f"in Service Quotas, 'Concurrent executions', if an experiment needs it.")
        if self.needed > self.unreserved:
            msgs.append(f"The experiment can have up to {self.needed} calls in flight, more than the "
                        f"{self.unreserved} unreserved executions: the rest will be throttled "
                        f"(TooManyRequestsException), which the results will show as throttles.")
        if not self.reserved_ok:
            msgs.append(f"Reserved concurrency {self.reserved} is impossible here: AWS keeps at least "
                        f"{self.min_unreserved} executions unreserved, so at most {self.reservable} can be reserved.")
        return " ".join(msgs)


def check_account_concurrency(session, needed=1, reserved=None):
    """Read the account's limits (``GetAccountSettings``) and say what they mean for this experiment."""
    limits = session.client("lambda").get_account_settings()["AccountLimit"]
    return AccountConcurrency(int(limits["ConcurrentExecutions"]), int(limits["UnreservedConcurrentExecutions"]),
                              int(needed), reserved)


# -- code package -------------------------------------------------------------------------------

def handler_source(handler=None, source=None):
    """The text of the handler's module (``source`` wins); raise if it cannot be read."""
    if source is not None:
        return source
    module = inspect.getmodule(handler)
    try:
        return inspect.getsource(module)
    except (TypeError, OSError) as exc:
        raise ValueError("cannot read the handler's module source (a notebook cell?): pass source=... "
                         "with the module's text") from exc


def build_zip(source):
    """The deployment package: the learner's module, labkit's shim and a minimal real ``labkit``."""
    files = {"labkit_handler.py": source,
             "labkit_shim.py": (_SHIM_DIR / "labkit_shim.py").read_text(),
             "labkit/__init__.py": (_SHIM_DIR / "labkit_init.py").read_text()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))   # same bytes, same CodeSha256
            info.external_attr = 0o644 << 16
            zf.writestr(info, text)
    return buf.getvalue()


# -- deployment ---------------------------------------------------------------------------------

@dataclass
class DeployedFunction:
    name: str
    arn: str
    memory_mb: int
    timeout_s: int
    architecture: str
    reserved_concurrency: "int | None" = None
    provisioned_concurrency: int = 0
    qualifier: "str | None" = None          # the alias "live" when provisioned concurrency is on
    version: "str | None" = None
    provisioned_since: "float | None" = None

    @property
    def log_group(self):
        return f"/aws/lambda/{self.name}"

    def __repr__(self):
        return (f"DeployedFunction(name={self.name!r}, arn={mask(self.arn)!r}, memory_mb={self.memory_mb}, "
                f"timeout_s={self.timeout_s}, architecture={self.architecture!r}, "
                f"reserved_concurrency={self.reserved_concurrency}, "
                f"provisioned_concurrency={self.provisioned_concurrency})")


@dataclass
class Outcome:
    """One line of a teardown or cleanup report."""
    kind: str            # "provisioned-concurrency" | "function" | "log-group" | "role"
    name: str
    deleted: bool
    verified_gone: bool
    error: "str | None" = None

    def __str__(self):
        state = "deleted, verified gone" if self.verified_gone else ("deleted, NOT verified" if self.deleted
                                                                     else "NOT deleted")
        return mask(f"{self.kind:24} {self.name:48} {state}" + (f" ({self.error})" if self.error else ""))


@dataclass
class TeardownReport:
    outcomes: list = field(default_factory=list)

    @property
    def ok(self):
        return all(o.verified_gone for o in self.outcomes)

    def __str__(self):
        if not self.outcomes:
            return "Nothing to delete."
        head = "All resources deleted and verified gone." if self.ok else "Some resources are NOT verified gone:"
        return "\n".join([head] + [str(o) for o in self.outcomes])


class Deployment:
    """The resources of one experiment; a context manager that always tears them down."""

    def __init__(self, session, budget=None, run_id=None, ttl_s=3 * 3600, runtime=DEFAULT_RUNTIME,
                 role_wait_s=90.0, ready_wait_s=900.0, poll_s=2.0, sleep=time.sleep):
        self.session = session
        self.budget = budget if budget is not None else cost.Budget()
        self.run_id = run_id or secrets.token_hex(4)
        if not re.fullmatch(r"[a-z0-9]{1,16}", self.run_id):
            raise ValueError("run_id: 1-16 lower-case letters or digits")
        self.expires = (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=ttl_s)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        self.runtime = runtime
        self.role_wait_s, self.ready_wait_s, self.poll_s = role_wait_s, ready_wait_s, poll_s
        self._sleep = sleep
        self.functions = []
        self.role_name = self.role_arn = None
        self._log_groups = []
        self._closed = False
        self._lock = threading.Lock()
        atexit.register(self._at_exit)

    def __repr__(self):
        return f"Deployment(run_id={self.run_id!r}, functions={[f.name for f in self.functions]}, {self.session!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    @property
    def tags(self):
        return {LAB_TAG: LAB_VALUE, RUN_TAG: self.run_id, EXPIRES_TAG: self.expires}

    def name(self, short):
        name = f"{NAME_PREFIX}{self.run_id}-{short}"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise ValueError(f"function name {name!r}: letters, digits, - and _, at most 64 characters")
        return name

    # -- creation ---------------------------------------------------------------------------
    def _ensure_role(self):
        if self.role_arn:
            return self.role_arn
        iam = self.session.client("iam")
        name = self.name("exec")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        role = iam.create_role(RoleName=name, Path=IAM_PATH, AssumeRolePolicyDocument=json.dumps(trust),
                               Description="labkit experiment: CloudWatch Logs only", MaxSessionDuration=3600,
                               Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])["Role"]
        self.role_name, self.role_arn = name, role["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION_POLICY_ARN)
        log.info("created role %s", role["Arn"])
        return self.role_arn

    def _create_function_with_role_retry(self, **kwargs):
        lam = self.session.client("lambda")
        waited, delay = 0.0, 1.0
        while True:
            try:
                return lam.create_function(**kwargs)
            except Exception as exc:   # botocore ClientError
                if _error_code(exc) != "InvalidParameterValueException" or ROLE_NOT_ASSUMABLE not in str(exc) \
                        or waited >= self.role_wait_s:
                    raise
                # A new IAM role takes a few seconds to be usable by Lambda: wait and try again.
                log.info("role not assumable yet (IAM propagation); retrying in %.0f s", delay)
                self._sleep(delay)
                waited += delay
                delay = min(delay * 2, 10.0)

    def _wait(self, what, check):
        deadline = time.monotonic() + self.ready_wait_s
        while True:
            done = check()
            if done:
                return done
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not become ready in {self.ready_wait_s:.0f} s")
            self._sleep(self.poll_s)

    def function(self, handler=None, *, source=None, name="fn", handler_name="handler",
                 memory_mb=facts.DEFAULT_MEMORY_MB, timeout_s=facts.DEFAULT_TIMEOUT_S, architecture="x86_64",
                 reserved_concurrency=None, provisioned_concurrency=0, expected_concurrency=1,
                 provisioned_seconds=None, estimate=None):
        """Deploy ``handler``'s module (or ``source``) and return a ``DeployedFunction``.

        ``estimate`` (a ``labkit.aws.cost.Estimate``) is checked against the budget before anything
        is created: over the budget, ``BudgetExceeded`` is raised and nothing exists.
        """
        if estimate is not None:
            self.budget.check(estimate)
        if self._closed:
            raise RuntimeError("this Deployment has been torn down")
        if architecture not in ("x86_64", "arm64"):
            raise ValueError("architecture must be 'x86_64' or 'arm64'")
        code = build_zip(handler_source(handler, source))
        acct = check_account_concurrency(self.session, max(expected_concurrency, provisioned_concurrency),
                                         reserved_concurrency)
        if not acct.reserved_ok:
            raise ValueError(acct.explanation)
        if acct.explanation:
            log.warning("%s", acct.explanation)
        if provisioned_concurrency:
            pc_usd = cost.provisioned_cost(provisioned_concurrency, memory_mb,
                                           provisioned_seconds or cost.PROVISIONED_BILLING_STEP_S)
            self.budget.check(pc_usd)
        fname = self.name(name)
        role_arn = self._ensure_role()
        logs = self.session.client("logs")
        group = f"/aws/lambda/{fname}"
        logs.create_log_group(logGroupName=group, tags=self.tags)
        self._log_groups.append(group)
        logs.put_retention_policy(logGroupName=group, retentionInDays=LOG_RETENTION_DAYS)
        conf = self._create_function_with_role_retry(
            FunctionName=fname, Runtime=self.runtime, Role=role_arn, Handler=SHIM_HANDLER, Code={"ZipFile": code},
            Description="labkit experiment (deleted at the end of the run)", Timeout=int(timeout_s),
            MemorySize=int(memory_mb), Architectures=[architecture], Tags=self.tags,
            Environment={"Variables": {"LABKIT_HANDLER": handler_name}})
        fn = DeployedFunction(fname, conf["FunctionArn"], int(memory_mb), int(timeout_s), architecture)
        self.functions.append(fn)
        lam = self.session.client("lambda")
        self._wait(f"function {fname}", lambda: lam.get_function_configuration(FunctionName=fname).get(
            "State", "Active") == "Active")
        if reserved_concurrency is not None:
            lam.put_function_concurrency(FunctionName=fname, ReservedConcurrentExecutions=int(reserved_concurrency))
            fn.reserved_concurrency = int(reserved_concurrency)
        if provisioned_concurrency:
            fn.version = lam.publish_version(FunctionName=fname)["Version"]
            lam.create_alias(FunctionName=fname, Name=ALIAS, FunctionVersion=fn.version)
            fn.qualifier = ALIAS
            lam.put_provisioned_concurrency_config(FunctionName=fname, Qualifier=ALIAS,
                                                   ProvisionedConcurrentExecutions=int(provisioned_concurrency))
            fn.provisioned_concurrency = int(provisioned_concurrency)
            fn.provisioned_since = time.monotonic()
            self.budget.charge(cost.provisioned_cost(fn.provisioned_concurrency, fn.memory_mb,
                                                     cost.PROVISIONED_BILLING_STEP_S))

            def ready():
                st = lam.get_provisioned_concurrency_config(FunctionName=fname, Qualifier=ALIAS)
                if st["Status"] == "FAILED":
                    raise RuntimeError(f"provisioned concurrency failed: {st.get('StatusReason')}")
                return st["Status"] == "READY"
            self._wait(f"provisioned concurrency of {fname}", ready)
        log.info("deployed %s", fn)
        return fn

    # -- teardown ---------------------------------------------------------------------------
    def teardown(self):
        """Delete everything this deployment created (provisioned concurrency first); verify; report."""
        with self._lock:
            if self._closed:
                return TeardownReport()
            self._closed = True
        atexit.unregister(self._at_exit)
        report = TeardownReport()
        for fn in self.functions:
            if fn.provisioned_concurrency:
                report.outcomes.append(_delete_provisioned(self.session, fn.name, fn.qualifier))
                extra_s = time.monotonic() - (fn.provisioned_since or time.monotonic())
                if extra_s > cost.PROVISIONED_BILLING_STEP_S:
                    self.budget.charge(cost.provisioned_cost(fn.provisioned_concurrency, fn.memory_mb, extra_s)
                                       - cost.provisioned_cost(fn.provisioned_concurrency, fn.memory_mb,
                                                               cost.PROVISIONED_BILLING_STEP_S))
            report.outcomes.append(_delete_function(self.session, fn.name, self._sleep))
        for group in self._log_groups:
            report.outcomes.append(_delete_log_group(self.session, group))
        if self.role_name:
            report.outcomes.append(_delete_role(self.session, self.role_name))
        (log.info if report.ok else log.error)("teardown of run %s:\n%s", self.run_id, report)
        return report

    def _at_exit(self):
        try:
            report = self.teardown()
            if report.outcomes:
                print(mask(f"labkit.aws: torn down at exit (run {self.run_id}):\n{report}"))
        except Exception as exc:   # never hide the original exit; say what to do instead
            print(mask(f"labkit.aws: teardown at exit failed ({type(exc).__name__}: {exc}); "
                       f"run `python -m labkit.aws cleanup --region {self.session.region}`"))


# -- deletion, verified -------------------------------------------------------------------------

def _gone(call, codes):
    try:
        call()
    except Exception as exc:
        if _error_code(exc) in codes:
            return True
        raise
    return False


def _delete_provisioned(session, fname, qualifier):
    lam = session.client("lambda")
    try:
        lam.delete_provisioned_concurrency_config(FunctionName=fname, Qualifier=qualifier)
        gone = _gone(lambda: lam.get_provisioned_concurrency_config(FunctionName=fname, Qualifier=qualifier),
                     ("ProvisionedConcurrencyConfigNotFoundException", "ResourceNotFoundException"))
        return Outcome("provisioned-concurrency", f"{fname}:{qualifier}", True, gone)
    except Exception as exc:
        if _error_code(exc) in ("ProvisionedConcurrencyConfigNotFoundException", "ResourceNotFoundException"):
            return Outcome("provisioned-concurrency", f"{fname}:{qualifier}", False, True, "already gone")
        return Outcome("provisioned-concurrency", f"{fname}:{qualifier}", False, False, _short(exc))


def _delete_function(session, fname, sleep=time.sleep):
    lam = session.client("lambda")
    try:
        lam.delete_function(FunctionName=fname)
        deleted = True
    except Exception as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            return Outcome("function", fname, False, False, _short(exc))
        deleted = False
    for _ in range(5):
        if _gone(lambda: lam.get_function(FunctionName=fname), ("ResourceNotFoundException",)):
            return Outcome("function", fname, deleted, True, None if deleted else "already gone")
        sleep(1.0)
    return Outcome("function", fname, deleted, False, "still listed after deletion")


def _delete_log_group(session, group):
    logs = session.client("logs")
    try:
        logs.delete_log_group(logGroupName=group)
        deleted = True
    except Exception as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            return Outcome("log-group", group, False, False, _short(exc))
        deleted = False
    left = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    gone = not any(g["logGroupName"] == group for g in left)
    return Outcome("log-group", group, deleted, gone, None if deleted else "already gone")


def _delete_role(session, role):
    iam = session.client("iam")
    try:
        for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=role, PolicyArn=p["PolicyArn"])
        for p in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role, PolicyName=p)
        iam.delete_role(RoleName=role)
        deleted = True
    except Exception as exc:
        if _error_code(exc) != "NoSuchEntity":
            return Outcome("role", role, False, False, _short(exc))
        deleted = False
    gone = _gone(lambda: iam.get_role(RoleName=role), ("NoSuchEntity",))
    return Outcome("role", role, deleted, gone, None if deleted else "already gone")


def _short(exc):
    return mask(f"{type(exc).__name__}: {exc}")[:300]


# -- leftovers ----------------------------------------------------------------------------------

@dataclass
class Leftover:
    kind: str
    name: str
    run_id: "str | None"
    expires: "str | None"

    def __str__(self):
        return mask(f"{self.kind:10} {self.name:48} run {self.run_id or '?'} expires {self.expires or '?'}")


def _ours(tags, run_id):
    return tags.get(LAB_TAG) == LAB_VALUE and (run_id is None or tags.get(RUN_TAG) == run_id)


def find_leftovers(session, run_id=None):
    """labkit's resources in this Region: prefixed name *and* labkit's tag (roles: under ``/labkit/``)."""
    out = []
    lam, logs, iam = session.client("lambda"), session.client("logs"), session.client("iam")
    for page in lam.get_paginator("list_functions").paginate():
        for f in page["Functions"]:
            if f["FunctionName"].startswith(NAME_PREFIX):
                tags = lam.list_tags(Resource=f["FunctionArn"]).get("Tags", {})
                if _ours(tags, run_id):
                    out.append(Leftover("function", f["FunctionName"], tags.get(RUN_TAG), tags.get(EXPIRES_TAG)))
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=f"/aws/lambda/{NAME_PREFIX}"):
        for g in page["logGroups"]:
            tags = logs.list_tags_log_group(logGroupName=g["logGroupName"]).get("tags", {})
            if _ours(tags, run_id):
                out.append(Leftover("log-group", g["logGroupName"], tags.get(RUN_TAG), tags.get(EXPIRES_TAG)))
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=IAM_PATH):
        for r in page["Roles"]:
            if not r["RoleName"].startswith(NAME_PREFIX):
                continue
            tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=r["RoleName"]).get("Tags", [])}
            if run_id is None or tags.get(RUN_TAG) == run_id:
                out.append(Leftover("role", r["RoleName"], tags.get(RUN_TAG), tags.get(EXPIRES_TAG)))
    return out


def cleanup(session, run_id=None, dry_run=False, sleep=time.sleep):
    """Delete every leftover (``find_leftovers``), provisioned concurrency first; verify; report."""
    found = find_leftovers(session, run_id)
    report = TeardownReport()
    if dry_run:
        return found, report
    lam = session.client("lambda")
    for item in found:
        if item.kind == "function":
            try:
                configs = lam.list_provisioned_concurrency_configs(FunctionName=item.name).get(
                    "ProvisionedConcurrencyConfigs", [])
            except Exception as exc:
                configs = []
                if _error_code(exc) != "ResourceNotFoundException":
                    log.warning("could not list provisioned concurrency of %s: %s", item.name, _short(exc))
            for c in configs:
                qualifier = c["FunctionArn"].rsplit(":", 1)[-1]
                report.outcomes.append(_delete_provisioned(session, item.name, qualifier))
            report.outcomes.append(_delete_function(session, item.name, sleep))
    for item in found:
        if item.kind == "log-group":
            report.outcomes.append(_delete_log_group(session, item.name))
        elif item.kind == "role":
            report.outcomes.append(_delete_role(session, item.name))
    return found, report


__all__ = ["AwsSession", "Deployment", "DeployedFunction", "mask", "check_account_concurrency", "build_zip",
           "find_leftovers", "cleanup", "TeardownReport", "Outcome", "Leftover"]
