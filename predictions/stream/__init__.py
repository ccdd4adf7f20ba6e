"""The Celery-run Kafka consumer: loop, warm-up, writer, dead letters and one runner."""
