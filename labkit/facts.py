"""Every AWS Lambda constant the simulator uses, each defined once, with its source.

``SOURCES`` maps each constant's name to ``(source, date checked)``. The facts
sheet (``shared/lambda-facts.md``) is the project's reference; "[DG]" is the
AWS Lambda Developer Guide. Values marked UNCONFIRMED there are *documented,
configurable defaults* here: the simulator reads them from this module but
every one can be overridden per ``Lab`` or per function.

A test (``tests/test_facts.py``) checks that every upper-case constant below has
a ``SOURCES`` entry, so a new constant cannot arrive without its source.
"""

CHECKED = "2026-11-22"

# --- Account and concurrency -------------------------------------------------
REGIONAL_CONCURRENCY_LIMIT = 1000
MIN_UNRESERVED_CONCURRENCY = 100

# --- Scaling rate (since late Nov 2023: per function, continuous refill) -----
SCALING_BUCKET_CAPACITY = 1000      # execution environments
SCALING_BUCKET_WINDOW_S = 10.0      # ... per 10 s, refilled continuously

# --- Scaling rate before Nov 2023 (account level) ----------------------------
LEGACY_BURST_BY_REGION = {
    "us-west-2": 3000, "us-east-1": 3000, "eu-west-1": 3000,
    "ap-northeast-1": 1000, "eu-central-1": 1000, "us-east-2": 1000,
}
LEGACY_BURST_OTHER_REGIONS = 500
LEGACY_SCALE_PER_MINUTE = 500

# --- Function configuration ranges --------------------------------------------
MEMORY_MB_RANGE = (128, 10240)          # 1 MB steps
TIMEOUT_S_RANGE = (1, 900)
DEFAULT_TIMEOUT_S = 3
EPHEMERAL_STORAGE_MB_RANGE = (512, 10240)
DEFAULT_EPHEMERAL_STORAGE_MB = 512
DEFAULT_MEMORY_MB = 128

# --- Execution environments ---------------------------------------------------
INIT_LIMIT_S = 10.0                      # on-demand Init phase
IDLE_RECLAIM_S = 600.0                   # UNCONFIRMED: observed ~10 min (2019), not an AWS promise
RUNTIME_INIT_MS = 150.0                  # UNCONFIRMED: runtime start before module code; AWS: "<100 ms to >1 s"
MAX_MEMORY_USED_MB = 40                  # not modelled: a fixed figure for the REPORT line

# --- CPU ----------------------------------------------------------------------
MB_PER_VCPU = 1769                       # 1 vCPU-second of credit per second at 1,769 MB
MAX_VCPUS = 6                            # at 10,240 MB

# --- Billing ------------------------------------------------------------------
PRICE_PER_REQUEST_USD = 0.20 / 1_000_000
PRICE_PER_GB_S_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}   # first tier
# Billing models, newest first: (name, granularity ms, init billed on on-demand)
BILLING_MODELS = {
    "2025-08": (1, True),        # since 1 Aug 2025: init billed, 1 ms rounding
    "2020-12": (1, False),       # Dec 2020 - Jul 2025: 1 ms rounding, init free
    "pre-2020-12": (100, False), # before Dec 2020: rounded up to 100 ms
}
DEFAULT_BILLING_MODEL = "2025-08"

# --- Synchronous throttles ------------------------------------------------------
THROTTLE_REASON_ACCOUNT = "ConcurrentInvocationLimitExceeded"
THROTTLE_REASON_RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"
# UNCONFIRMED: AWS does not document which Reason the scaling-rate limit carries.
THROTTLE_REASON_SCALING = "ConcurrentInvocationLimitExceeded"

# --- SDK-side retries (botocore "standard" mode) ------------------------------
SDK_STANDARD_MAX_ATTEMPTS = 3
SDK_STANDARD_BASE_S = 1.0
SDK_STANDARD_CAP_S = 20.0

# --- Payload limits --------------------------------------------------------------
SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024

