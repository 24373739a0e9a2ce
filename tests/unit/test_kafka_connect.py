"""A refused SASL login is reported while kafka-python is still retrying its bootstrap, not after it gives up.

The client here is a stand-in for the constructor only (what kafka-python logs and when it returns); the real
broker's refusal is exercised in tests/integration/test_kafka_sasl.py.
"""

from __future__ import annotations

import logging
import threading

import pytest
from kafka.errors import KafkaTimeoutError

from badbuzz.stream.kafka_io import KafkaAuthFailed, KafkaUnavailable, connect
from badbuzz.stream.kafka_security import KafkaSecurity

SASL = KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-512", "badbuzz", "wrong")


class Client:
    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def test_a_refusal_is_reported_while_the_client_still_retries() -> None:
    release, finished, client = threading.Event(), threading.Event(), Client()

    def make() -> Client:  # what kafka-python does with a wrong password: log, retry until its timeout
        logging.getLogger("kafka.net.manager").error("Bootstrap attempt failed: SaslAuthenticationFailedError")
        release.wait(30)
        finished.set()
        return client

    with pytest.raises(KafkaAuthFailed, match="check BADBUZZ_KAFKA_USERNAME / BADBUZZ_KAFKA_PASSWORD"):
        connect(make, "broker:9094", SASL)
    assert not finished.is_set()  # reported before the constructor returned
    release.set()
    assert client.closed.wait(10)  # the abandoned client is closed once it exists


def test_clients_and_errors_come_back_as_before() -> None:
    client = Client()
    assert connect(lambda: client, "broker:9094", SASL) is client
    assert connect(lambda: client, "broker:9092", KafkaSecurity()) is client
    assert not client.closed.is_set()

    def unreachable() -> Client:
        raise KafkaTimeoutError("bootstrap timed out")

    for security in (SASL, KafkaSecurity()):
        with pytest.raises(KafkaUnavailable, match="no Kafka broker at broker:9092"):
            connect(unreachable, "broker:9092", security)
