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

# --- Asynchronous invocation -----------------------------------------------------
ASYNC_MAX_RETRY_ATTEMPTS_RANGE = (0, 2)
ASYNC_DEFAULT_MAX_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_S_RANGE = (60, 21600)
ASYNC_DEFAULT_MAX_EVENT_AGE_S = 21600
ASYNC_FUNCTION_ERROR_RETRY_DELAYS_S = (60.0, 120.0)   # before the 1st and the 2nd retry
ASYNC_THROTTLE_BACKOFF_S = (1.0, 300.0)               # exponential, from 1 s up to 5 min
ASYNC_PAYLOAD_LIMIT_BYTES = 1024 * 1024               # since Oct 2025
ASYNC_LEGACY_PAYLOAD_LIMIT_BYTES = 256 * 1024         # before Oct 2025
ASYNC_DUPLICATE_RATE = 0.0                            # UNCONFIRMED: AWS gives no rate
ASYNC_ZERO_RESERVED_CONDITION = "RetriesExhausted"    # UNCONFIRMED condition name

# --- Kinesis Data Streams ---------------------------------------------------------
KINESIS_HASH_KEY_BITS = 128                       # MD5 -> 128-bit hash keys
KINESIS_PARTITION_KEY_CHARS_RANGE = (1, 256)
KINESIS_MAX_RECORD_BYTES = 1024 * 1024            # data blob before base64 (10 MiB on a 2025/26 page)
KINESIS_SHARD_WRITE_RECORDS_PER_S = 1000
KINESIS_SHARD_WRITE_BYTES_PER_S = 1024 * 1024
KINESIS_DEFAULT_RETENTION_HOURS = 24
KINESIS_RETENTION_HOURS_RANGE = (24, 8760)

# --- Kinesis event source mapping ---------------------------------------------------
KINESIS_ESM_POLL_INTERVAL_S = 1.0                 # "once per second" per shard
KINESIS_ESM_DEFAULT_BATCH_SIZE = 100
KINESIS_ESM_BATCH_SIZE_RANGE = (1, 10000)
KINESIS_ESM_DEFAULT_BATCHING_WINDOW_S = 0
KINESIS_ESM_BATCHING_WINDOW_S_RANGE = (0, 300)
KINESIS_ESM_BATCH_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
KINESIS_ESM_PARALLELIZATION_FACTOR_RANGE = (1, 10)
KINESIS_ESM_DEFAULT_MAX_RETRY_ATTEMPTS = -1       # -1 = until the records expire
KINESIS_ESM_MAX_RETRY_ATTEMPTS_RANGE = (-1, 10000)
KINESIS_ESM_DEFAULT_MAX_RECORD_AGE_S = -1         # -1 = no limit
KINESIS_ESM_MAX_RECORD_AGE_S_RANGE = (60, 604800) # or -1
KINESIS_ESM_RETRY_DELAY_S = 1.0                   # UNCONFIRMED: retry on the next poll
KINESIS_ESM_THROTTLE_BACKOFF_S = (1.0, 30.0)      # UNCONFIRMED: "short", doubling


# --- SQS queues ----------------------------------------------------------------------
SQS_FIFO_SUFFIX = ".fifo"
SQS_DEFAULT_VISIBILITY_TIMEOUT_S = 30
SQS_VISIBILITY_TIMEOUT_S_RANGE = (0, 43200)           # up to 12 hours
SQS_DEFAULT_RETENTION_S = 345600                      # 4 days
SQS_RETENTION_S_RANGE = (60, 1209600)                 # 1 minute to 14 days
SQS_MAX_RECEIVE_COUNT_RANGE = (1, 1000)               # RedrivePolicy maxReceiveCount
SQS_FIFO_DEDUPLICATION_INTERVAL_S = 300               # 5 minutes
SQS_MAX_MESSAGE_BYTES = 1024 * 1024                   # 1 MiB since 2025 (256 KiB before)
SQS_SEND_BATCH_MAX_ENTRIES = 10                       # SendMessageBatch / ReceiveMessage

