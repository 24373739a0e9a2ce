"""The HTTP source: what ``POST /v1/ingest`` does with the records a caller sends, before they go anywhere.

Each record is encoded as the ``tweets.raw`` value it will become and validated by the scorer's own model
(:class:`~badbuzz.stream.scoring.validation.TweetRecord`, the contract every connector meets), one by one: a
caller's batch is accepted in part, and each refused record comes back with its index and the dead-letter
kind and reason the scorer would have given it. Where the accepted values go (Kafka, or the embedded store) is
the API service's wiring, not this module's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from badbuzz.stream.errors import InvalidMessage
from badbuzz.stream.scoring.validation import ValidationLimits, validate


@dataclass
class IngestBatch:
    """The records of one request: ``accepted`` as (the tweet id the scorer will key it by, the value to
    produce), ``refused`` as (the record's index in the request, ``"<kind>: <reason>"``)."""

    accepted: list[tuple[str, bytes]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def parse_records(records: Sequence[dict[str, Any]], now: datetime, limits: ValidationLimits) -> IngestBatch:
    """Validate each record as the scorer will, at ``now``; never raises for a bad record."""
    batch = IngestBatch()
    for i, record in enumerate(records):
        try:
            value = json.dumps(record, ensure_ascii=False).encode("utf-8")
            tweet = validate(value, now, limits)
        except InvalidMessage as exc:
            batch.refused.append((i, f"{exc.kind}: {exc}"))
            continue
        except (ValueError, UnicodeEncodeError) as exc:  # e.g. a lone surrogate that UTF-8 cannot carry
            batch.refused.append((i, f"decode: {exc}"))
            continue
        batch.accepted.append((tweet.id, value))
    return batch
