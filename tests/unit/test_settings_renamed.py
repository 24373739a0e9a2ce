"""Renamed settings: the new name is read, the old one still works with a deprecation warning, new wins."""

from __future__ import annotations

import pytest

from badbuzz.services.settings import RENAMED, Settings


def test_the_kafka_topic_names_have_their_own_settings_and_the_old_names_still_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for old in RENAMED:
        monkeypatch.delenv(old, raising=False)
        monkeypatch.delenv(RENAMED[old], raising=False)
    assert Settings().kafka_topic_raw == "tweets.raw"
    monkeypatch.setenv("BADBUZZ_TOPIC_DLQ", "legacy.dlq")
    with pytest.warns(DeprecationWarning, match="BADBUZZ_TOPIC_DLQ is deprecated.*BADBUZZ_KAFKA_TOPIC_DLQ"):
        assert Settings().kafka_topic_dlq == "legacy.dlq"
    monkeypatch.setenv("BADBUZZ_KAFKA_TOPIC_DLQ", "brand.dlq")
    with pytest.warns(DeprecationWarning):
        assert Settings().kafka_topic_dlq == "brand.dlq"  # both set: the new name wins
    monkeypatch.setenv("BADBUZZ_KAFKA_TOPIC_RAW", "brand.raw")
    assert Settings().kafka_topic_raw == "brand.raw"
    assert Settings(kafka_topic_scored="x").kafka_topic_scored == "x"  # by field name in code
