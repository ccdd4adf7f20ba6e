"""The Prometheus side of the SLOs, checked with the real promtool (Debian package
`prometheus`): the scrape config and the rules load, the rules pass their unit tests
(`tests/monitoring/prometheus/*_test.yml`), those unit tests cover every rule, every series the
rules, their tests and the Grafana dashboard select is one that our `/metrics` really exports
(or a recording rule that rules.yml defines), and that exposition passes promtool's metric
lint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitoring.slo import SLO_KEYS
from tests.helpers import matured_rows, need

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "monitoring" / "prometheus"
DASHBOARD = ROOT / "monitoring" / "grafana" / "volsite-dashboard.json"
UNIT_TESTS = sorted((Path(__file__).parent / "prometheus").glob("*_test.yml"))
# Labels Prometheus adds at scrape time (`job`, `instance`) or from prometheus.yml (`service`):
# unit-test series carry them, our exposition does not.
TARGET_LABELS = {"job", "instance", "service"}
# `series{matchers}` in PromQL or in a unit test's series notation.
SELECTOR = re.compile(r"\b(volatility_[a-z0-9_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
# A recording rule's name (`level:metric:operations`) where PromQL selects it.
RECORD = re.compile(r"\b(volsite:[a-z0-9_:]+)")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    need("promtool", path is not None,
         "install the Debian package prometheus (scripts/provision-test.sh does, as root)")
    return path


def run(promtool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def rule_groups() -> list[dict]:
    return yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]


def dashboard_queries() -> list[str]:
    """The PromQL of every panel of the Grafana dashboard (rows nest panels)."""
    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    document = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in panels(document["panels"]) for t in p.get("targets", [])]


def unit_tests() -> list[dict]:
    return [yaml.safe_load(path.read_text()) for path in UNIT_TESTS]


def selectors(text: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric name, [(label, operator, value)]) of every volatility_* selector in `text`."""
    return [(name, MATCHER.findall(body or "")) for name, body in SELECTOR.findall(text)]


# --- promtool on the files --------------------------------------------------------------------

def test_the_scrape_config_and_its_rule_files_pass_promtool_check_config(promtool):
    result = run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rules.yml" in result.stdout  # the rule file was found and checked with the config


