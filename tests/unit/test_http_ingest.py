"""``POST /v1/ingest``'s parsing: each record judged alone by the scorer's model, refusals by index."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from badbuzz.stream.scoring.validation import ValidationLimits
from badbuzz.stream.sources.http_ingest import parse_records

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_a_batch_is_accepted_in_part_with_each_refusal_named() -> None:
    good = {"id": 7, "text": "Vol annulé, Air Paradis", "created_at": NOW.isoformat(), "lang": "fr"}
    records = [
        good,
        {"id": "2", "text": "   ", "created_at": NOW.isoformat()},
        {"id": "3", "text": "late", "created_at": (NOW + timedelta(hours=2)).isoformat()},
        {"id": "4", "text": "lone \ud800 surrogate", "created_at": NOW.isoformat()},
        {"text": "no id", "created_at": NOW.isoformat()},
    ]
    batch = parse_records(records, NOW, ValidationLimits())
    assert [key for key, _ in batch.accepted] == ["7"]  # keyed by the id as the scorer reads it
    assert json.loads(batch.accepted[0][1]) == good  # the value produced is the record as sent
    assert [(i, reason.split(":")[0]) for i, reason in batch.refused] == [
        (1, "empty_text"), (2, "future_event_time"), (3, "decode"), (4, "schema")]
    assert "'id' is missing" in batch.refused[3][1]
