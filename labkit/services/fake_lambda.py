"""``boto3.client("lambda")`` inside simulated handlers: invoking other functions of the Lab.

A handler fans work out exactly as it would on AWS::

    import json, boto3
    lam = boto3.client("lambda")
    out = lam.invoke(FunctionName="worker", Payload=json.dumps({"segment": 3}))
    result = json.loads(out["Payload"].read())

``InvocationType="RequestResponse"`` (the default) waits, in simulated time, for
the other function's answer; ``"Event"`` hands the event to that function's
asynchronous queue and returns 202 at once. A throttle raises botocore's
``TooManyRequestsException`` (a ``ClientError``) with its Reason; a function
error comes back with ``FunctionError: "Unhandled"`` and the error object as
payload, as on AWS. Like the simulated DynamoDB client, this client does not
retry throttles unless ``lab.services.lambda_retry`` is an ``lk.SdkRetry``.
"""

from __future__ import annotations

import io
import json
import random
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.errorfactory import ClientExceptionsFactory

from .. import arns, bridge, validation
from ..records import SUCCESS, THROTTLED

if TYPE_CHECKING:
    from botocore.errorfactory import BaseClientExceptions
    from botocore.exceptions import ClientError

    from . import Services

# labkit's loop guard (see validation.MAX_INVOKE_CHAIN): AWS's text for a recursive loop it stopped.
RECURSIVE_LOOP_MESSAGE = ("Lambda has detected your function being invoked in a recursive loop with other AWS "
                          "resources and stopped your function's invocation.")
RECURSIVE_LOOP_REASON = "RecursiveInvocation"

_cache: dict[str, BaseClientExceptions] = {}


def client_exceptions() -> BaseClientExceptions:
    """botocore's modelled Lambda exception classes (shipped with botocore; no network)."""
    if "exceptions" not in _cache:
        model = botocore.session.get_session().get_service_model("lambda")
        _cache["exceptions"] = ClientExceptionsFactory().create_client_exceptions(model)
    return _cache["exceptions"]


def _error(code: str, message: str, status: int, operation: str = "Invoke", **extra: Any) -> ClientError:
    response = {"Error": {"Code": code, "Message": message, **extra},
                "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0}, **extra}
    return client_exceptions().from_code(code)(response, operation)


class LambdaClient:
    """The subset of the Lambda client that fan-out needs: ``invoke``."""

    def __init__(self, services: Services, region_name: str = "us-east-1") -> None:
        self._services = services
        self.exceptions = client_exceptions()
        self.meta = SimpleNamespace(region_name=region_name,
                                    endpoint_url=f"https://lambda.{region_name}.amazonaws.com")
        self._retry_rng = random.Random(f"{services.seed}:lambda-sdk-retry")

    def __repr__(self) -> str:
        return "<botocore.client.Lambda object (labkit simulation)>"

    def invoke(self, FunctionName: str, Payload: bytes | str = b"", InvocationType: str = "RequestResponse",  # noqa: N803
               Qualifier: str | None = None, LogType: str = "None", ClientContext: str | None = None) -> dict[str, Any]:
        dispatcher = self._services.dispatcher
        act = bridge.current()
        if act is None or dispatcher is None:
            raise RuntimeError("the simulated Lambda client works inside simulated handler code only")
        name = FunctionName.rsplit(":function:", 1)[-1].split(":", 1)[0]
        fn = dispatcher.account.functions.get(name)
        if fn is None:
            arn = arns.function_arn(self.meta.region_name, name)
            raise _error("ResourceNotFoundException", f"Function not found: {arn}", 404)
        if isinstance(Payload, (bytes, bytearray)):
            Payload = Payload.decode()
        try:
            event = json.loads(Payload) if Payload else {}
        except ValueError:
            raise _error("InvalidRequestContentException",
                         "Could not parse request body into json: Could not parse payload into json", 400) from None
        parent = act.environment.running if act.environment is not None else None
        link = dispatcher.chain_link(parent.args[1] if parent is not None else None)
        if InvocationType == "Event":
            q = dispatcher.async_queue(fn)
            event_id = dispatcher.next_event_id(link)
            q.accept(event, event_id)
            if link >= validation.MAX_INVOKE_CHAIN:
                q.drop(event_id, RECURSIVE_LOOP_REASON)
            else:
                dispatcher.spawn(q.deliver(event, event_id, dispatcher.tracker))
            return {"StatusCode": 202, "Payload": io.BytesIO(b""),
                    "ResponseMetadata": {"HTTPStatusCode": 202}}
        if InvocationType == "DryRun":
            return {"StatusCode": 204, "Payload": io.BytesIO(b""), "ResponseMetadata": {"HTTPStatusCode": 204}}
        if InvocationType != "RequestResponse":
            raise _error("InvalidParameterValueException",
                         f"1 validation error detected: Value '{InvocationType}' at 'invocationType' failed to "
                         "satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
                         400)
        if link >= validation.MAX_INVOKE_CHAIN:
            raise _error("RecursiveInvocationException", RECURSIVE_LOOP_MESSAGE, 400)
        retry = self._services.lambda_retry
        proc = dispatcher.spawn(dispatcher.call(fn, event, dispatcher.next_event_id(link), retry, None))
        rec = bridge.wait(proc)
        if rec.outcome == THROTTLED:
            raise _error("TooManyRequestsException", "Rate Exceeded.", 429, Reason=rec.throttle_reason, Type="User")
        out = {"StatusCode": 200, "ExecutedVersion": "$LATEST",
               "ResponseMetadata": {"RequestId": rec.request_id, "HTTPStatusCode": 200}}
        if rec.outcome == SUCCESS:
            body = rec.response
        else:
            out["FunctionError"] = "Unhandled"
            body = rec.response if isinstance(rec.response, dict) else {"errorMessage": rec.error_message,
                                                                         "errorType": rec.error_type}
        out["Payload"] = io.BytesIO(json.dumps(body).encode())
        return out