# --- SQS event source mapping ------------------------------------------------------------
SQS_ESM_DEFAULT_BATCH_SIZE = 10
SQS_ESM_MAX_BATCH_SIZE_STANDARD = 10000
SQS_ESM_MAX_BATCH_SIZE_FIFO = 10
SQS_ESM_BATCHING_WINDOW_S_RANGE = (0, 300)            # standard queues only
SQS_ESM_LARGE_BATCH_THRESHOLD = 10                    # BatchSize above this needs a batching window ...
SQS_ESM_LARGE_BATCH_MIN_WINDOW_S = 1                  # ... of at least 1 s
SQS_ESM_INITIAL_CONCURRENCY = 5                       # concurrent batches at first
SQS_ESM_SCALE_UP_PER_MINUTE = 300                     # since late Nov 2023
SQS_ESM_LEGACY_SCALE_UP_PER_MINUTE = 60               # before late Nov 2023
SQS_ESM_DEFAULT_MAX_CONCURRENCY = 1250                # UNCONFIRMED: newer docs 1,250, older docs 1,000
SQS_ESM_OLDER_DOCS_MAX_CONCURRENCY = 1000
SQS_ESM_MAXIMUM_CONCURRENCY_RANGE = (2, 1000)         # ScalingConfig.MaximumConcurrency
SQS_ESM_SCALE_DOWN_PER_MINUTE = 300                   # UNCONFIRMED: AWS gives no scale-down rate
SQS_ESM_THROTTLE_BACKOFF_S = (1.0, 20.0)              # UNCONFIRMED: "retries with backoff", no numbers

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
    "ASYNC_MAX_RETRY_ATTEMPTS_RANGE": ("Lambda API PutFunctionEventInvokeConfig: MaximumRetryAttempts 0-2", CHECKED),
    "ASYNC_DEFAULT_MAX_RETRY_ATTEMPTS": (f"{_DG}, invocation-async-error-handling.html: two more attempts", CHECKED),
    "ASYNC_MAX_EVENT_AGE_S_RANGE": (
        "Lambda API PutFunctionEventInvokeConfig: MaximumEventAgeInSeconds 60-21600", CHECKED),
    "ASYNC_DEFAULT_MAX_EVENT_AGE_S": (f"{_DG}, invocation-async-error-handling.html: up to 6 hours", CHECKED),
    "ASYNC_FUNCTION_ERROR_RETRY_DELAYS_S": (
        f"{_DG}, invocation-async-error-handling.html: one minute, then two", CHECKED),
    "ASYNC_THROTTLE_BACKOFF_S": (
        f"{_DG}, invocation-async-error-handling.html: from 1 s to at most 5 minutes", CHECKED),
    "ASYNC_PAYLOAD_LIMIT_BYTES": ("Lambda API Invoke: asynchronous payload up to 1 MB (raised Oct 2025)", CHECKED),
    "ASYNC_LEGACY_PAYLOAD_LIMIT_BYTES": ("Lambda API InvokeAsync / pre-Oct-2025 Invoke: 256 KB", CHECKED),
    "ASYNC_DUPLICATE_RATE": ("UNCONFIRMED: AWS says duplicates can occur without errors but gives no rate", CHECKED),
    "ASYNC_ZERO_RESERVED_CONDITION": (
        "UNCONFIRMED: the failure-record condition for reserved concurrency 0 is not documented", CHECKED),
    "SYNC_PAYLOAD_LIMIT_BYTES": ("Lambda API Invoke: 6 MB synchronous request", CHECKED),
    "KINESIS_HASH_KEY_BITS": (
        "Kinesis API PutRecordsRequestEntry: MD5 maps partition keys to 128-bit integers", CHECKED),
    "KINESIS_PARTITION_KEY_CHARS_RANGE": (
        "Kinesis API PutRecordsRequestEntry: PartitionKey 1-256 Unicode characters", CHECKED),
    "KINESIS_MAX_RECORD_BYTES": (
        "Kinesis API PutRecordsRequestEntry: 1 MiB data blob (a 2025/26 page shows 10 MiB, date UNCONFIRMED)", CHECKED),
    "KINESIS_SHARD_WRITE_RECORDS_PER_S": (
        "Kinesis Developer Guide, working-with-streams: 1,000 records/s per shard", CHECKED),
    "KINESIS_SHARD_WRITE_BYTES_PER_S": ("Kinesis Developer Guide, working-with-streams: 1 MB/s per shard", CHECKED),
    "KINESIS_DEFAULT_RETENTION_HOURS": (
        "Kinesis Developer Guide, kinesis-extended-retention: 24 h by default", CHECKED),
    "KINESIS_RETENTION_HOURS_RANGE": ("Kinesis Developer Guide, kinesis-extended-retention: 24 to 8,760 h", CHECKED),
    "KINESIS_ESM_POLL_INTERVAL_S": (
        "Developer Guide 2023 edition, with-kinesis.md: each shard polled once per second", CHECKED),
    "KINESIS_ESM_DEFAULT_BATCH_SIZE": (f"{_DG}, services-kinesis-parameters.html: BatchSize default 100", CHECKED),
    "KINESIS_ESM_BATCH_SIZE_RANGE": (f"{_DG}, services-kinesis-parameters.html: BatchSize up to 10,000", CHECKED),
    "KINESIS_ESM_DEFAULT_BATCHING_WINDOW_S": (
        "Lambda API CreateEventSourceMapping: MaximumBatchingWindowInSeconds default 0 for streams", CHECKED),
    "KINESIS_ESM_BATCHING_WINDOW_S_RANGE": (
        "Lambda API CreateEventSourceMapping: MaximumBatchingWindowInSeconds 0-300", CHECKED),
    "KINESIS_ESM_BATCH_PAYLOAD_LIMIT_BYTES": (
        "Developer Guide 2023 edition, invocation-eventsourcemapping.md: a batch is sent at 6 MB", CHECKED),
    "KINESIS_ESM_PARALLELIZATION_FACTOR_RANGE": (
        "Developer Guide 2023 edition, with-kinesis.md: ParallelizationFactor 1-10", CHECKED),
    "KINESIS_ESM_DEFAULT_MAX_RETRY_ATTEMPTS": (
        f"{_DG}, services-kinesis-parameters.html: -1 (infinite) by default", CHECKED),
    "KINESIS_ESM_MAX_RETRY_ATTEMPTS_RANGE": (
        f"{_DG}, services-kinesis-parameters.html: MaximumRetryAttempts -1 to 10,000", CHECKED),
    "KINESIS_ESM_DEFAULT_MAX_RECORD_AGE_S": (
        f"{_DG}, services-kinesis-parameters.html: -1 (infinite) by default", CHECKED),
    "KINESIS_ESM_MAX_RECORD_AGE_S_RANGE": (
        "services-kinesis-parameters.html up to 604,800; aws-cdk validation: at least 60 s", CHECKED),
    "KINESIS_ESM_RETRY_DELAY_S": (
        "UNCONFIRMED: AWS gives no delay between retries of a failed stream batch; "
        "labkit retries on the next poll", CHECKED),
    "KINESIS_ESM_THROTTLE_BACKOFF_S": (
        "UNCONFIRMED: AWS says throttled batches are retried, without a backoff schedule", CHECKED),
    "SQS_FIFO_SUFFIX": ("Amazon SQS Developer Guide, FIFO queues: the queue name must end with .fifo", "2026-11-22"),
    "SQS_DEFAULT_VISIBILITY_TIMEOUT_S": (
        "Amazon SQS API ChangeMessageVisibility / SetQueueAttributes: default 30 s", "2026-11-22"),
    "SQS_VISIBILITY_TIMEOUT_S_RANGE": (
        "Amazon SQS API SetQueueAttributes VisibilityTimeout: 0 to 43,200 s (12 hours)", "2026-11-22"),
    "SQS_DEFAULT_RETENTION_S": (
        "Amazon SQS API SetQueueAttributes MessageRetentionPeriod: default 345,600 s (4 days)", "2026-11-22"),
    "SQS_RETENTION_S_RANGE": (
        "Amazon SQS API SetQueueAttributes MessageRetentionPeriod: 60 s to 1,209,600 s (14 days)", "2026-11-22"),
    "SQS_MAX_RECEIVE_COUNT_RANGE": (
        "Amazon SQS Developer Guide, dead-letter queues: maxReceiveCount 1 to 1,000 (facts sheet 2e: "
        "set on the source queue)", "2026-11-22"),
    "SQS_FIFO_DEDUPLICATION_INTERVAL_S": (
        "Amazon SQS API SendMessage MessageDeduplicationId: 5-minute deduplication interval", "2026-11-22"),
    "SQS_MAX_MESSAGE_BYTES": (
        "AWS Compute Blog, 29 Jan 2026 (facts sheet 2e): SQS messages up to 1 MiB since 2025", "2026-11-22"),
    "SQS_SEND_BATCH_MAX_ENTRIES": (
        "Amazon SQS API SendMessageBatch / ReceiveMessage: at most 10 messages per call", "2026-11-22"),
    "SQS_ESM_DEFAULT_BATCH_SIZE": (f"{_DG}, services-sqs-configure.html: BatchSize default 10", "2026-11-22"),
    "SQS_ESM_MAX_BATCH_SIZE_STANDARD": (
        f"{_DG}, services-sqs-configure.html: standard queues up to 10,000", "2026-11-22"),
    "SQS_ESM_MAX_BATCH_SIZE_FIFO": (f"{_DG}, services-sqs-configure.html: FIFO queues up to 10", "2026-11-22"),
    "SQS_ESM_BATCHING_WINDOW_S_RANGE": (
        "Developer Guide 2023 edition, API_CreateEventSourceMapping.md: MaximumBatchingWindowInSeconds 0-300; "
        "standard queues only", "2026-11-22"),
    "SQS_ESM_LARGE_BATCH_THRESHOLD": (
        "Developer Guide 2023 edition, invocation-eventsourcemapping.md: "
        "BatchSize > 10 needs a batching window >= 1 s", "2026-11-22"),
    "SQS_ESM_LARGE_BATCH_MIN_WINDOW_S": (
        "Developer Guide 2023 edition, invocation-eventsourcemapping.md: "
        "BatchSize > 10 needs a batching window >= 1 s", "2026-11-22"),
    "SQS_ESM_INITIAL_CONCURRENCY": (
        f"{_DG}, services-sqs-scaling.html: starts with 5 concurrent batches", "2026-11-22"),
    "SQS_ESM_SCALE_UP_PER_MINUTE": (
        f"{_DG}, services-sqs-scaling.html; AWS Compute Blog (faster polling scale-up, Nov 2023): "
        "up to 300 more per minute", "2026-11-22"),
    "SQS_ESM_LEGACY_SCALE_UP_PER_MINUTE": (
        "AWS Compute Blog (faster polling scale-up, Nov 2023): previously 60 per minute", "2026-11-22"),
    "SQS_ESM_DEFAULT_MAX_CONCURRENCY": (
        f"UNCONFIRMED: {_DG}, services-sqs-scaling.html, newer text says 1,250 concurrent invokes, "
        "older text 1,000 batches", "2026-11-22"),
    "SQS_ESM_OLDER_DOCS_MAX_CONCURRENCY": (
        f"{_DG}, services-sqs-scaling.html (older version): at most 1,000 batches at once", "2026-11-22"),
    "SQS_ESM_MAXIMUM_CONCURRENCY_RANGE": ("Lambda API ScalingConfig: MaximumConcurrency 2-1,000", "2026-11-22"),
    "SQS_ESM_SCALE_DOWN_PER_MINUTE": (
        f"UNCONFIRMED: {_DG}, services-sqs-scaling.html says the ESM scales back down at low traffic, "
        "without a rate", "2026-11-22"),
    "SQS_ESM_THROTTLE_BACKOFF_S": (
        f"UNCONFIRMED: {_DG}, services-sqs-errorhandling.html says throttled invokes are retried with backoff, "
        "without numbers", "2026-11-22"),
}


