"""The stream: the records' contracts and limits (this folder), where tweets come from (``sources/``), Kafka
(``kafka/``), the scoring stage (``scoring/``), bad-buzz detection (``detection/``, pure) and simulated timelines
(``simulation/``).

Pure logic (validation, batching, detection) takes timestamps and a clock as arguments and does no I/O, so the
same objects run under faust on Kafka, in the embedded in-process mode, and in unit tests.
"""
