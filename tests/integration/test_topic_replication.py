"""Topics are created with the replication the settings give (issue 27: managed clusters refuse one replica,
and MSK's min.insync.replicas=2 fails acks=all writes to such a topic)."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from pydantic import ValidationError

from badbuzz.services.settings import Settings
from badbuzz.stream.kafka.clients import ensure_topics
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def test_topics_get_the_configured_min_insync_replicas(stack: Stack) -> None:
    name = f"it-{uuid.uuid4().hex[:8]}.raw"
    settings = Settings(kafka_bootstrap=stack.kafka, kafka_replication_factor=1, kafka_min_insync_replicas=1,
                        retention_days=30)
    ensure_topics(stack.kafka, [name], 2, 1_048_576, config=settings.kafka_topic_config())
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        configs = {k: v["value"] for k, v in described["topic"][name].items()}
        meta = admin.describe_topics([name])[0]
    finally:
        admin.close()
    assert configs["min.insync.replicas"] == "1" and configs["max.message.bytes"] == "1048576"
    assert configs["retention.ms"] == str(30 * 86_400_000)  # no tweet text outlives the store's retention
    assert len(meta["partitions"]) == 2 and all(len(p["replica_nodes"]) == 1 for p in meta["partitions"])


def test_an_insync_bound_above_the_replicas_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="every acks=all write would fail"):
        Settings(kafka_replication_factor=1, kafka_min_insync_replicas=2)
    assert Settings(kafka_replication_factor=3, kafka_min_insync_replicas=2).kafka_topic_config().factor == 3