# --- Simulated relational database (labkit.services.database) ---------------------------
# MySQL-compatible server in the style of a small Amazon RDS instance. The timings are
# labkit assumptions (marked UNCONFIRMED), chosen to be plausible inside one Region; every
# one can be overridden per database.
DB_DEFAULT_MAX_CONNECTIONS = 100          # UNCONFIRMED assumption: a small RDS instance
DB_DEFAULT_VCPUS = 2                      # e.g. db.t3.small / db.t4g.small: 2 vCPUs
DB_HANDSHAKE_S = 0.010                    # UNCONFIRMED: TCP + TLS + MySQL greeting round trips
DB_AUTH_CPU_S = 0.002                     # UNCONFIRMED: server CPU to authenticate and set up a session
DB_NETWORK_RTT_S = 0.0005                 # UNCONFIRMED: one client-server round trip in one AZ
DB_QUERY_CPU_S = 0.002                    # UNCONFIRMED: server CPU of one small indexed query
MYSQL_PORT = 3306
MYSQL_ER_CON_COUNT_ERROR = 1040           # "Too many connections", SQLSTATE 08004
MYSQL_ER_ACCESS_DENIED_ERROR = 1045       # "Access denied for user ..."
MYSQL_CR_CONN_HOST_ERROR = 2003           # client: "Can't connect to MySQL server on ..."
MYSQL_CR_SERVER_LOST = 2013               # client: "Lost connection to MySQL server during query"

