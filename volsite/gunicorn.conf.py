"""gunicorn settings for the web process: `gunicorn -c volsite/gunicorn.conf.py volsite.wsgi`."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"  # fastest here for the CPU-bound predict path (docs/architecture.md)
timeout = 30
graceful_timeout = 10
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
preload_app = False


def post_worker_init(worker) -> None:
    """Load the configuration and the promoted model before the first request."""
    try:
        from predictions.serving import active_scorers

        active_scorers()
    except Exception as exc:  # no model yet, or DB not ready: the first request will retry
        worker.log.warning("model warm-up skipped: %s", exc)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
