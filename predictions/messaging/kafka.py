"""Kafka clients for the product, on the documented kafka-python API so they work against both
Apache Kafka (production) and the embedded Tansu broker."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

log = logging.getLogger(__name__)

# Fast failure detection and ~3 s group joins (see docs/architecture.md).
CLIENT_DEFAULTS: dict[str, Any] = {
    "reconnect_backoff_ms": 100,
    "reconnect_backoff_max_ms": 1000,
    "request_timeout_ms": 10_000,
}


def bootstrap_servers() -> list[str]:
    return [s.strip() for s in settings.KAFKA_BOOTSTRAP_SERVERS.split(",") if s.strip()]


def make_producer(**overrides: Any) -> KafkaProducer:
    options = {
        "bootstrap_servers": bootstrap_servers(),
        "acks": "all",
        "linger_ms": 5,
        "retries": 5,
        **CLIENT_DEFAULTS,
        **overrides,
    }
    return KafkaProducer(**options)


def make_consumer(**overrides: Any) -> KafkaConsumer:
    options = {
        "bootstrap_servers": bootstrap_servers(),
        "group_id": settings.KAFKA_CONSUMER_GROUP,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "max_poll_records": settings.STREAM_POLL_MAX_RECORDS,
        "fetch_max_wait_ms": settings.KAFKA_FETCH_MAX_WAIT_MS,
        **CLIENT_DEFAULTS,
        **overrides,
    }
    return KafkaConsumer(**options)


def ensure_topics(names: list[str] | None = None, partitions: int | None = None) -> None:
    """Create the product's topics if they do not exist yet (idempotent)."""
    names = names or [settings.KAFKA_TOPIC_TICKS, settings.KAFKA_TOPIC_DLQ,
                      settings.KAFKA_TOPIC_PREDICTIONS]
    partitions = partitions or settings.KAFKA_TOPIC_PARTITIONS
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(), **CLIENT_DEFAULTS)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        try:
            admin.create_topics(
                [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing]
            )
        except TopicAlreadyExistsError:
            pass
        log.info("created topics %s with %d partitions", missing, partitions)
    finally:
        admin.close()


def broker_reachable(timeout_ms: int = 2000) -> tuple[bool, str]:
    """Can we talk to the broker now? (for /ready)"""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(),
                                 request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms,
                                 reconnect_backoff_max_ms=500)
    except KafkaError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # DNS, refused connections surface as plain errors too
        return False, f"{type(exc).__name__}: {exc}"
    try:
        admin.list_topics()
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        admin.close()