# --- RDS Proxy (labkit.services.proxy) --------------------------------------------------
RDS_PROXY_DEFAULT_MAX_CONNECTIONS_PERCENT = 100
RDS_PROXY_MAX_CONNECTIONS_PERCENT_RANGE = (1, 100)
RDS_PROXY_DEFAULT_BORROW_TIMEOUT_S = 120
RDS_PROXY_BORROW_TIMEOUT_S_RANGE = (0, 3600)   # 0 = wait without limit; some SDK docs say 0-300
RDS_PROXY_BORROW_TIMEOUT_ERROR = 9501          # UNCONFIRMED error number
RDS_PROXY_BORROW_TIMEOUT_MESSAGE = "Timed-out waiting to acquire database connection"
RDS_PROXY_MAX_CLIENT_CONNECTIONS = 100_000     # UNCONFIRMED assumption: AWS gives no figure
RDS_PROXY_HANDSHAKE_S = 0.010                  # UNCONFIRMED: client to proxy, like DB_HANDSHAKE_S
RDS_PROXY_OVERHEAD_S = 0.001                   # UNCONFIRMED: extra latency per statement via the proxy

# --- Traditional server baseline (labkit.services.pool) ------------------------------------
SERVER_POOL_TIMEOUT_S = 30.0                   # library default: wait for a pooled connection

