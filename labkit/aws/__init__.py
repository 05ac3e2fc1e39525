"""labkit's optional real-AWS backend: the groundwork of issue 13 (no ``Lab`` integration yet).

Nothing here is imported by ``import labkit``. It needs boto3 and, to touch AWS, credentials from
boto3's default chain (environment, profile/SSO, instance role): no function takes credentials and
nothing prints them; the account id is shown with its last four digits only (``resources.mask``).

What is where:

* ``reportlog``  START/END/REPORT/INIT_REPORT lines, text and JSON formats -> ``Report`` records.
* ``cost``       ``estimate(...)`` before anything is created (labkit.billing / labkit.facts prices,
                 provisioned concurrency, exclusions stated) and ``Budget`` (refuses estimates over
                 ``budget_usd``, default $0.50; running total that stops dispatching).
* ``resources``  ``AwsSession`` (boto3 clients), ``Deployment`` (context manager: role under
                 ``/labkit/`` with only AWSLambdaBasicExecutionRole, tagged and prefixed function and
                 log group, reserved/provisioned concurrency, account limits checked; teardown with
                 verification, also at interpreter exit), ``find_leftovers`` / ``cleanup``.
* ``shim/``      deployed with every function: ``labkit_shim.handler`` wraps the learner's module and
                 prints ``LABKIT`` start/end lines (environment id from a module-level UUID, init
                 type, times); ``labkit_init.py`` becomes a minimal real ``labkit`` (``sleep``,
                 ``cpu``) so handler code written for the simulator runs unchanged.
* ``driver``     ``Driver(session, function, budget, retry).invoke(workload)`` / ``.invoke_async``:
                 wall-clock thread pool, botocore retries off, ``SdkRetry`` the only retry logic,
                 ``LogType=Tail`` or CloudWatch Logs.
* ``__main__``   ``python -m labkit.aws cleanup [--region R] [--run-id ID] [--dry-run]``.

The contract with the simulator: the driver returns one record per invocation attempt as a dict
with exactly the keys of ``labkit.records.INVOCATION_COLUMNS`` (meanings in ``labkit.run``; times in
seconds since the run started; ``outcome`` success | error | timeout | throttled), and environment
rows with ``driver.ENVIRONMENT_COLUMNS`` (those of ``Run.environments``), so a ``Run`` can be filled
from either backend once the core has its backend seam.

Tested without an account in ``tests/aws``: moto's server as the control plane and a local data
plane running the handlers with AWS's ``awslambdaric`` (see ``tests/aws/local_lambda.py``); what
moto lacks (provisioned concurrency, account settings, the IAM propagation race) with Stubber.
"""
