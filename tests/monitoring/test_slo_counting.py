"""On PostgreSQL, for real: predict requests through the API and consumer batches from Kafka
move the per-minute SLO counts (and the Prometheus SLO counters by the same amounts), and the
page and its JSON show the SLI those counts imply."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from monitoring.models import SloMinute, TickLatencyMinute
from predictions.services import service_config_update
from tests.helpers import postgres_in_use, sample, scrape

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def counted(slo: str) -> tuple[int, int]:
    rows = SloMinute.objects.filter(slo=slo)
    return sum(r.good for r in rows), sum(r.total for r in rows)


def publish_ticks(topic: str, ages_s: list[float]) -> None:
    """BTC-USD ticks whose exchange time is `ages_s` seconds ago, oldest first."""
    from predictions.core.ticks import Tick, advanced_trade_envelope
    from predictions.messaging.publisher import Publisher

    publisher = Publisher(topic)
    now = timezone.now().timestamp()
    for i, age in enumerate(sorted(ages_s, reverse=True)):
        tick = Tick("BTC-USD", now - age, 100.0 + i, 99.99 + i, 100.01 + i, 1.0, 1.0, 10.0, None)
        publisher.send("BTC-USD", json.dumps(advanced_trade_envelope(tick, sequence_num=i)).encode())
    publisher.close()


def test_requests_and_batches_move_the_counts_the_page_shows(request, client, api_client,
                                                             staff_user, kafka, feature_names):
    from predictions.models import StreamLease
    from predictions.stream.consumer import consume_run

    assert postgres_in_use(), "this test is about PostgreSQL"
    before = scrape(client)
    row = {"rows": [dict.fromkeys(feature_names, 0.001)]}
    post = lambda body: api_client.post("/api/v1/predict", data=body,  # noqa: E731
                                        content_type="application/json").status_code
    assert post(json.dumps(row)) == 503  # no model promoted yet: a server error, a bad event
    request.getfixturevalue("model_version")
    assert [post(json.dumps(row)) for _ in range(3)] == [200, 200, 200]
    assert post("{") == 400  # the client's fault: a good event for availability
    assert counted("api_availability") == (4, 5)
    assert counted("api_latency")[1] == 5

    # The objective allows 30 s; three ticks arrive in time and two 5 minutes late.
    service_config_update(actor_name="tests", reason="slack for a loaded test machine",
                          slo_stream_latency_seconds=30.0)
    publish_ticks(kafka.KAFKA_TOPIC_TICKS, [300.0, 299.0, 2.0, 1.5, 1.0])
    StreamLease.objects.claim("slo-test")
    stats = consume_run(max_seconds=20, max_messages=5, holder="slo-test")
    assert stats.scored == 5
    assert counted("stream_latency") == (3, 5)
    ticks = TickLatencyMinute.objects.all()
    assert sum(t.ticks for t in ticks) == 5 and sum(t.le_60s for t in ticks) == 3

    after = scrape(client)
    for slo in ("api_availability", "stream_latency"):
        good, total = counted(slo)
        assert sample(after, "volatility_slo_events", slo=slo) \
            - sample(before, "volatility_slo_events", slo=slo) == total
        assert sample(after, "volatility_slo_good_events", slo=slo) \
            - sample(before, "volatility_slo_good_events", slo=slo) == good
    assert sample(after, "volatility_slo_target", slo="stream_latency") == 0.99
    assert sample(after, "volatility_slo_threshold_seconds", slo="stream_latency") == 30.0

    client.force_login(staff_user)
    slos = {s["key"]: s for s in client.get("/slo/?window=1h&format=json").json()["slos"]}
    assert (slos["api_availability"]["good"], slos["api_availability"]["total"]) == (4, 5)
    assert slos["api_availability"]["sli"] == pytest.approx(0.8)
    assert slos["api_availability"]["burn_rates"]["5m"] == pytest.approx(0.2 / 0.005)
    assert slos["stream_latency"]["sli"] == pytest.approx(0.6)
    assert slos["stream_latency"]["alert"]["level"] == "page"
    html = client.get("/slo/?window=1h").content.decode()
    assert "4 / 5" in html and "3 / 5" in html and "60.00 %" in html