SOURCES.update({
    "DB_DEFAULT_MAX_CONNECTIONS": ("UNCONFIRMED labkit assumption: RDS sets max_connections from instance memory "
                                   "(MySQL: DBInstanceClassMemory/12582880); about 100 suits a small instance; "
                                   "MySQL's own default is 151", CHECKED),
    "DB_DEFAULT_VCPUS": ("Amazon RDS instance classes: db.t3.small and db.t4g.small have 2 vCPUs", CHECKED),
    "DB_HANDSHAKE_S": ("UNCONFIRMED labkit assumption: a few network round trips (TCP, TLS, MySQL handshake) "
                       "inside one Region", CHECKED),
    "DB_AUTH_CPU_S": ("UNCONFIRMED labkit assumption: server-side authentication and session setup", CHECKED),
    "DB_NETWORK_RTT_S": ("UNCONFIRMED labkit assumption: sub-millisecond round trip within one Availability Zone",
                         CHECKED),
    "DB_QUERY_CPU_S": ("UNCONFIRMED labkit assumption: a small indexed query; pass query_cpu_s to change it", CHECKED),
    "MYSQL_PORT": ("MySQL Reference Manual: default TCP port 3306", CHECKED),
    "MYSQL_ER_CON_COUNT_ERROR": ("MySQL/MariaDB server error reference: 1040 ER_CON_COUNT_ERROR, SQLSTATE 08004, "
                                 "'Too many connections'", CHECKED),
    "MYSQL_ER_ACCESS_DENIED_ERROR": ("MySQL server error reference: 1045 ER_ACCESS_DENIED_ERROR", CHECKED),
    "MYSQL_CR_CONN_HOST_ERROR": ("MySQL client error reference: 2003 CR_CONN_HOST_ERROR", CHECKED),
    "MYSQL_CR_SERVER_LOST": ("MySQL client error reference: 2013 CR_SERVER_LOST", CHECKED),
    "RDS_PROXY_DEFAULT_MAX_CONNECTIONS_PERCENT": ("RDS API ConnectionPoolConfiguration: MaxConnectionsPercent "
                                                  "default 100 (10 for SQL Server)", CHECKED),
    "RDS_PROXY_MAX_CONNECTIONS_PERCENT_RANGE": ("RDS API ConnectionPoolConfiguration: MaxConnectionsPercent 1-100",
                                                CHECKED),
    "RDS_PROXY_DEFAULT_BORROW_TIMEOUT_S": ("RDS API ConnectionPoolConfiguration: ConnectionBorrowTimeout default "
                                           "120 s", CHECKED),
    "RDS_PROXY_BORROW_TIMEOUT_S_RANGE": ("RDS API ConnectionPoolConfiguration: 1-3,600 s or 0 for no limit "
                                         "(a newer SDK page says 0-300: UNCONFIRMED which is current)", CHECKED),
    "RDS_PROXY_BORROW_TIMEOUT_ERROR": ("UNCONFIRMED: the MySQL error number the proxy returns on a borrow timeout",
                                       CHECKED),
    "RDS_PROXY_BORROW_TIMEOUT_MESSAGE": ("error text reported by clients of RDS Proxy on a borrow timeout "
                                         "(sequelize issue 14433, 2022); exact wording UNCONFIRMED", CHECKED),
    "RDS_PROXY_MAX_CLIENT_CONNECTIONS": ("UNCONFIRMED labkit assumption: AWS documents no client-connection "
                                         "limit figure; large on purpose", CHECKED),
    "RDS_PROXY_HANDSHAKE_S": ("UNCONFIRMED labkit assumption: same order as DB_HANDSHAKE_S", CHECKED),
    "RDS_PROXY_OVERHEAD_S": ("UNCONFIRMED labkit assumption: RDS Proxy adds a little latency per statement", CHECKED),
    "SERVER_POOL_TIMEOUT_S": ("SQLAlchemy QueuePool pool_timeout and HikariCP connectionTimeout: 30 s by default",
                              CHECKED),
})

