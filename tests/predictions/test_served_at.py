"""What was live when: the timeline answers for past times (before the first change, at the
instant of a change, between changes), the API publishes it in its schema, and every
prediction the consumer wrote agrees with the answer for its time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from predictions.models import ConfigAuditEntry, Prediction, StreamOffset
from predictions.selectors import service_config_at
from predictions.services import model_version_activate, model_version_create, service_config_update
from predictions.stream.consumer import consume_run
from tests.helpers import ingest

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_timeline_answers_before_the_first_change_at_a_change_and_between(
        model_version, trained):
    first = ConfigAuditEntry.objects.get()
    before = service_config_at(at=first.at - timedelta(seconds=1))
    # no version existed yet: nothing served, so no variant either (#22)
    assert (before.variant, before.model_version, before.since) == (None, None, None)
    assert before.config_version == first.config_version - 1
    at_first = service_config_at(at=first.at)
    assert (at_first.variant, at_first.model_version) == ("ml", model_version)
    assert at_first.since == first.at and at_first.source == "promote"
    service_config_update(actor_name="ops", reason="drill", source="admin",
                          active_variant="baseline")
    flip = ConfigAuditEntry.objects.first()
    assert service_config_at(at=flip.at).variant == "baseline"
    assert service_config_at(at=flip.at - timedelta(microseconds=1)).variant == "ml"
    other = model_version_create(result=trained, name="second", data_source="t", algorithm="t")
    model_version_activate(version=other, actor_name="ops", reason="next")
    third = ConfigAuditEntry.objects.first()
    middle = service_config_at(at=flip.at + (third.at - flip.at) / 2)
    assert (middle.variant, middle.model_version, middle.reason) == (
        "baseline", model_version, "drill")
    now = service_config_at(at=third.at + timedelta(days=1))
    assert (now.variant, now.model_version, now.config_version) == (
        "ml", other, third.config_version)


def test_the_api_answers_which_version_served_at_a_past_time(api_client, model_version):
    first = ConfigAuditEntry.objects.get()
    response = api_client.get("/api/v1/served-at", {"at": first.at.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["model_variant"], body["model_version"]) == ("ml", model_version.name)
    assert body["source"] == "promote" and body["since"] is not None
    earlier = api_client.get("/api/v1/served-at",
                             {"at": (first.at - timedelta(hours=1)).isoformat()}).json()
    assert earlier["model_version"] is None and earlier["since"] is None
    assert earlier["model_variant"] is None  # no variant without a version (#22)
    assert api_client.get("/api/v1/served-at").status_code == 400
    assert api_client.get("/api/v1/served-at", {"at": "yesterday"}).status_code == 400


def test_the_served_at_endpoint_is_in_the_openapi_schema(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).content.decode()
    assert "/api/v1/served-at" in schema and "ServedAt" in schema


def test_every_prediction_agrees_with_the_timeline_for_its_time(kafka, model_version,
                                                                trained):
    topic = kafka.KAFKA_TOPIC_TICKS
    other = model_version_create(result=trained, name="second", data_source="t", algorithm="t")
    steps = [lambda: service_config_update(actor_name="ops", reason="flip",
                                           active_variant="baseline"),
             lambda: model_version_activate(version=other, actor_name="ops", reason="next"),
             lambda: None]
    for done, change in enumerate(steps, start=1):
        ingest(topic, n=200)  # the same ticks again: only their scoring matters here
        while sum(StreamOffset.objects.filter(topic=topic)
                  .values_list("next_offset", flat=True)) < 200 * done:
            consume_run(topic=topic, max_seconds=20)
        change()
    rows = list(Prediction.objects.filter(topic=topic).select_related("model_version"))
    assert len({(r.variant, r.model_version_id) for r in rows}) >= 2
    assert {r.variant for r in rows} == {"ml", "baseline"}
    wrong = [(r.created_at, r.variant, r.model_version.name) for r in rows
             if (lambda s: (s.variant, s.model_version))(service_config_at(at=r.created_at))
             != (r.variant, r.model_version)]
    assert not wrong, f"{len(wrong)} of {len(rows)} rows disagree, e.g. {wrong[:3]}"


def test_the_admin_timeline_lists_versions_with_variant_who_why_and_source(
        client, staff_user, model_version):
    service_config_update(actor=staff_user, reason="night drill", source="admin",
                          active_variant="baseline")
    client.force_login(staff_user)
    page = client.get("/admin/predictions/configauditentry/").content.decode()
    for text in ("night drill", "promote", "admin", "Baseline rule", model_version.name, "ops"):
        assert text in page
