"""Promotion uses the backtest: with enough matured rows and spikes, ML is refused when the
candidate is worse than the champion beyond the interval (the message quotes figures and
interval); a superuser may still force it, audited; too little evidence leaves the decision
to the walk-forward guardrail."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from predictions.core.scorers import BASELINE, ML
from predictions.models import Backtest, ConfigAuditEntry, ServiceConfig
from predictions.services import model_version_create
from predictions.services.backtest import Window, backtest_create
from predictions.serving import load_version
from tests.helpers import served_history

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/predictions/modelversion/"


@pytest.fixture
def candidate(model_version, trained, feature_frame_sim, settings):
    """A candidate (the session's model) backtested against a champion that served nearly
    perfect scores for 10 hours: worse beyond the interval on PR-AUC and on Brier."""
    settings.BACKTEST_MIN_ROWS, settings.BACKTEST_MIN_SPIKES = 1000, 20
    X = feature_frame_sim.X[-3600:]
    rng = np.random.default_rng(2)
    y = rng.random(len(X)) < load_version(model_version.pk).ml.score(X)
    sharp = np.where(y, 0.9, 0.02) + rng.uniform(0, 0.05, len(X))
    served_history(model_version, X, feature_frame_sim.names, y, scores=sharp, step_s=10,
                   start=timezone.now() - timedelta(hours=11))
    version = model_version_create(result=trained, name="candidate", data_source="t",
                                   algorithm="t")
    backtest = backtest_create(version=version, actor_name="tests", window=Window(
        since=timezone.now() - timedelta(days=1), until=timezone.now()))
    assert backtest.status == Backtest.OK and backtest.interval("pr_auc")["high"] < 0
    return version


def promote(client, version, **extra):
    return client.post(CHANGELIST, {"action": "promote", "_selected_action": [version.pk],
                                    **extra}, follow=True).content.decode()


def test_ml_is_refused_when_the_backtest_shows_the_candidate_worse(
        client, staff_user, candidate):
    staff_user.is_superuser = False
    staff_user.save()
    staff_user.user_permissions.add(*_promoter_permissions())
    client.force_login(staff_user)
    page = promote(client, candidate)
    config = ServiceConfig.objects.get()
    assert config.active_model_version == candidate and config.active_variant == BASELINE
    assert "the candidate is worse than the champion on 3600 matured rows" in page
    assert "PR-AUC candidate" in page and "[95 %" in page
    interval = Backtest.objects.get(model_version=candidate).interval("pr_auc")
    assert f"{interval['diff']:.4f} [95 % {interval['low']:.4f}, {interval['high']:.4f}]" in page


def test_a_superuser_may_force_ml_past_the_backtest_with_a_written_reason(
        client, staff_user, candidate):
    client.force_login(staff_user)
    page = promote(client, candidate, force_ml="on", reason="trust the walk-forward")
    config = ServiceConfig.objects.get()
    assert config.active_model_version == candidate and config.active_variant == ML
    assert "forced" in page
    entry = ConfigAuditEntry.objects.first()
    assert "ML FORCED by ops: trust the walk-forward" in entry.reason
    assert "worse than the champion" in entry.reason


def test_too_little_evidence_leaves_the_decision_to_the_walk_forward(
        client, staff_user, candidate, settings):
    settings.BACKTEST_MIN_ROWS = 100_000
    client.force_login(staff_user)
    page = promote(client, candidate)
    assert ServiceConfig.objects.get().active_variant == ML
    assert "not enough evidence" in page


def _promoter_permissions():
    from django.contrib.auth.models import Permission

    return [Permission.objects.get(codename="change_serviceconfig"),
            Permission.objects.get(codename="promote_modelversion")]
