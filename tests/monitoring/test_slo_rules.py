"""The generated Prometheus rules: the committed file is what `manage.py slo_rules` writes,
and on one history of minute counts the SLO page and the rules (run by the real promtool)
show the same burn rates, the same alert state and the same firing alerts."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from monitoring.burn import LEVELS, TIERS, WINDOWS
from monitoring.rules import RULES_PATH, rules_text
from monitoring.selectors import slo_reports
from predictions.config import current_config
from tests.helpers import promtool_path, slo_minutes

START = datetime(2026, 1, 1, tzinfo=UTC)
MINUTES = 74 * 60  # 3 days and 2 hours: every burn window is fully covered
# Per SLO, (minutes, good a minute, total a minute) segments, oldest first.
HISTORY = {
    # 20 % of requests fail for the last 70 minutes: burn 40 over 1 h and 5 m, a page.
    "api_availability": [(MINUTES - 70, 100, 100), (70, 80, 100)],
    # 2 % slow for three days: burn 2, a ticket over 3 d and 6 h, not over 1 d and 2 h.
    "api_latency": [(MINUTES, 49, 50)],
    # 10 % late for 6 h 40 m, then no tick for 10 minutes: the 5 m window has no data, the
    # slow burn pages (6 h and 30 m), the fast burn cannot.
    "stream_latency": [(MINUTES - 410, 50, 50), (400, 45, 50), (10, 0, 0)],
    # Every minute fresh: quiet.
    "prediction_freshness": [(MINUTES, 1, 1)],
    # Never counted: no data, and no series from the rules.
}


def series(counts: list[tuple[int, int]], index: int) -> str:
    """promtool's expanding notation of a counter sampled each minute (sample k holds the
    events of the minutes before k)."""
    tokens, value, i = ["0"], 0, 0
    while i < len(counts):
        step, run = counts[i][index], 1
        while i + run < len(counts) and counts[i + run][index] == step:
            run += 1
        tokens.append(f"{value + step}+{step}x{run - 1}")
        value += step * run
        i += run
    return " ".join(tokens)


def unit_test(histories: dict, reports: list, rules: dict) -> dict:
    """A promtool unit test that expects, at the end of the history, what the page shows."""
    inputs = []
    for report in reports:
        key = report.definition.key
        counts = histories.get(key, [(0, 0)] * MINUTES)
        inputs += [
            {"series": f'volatility_slo_events_total{{slo="{key}"}}', "values": series(counts, 1)},
            {"series": f'volatility_slo_good_events_total{{slo="{key}"}}',
             "values": series(counts, 0)},
            {"series": f'volatility_slo_target{{slo="{key}"}}',
             "values": f"{report.status.target!r}x{MINUTES}"}]
    at = f"{MINUTES}m"
    exprs, alerts = [], {t.alert: [] for t in TIERS}
    for report in reports:
        key = report.definition.key
        for window, _ in WINDOWS:
            rate = report.burn_rates[window]
            selector = f'volsite:slo_burn_rate:{window}{{slo="{key}"}}'
            exprs.append({"expr": selector, "eval_time": at, "exp_samples": []} if rate is None
                         else {"expr": f"abs({selector} - {rate!r}) < bool 1e-9", "eval_time": at,
                               "exp_samples": [{"labels": f'{{slo="{key}"}}', "value": 1}]})
        level = LEVELS.get(report.alert.level)
        exprs.append({"expr": f'volsite:slo_alert_level{{slo="{key}"}}', "eval_time": at,
                      "exp_samples": [] if level is None else [
                          {"labels": f'volsite:slo_alert_level{{slo="{key}"}}', "value": level}]})
        for tier in TIERS:
            if tier.key in report.alert.firing:
                alerts[tier.alert].append(expected_alert(rules[tier.alert], tier, key,
                                                         report.burn_rates[tier.long]))
    return {
        "rule_files": [str(RULES_PATH)], "evaluation_interval": "1h",
        "group_eval_order": ["volsite-slo", "volsite-slo-alerts"],
        "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": exprs,
                   "alert_rule_test": [{"alertname": name, "eval_time": at, "exp_alerts": exp}
                                       for name, exp in alerts.items()]}]}


def expected_alert(rule: dict, tier, slo: str, value: float) -> dict:
    """The alert as the rule's templates render it (Go's humanize: 4 significant digits)."""
    def render(text: str) -> str:
        return text.replace("{{ $labels.slo }}", slo).replace("{{ $value | humanize }}",
                                                                f"{value:.4g}")

    return {"exp_labels": {**rule["labels"], "slo": slo},
            "exp_annotations": {k: render(v) for k, v in rule["annotations"].items()}}


def test_the_committed_rules_are_the_ones_slo_rules_generates():
    assert RULES_PATH.read_text() == rules_text(), "run `python manage.py slo_rules`"


def test_slo_rules_check_says_whether_the_file_is_current(tmp_path):
    stale = tmp_path / "rules.yml"
    stale.write_text("groups: []\n")
    with pytest.raises(Exception, match="not current"):
        call_command("slo_rules", "--check", "--output", str(stale))
    call_command("slo_rules", "--output", str(stale))
    call_command("slo_rules", "--check", "--output", str(stale))
    assert stale.read_text() == rules_text()


@pytest.mark.django_db
def test_the_slo_page_and_the_rules_agree_on_the_same_counts(tmp_path):
    promtool = promtool_path()
    histories = {key: slo_minutes(key, START, profile) for key, profile in HISTORY.items()}
    now = START + timedelta(minutes=MINUTES)
    reports = slo_reports(config=current_config(), window_key="1h", now=now)
    states = {r.definition.key: r.alert for r in reports}
    # The history's point: every state appears, so agreement is not agreement on silence.
    assert states["api_availability"].level == "page"
    assert states["api_latency"].level == "ticket"
    assert states["stream_latency"].firing == ("slow_burn",)  # 1 d: burn 2.8, 3 d: 0.93
    assert states["prediction_freshness"].level == "ok"
    assert states["drift_freshness"].level == "no data"
    rules = {r["alert"]: r for g in yaml.safe_load(RULES_PATH.read_text())["groups"]
             for r in g["rules"] if "alert" in r}
    test_file = Path(tmp_path) / "agree_test.yml"
    test_file.write_text(yaml.safe_dump(unit_test(histories, reports, rules), sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
