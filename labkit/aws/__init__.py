"""labkit's optional real-AWS backend (work in progress; see issue 13).

Nothing here is imported by ``import labkit``: it needs boto3 and, to do anything, AWS credentials
from boto3's default chain.
"""
