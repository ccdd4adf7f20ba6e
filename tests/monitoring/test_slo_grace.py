"""Grace periods: a minute in which what an SLO judges cannot have happened yet (no drift
report is due in the first 15 minutes) is not counted, so the SLO page and the generated
Prometheus rules (run by the real promtool) both read "no data" there, not bad minutes, and
both judge the minutes after the edge as usual."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from drift.models import DriftReport
from monitoring.models import SloMinute
from monitoring.rules import RULES_PATH
from monitoring.selectors import slo_reports
from monitoring.services import slo_freshness_sample
from monitoring.slo import SLOS, SLOS_BY_KEY
from predictions.config import current_config
from tests.helpers import promtool_path

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)
DRIFT = SLOS_BY_KEY["drift_freshness"]


def test_only_the_sampled_slos_have_a_grace_period_and_each_says_why():
    graced = {s.key: s.grace_seconds for s in SLOS if s.grace_seconds}
    assert graced == {"prediction_freshness": 180, "drift_freshness": 1800}
    assert all(SLOS_BY_KEY[key].grace_reason for key in graced)


def test_the_grace_edge_itself_is_counted():
    assert DRIFT.in_grace(started_at=0, now=1799.9)
    assert not DRIFT.in_grace(started_at=0, now=1800)


def test_a_minute_within_the_grace_period_counts_no_event(db):
    now = START + timedelta(seconds=1799)
    result = slo_freshness_sample(config=current_config(), now=now,
                                  started_at=START.timestamp())
    # No drift report yet, but none can be due: not counted. Predictions are past their grace.
    assert result == {"prediction_freshness": False, "drift_freshness": None}
    assert {r.slo: r.total for r in SloMinute.objects.all()} == {"prediction_freshness": 1}


def test_a_minute_after_the_grace_period_counts_a_missing_report_as_bad(db):
    now = START + timedelta(seconds=1800)
    result = slo_freshness_sample(config=current_config(), now=now,
                                  started_at=START.timestamp())
    assert result["drift_freshness"] is False
    assert SloMinute.objects.get(slo="drift_freshness").good == 0
    DriftReport.objects.create(status=DriftReport.OK)
    assert slo_freshness_sample(config=current_config(), started_at=0)["drift_freshness"]


def counter_values(rows: dict[int, tuple[int, int]], minutes: int, index: int) -> str:
    """A counter sampled each minute, in promtool's explicit notation (sample k holds the
    events of the minutes before k)."""
    values, total = [], 0
    for minute in range(minutes + 1):
        values.append(str(total))
        total += rows.get(minute, (0, 0))[index]
    return " ".join(values)


def test_a_fresh_start_without_any_drift_report_is_no_data_then_pages_after_the_grace(
        tmp_path):
    """Beat samples every minute from a fresh start and no drift report ever completes: the
    page and the rules agree that the first 30 minutes are no data (no state, no alert) and
    that the 15 bad minutes after the edge page."""
    promtool = promtool_path()
    minutes = 45

    def page_level(minute: int) -> str:
        reports = slo_reports(config=current_config(), window_key="1h",
                              now=START + timedelta(minutes=minute, seconds=59))
        return next(r for r in reports if r.definition.key == "drift_freshness").alert.level

    for minute in range(minutes):
        slo_freshness_sample(config=current_config(), now=START + timedelta(minutes=minute),
                             started_at=START.timestamp())
        if minute == 29:
            assert page_level(minute) == "no data"
    assert page_level(minutes - 1) == "page"
    rows = {int((r.minute - START).total_seconds() // 60): (r.good, r.total)
            for r in SloMinute.objects.filter(slo="drift_freshness")}
    assert sorted(rows) == list(range(30, minutes))

    target = current_config().slo_drift_freshness_target
    level = 'volsite:slo_alert_level{slo="drift_freshness"}'
    firing = 'ALERTS{alertname="VolsiteSloFastBurn",alertstate="firing",slo="drift_freshness"}'
    test = {
        "rule_files": [str(RULES_PATH)], "evaluation_interval": "1m",
        "group_eval_order": ["volsite-slo", "volsite-slo-alerts"],
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'volatility_slo_events_total{slo="drift_freshness"}',
                 "values": counter_values(rows, minutes, 1)},
                {"series": 'volatility_slo_good_events_total{slo="drift_freshness"}',
                 "values": counter_values(rows, minutes, 0)},
                {"series": 'volatility_slo_target{slo="drift_freshness"}',
                 "values": f"{target!r}x{minutes}"}],
            "promql_expr_test": [
                {"expr": level, "eval_time": "29m", "exp_samples": []},
                {"expr": firing, "eval_time": "29m", "exp_samples": []},
                {"expr": level, "eval_time": f"{minutes}m",
                 "exp_samples": [{"labels": level, "value": 2}]},
                {"expr": f"count({firing})", "eval_time": f"{minutes}m",
                 "exp_samples": [{"labels": "{}", "value": 1}]}],
        }]}
    path = tmp_path / "grace_test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_prediction_freshness_is_counted_from_its_own_edge(db):
    def sample(seconds: float) -> bool | None:
        return slo_freshness_sample(config=current_config(),
                                    now=START + timedelta(seconds=seconds),
                                    started_at=START.timestamp())["prediction_freshness"]

    assert sample(179) is None  # the consumer may still be starting: not counted
    assert sample(180) is False  # no prediction three minutes in: a bad minute
    assert SloMinute.objects.get(slo="prediction_freshness").total == 1
