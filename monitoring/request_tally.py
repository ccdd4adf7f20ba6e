"""The accounting of the token predict path (volsite/token_api.py), done in batches.

Each request answered by the lean handler appends one tuple here: no Prometheus call, no lock.
A daemon thread per process (started on first use, so it survives the web server's fork)
publishes the batch every METRICS_PUBLISH_SECONDS (1 s): every series the full middleware
chain moves for the same request — django-prometheus' `django_http_*` families, the API's
`volatility_api_*` metrics and SLO counters — and the SLI rollups (monitoring.sli). Values
land in /metrics at most a second late and sum to exactly what per-request updates gave;
histograms get their bucket counts and sums added once per batch (`_observe_many`). With
METRICS_PUBLISH_SECONDS = 0 (the tests) each request publishes at once. A worker that stops
publishes what it holds at exit.

Why: on the predict path, per-request updates were 13 counter increments and 5 histogram
observations in multiprocess mode (a lock, a pid check and a file write each, plus a label
lookup), about a third of the request's Python time (docs/api.md, "Performance").
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict, deque
from multiprocessing.util import Finalize
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings

from monitoring import metrics, sli

log = logging.getLogger(__name__)

ENDPOINT = "predict"  # the URL name the full chain labels these requests with
METHOD = "POST"


class Answered(NamedTuple):
    """One request as the handler answered it."""

    status: int
    variant: str  # X-Model-Variant, or "none"
    rows: int  # rows scored (0 unless 200)
    seconds: float  # time to answer, inside the handler
    request_bytes: int  # declared Content-Length
    response_bytes: int
    secure: bool
    at: float  # unix time it was answered (the SLI minute)
    raised: bool = False  # the view raised (the outage's 503, a 500), not a DRF answer


_pending: deque[Answered] = deque()  # append and popleft are atomic: no lock on the hot path
_publish_lock = threading.Lock()  # one publisher at a time (the thread, exit, a test)
_thread: threading.Thread | None = None
_thread_pid: int | None = None


def record(answered: Answered) -> None:
    _pending.append(answered)
    if settings.METRICS_PUBLISH_SECONDS <= 0:
        publish()
    elif _thread_pid != os.getpid():
        _start_publisher()


def count_exception(exc: BaseException) -> None:
    """An exception the handler turned into an answer, as django-prometheus' process_exception
    counts it (rare: counted at once)."""
    from django_prometheus.middleware import Metrics

    django = Metrics.get_instance()
    django.exceptions_by_type.labels(type=type(exc).__name__).inc()
    django.exceptions_by_view.labels(view=ENDPOINT).inc()


def publish() -> int:
    """Publish every pending request; returns how many."""
    with _publish_lock:
        batch = [_pending.popleft() for _ in range(len(_pending))]
        if batch:
            _publish(batch)
    return len(batch)


def _publish(batch: list[Answered]) -> None:
    from django_prometheus.middleware import Metrics

    django = Metrics.get_instance()
    groups: dict[tuple[int, str, bool, bool], list[Answered]] = defaultdict(list)
    for answered in batch:
        groups[(answered.status, answered.variant, answered.secure, answered.raised)].append(
            answered)
    for (status, variant, secure, raised), answers in groups.items():
        n = len(answers)
        seconds = [a.seconds for a in answers]
        code = str(status)
        transport = "https" if secure else "http"
        # What ApiSliMiddleware records (and predict's rows counter).
        metrics.API_REQUESTS.labels(ENDPOINT, variant, code).inc(n)
        _observe_many(metrics.API_LATENCY.labels(ENDPOINT, variant), seconds)
        if status >= 400:
            kind = "server_error" if status >= 500 else f"http_{status}"
            metrics.API_ERRORS.labels(ENDPOINT, kind).inc(n)
        rows = sum(a.rows for a in answers)
        if rows:
            metrics.API_ROWS_SCORED.labels(variant=variant).inc(rows)
        # What django-prometheus' two middlewares record.
        django.requests_total.inc(n)
        django.responses_total.inc(n)
        _observe_many(django.requests_latency_before, seconds)
        django.requests_by_method.labels(method=METHOD).inc(n)
        django.requests_by_transport.labels(transport=transport).inc(n)
        _observe_many(django.requests_body_bytes, [a.request_bytes for a in answers])
        django.requests_by_view_transport_method.labels(
            view=ENDPOINT, transport=transport, method=METHOD).inc(n)
        django.responses_by_status.labels(status=code).inc(n)
        django.responses_by_status_view_method.labels(
            status=code, view=ENDPOINT, method=METHOD).inc(n)
        django.responses_by_charset.labels(charset="utf-8").inc(n)
        if not raised:  # DRF's Response is a template response (template_name None)
            django.responses_by_templatename.labels(templatename="None").inc(n)
        _observe_many(django.responses_body_bytes, [a.response_bytes for a in answers])
        by_view = django.requests_latency_by_view_method.labels(view=ENDPOINT, method=METHOD)
        # django-prometheus observes a raising view's latency twice (process_exception, then
        # process_response): the same here, so both paths keep one meaning.
        _observe_many(by_view, seconds * 2 if raised else seconds)
    sli.record_many(ENDPOINT, [(a.at, a.status, a.seconds) for a in batch])


def _observe_many(histogram: Any, values: list[float]) -> None:
    """Add many observations to a prometheus_client histogram at once: per bucket, the count
    of values that observe() would have put there (the first upper bound >= the value), and
    their sum. Uses the histogram's own bucket values (prometheus_client is pinned;
    tests/monitoring/test_request_tally.py checks the result against observe())."""
    bounds = histogram._upper_bounds
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, counts.tolist()):
        if count:
            bucket.inc(count)
    histogram._sum.inc(float(sum(values)))


def _start_publisher() -> None:
    global _thread, _thread_pid
    with _publish_lock:
        if _thread_pid == os.getpid():
            return
        _thread_pid = os.getpid()
        _thread = threading.Thread(target=_publish_forever, name="metrics-publisher",
                                   daemon=True)
        _thread.start()
        # At exit: atexit, and multiprocessing's exit hooks (granian's workers end with os._exit
        # after those, where atexit handlers never run). Running twice publishes nothing twice.
        atexit.register(_publish_at_exit)
        Finalize(None, _publish_at_exit, exitpriority=20)


def _publish_at_exit() -> None:
    try:
        publish()
        sli.flush()
    except Exception:  # noqa: BLE001 - at exit there is nobody left to tell but the log
        log.exception("could not publish the last request counts at exit")


def _publish_forever() -> None:
    while True:
        if settings.METRICS_PUBLISH_SECONDS <= 0:  # switched to per-request publishing (tests)
            time.sleep(1.0)
            continue
        time.sleep(settings.METRICS_PUBLISH_SECONDS)
        try:
            publish()
        except Exception:  # never let the publisher die; the next round publishes the rest
            log.exception("could not publish request counts")
