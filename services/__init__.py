"""The running services and their wiring: settings, the CLI, the scorer (``scorer.py``), the alerter
(``alerting/``), the HTTP API (``api/``), the feed producers (``ingest/``); the database (``storage/``); the
offline tools (``tools/``)."""
