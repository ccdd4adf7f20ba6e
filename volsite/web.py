"""The web server: `python -m volsite.web` — granian (an HTTP/1.1 server with a Rust core)
running Django's WSGI application (volsite/wsgi.py) as it is: API, admin, SLO page, static
files (whitenoise) and /metrics.

Why granian rather than gunicorn's sync workers: it parses HTTP and writes answers natively
and keeps connections alive, where a sync worker parses in Python and closes the connection
after every answer; on the predict path that is most of a request's cost (docs/api.md,
"Performance"). Each worker process runs the application on one thread, as a sync worker did.

Settings (environment, see .env.example): WEB_BIND (host:port), WEB_CONCURRENCY (worker
processes, default one per CPU), WEB_ACCESS_LOG (a file, or `-` for stdout; none by default),
WEB_GRACEFUL_SECONDS (SIGTERM: how long workers may finish the requests they hold before they
are killed).

SIGTERM or SIGINT: the listening socket closes, each worker finishes its in-flight requests
and exits (killed after WEB_GRACEFUL_SECONDS), then the server exits. A worker that dies is
started again. With PROMETHEUS_MULTIPROC_DIR set, a worker that exits marks its metric files
dead (prometheus_client's mark_process_dead), as gunicorn's child_exit hook did.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import os
from typing import Any

log = logging.getLogger("volsite.web")

# Each access log line starts with the worker's pid (tests tell the workers apart by it).
ACCESS_FORMAT = ('%(addr)s "%(method)s %(path)s?%(query_string)s %(protocol)s" %(status)d '
                 '%(dt_ms).1fms')


def _bind() -> tuple[str, int]:
    host, _, port = os.environ.get("WEB_BIND", "127.0.0.1:8000").rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _log_config(access_log: str) -> dict[str, Any]:
    """granian's own logging, with the access log (if any) sent to WEB_ACCESS_LOG."""
    from granian.log import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if access_log and access_log != "-":
        config["handlers"]["access"] = {"class": "logging.FileHandler", "filename": access_log}
    config["handlers"]["access"]["formatter"] = "access"
    config["formatters"]["access"] = {"format": "%(process)d %(message)s"}
    return config


def _mark_process_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def worker_application() -> Any:
    """Called once in each worker process (granian's factory): Django's application, with the
    configuration and promoted model loaded before the first request, and the worker's
    background refresher (predictions/api/refresher.py) started."""
    from multiprocessing.util import Finalize

    from volsite.wsgi import application

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Runs when the worker process exits normally (a stop, or a respawn).
        Finalize(None, _mark_process_dead, args=(os.getpid(),), exitpriority=10)
    try:
        from predictions.serving import active_scorers

        active_scorers()
    except Exception as exc:  # no model yet, or the DB not ready: the first request retries
        log.warning("model warm-up skipped: %s", exc)
    from predictions.api import refresher

    refresher.start()  # configuration, model and tokens re-read off the request path
    return application


def serve(target: str = "volsite.web:worker_application", *, factory: bool = True) -> None:
    """Serve a WSGI application (by default ours) with the production server settings;
    bench/api.py serves its bare-Django ceiling through this too."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    host, port = _bind()
    access_log = os.environ.get("WEB_ACCESS_LOG", "")
    server = Granian(
        target,
        factory=factory,
        interface=Interfaces.WSGI,
        address=host,
        port=port,
        workers=int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count()),
        blocking_threads=1,
        http=HTTPModes.http1,
        websockets=False,
        log_access=bool(access_log),
        log_access_format=ACCESS_FORMAT,
        log_dictconfig=_log_config(access_log),
        workers_kill_timeout=int(os.environ.get("WEB_GRACEFUL_SECONDS") or 10),
        respawn_failed_workers=True,
    )
    server.serve()


if __name__ == "__main__":
    serve()
