"""The token predict path's accounting in batches (monitoring/request_tally.py): it moves every
series the full middleware chain moves for the same requests, by the same amounts, and the
SLI rollups the same way; a batch's histogram counts are what observe() gives one by one."""

from __future__ import annotations

import json
import random

import pytest
from django.core.handlers.wsgi import WSGIHandler
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from rest_framework.authtoken.models import Token

from monitoring import request_tally, sli
from monitoring.models import ApiMinute, SloMinute
from tests.predictions.api.wsgi_client import wsgi_call

# Whose values depend on time or on the answer's bytes (a timestamp's length): compared by
# their counts only.
TIMED = ("latency", "body")


def snapshot() -> dict[tuple[str, tuple], float]:
    from prometheus_client import REGISTRY

    out = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name.endswith("_created") or s.name.startswith(("process_", "python_")):
                continue
            if any(t in s.name for t in TIMED) and not s.name.endswith("_count"):
                continue
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def moved(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


STATUS = {"answer": 200, "invalid": 400, "unknown token": 401, "outage": 503, "a bug": 500}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(STATUS))
def test_the_lean_handler_moves_what_the_full_chain_moves(kind, api_user, model_version,
                                                         feature_names, monkeypatch):
    from predictions import serving
    from predictions.api import outage
    from volsite import wsgi

    key = Token.objects.create(user=api_user).key
    if kind == "outage":  # as a web worker's refresher reports it
        outage.watch(True)
        outage.round_failed("connection refused")
    if kind == "a bug":
        def broken():
            raise RuntimeError("a bug")
        monkeypatch.setattr(serving, "active_scorers", broken)
    rows = [dict.fromkeys(feature_names, 0.001)] * 3
    body = {**dict.fromkeys(STATUS, {"rows": rows}), "invalid": {"rows": []}}
    headers = {"Content-Type": "application/json",
               "Authorization": "Token " + ("0" * 40 if kind == "unknown token" else key)}
    deltas, statuses = [], []
    for app in (wsgi.application, WSGIHandler()):
        before = snapshot()
        answer = wsgi_call("POST", "/api/v1/predict", json.dumps(body[kind]).encode(),
                           headers=headers, application=app)
        statuses.append(answer.status)
        deltas.append(moved(before, snapshot()))
    assert statuses[0] == statuses[1] == STATUS[kind]
    lean, full = deltas
    assert lean == full
    assert lean[("django_http_responses_total_by_status_view_method_total",
                 (("method", "POST"), ("status", str(statuses[0])), ("view", "predict")))] == 1


@pytest.mark.django_db
def test_counts_wait_for_the_publisher_then_all_arrive(api_user, model_version, feature_names,
                                                      settings, monkeypatch):
    """With a publishing period (production), a request only appends; publish() moves the
    series and the SLI rollups by the whole batch."""
    settings.METRICS_PUBLISH_SECONDS = 3600
    monkeypatch.setattr(request_tally, "_start_publisher", lambda: None)  # published below
    key = Token.objects.create(user=api_user).key
    body = json.dumps({"rows": [dict.fromkeys(feature_names, 0.001)]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Token {key}"}
    before = snapshot()
    minutes_before = sum(ApiMinute.objects.filter(endpoint="predict")
                         .values_list("requests", flat=True))
    statuses = [wsgi_call("POST", "/api/v1/predict", body, headers=headers).status
                for _ in range(5)]
    assert statuses == [200] * 5
    assert moved(before, snapshot()) == {}
    assert request_tally.publish() == 5
    delta = moved(before, snapshot())
    assert delta[("volatility_api_requests_total",
                  (("endpoint", "predict"), ("status", "200"), ("variant", "ml")))] == 5
    assert delta[("volatility_api_rows_scored_total", (("variant", "ml"),))] == 5
    assert delta[("django_http_requests_total_by_method_total", (("method", "POST"),))] == 5
    assert delta[("volatility_slo_events_total", (("slo", "api_latency"),))] == 5
    requests = sum(ApiMinute.objects.filter(endpoint="predict").values_list("requests", flat=True))
    assert requests - minutes_before == 5


def test_a_batch_fills_a_histogram_as_observe_does_one_by_one():
    rng = random.Random(7)
    buckets = (0.001, 0.0025, 0.005, 0.01, 0.1, 1.0)
    values = [rng.choice([0.0, 0.001, 0.0025, 0.004, 0.1, 3.0, rng.random() * 2])
              for _ in range(500)]
    one, many = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("t", "t", ["l"], buckets=buckets, registry=one).labels("x")
    h2 = Histogram("t", "t", ["l"], buckets=buckets, registry=many).labels("x")
    for v in values:
        h1.observe(v)
    request_tally._observe_many(h2, values)
    def exposed(registry: CollectorRegistry) -> list[bytes]:
        return [line for line in generate_latest(registry).splitlines()
                if not line.startswith(b"t_created")]

    assert exposed(one) == exposed(many)


@pytest.mark.django_db
def test_sli_batches_count_as_single_requests(settings):
    """record_many over a batch leaves the same rollups as record() per request."""
    settings.SLI_FLUSH_SECONDS = 3600  # counted in memory; compared before any flush
    sli.flush()
    events = [(1_800_000_000.0 + i * 7.0, status, seconds)
              for i, (status, seconds) in enumerate([(200, 0.004), (200, 0.01), (400, 0.3),
                                                      (503, 0.0001), (200, 2.0), (200, 0.1)])]
    sli.record_many("predict", events)
    batched = dict(sli._pending)
    sli._pending.clear()
    for at, status, seconds in events:
        sli.record_many("predict", [(at, status, seconds)])
    assert dict(sli._pending) == batched
    minute = int(events[0][0] // 60) * 60
    counts = batched[(sli.API, minute, "predict")]
    assert counts[:3] == [6, 1, 1]  # requests, server errors, client errors
    sli._pending.clear()
    assert not SloMinute.objects.exists()
