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

Importing labkit changes nothing outside it: creating a ``Lab`` is what installs the
simulator's hooks in the kernel (see ``labkit.backends.simulator``).
"""

from . import billing, facts, kernel, plots, widgets, workload
from .bridge import cpu, sleep
from .config import FunctionConfig
from .errors import (InvalidParameterValueException, LambdaError, RequestTooLargeException, SimulationError,
                     TooManyRequestsException)
from .lab import Lab
from .retry import SdkRetry
from .run import Run

__version__ = "0.1.0"


__all__ = ["Lab", "Run", "SdkRetry", "FunctionConfig", "sleep", "cpu", "workload", "billing", "facts", "kernel",
           "plots", "widgets", "LambdaError", "InvalidParameterValueException", "TooManyRequestsException",
           "RequestTooLargeException", "SimulationError", "__version__"]
