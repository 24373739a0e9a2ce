"""The scoring stage: validation of each record, topic assignment, micro-batches through the model, and
the sinks a batch is delivered to."""
