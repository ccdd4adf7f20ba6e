"""A real Prometheus server (Debian package `prometheus`) loads monitoring/prometheus/prometheus.yml
and the generated rules, and scrapes a real web process started with compose.yaml's web
command and environment (production settings: DJANGO_SECURE on, /metrics behind the bearer
token). It finds the target up, computes the SLO recording rules, and puts
VolsiteDatabaseDown in pending when the web's database is stopped.

What the test changes in the copied configuration, and only that: the target address (no
`web` host here), scrape and evaluation every second instead of 15 s / 30 s (the rule groups'
`interval` too), and one extra job without the token, which must be refused. The web process
trusts no network (METRICS_ALLOWED_NETWORKS names a documentation address), so only the token
opens /metrics, as inside compose where Prometheus is not on loopback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.compose_file import ComposeWeb
from tests.compose_file import http as get
from tests.helpers import (
    ROOT,
    free_port,
    need,
    postgres_in_use,
    private_postgres_with_model,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROMETHEUS_DIR = ROOT / "monitoring" / "prometheus"
NO_NETWORK = "192.0.2.1/32"  # TEST-NET-1: no peer of this machine has it


@pytest.fixture
def web(settings, tmp_path, model_version):
    """compose.yaml's web service on a database of the test's own (so it can be stopped),
    trusting no network for /metrics: only the bearer token opens it."""
    need("PostgreSQL", postgres_in_use(), "the web's own server copies the test database")
    database = private_postgres_with_model(settings, tmp_path)
    web = ComposeWeb(tmp_path, DATABASE_URL=database.url, METRICS_ALLOWED_NETWORKS=NO_NETWORK,
                     KAFKA_BOOTSTRAP_SERVERS=settings.KAFKA_BOOTSTRAP_SERVERS)
    assert web.env["DJANGO_SECURE"] == "true"  # compose's production settings, kept
    try:
        web.start()
        yield web, database
    finally:
        web.stop()
        database.remove()


def prometheus_configuration(web: ComposeWeb, tmp_path: Path, prometheus_port: int) -> Path:
    """prometheus.yml and rules.yml as committed, but for the changes the module names."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    volsite = jobs["volsite-web"]
    volsite["static_configs"][0]["targets"] = [web.address]
    jobs["prometheus"]["static_configs"][0]["targets"] = [f"127.0.0.1:{prometheus_port}"]
    without_token = {k: v for k, v in volsite.items() if k != "authorization"}
    config["scrape_configs"].append({**without_token, "job_name": "volsite-web-without-token"})
    (tmp_path / volsite["authorization"]["credentials_file"]).write_text(
        web.env["METRICS_TOKEN"])
    for rule_file in config["rule_files"]:
        rules = (PROMETHEUS_DIR / rule_file).read_text()
        (tmp_path / rule_file).write_text(re.sub(r"(?m)^(\s+interval:) \S+$", r"\1 1s", rules))
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def prometheus(web, tmp_path):
    binary = shutil.which("prometheus")
    need("Prometheus server", binary is not None,
         "install the Debian package prometheus (scripts/provision-test.sh does, as root)")
    port = free_port()
    config = prometheus_configuration(web[0], tmp_path, port)
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=open(tmp_path / "prometheus.log", "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(f"{base}/-/ready")[0] == 200, timeout=30,
                   what=f"Prometheus to be ready (see {tmp_path / 'prometheus.log'})")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def query(prometheus: str, expr: str) -> list[dict]:
    status, body = get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def value(prometheus: str, expr: str) -> float | None:
    result = query(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def alert_state(prometheus: str, name: str) -> str | None:
    _, body = get(f"{prometheus}/api/v1/alerts")
    states = [a["state"] for a in json.loads(body)["data"]["alerts"]
              if a["labels"]["alertname"] == name]
    return states[0] if states else None


def test_prometheus_scrapes_web_with_the_token_records_the_slos_and_alerts(web, prometheus):
    web, database = web
    # Loaded as committed: every rule file, every group.
    _, body = get(f"{prometheus}/api/v1/rules")
    groups = {g["name"] for g in json.loads(body)["data"]["groups"]}
    assert {"volsite-slo", "volsite-slo-alerts", "volsite-operations"} <= groups

    # Up with the token, refused (403) without it.
    wait_until(lambda: value(prometheus, 'up{job="volsite-web"}') == 1, timeout=30,
               what="the volsite-web target to be up")
    wait_until(lambda: value(prometheus, 'up{job="volsite-web-without-token"}') == 0,
               timeout=30, what="the target without the token to be scraped")
    _, body = get(f"{prometheus}/api/v1/targets")
    without = next(t for t in json.loads(body)["data"]["activeTargets"]
                   if t["labels"]["job"] == "volsite-web-without-token")
    assert without["health"] == "down" and "403" in without["lastError"]

    # Predict requests, as the TLS proxy in front of web forwards them (refused for want of
    # an API token: 4xx, good events of the availability SLO), feed the counters; the chain
    # of recording rules ends in a burn rate of 0.
    for _ in range(20):
        assert web.request("/api/v1/predict", data=b"{}",
                           headers={"Content-Type": "application/json"})[0] in (401, 403)
    events = 'volsite:slo_events:rate5m{slo="api_availability"}'
    wait_until(lambda: (value(prometheus, events) or 0) > 0, timeout=30,
               what=f"{events} to have a value")
    assert value(prometheus, 'volsite:slo_burn_rate:5m{slo="api_availability"}') == 0
    assert value(prometheus, 'volatility_database_up') == 1
    assert alert_state(prometheus, "VolsiteDatabaseDown") is None

    # The database goes away: /metrics still answers (so no VolsiteWebDown), with
    # volatility_database_up 0, and VolsiteDatabaseDown waits out its `for` as pending.
    database.stop()
    wait_until(lambda: alert_state(prometheus, "VolsiteDatabaseDown") == "pending",
               timeout=30, what="VolsiteDatabaseDown to be pending")
    assert value(prometheus, 'up{job="volsite-web"}') == 1
    assert alert_state(prometheus, "VolsiteWebDown") is None
