"""Sources of ``tweets.raw``: each maps a social network's own payloads to the contract (pure, tested with
payloads from the network's public documentation); the network clients live in ``services/ingest``."""
