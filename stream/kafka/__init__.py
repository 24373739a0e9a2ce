"""Kafka: producers and topics, the brokers' security settings, the faust scorer app, consumer lag."""
