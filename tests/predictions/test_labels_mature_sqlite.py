"""Label maturing's set-based update has a form per database: `UPDATE … FROM unnest(…)` on
PostgreSQL, `UPDATE … FROM json_each(…)` on SQLite (the embedded default of `make run`), and
so has the rollups' rebuild (arrays, JSON arrays). The same rows, matured on each, get the
same labels and the same live figures, and a rebuild gives the figures maturing gave."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT, child_env, need, postgres_in_use

pytestmark = pytest.mark.django_db(transaction=True)

# Builds 900 undecided rows of two products, matures them, prints labels and live figures.
SCRIPT = """
import json
from datetime import timedelta

import numpy as np
from django.utils import timezone

from predictions.models import LabelPending, ModelVersion, Prediction, ServiceConfig
from predictions.selectors import prediction_live_performance
from predictions.services import prediction_labels_mature
from predictions.services.live_rollups import live_rollups_rebuild

now = timezone.now()
version = ModelVersion.objects.create(
    name="maturing-check", algorithm="none", artifact=b"", sha256="0" * 64, feature_names=[],
    threshold=0.5, baseline_params={}, label_threshold=0.0004, horizon_s=60.0, percentile=90.0,
    train_start=now, train_end=now, test_start=now, test_end=now, data_source="test",
    metrics={}, reference_sample=[])
config = ServiceConfig.load()  # (re)created if an earlier test flushed the table
config.active_model_version = version
config.save()
rng = np.random.default_rng(4)
start = now - timedelta(hours=1)
rows = []
for product in ("BTC-USD", "ETH-USD"):
    vol = np.where((np.arange(450) // 30) % 3 == 0, 3e-4, 3e-5)
    mid = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol)))
    score = rng.random(450)
    for i in range(450):
        rows.append(Prediction(
            product_id=product, event_ts=start + timedelta(seconds=5 * i), features={},
            variant="ml", score=float(score[i]), label=bool(score[i] >= 0.5), threshold=0.5,
            shadow_variant="baseline", shadow_score=float(1 - score[i]), shadow_threshold=0.3,
            model_version=version, topic=product, partition=0, offset=i, mid=float(mid[i])))
for row in Prediction.objects.bulk_create(rows):
    LabelPending.objects.create(prediction=row, product_id=row.product_id,
                                event_ts=row.event_ts)
decided = prediction_labels_mature(batch_rows=200)
live = prediction_live_performance(since=start - timedelta(minutes=1))
live_rollups_rebuild()
print(json.dumps({
    "decided": decided,
    "labels": sorted([p, o, y] for p, o, y in Prediction.objects.filter(
        model_version=version).values_list("product_id", "offset",
                                           "outcome__realized_label")),
    "live": live,
    "rebuilt": prediction_live_performance(since=start - timedelta(minutes=1)),
}))
"""


def run_on(url: str, settings) -> dict:
    env = child_env(settings, DATABASE_URL=url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True, timeout=300)
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", SCRIPT], cwd=ROOT,
                          env=env, check=True, timeout=300, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sqlite_and_postgresql_mature_the_same_rows_alike(settings, tmp_path):
    on_sqlite = run_on(f"sqlite:///{tmp_path / 'volsite.sqlite3'}", settings)
    assert 800 < on_sqlite["decided"] < 900  # the last minute of each product waits
    assert {y for _, _, y in on_sqlite["labels"]} == {True, False, None}
    for variant in ("ml", "baseline"):  # a rebuild agrees with what maturing added
        assert on_sqlite["rebuilt"][variant] == pytest.approx(on_sqlite["live"][variant])
    need("PostgreSQL", postgres_in_use(), "the suite runs on SQLite; make test sets it")
    from django.db import connection

    db = connection.settings_dict
    on_postgres = run_on(f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
                         f"{db['PORT'] or 5432}/{db['NAME']}", settings)
    assert on_postgres["decided"] == on_sqlite["decided"]
    assert on_postgres["labels"] == on_sqlite["labels"]
    for variant in ("ml", "baseline"):
        for key, value in on_sqlite["live"][variant].items():
            assert on_postgres["live"][variant][key] == pytest.approx(value), (variant, key)
