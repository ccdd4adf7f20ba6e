"""Kafka clients, the publisher and the tick sources (simulated, replay, Coinbase)."""
