"""The local AWS endpoint for tests/aws: moto's server + a proxy + a real data plane (see local_lambda.py).

Dummy credentials only: every AWS variable and config file of the machine is hidden from the tests,
so nothing can reach a real account (there is no network here anyway).
"""

import os

import pytest
from .local_lambda import LocalAws

_DUMMY = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
          "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
          "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="session")
def local_aws():
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for k in saved:
        del os.environ[k]
    os.environ.update(_DUMMY)
    endpoint = LocalAws(region="us-east-1", idle_reclaim_s=600, async_retries=0)
    try:
        yield endpoint
    finally:
        endpoint.close()
        for k in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[k]
        os.environ.update(saved)


@pytest.fixture
def session(local_aws):
    from labkit.aws.resources import AwsSession
    return AwsSession(region=local_aws.region, endpoint_url=local_aws.url)