# --- Environment variables of a function (labkit.isolation; checked 2026-12-05) -------------------
ENV_VARS_MAX_BYTES = 4096                      # all variables, measured as compact JSON
ENV_VAR_KEY_PATTERN = r"[a-zA-Z]([a-zA-Z0-9_])+"
ENV_VARS_RESERVED = ("_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
                     "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
                     "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
                     "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ")
# What the runtime images set besides the function's own values (the unreserved ones can be overridden).
ENV_VARS_RUNTIME = {"LANG": "en_US.UTF-8", "TZ": ":/etc/localtime",
                    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
                    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
                                       "/var/task/lib:/opt/lib",
                    "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime"}

_ENV_CHECKED = "2026-12-05"
SOURCES.update({
    "ENV_VARS_MAX_BYTES": (f"{_DG}, configuration-envvars.html: 'The total size of all environment variables "
                           "doesn't exceed 4 KB'; measured on the compact JSON of the variables, as AWS's error "
                           "quotes it ('String measured: {...}') and LocalStack reproduces it", _ENV_CHECKED),
    "ENV_VAR_KEY_PATTERN": ("Lambda API reference, Environment: Variables key pattern [a-zA-Z]([a-zA-Z0-9_])+",
                            _ENV_CHECKED),
    "ENV_VARS_RESERVED": (f"{_DG}, configuration-envvars.html, 'Defined runtime environment variables' (reserved "
                          "keys; AWS_DEFAULT_REGION in the current edition, AWS_ACCESS_KEY in the 2023 edition)",
                          _ENV_CHECKED),
    "ENV_VARS_RUNTIME": ("AWS's Lambda base images for Python (aws/aws-lambda-base-images, Dockerfile ENV lines); "
                         f"{_DG}, configuration-envvars.html lists LANG, PATH, LD_LIBRARY_PATH as unreserved",
                         _ENV_CHECKED),
})
