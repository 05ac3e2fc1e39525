"""Simulated services that handler code calls: a DynamoDB-style table and an HTTP dependency.

Each service is split the way moto splits its fakes: a **state model**
(``dynamodb.TableState``/``DynamoDBBackend``, ``reference.ReferenceService``:
data, counters, capacity, call records) and an **API shape** on top
(``fake_boto3``: boto3's ``Table``/``client``; ``fake_urllib``: ``urlopen``).

Every ``Lab`` owns one ``Services``, registered in its account's
``module_overrides``: inside simulated handler code ``import boto3`` and
``import urllib.request`` give these fakes, wired to that Lab's services, so
the handler is ordinary AWS code. No simulated handler can reach a real AWS
account or the network.

    lab = lk.Lab(seed=1)
    accounts = lab.dynamodb_table("accounts", key="id", items=[{"id": "a", "balance": 0}])
    rates = lab.reference_service("rates", data={"EUR": "1.08"}, rps_limit=50)
    ...
    accounts.sim.counters()      # calls by operation, conditional failures, throttles
    lab.services.calls           # every call, in simulated time, as a DataFrame

Timing: see ``labkit.services.base`` (latency, then one atomic instant).

Modules: ``base`` (latency, the Lab's clock and call order, the call record);
``dynamodb`` and ``fake_boto3``; ``reference`` (an HTTP service's state) and
``fake_urllib``, which share ``http_response`` (the answers ``urlopen`` gives);
``fake_lambda`` (``boto3.client("lambda")``); for relational databases
``database`` (a MySQL-style server's state), ``db_client`` (pymysql's shape),
``proxy`` (RDS Proxy), ``fake_dbutils`` (DBUtils' ``PooledDB`` inside an
environment) and ``traditional`` (the server baseline, without Lambda), with
``timeseries`` for their step functions. ``pool`` re-exports ``fake_dbutils``
and ``traditional`` under their former module name. The rows these services'
DataFrames hold are named types in ``labkit.records``.
"""

from __future__ import annotations

import random
import types
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from ..errors import InvalidParameterValueException
from . import db_client, fake_boto3, fake_dbutils, fake_urllib
from .base import CallRecord, records_frame, show
from .dynamodb import DEFAULT_LATENCY_S as DYNAMODB_LATENCY_S
from .dynamodb import DynamoDBBackend, DynamoDBError, TableState
from .reference import DEFAULT_LATENCY_S as REFERENCE_LATENCY_S
from .reference import Data, ReferenceService

if TYPE_CHECKING:
    from ..drivers import Dispatcher
    from ..retry import SdkRetry
    from ..runtime import Account
    from .database import DatabaseServer
    from .proxy import DatabaseProxy

Endpoint = TypeVar("Endpoint", "DatabaseServer", "DatabaseProxy")   # what pymysql.connect(host=...) reaches


class Services:
    """The simulated services of one Lab, and the fake modules handler code imports."""

    def __init__(self, account: Account | None = None, seed: int = 0, dispatcher: Dispatcher | None = None) -> None:
        self.account = account
        self.seed = seed
        self.dispatcher = dispatcher     # labkit.drivers.Dispatcher: the Lambda client invokes through it
        self.dynamodb = DynamoDBBackend(account, seed)
        self.dynamodb_retry: SdkRetry | None = None   # the fake client retries throttles
        self.lambda_retry: SdkRetry | None = None     # likewise for boto3.client("lambda").invoke
        self.http: dict[str, ReferenceService] = {}   # netloc -> service
        self._ids = random.Random(f"{seed}:service-request-ids")
        self.boto3 = fake_boto3.make_module(self)
        self.urllib, self.urllib_request = fake_urllib.make_modules(self)
        self.databases: dict[str, DatabaseServer | DatabaseProxy] = {}   # host -> endpoint (pymysql.connect)
        self.pymysql = db_client.make_module(self.databases.get)

    def modules(self) -> dict[str, types.ModuleType]:
        """The module overrides for ``Account.module_overrides``."""
        return {"boto3": self.boto3, "boto3.session": self.boto3.session,
                "urllib": self.urllib, "urllib.request": self.urllib_request,
                **db_client.module_map(self.pymysql), **fake_dbutils.DBUTILS_MODULES}

    def install(self, overrides: dict[str, Any]) -> None:
        overrides.update(self.modules())

    def add_database(self, endpoint: Endpoint) -> Endpoint:
        """Make a simulated database or proxy reachable at its host with ``pymysql.connect``."""
        if endpoint.account is not self.account:
            raise InvalidParameterValueException("database", endpoint, "a database of this Lab")
        if endpoint.host in self.databases:
            raise InvalidParameterValueException("host", endpoint.host, "a host not already used in this Lab")
        self.databases[endpoint.host] = endpoint
        db_client.register_kernel_endpoint(endpoint)
        return endpoint

    def next_request_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4)).upper().replace("-", "")[:52]

    # -- creating services -----------------------------------------------------------------------
    def dynamodb_table(self, name, key="id", *, items=(), **options):
        """Create a table and return it as boto3's ``Table`` (``.sim`` is the simulated table).
        ``items`` are put at once (no latency, no capacity used). Options: ``key_type``,
        ``sort_key``, ``sort_key_type``, ``read_units_per_s``, ``write_units_per_s``,
        ``burst_s``, ``latency_s``, ``jitter_s``."""
        self.dynamodb.create_table(name, key, **options)
        table = self.boto3.resource("dynamodb").Table(name)
        state = table.sim
        for it in items:
            if not isinstance(it, dict):
                raise InvalidParameterValueException("items[]", it, "dicts (one per item)")
            normalised = {k: fake_boto3._normalise(v) for k, v in it.items()}
            state._items[state._item_key(normalised)] = normalised
        return table

    def reference_service(self, name: str, data: Data, **options: Any) -> ReferenceService:
        """Create an HTTP service (see ``ReferenceService``) reachable with ``urlopen``."""
        svc = ReferenceService(name, data, account=self.account, seed=self.seed, **options)
        if svc.netloc in self.http:
            raise InvalidParameterValueException("url", svc.url, "a host not already used by another service")
        self.http[svc.netloc] = svc
        return svc

    # -- records -----------------------------------------------------------------------------------
    def records(self) -> list[CallRecord]:
        """Every call to every service, in the order the services acted on them."""
        recs = list(self.dynamodb.records)
        for svc in self.http.values():
            recs.extend(svc.records)
        recs.sort(key=lambda r: (r.time_s, r.seq))
        return recs

    @property
    def calls(self) -> pd.DataFrame:
        """``records()`` as a DataFrame (columns in ``labkit.services.base.RECORD_COLUMNS``)."""
        return records_frame(self.records())


__all__ = ["Services", "DynamoDBBackend", "DynamoDBError", "TableState", "ReferenceService", "CallRecord",
           "DYNAMODB_LATENCY_S", "REFERENCE_LATENCY_S", "show"]
