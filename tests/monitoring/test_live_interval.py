"""The live comparison is honest: the ML − baseline difference comes with a paired
block-bootstrap interval from the rollups, "Not enough evidence" replaces a verdict when the
interval spans zero or the rows are too few, the overview and /metrics show it, and the
auto-rollback's live-PR-AUC trigger fires only when the whole interval lies beyond its margin."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from monitoring.rollback import pr_auc_trigger
from predictions.models import ServiceConfig
from predictions.selectors import live_paired_interval
from tests.helpers import matured_rows, sample, scrape

pytestmark = pytest.mark.django_db


def worse_ml(model_version, n: int, seed: int = 5):
    """ML ranks worse than the baseline: the baseline is sharp, ML half shuffled; one row a
    second back from now."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    base = np.where(y, 0.8, 0.2)
    ml = np.where(rng.random(n) < 0.5, rng.random(n), base)
    matured_rows(model_version, ml, base, y)


def policy(**fields) -> ServiceConfig:
    ServiceConfig.objects.filter(pk=1).update(
        auto_rollback_enabled=True, auto_rollback_drift_reports=0,
        auto_rollback_on_fast_burn=False, **fields)
    return ServiceConfig.load()


def test_identical_variants_are_not_enough_evidence(model_version):
    p = np.linspace(0.01, 0.99, 3000)
    matured_rows(model_version, p, p, np.random.default_rng(1).random(3000) < p)
    live = live_paired_interval(since=timezone.now() - timedelta(hours=1))
    assert live["rows"] == 3000 and live["blocks"] >= 10
    assert live["pr_auc"]["diff"] == 0.0 and live["pr_auc"]["low"] <= 0 <= live["pr_auc"]["high"]
    assert live["verdict"] == "Not enough evidence (both intervals hold zero)"


def test_too_few_rows_are_not_enough_evidence_whatever_the_difference(model_version):
    worse_ml(model_version, 150)
    live = live_paired_interval(since=timezone.now() - timedelta(hours=1))
    assert live["pr_auc"]["diff"] < 0
    assert live["verdict"].startswith("Not enough evidence (150 matured rows")


def test_a_clear_difference_gets_a_verdict_on_the_overview_and_metrics(
        client, staff_user, model_version):
    worse_ml(model_version, 3000)
    live = live_paired_interval(since=timezone.now() - timedelta(hours=1))
    assert live["pr_auc"]["high"] < 0
    assert "PR-AUC baseline better" in live["verdict"]
    client.force_login(staff_user)
    page = client.get("/admin/").content.decode()
    assert 'id="overview-live-difference"' in page and "PR-AUC baseline better" in page
    families = scrape(client)
    assert sample(families, "volatility_live_difference", metric="pr_auc", bound="high",
                  window="1h") < 0
    assert sample(families, "volatility_live_difference_evidence", window="1h") == 1.0


def test_the_rollback_trigger_fires_only_when_the_interval_lies_wholly_beyond_the_margin(
        model_version):
    worse_ml(model_version, 3000)
    now = timezone.now()
    pr = live_paired_interval(since=now - timedelta(minutes=60), now=now)["pr_auc"]
    gap, edge = -pr["diff"], -pr["high"]
    assert 0 < edge < gap  # the interval reaches back over the point estimate
    assert pr_auc_trigger(policy(auto_rollback_min_rows=3000,
                                 auto_rollback_pr_auc_margin=edge), now).fired
    assert not pr_auc_trigger(policy(auto_rollback_min_rows=3000,
                                     auto_rollback_pr_auc_margin=edge + 1e-4), now).fired
    # the point estimate is past this margin, the interval is not: no rollback
    halfway = pr_auc_trigger(policy(auto_rollback_min_rows=3000,
                                    auto_rollback_pr_auc_margin=(edge + gap) / 2), now)
    assert not halfway.fired and "[95 %" in halfway.detail
    assert not pr_auc_trigger(policy(auto_rollback_min_rows=3001,
                                     auto_rollback_pr_auc_margin=edge), now).fired


def test_a_clear_difference_over_too_few_blocks_is_not_enough_evidence_and_never_fires(
        model_version):
    """Twenty minutes of rows: four 5-minute blocks, whatever the gap. A block bootstrap over
    four blocks is the point estimate in disguise; no verdict and no rollback rest on it."""
    worse_ml(model_version, 1200)
    now = timezone.now()
    live = live_paired_interval(since=now - timedelta(minutes=60), now=now)
    assert live["pr_auc"]["diff"] < 0 and live["blocks"] < 6
    assert live["verdict"].startswith(f"Not enough evidence ({live['blocks']} time blocks")
    trigger = pr_auc_trigger(policy(auto_rollback_min_rows=1000,
                                    auto_rollback_pr_auc_margin=0.0), now)
    assert not trigger.fired and "needs 6 blocks" in trigger.detail
