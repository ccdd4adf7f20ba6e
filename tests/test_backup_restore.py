"""The backup and restore procedure of docs/runbook.md ("Backup and restore of PostgreSQL"),
rehearsed: `pg_dump -Fc` of a database in use, `pg_restore` into a fresh database on another
server, `migrate`, and compose's web process serving from the restored copy: the same
promoted model (artifact verified), configuration, API token and predictions."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

import pytest

from predictions.services import service_config_update
from tests.compose_file import ComposeWeb
from tests.helpers import PrivatePostgres, make_prediction, manage, need, postgres_in_use

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def source_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def fresh_server():
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.remove()


def test_a_dump_restored_into_a_fresh_database_serves_as_before(
        kafka, settings, model_version, api_user, fresh_server, tmp_path):
    need("PostgreSQL", postgres_in_use(), "pg_dump reads the test database")
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=api_user).key
    service_config_update(actor_name="tests", reason="before the backup",
                          slo_latency_threshold_ms=150)
    newest = [make_prediction(model_version, offset, product_id="BTC-USD")
              for offset in range(5)][-1]

    dump = tmp_path / "volsite.dump"
    subprocess.run([str(fresh_server.bin / "pg_dump"), "-Fc", "-d", source_url(),
                    "-f", str(dump)], check=True, capture_output=True, timeout=300)
    subprocess.run([str(fresh_server.bin / "pg_restore"), "--no-owner", "--exit-on-error",
                    "-d", fresh_server.url, str(dump)], check=True, capture_output=True,
                   timeout=300)
    manage(settings, fresh_server.url, "migrate", "--noinput")  # as compose's migrate would

    web = ComposeWeb(tmp_path, DATABASE_URL=fresh_server.url,
                     KAFKA_BOOTSTRAP_SERVERS=settings.KAFKA_BOOTSTRAP_SERVERS)
    try:
        web.start()
        status, body = web.request("/api/v1/ready")
        assert status == 200, body
        version = json.loads(web.request("/api/v1/version")[1])
        assert (version["model_version"], version["sha256"], version["model_variant"]) == \
            (model_version.name, model_version.sha256, "ml")
        auth = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        rows = {"rows": [dict.fromkeys(version["feature_names"], 0.001)]}
        status, body = web.request("/api/v1/predict", data=json.dumps(rows).encode(),
                                   headers=auth)
        assert status == 200, body
        assert json.loads(body)["model_version"] == model_version.name
        status, body = web.request("/api/v1/products/BTC-USD/latest", headers=auth)
        assert status == 200, body
        latest = datetime.fromisoformat(json.loads(body)["event_ts"].replace("Z", "+00:00"))
        assert latest == newest.event_ts
    finally:
        web.stop()
    threshold = fresh_server.query("SELECT slo_latency_threshold_ms FROM "
                                   "predictions_serviceconfig WHERE id = 1")
    assert threshold == [(150,)]
