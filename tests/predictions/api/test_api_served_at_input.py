"""served-at reads the time as clients send it (issue #22): an offset's "+" left unencoded
arrives as a space and is read back as "+"; a time it cannot read gets a 400 with a hint."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from predictions.models import ConfigAuditEntry

pytestmark = pytest.mark.django_db


def test_an_unencoded_plus_in_the_offset_is_read_as_plus(api_client, model_version):
    first = ConfigAuditEntry.objects.get()
    at = first.at.replace(microsecond=0).isoformat()  # "...+00:00"
    assert "+" in at
    raw = api_client.get(f"/api/v1/served-at?at={at}")  # the "+" decodes to a space
    encoded = api_client.get(f"/api/v1/served-at?at={quote(at)}")
    assert raw.status_code == encoded.status_code == 200, raw.content
    assert raw.json() == encoded.json()


def test_an_offset_east_of_utc_sent_unencoded_means_that_offset(api_client, model_version):
    body = api_client.get("/api/v1/served-at?at=2026-12-07T12:00:00+05:30").json()
    answered = datetime.fromisoformat(body["at"].replace("Z", "+00:00"))
    assert answered == datetime(2026, 12, 7, 6, 30, tzinfo=UTC)


def test_a_time_it_cannot_read_gets_a_hint(api_client, model_version):
    response = api_client.get("/api/v1/served-at", {"at": "2026-12-07T12:00:00 bogus"})
    assert response.status_code == 400
    assert "%2B" in response.content.decode()
