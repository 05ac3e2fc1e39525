"""labkit: the package behind the Lambda Concurrency Lab.

A simulated, instrumented AWS Lambda runtime (simpy + greenlets) that runs
ordinary ``def handler(event, context)`` code, plus workloads, metrics and plots.

    import labkit as lk
    lab = lk.Lab(seed=1)
    fn = lab.function(handler, memory_mb=512, timeout_s=3, reserved_concurrency=10)
    run = lab.invoke(fn, lk.workload.poisson(rate_per_s=20, seconds=600))
    run.invocations; run.summary(); run.plot.concurrency()

Inside a handler, ``lk.sleep(s)`` (or ``time.sleep``) and ``lk.cpu(vcpu_s)`` spend
simulated time.
"""

import os as _os

# Handler cells also run in the notebook's kernel, where a module-level
# boto3.resource(...) needs a Region (it makes no call and needs no credentials).
_os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from . import billing, facts, workload  # noqa: E402
from .bridge import cpu, sleep
from .config import FunctionConfig
from .errors import (InvalidParameterValueException, LambdaError, RequestTooLargeException,
                     SimulationError, TooManyRequestsException)
from .lab import Lab, SdkRetry

__version__ = "0.1.0"


def __getattr__(name):
    # plots and widgets pull in matplotlib/ipywidgets: load them on first use only.
    if name in ("plots", "widgets"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")

__all__ = ["Lab", "SdkRetry", "FunctionConfig", "sleep", "cpu", "workload", "billing", "facts",
           "LambdaError", "InvalidParameterValueException", "TooManyRequestsException",
           "RequestTooLargeException", "SimulationError", "__version__"]
