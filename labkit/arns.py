"""Names of simulated resources: ARNs, URLs and the account they belong to.

Every simulated resource lives in the Lab's Region under one fictitious account,
the placeholder AWS's own examples use, so ARNs look like the real ones.
"""

ACCOUNT_ID = "123456789012"


def function_arn(region: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
    return arn if qualifier is None else f"{arn}:{qualifier}"


def stream_arn(region: str, name: str) -> str:
    return f"arn:aws:kinesis:{region}:{ACCOUNT_ID}:stream/{name}"


def queue_arn(region: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"


def queue_url(region: str, name: str) -> str:
    return f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{name}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
