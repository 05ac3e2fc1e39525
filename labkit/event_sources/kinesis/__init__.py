"""A Kinesis data stream and the Lambda event source mapping (ESM) that reads it.

One concept per module, each importing only the ones above it:

* ``errors``: ``ProvisionedThroughputExceededException``, a put over a shard's limit.
* ``params``: the integer-parameter check the stream and the mapping share.
* ``shard``: partition-key hashing, shards and their key ranges, sequence
  numbers, per-shard write limits, and one accepted record (``KinesisRecord``).
* ``producers``: ``producer``, which feeds a stream from an open-loop workload.
* ``stream``: ``KinesisStream``: routing, ``PutRecord``/``PutRecords``,
  retention, settling records in the ledger, and its tables.
* ``config``: ``KinesisMappingConfig``, the mapping's checked settings.
* ``mapping``: ``KinesisEventSourceMapping``: polling, lanes, batches, retries,
  bisection, partial batch responses, on-failure destinations, iterator age.

Tables for notebooks: ``stream.puts`` (every put attempt), ``stream.records``
(every accepted record and its final state), ``mapping.batches`` (every batch
invocation: BATCH_COLUMNS) and ``mapping.iterator_age`` (the age of the last
record of each batch when its invocation finished, per shard and lane). Their
rows are named records from ``labkit.records`` (``KinesisPutRecord``,
``KinesisRecordState``, ``KinesisBatchRecord``, ``IteratorAgeRecord``), each
table's columns the fields of its type.

Not modelled: enhanced fan-out, resharding, GetRecords read limits (2 MB/s,
10,000 records per call), tumbling windows, AT_TIMESTAMP, and duplicates
beyond the retries described above. One mapping per stream.
"""

from .config import STARTING_POSITIONS, KinesisMappingConfig
from .errors import ACCOUNT_ID, ProvisionedThroughputExceededException
from .mapping import BATCH_COLUMNS, ITERATOR_AGE_COLUMNS, KinesisEventSourceMapping
from .producers import producer
from .shard import HASH_KEY_SPACE, HashKeyRange, KinesisRecord, Shard, even_hash_ranges, hash_key
from .stream import PUT_COLUMNS, RECORD_COLUMNS, KinesisStream

__all__ = ["ACCOUNT_ID", "BATCH_COLUMNS", "HASH_KEY_SPACE", "ITERATOR_AGE_COLUMNS", "PUT_COLUMNS", "RECORD_COLUMNS",
           "STARTING_POSITIONS", "HashKeyRange", "KinesisEventSourceMapping", "KinesisMappingConfig", "KinesisRecord",
           "KinesisStream", "ProvisionedThroughputExceededException", "Shard", "even_hash_ranges", "hash_key",
           "producer"]