def test_the_rules_pass_promtool_check_rules(promtool):
    result = run(promtool, "check", "rules", str(PROMETHEUS / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_unit_tests(promtool):
    assert UNIT_TESTS, "no rule unit tests found"
    result = run(promtool, "test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_see_every_alert_fire_and_stay_quiet():
    alerts = {r["alert"] for g in rule_groups() for r in g["rules"] if "alert" in r}
    fired: set[str] = set()
    quiet: set[str] = set()
    for document in unit_tests():
        for case in document["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - fired == set(), "alerts never seen firing in a unit test"
    assert alerts - quiet == set(), "alerts never seen staying quiet in a unit test"
    assert (fired | quiet) - alerts == set(), "unit tests name alerts that rules.yml lacks"


def test_the_unit_tests_check_the_value_of_every_recording_rule():
    records = {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}
    checked: set[str] = set()
    for document in unit_tests():
        for case in document["tests"]:
            for check in case.get("promql_expr_test", []):
                for sample in check.get("exp_samples", []):
                    name = sample.get("labels", "").split("{")[0]
                    checked.add(name)
    assert records - checked == set(), "recording rules whose value no unit test checks"


def test_every_recording_rule_the_dashboard_reads_is_defined_in_the_rules():
    records = {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}
    used = {name for expr in dashboard_queries() for name in RECORD.findall(expr)}
    assert used, "the dashboard reads no recording rule (the SLO row does)"
    assert used - records == set(), "dashboard queries of recording rules rules.yml lacks"
    assert {"volsite:slo_budget_remaining:30d", "volsite:slo_alert_level",
            "volsite:slo_burn_rate:1h"} <= used


# --- the rules against what /metrics exports ---------------------------------------------------

def test_a_new_process_exports_the_event_counters_alerts_watch_at_zero():
    """VolsiteDeadLetters, VolsiteDriftReportsFailing and the SLO rules count with increase()
    or rate(), which cannot see the event that creates a series: those series exist at 0
    before their first event (the SLO ones once monitoring.sli is imported, as the
    middleware, the consumer and the beat task all do)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    code = ("import django; django.setup(); import monitoring.sli, prometheus_client; "
            "print(prometheus_client.generate_latest().decode())")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for family in text_string_to_metric_families(result.stdout) for s in family.samples}
    for outcome in ("scored", "skipped", "dead_lettered"):
        assert values[("volatility_consumer_messages_processed_total",
                       (("outcome", outcome),))] == 0.0
    for status in ("ok", "skipped", "failed"):
        assert values[("volatility_drift_reports_total", (("status", status),))] == 0.0
    # Every SLO's event counters (the burn-rate rules' increase() needs them from the start).
    for slo in SLO_KEYS:
        for name in ("volatility_slo_events_total", "volatility_slo_good_events_total"):
            assert values[(name, (("slo", slo),))] == 0.0


@pytest.fixture
def exposition(client, api_client, kafka, model_version, feature_names, settings, monkeypatch):
    """/metrics after the app has done, for real, every kind of work the rules watch: predict
    answers (200 and 400), health and readiness probes, a consumer run over good ticks and a
    poison message, a drift report run that fails, a refused ML artifact; plus the rows the
    scrape-time gauges read."""
    from django.utils import timezone

    import drift.services
    from drift.models import DriftReport
    from monitoring.collectors import forget_live_cache
    from predictions.core.ticks import Tick, advanced_trade_envelope
    from predictions.messaging.publisher import Publisher
    from predictions.models import ModelVersion, StreamLease
    from predictions.serving import forget_loaded, load_version
    from predictions.stream.consumer import consume_run

    rows = {"rows": [dict.fromkeys(feature_names, 0.001)]}
    assert api_client.post("/api/v1/predict", data=json.dumps(rows),
                           content_type="application/json").status_code == 200
    assert api_client.post("/api/v1/predict", data=json.dumps({"rows": []}),
                           content_type="application/json").status_code == 400
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/ready").status_code in (200, 503)  # the rules only need its series

    publisher = Publisher(kafka.KAFKA_TOPIC_TICKS)
    now = timezone.now().timestamp()
    for i in range(3):
        tick = Tick("BTC-USD", now - 3 + i, 100.0 + i, 99.99 + i, 100.01 + i, 1.0, 1.0, 10.0, None)
        publisher.send("BTC-USD", json.dumps(advanced_trade_envelope(tick, sequence_num=i)).encode())
    publisher.send("BTC-USD", b"{not json")
    publisher.close()
    # One run as the stream task does it: hold the lease, consume, report on the lease.
    StreamLease.objects.claim("rules-test")
    stats = consume_run(max_seconds=10, max_messages=4, holder="rules-test")
    StreamLease.objects.report("rules-test", messages=stats.messages, errors=stats.errors)
    assert (stats.scored, stats.dead_lettered) == (3, 1)
    # The broker "lost its log": a stored offset past the log's end is reset at the next claim.
    from predictions.models import StreamOffset

    StreamOffset.objects.filter(topic=kafka.KAFKA_TOPIC_TICKS).update(next_offset=1000)
    consume_run(max_seconds=1, holder="rules-test")

    # Evidently failing is outside our code; the run's failure is recorded as ours would be.
    def evidently_breaks(*args, **kwargs):
        raise RuntimeError("evidently broke")

    settings.DRIFT_MIN_ROWS = 1
    monkeypatch.setattr(drift.services, "run_drift", evidently_breaks)
    assert drift.services.drift_report_create().status == DriftReport.FAILED
    DriftReport.objects.create(status=DriftReport.OK, share_drifted=0.5, dataset_drift=True)

    # Matured labels, so the live PR-AUC and Brier gauges have values (the dashboard reads them).
    matured_rows(model_version, [0.9, 0.2, 0.7, 0.1], [0.6, 0.4, 0.5, 0.3], [1, 0, 1, 0])
    forget_live_cache()

    ModelVersion.objects.filter(pk=model_version.pk).update(sha256="0" * 64)
    forget_loaded()
    assert load_version(model_version.pk).ml is None  # refused, and counted

    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def exported(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name → label sets of every sample in an exposition."""
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s.labels)
    return samples


def mismatches(name: str, matchers, samples: dict, *, extra_labels=frozenset(),
               exact_values=None) -> list[str]:
    """What in one selector does not fit the exposition: a series that is not exported, a
    label the series does not have, or an equality matcher whose value no exported sample
    has (for the labels in `exact_values`, or every label when it is None)."""
    if name not in samples:
        return [f"{name}: not exported"]
    label_sets = samples[name]
    known = set().union(*label_sets) | set(extra_labels)
    problems = [f"{name}: no label {label}" for label, _, _ in matchers if label not in known]
    for label, op, value in matchers:
        checked = exact_values is None or label in exact_values
        if op == "=" and checked and label not in extra_labels and \
                not any(s.get(label) == value for s in label_sets):
            problems.append(f'{name}: no sample with {label}="{value}"')
    return problems


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_every_series_the_rules_select_is_exported_by_metrics(exposition):
    samples = exported(exposition)
    problems = []
    for group in rule_groups():
        for rule in group["rules"]:
            for name, matchers in selectors(rule["expr"]):
                problems += mismatches(name, matchers, samples)
    assert problems == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_every_series_the_unit_tests_feed_is_exported_by_metrics(exposition):
    samples = exported(exposition)
    problems = []
    for document in unit_tests():
        for case in document["tests"]:
            for series in case["input_series"]:
                for name, matchers in selectors(series["series"]):
                    # Other values (status codes, model names, topics) are the test's own.
                    problems += mismatches(name, matchers, samples, extra_labels=TARGET_LABELS,
                                           exact_values={"le", "endpoint"})
    assert problems == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_every_series_the_dashboard_selects_is_exported_by_metrics(exposition):
    samples = exported(exposition)
    problems = []
    for expr in dashboard_queries():
        for name, matchers in selectors(expr):
            problems += mismatches(name, matchers, samples)
    assert problems == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_metrics_exposition_passes_promtool_check_metrics(promtool, exposition):
    result = run(promtool, "check", "metrics", stdin=exposition)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_reads_slo_thresholds_and_targets_from_the_exported_gauges():
    """No objective is written into the dashboard: a threshold changed in the admin moves the
    lines (volatility_slo_threshold_seconds / volatility_slo_target) at the next scrape."""
    text = DASHBOARD.read_text()
    queries = "\n".join(dashboard_queries())
    assert 'le="0.1"' not in queries and "100 ms" not in text
    for slo in ("api_latency", "stream_latency", "prediction_freshness"):
        assert f'volatility_slo_threshold_seconds{{slo="{slo}"}}' in queries
    assert 'volatility_slo_target{slo="api_latency"}' in queries
    assert 'volatility_live_pr_auc{window="24h"}' in queries
    assert "volatility_auto_rollbacks_total" in queries
