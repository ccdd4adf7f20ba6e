"""Backtests from the admin: the action queues a Celery task on the default queue, the task
stores a `Backtest` row, and the version's page shows the latest one with its pictures."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from predictions.models import Backtest
from predictions.serving import load_version
from predictions.tasks import backtest_run
from tests.helpers import served_history
from volsite.celery import app

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/predictions/modelversion/"


@pytest.fixture
def history(model_version, feature_frame_sim):
    X = feature_frame_sim.X[-2000:]
    y = np.random.default_rng(1).random(len(X)) < load_version(model_version.pk).ml.score(X)
    served_history(model_version, X, feature_frame_sim.names, y,
                   start=timezone.now() - timedelta(hours=1))


def test_the_task_stores_its_row(model_version, history, staff_user):
    now = timezone.now()
    pk = backtest_run.apply(args=(model_version.pk, (now - timedelta(days=1)).isoformat(),
                                  now.isoformat(), None, staff_user.pk)).get()
    backtest = Backtest.objects.get(pk=pk)
    assert backtest.status == Backtest.OK and backtest.rows == 2000
    assert backtest.actor == staff_user and backtest.model_version == model_version
    assert backtest.interval("pr_auc")["diff"] == 0.0
    assert backtest.figures("champion")["n"] == 2000


def test_the_task_stores_a_refusal_with_its_reason(model_version, staff_user):
    now = timezone.now()
    pk = backtest_run.apply(args=(model_version.pk, (now - timedelta(days=1)).isoformat(),
                                  now.isoformat())).get()
    backtest = Backtest.objects.get(pk=pk)
    assert backtest.status == Backtest.REFUSED and "no matured rows" in backtest.error


def test_the_action_queues_the_task_on_the_default_queue(
        client, staff_user, model_version, history, monkeypatch):
    sent = []
    monkeypatch.setattr(backtest_run, "apply_async",
                        lambda args=None, kwargs=None, **options: sent.append((args, options)))
    client.force_login(staff_user)
    page = client.post(CHANGELIST, {"action": "backtest_live",
                                    "_selected_action": [model_version.pk]}, follow=True)
    assert b"queued" in page.content
    (args, options), = sent
    assert args[0] == model_version.pk and args[4] == staff_user.pk
    assert "queue" not in options  # the default queue: no route sends it elsewhere
    assert app.amqp.router.route(options, backtest_run.name, args)["queue"].name == \
        app.conf.task_default_queue


def test_the_version_page_shows_the_latest_backtest_with_its_charts(
        client, staff_user, model_version, history):
    client.force_login(staff_user)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the task runs in the request, as a worker would run it
    try:
        client.post(CHANGELIST, {"action": "backtest_live",
                                 "_selected_action": [model_version.pk]})
    finally:
        app.conf.task_always_eager = eager
    assert Backtest.objects.filter(model_version=model_version, status=Backtest.OK).count() == 1
    page = client.get(f"{CHANGELIST}{model_version.pk}/change/").content.decode()
    assert "2000 matured rows" in page
    assert "PR curve on live history" in page and "Reliability on live history" in page
    assert "candidate − champion pr_auc: 0.0000" in page
