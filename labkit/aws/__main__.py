"""``python -m labkit.aws cleanup``: find labkit's leftover AWS resources, delete them, verify, report.

Credentials come from boto3's default chain (environment, profile, SSO, instance role); the Region
from ``--region`` or the usual AWS_REGION / profile settings. ``--dry-run`` only lists.
"""

import argparse
import sys

from .resources import AwsSession, cleanup, mask


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m labkit.aws", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cleanup", help="delete every leftover labkit resource in a Region")
    c.add_argument("--region", help="AWS Region (default: boto3's configured Region)")
    c.add_argument("--run-id", help="only the resources of this run")
    c.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    c.add_argument("--endpoint-url", help=argparse.SUPPRESS)      # the local test endpoint
    args = parser.parse_args(argv)
    session = AwsSession(region=args.region, endpoint_url=args.endpoint_url)
    found, report = cleanup(session, run_id=args.run_id, dry_run=args.dry_run)
    print(mask(f"labkit leftovers in {session.region}: {len(found)}"))
    for item in found:
        print(f"  {item}")
    if args.dry_run:
        return 0
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
