"""Fixture chains for the suite: real services (PostgreSQL, Redis, the Tansu Kafka-protocol
broker), a model trained once per session on simulated history, and clean process caches."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import need, redis_available, start_broker, stop_broker, use_fresh_topics


@pytest.fixture(autouse=True)
def _fresh_process_state(settings):
    """Every test sees the configuration row as it is now, and fresh feature windows."""
    from monitoring.collectors import forget_live_cache
    from predictions.api import outage
    from predictions.api.authentication import forget_tokens
    from predictions.api.readiness import forget_readiness
    from predictions.api.throttling import forget_reservations
    from predictions.config import forget_config
    from predictions.serving import forget_loaded
    from predictions.stream import breaker
    from predictions.stream.windows import reset_feature_engine

    settings.CONFIG_REFRESH_SECONDS = 0
    settings.READY_CACHE_SECONDS = 0  # each /ready call checks now (its cache has a test)
    # /ready's per-address budget is not spent across tests (its throttle has a test).
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "ready": "off"}
    settings.SLI_FLUSH_SECONDS = 0  # SLI rollups inside the test's transaction
    settings.METRICS_PUBLISH_SECONDS = 0  # the token predict path's counts as it answers
    # Pages render without a collectstatic run (the manifest exists only after one).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    forget_config()
    forget_loaded()
    forget_tokens()
    forget_live_cache()
    forget_readiness()
    forget_reservations()
    reset_feature_engine()
    breaker.reset()
    outage.watch(False)  # no web worker refresher's finding carries over
    yield
    forget_config()
    forget_loaded()
    forget_tokens()
    forget_readiness()
    forget_reservations()
    reset_feature_engine()
    breaker.reset()


@pytest.fixture(scope="session")
def broker_address(tmp_path_factory):
    """A Tansu broker for the session (memory storage, so every session starts empty)."""
    broker = start_broker(tmp_path_factory.mktemp("tansu") / "broker.log")
    yield broker
    stop_broker(broker)


@pytest.fixture
def kafka(settings, broker_address):
    """Fresh, uniquely named topics on the session broker, wired into settings."""
    use_fresh_topics(settings, broker_address["address"])
    return settings


@pytest.fixture(scope="session")
def feature_frame_sim():
    """Features of 3 h of simulated history of two products, shared by the session."""
    from django.conf import settings

    from predictions.core.features import batch_features
    from predictions.core.simulator import simulate_history

    ticks = simulate_history(["BTC-USD", "ETH-USD"], seed=11, start_ts=1_700_000_000.0,
                             duration_s=3 * 3600)
    return batch_features(ticks, settings.FEATURE_WINDOWS_SECONDS, settings.FEATURE_GAP_SECONDS)


@pytest.fixture(scope="session")
def trained(feature_frame_sim):
    """One honest training run on the simulated history, shared by the session."""
    from django.conf import settings

    from predictions.core.training import train

    return train(feature_frame_sim, horizon_s=60.0, percentile=90.0, test_fraction=0.3,
                 gap_s=settings.FEATURE_GAP_SECONDS, seed=0)


@pytest.fixture
def model_version(db, trained):
    """The session's model registered as a version and promoted."""
    from predictions.services import model_version_activate, model_version_create

    version = model_version_create(result=trained, name=f"test-{uuid.uuid4().hex[:6]}",
                                   data_source="simulated (tests)", algorithm="test")
    model_version_activate(version=version, actor_name="tests", reason="test setup")
    return version


@pytest.fixture
def feature_names(trained):
    return list(trained.feature_names)


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")


@pytest.fixture
def api_user(django_user_model):
    return django_user_model.objects.create_user("client", "c@example.com", "pw-client-12345")


@pytest.fixture
def api_client(api_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token = Token.objects.create(user=api_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def celery_worker(settings):
    """A real Celery worker (solo pool, in a thread) on the Redis broker."""
    need("Redis (Celery broker)", redis_available(), "set CELERY_BROKER_URL=redis://…")
    from celery.contrib.testing.worker import start_worker

    from volsite.celery import app

    with app.connection_for_write() as conn:
        for queue in ("stream", "celery"):
            conn.default_channel.queue_purge(queue)
    with start_worker(app, pool="solo", queues=["stream", "celery"], perform_ping_check=False,
                      shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker
    with app.connection_for_write() as conn:
        for queue in ("stream", "celery"):
            conn.default_channel.queue_purge(queue)


