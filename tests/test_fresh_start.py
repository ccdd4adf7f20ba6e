"""A fresh `make run` raises no false alarm (issue #22): from an empty runtime folder (SQLite,
the embedded broker and Celery transport: `make run`'s defaults), migrate, bootstrap and
runstack; a real Prometheus server scrapes the stack with the committed rules while it runs
for FRESH_START_MINUTES (default 4); then one drift report is run by hand, as an operator
would, and headless Chromium reads the SLO page and the admin overview.

Asserted (with the stream-latency threshold at 60 s: the latency SLOs judge the machine's
speed, which a test must not depend on): no SLO is in the page state or breaching, no
Prometheus alert fires, the drift report finds no dataset drift; and when the stack stops,
the stream worker stops before the broker (no ECONNREFUSED in its log).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.browser import chromium_context, chromium_path
from tests.helpers import ROOT, free_port, need, wait_until

pytestmark = pytest.mark.integration

MINUTES = float(os.environ.get("FRESH_START_MINUTES", "4"))


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def prometheus_config(tmp_path: Path, web: str, port: int) -> Path:
    """The committed scrape config and rules, pointed at the stack (loopback needs no token),
    scraping and evaluating every 5 s."""
    source = ROOT / "monitoring" / "prometheus"
    config = yaml.safe_load((source / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="5s", scrape_timeout="4s", evaluation_interval="5s")
    for job in config["scrape_configs"]:
        job.pop("authorization", None)
        job["static_configs"][0]["targets"] = [web if job["job_name"] == "volsite-web"
                                               else f"127.0.0.1:{port}"]
    for rule_file in config["rule_files"]:
        rules = (source / rule_file).read_text()
        (tmp_path / rule_file).write_text(re.sub(r"(?m)^(\s+interval:) \S+$", r"\1 5s", rules))
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def tools():
    need("Chromium", chromium_path() is not None, "install the Debian package chromium")
    need("Prometheus server", shutil.which("prometheus") is not None,
         "install the Debian package prometheus")


def test_a_fresh_stack_raises_no_false_alarm(tools, tmp_path):
    runtime = tmp_path / "var"
    web_port, kafka_port, prom_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "CELERY_BROKER_URL", "KAFKA_BOOTSTRAP",
                                "DJANGO_SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR",
                                "DJANGO_SETTINGS_MODULE"))}
    env.update(VOLSITE_RUNTIME_DIR=str(runtime), WEB_BIND=f"127.0.0.1:{web_port}",
               KAFKA_PORT=str(kafka_port))
    base = f"http://127.0.0.1:{web_port}"
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    started = time.monotonic()
    manage(env, "bootstrap")
    print(f"bootstrap took {time.monotonic() - started:.0f} s")
    # The latency SLOs judge the machine, not the start: on the shared two-core test machine
    # (load average about 10) 5 to 18 % of ticks took over 1 s in every minute, not only the
    # first, so the stream's threshold is the top latency bucket here (API: no traffic).
    manage(env, "shell", "-c", "from predictions.services import service_config_update; "
           "service_config_update(actor_name='fresh-start test', reason='machine under load', "
           "slo_stream_latency_seconds=60)")
    login, password = re.search(r"login: (\S+) / (\S+)",
                                (runtime / "admin-credentials.txt").read_text()).groups()
    stack = subprocess.Popen([sys.executable, "manage.py", "runstack"], cwd=ROOT, env=env,
                             stdout=open(tmp_path / "runstack.log", "wb"),
                             stderr=subprocess.STDOUT, start_new_session=True)
    prometheus = subprocess.Popen(
        [shutil.which("prometheus"),
         f"--config.file={prometheus_config(tmp_path, f'127.0.0.1:{web_port}', prom_port)}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        stdout=open(tmp_path / "prometheus.log", "wb"), stderr=subprocess.STDOUT)
    prom = f"http://127.0.0.1:{prom_port}"
    try:
        wait_until(lambda: answers(f"{base}/api/v1/health"), timeout=120, what="the web")
        deadline = time.monotonic() + MINUTES * 60
        fired: set[str] = set()
        while time.monotonic() < deadline:  # any alert that fires at any moment counts
            fired |= {a["labels"]["alertname"] + str(a["labels"].get("slo", ""))
                      for a in http_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
                      if a["state"] == "firing"}
            time.sleep(10)
        assert fired == set(), f"alerts fired: {fired}"
        up = http_json(f"{prom}/api/v1/query?query=up%7Bjob%3D%22volsite-web%22%7D")
        assert up["data"]["result"][0]["value"][1] == "1"  # the scrape really read the stack
        manage(env, "shell", "-c", "from drift.services import drift_report_create; "
                                   "r = drift_report_create(); assert r.status == 'ok', r.message")
        with chromium_context(tmp_path / "chromium-profile") as context:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(120_000)  # SQLite: a read may wait for the writers
            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", login)
            page.fill("#id_password", password)
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/")
            assert "no drift" in page.inner_text("#overview-drift")
            assert "breaching" not in page.inner_text("#overview-slos")
            page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
            page.goto(f"{base}/slo/?window=1h")
            slos = json.loads(page.evaluate(
                "fetch(document.getElementById('slo-json').href).then(r => r.text())"))
            page.screenshot(path=str(tmp_path / "slo.png"), full_page=True)
        states = {s["key"]: (s["status"], s["alert"]["level"]) for s in slos["slos"]}
        print("SLO states after", MINUTES, "minutes:", states)
        assert all(status != "breaching" and level not in ("page", "ticket")
                   for status, level in states.values()), states
        assert states["drift_freshness"] == ("no data", "no data")
        assert states["prediction_freshness"][0] in ("ok", "no data")
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGTERM)
            stack.wait(timeout=90)
    stream_log = (runtime / "logs" / "stream-worker.log").read_text(errors="replace")
    assert "ECONNREFUSED" not in stream_log and "Connection refused" not in stream_log
