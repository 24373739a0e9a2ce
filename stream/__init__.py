"""Streaming stages: message contracts and validation, micro-batching, the scoring pipeline, sources and sinks.

Pure logic here (validation, batching) takes timestamps and a clock as arguments and does no I/O, so the
same objects run under faust on Kafka, in the embedded in-process mode, and in unit tests.
"""
