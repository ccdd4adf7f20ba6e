from __future__ import annotations

import json

import pytest

from monitoring import metrics
from predictions.core.scorers import ArtifactError, dump_model, load_model, sha256_hex
from predictions.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_a_tampered_artifact_is_never_loaded(trained):
    data = dump_model(trained.model)
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_model(data[:-1] + b"x", sha256_hex(data))


def test_an_artifact_with_untrusted_types_is_refused(trained):
    import skops.io as sio

    data = sio.dumps({"model": trained.model, "hook": print})
    with pytest.raises(ArtifactError, match="untrusted types"):
        load_model(data, sha256_hex(data))


def test_with_a_refused_artifact_the_api_serves_the_baseline_and_says_so(
        client, staff_user, api_client, model_version, feature_names):
    client.force_login(staff_user)  # /ready shows its checks to staff
    ModelVersion.objects.filter(pk=model_version.pk).update(artifact=b"corrupt")
    before = metrics.MODEL_LOAD_FAILURES.labels(model_version=model_version.name)._value.get()
    response = api_client.post("/api/v1/predict", data=json.dumps(
        {"rows": [{n: 0.001 for n in feature_names}]}), content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["model_variant"] == "baseline"
    assert "sha256 mismatch" in body["fallback_reason"]
    after = metrics.MODEL_LOAD_FAILURES.labels(model_version=model_version.name)._value.get()
    assert after == before + 1
    ready = client.get("/api/v1/ready").json()
    assert ready["ready"] is False and ready["checks"]["model"]["ok"] is False
    assert client.get("/api/v1/version").json()["model_variant"] == "baseline"


def test_a_repaired_artifact_serves_again_without_a_restart(model_version, monkeypatch):
    from predictions import serving

    good = bytes(ModelVersion.objects.get(pk=model_version.pk).artifact)
    monkeypatch.setattr(serving, "REFUSED_RETRY_SECONDS", 0.0)
    ModelVersion.objects.filter(pk=model_version.pk).update(artifact=b"corrupt")
    assert serving.load_version(model_version.pk).ml is None
    ModelVersion.objects.filter(pk=model_version.pk).update(artifact=good)
    assert serving.load_version(model_version.pk).ml is not None