_DG = "AWS Lambda Developer Guide"
SOURCES = {
    "CHECKED": ("date the values below were last checked against the facts sheet", CHECKED),
    "REGIONAL_CONCURRENCY_LIMIT": (f"{_DG}, lambda-concurrency.html: 1,000 per Region by default", CHECKED),
    "MIN_UNRESERVED_CONCURRENCY": (f"{_DG}, configuration-concurrency.html: 100 always unreserved", CHECKED),
    "SCALING_BUCKET_CAPACITY": (f"{_DG}, scaling-behavior.html: 1,000 environments per 10 s, per function", CHECKED),
    "SCALING_BUCKET_WINDOW_S": (f"{_DG}, scaling-behavior.html: refilled continuously, does not accrue", CHECKED),
    "LEGACY_BURST_BY_REGION": ("Developer Guide 2023 edition, invocation-scaling.md (before Nov 2023)", CHECKED),
    "LEGACY_BURST_OTHER_REGIONS": ("Developer Guide 2023 edition, invocation-scaling.md", CHECKED),
    "LEGACY_SCALE_PER_MINUTE": ("Developer Guide 2023 edition, invocation-scaling.md: +500 per minute", CHECKED),
    "MEMORY_MB_RANGE": ("Lambda API CreateFunction: MemorySize 128-10,240 MB in 1 MB steps", CHECKED),
    "TIMEOUT_S_RANGE": ("Lambda API CreateFunction: Timeout 1-900 s", CHECKED),
    "DEFAULT_TIMEOUT_S": ("Developer Guide 2023 edition, gettingstarted-limits.md: default 3 s", CHECKED),
    "EPHEMERAL_STORAGE_MB_RANGE": ("Lambda API EphemeralStorage: 512-10,240 MB", CHECKED),
    "DEFAULT_EPHEMERAL_STORAGE_MB": ("Lambda API EphemeralStorage: default 512 MB", CHECKED),
    "DEFAULT_MEMORY_MB": ("Lambda API CreateFunction: default MemorySize 128 MB", CHECKED),
    "INIT_LIMIT_S": (f"{_DG}, lambda-runtime-environment.html: Init limited to 10 s (on-demand)", CHECKED),
    "IDLE_RECLAIM_S": ("UNCONFIRMED: observed ~10 min after the last request (mikhail.io, Aug 2019)", CHECKED),
    "RUNTIME_INIT_MS": (f"UNCONFIRMED default; {_DG}: cold starts take from under 100 ms to over 1 s", CHECKED),
    "MAX_MEMORY_USED_MB": ("not modelled; a fixed figure so REPORT lines have AWS's shape", CHECKED),
    "MB_PER_VCPU": ("Developer Guide 2023 edition, configuration-memory: at 1,769 MB a function has one vCPU", CHECKED),
    "MAX_VCPUS": ("AWS What's New, Dec 2020: up to 6 vCPUs at 10,240 MB", CHECKED),
    "PRICE_PER_REQUEST_USD": ("aws.amazon.com/lambda/pricing: $0.20 per 1M requests", CHECKED),
    "PRICE_PER_GB_S_USD": ("aws.amazon.com/lambda/pricing: first tier, x86 and Arm", CHECKED),
    "BILLING_MODELS": ("AWS Compute Blog (Aug 2025) init billing; re:Invent Dec 2020 1 ms billing", CHECKED),
    "DEFAULT_BILLING_MODEL": ("current AWS billing since 1 Aug 2025", CHECKED),
    "THROTTLE_REASON_ACCOUNT": ("botocore TooManyRequestsException Reason enum", CHECKED),
    "THROTTLE_REASON_RESERVED": ("botocore TooManyRequestsException Reason enum", CHECKED),
    "THROTTLE_REASON_SCALING": ("UNCONFIRMED: the Reason for scaling-rate throttles is not documented", CHECKED),
    "SDK_STANDARD_MAX_ATTEMPTS": ("botocore retry 'standard' mode: 3 attempts in all", CHECKED),
    "SDK_STANDARD_BASE_S": ("botocore retry 'standard' mode: full-jitter exponential backoff, base 1 s", CHECKED),
    "SDK_STANDARD_CAP_S": ("botocore retry 'standard' mode: backoff capped at 20 s", CHECKED),
    "SYNC_PAYLOAD_LIMIT_BYTES": ("Lambda API Invoke: 6 MB synchronous request", CHECKED),
}
