"""The Celery-run Kafka consumer, one module per job: the run loop (`consumer`), its runner
(`runner`), feature windows and their warm-up (`windows`), batches (`batches`), the fenced
writes (`writer`, `copy_encoding`) and dead letters (`dead_letters`). See docs/stream.md."""
