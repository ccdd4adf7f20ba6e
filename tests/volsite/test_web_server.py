"""The production web server command (`python -m volsite.web`, granian running Django) on the
test database: it serves the API, the admin and static files, drains an in-flight request on
SIGTERM before it exits, and marks its workers' metric files dead (multiprocess Prometheus)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from predictions.management.stack import web_argv
from tests.helpers import ROOT, free_port, need, postgres_in_use, wait_until
from tests.predictions.test_config_reaches_web_workers import database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except OSError:
        return 0, "", b""


@pytest.fixture
def extra_env() -> dict[str, str]:
    return {}


@pytest.fixture
def web(tmp_path, model_version, extra_env):
    need("PostgreSQL", postgres_in_use(), "the server's workers share the test database")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "WEB_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "2", "VOLSITE_RUNTIME_DIR": str(tmp_path),
           "DJANGO_STATIC_ROOT": str(tmp_path / "static"), "DJANGO_SECRET_KEY": "test-only-web",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "OMP_NUM_THREADS": "1",
           "WEB_GRACEFUL_SECONDS": "20", **extra_env}
    (tmp_path / "prometheus").mkdir()
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True)
    proc = subprocess.Popen(web_argv(sys.executable), cwd=ROOT, env=env,
                            stdout=open(tmp_path / "web.out", "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(f"{base}/api/v1/health")[0] == 200, timeout=90,
                   what="the web server to answer")
        yield {"proc": proc, "base": base, "port": port, "dir": tmp_path / "prometheus"}
    finally:
        if proc.poll() is None:
            proc.terminate()  # a graceful stop ends the workers (and their DB sessions) too
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_it_serves_the_api_the_admin_and_static_files(web):
    status, kind, body = _get(f"{web['base']}/admin/login/")
    assert status == 200 and kind.startswith("text/html") and b"csrfmiddlewaretoken" in body
    status, kind, body = _get(f"{web['base']}/static/admin/css/base.css")
    assert status == 200 and kind.startswith("text/css") and body
    status, _, body = _get(f"{web['base']}/api/v1/version")
    assert status == 200 and json.loads(body)["model_variant"] == "ml"
    assert _get(f"{web['base']}/metrics")[0] == 200  # loopback may scrape


def test_sigterm_drains_the_request_in_flight_then_exits(web, api_user, feature_names):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=api_user).key
    body = json.dumps({"rows": [dict.fromkeys(feature_names, 0.002)]}).encode()
    workers = subprocess.run(["pgrep", "-P", str(web["proc"].pid)], capture_output=True,
                             text=True).stdout.split()
    assert len(workers) == 2, workers
    # A live gauge file per worker: mark_process_dead removes them when the worker exits.
    for pid in workers:
        (web["dir"] / f"gauge_livesum_{pid}.db").write_bytes(b"")
    client = socket.create_connection(("127.0.0.1", web["port"]), timeout=30)
    client.sendall(b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: application/json\r\nAuthorization: Token " + token.encode()
                   + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                   + body[:10])
    time.sleep(1.0)  # the worker now waits in the middle of the body
    web["proc"].send_signal(signal.SIGTERM)
    time.sleep(1.0)
    client.sendall(body[10:])
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = client.recv(65536)
        if not chunk:
            break
        answer += chunk
    client.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["model_variant"] == "ml"
    assert web["proc"].wait(timeout=30) == 0
    assert not list(web["dir"].glob("gauge_livesum_*.db"))


def _predict(base: str, token: str, body: bytes) -> int:
    request = urllib.request.Request(f"{base}/api/v1/predict", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def _predicted(multiproc_dir) -> float:
    """volatility_api_requests_total{predict, ml, 200} summed over the workers' files."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(multiproc_dir))
    return registry.get_sample_value("volatility_api_requests_total", {
        "endpoint": "predict", "variant": "ml", "status": "200"}) or 0.0


def test_request_counts_reach_metrics_within_the_publishing_period(web, api_user, feature_names):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=api_user).key
    body = json.dumps({"rows": [dict.fromkeys(feature_names, 0.002)]}).encode()
    assert [_predict(web["base"], token, body) for _ in range(20)] == [200] * 20
    wait_until(lambda: _predicted(web["dir"]) == 20, timeout=10,
               what="20 requests counted (published every METRICS_PUBLISH_SECONDS = 1 s)")


@pytest.mark.parametrize("extra_env", [{"METRICS_PUBLISH_SECONDS": "3600"}])
def test_a_stopping_worker_publishes_the_counts_it_holds(web, api_user, feature_names):
    """Counts still in a worker's memory when it is stopped reach the metric files (and the
    SLI rollups) as it exits."""
    from rest_framework.authtoken.models import Token

    from monitoring.models import ApiMinute

    token = Token.objects.create(user=api_user).key
    body = json.dumps({"rows": [dict.fromkeys(feature_names, 0.002)]}).encode()
    assert [_predict(web["base"], token, body) for _ in range(12)] == [200] * 12
    time.sleep(1.0)
    assert _predicted(web["dir"]) == 0  # held in memory: the period is an hour
    web["proc"].send_signal(signal.SIGTERM)
    assert web["proc"].wait(timeout=30) == 0
    assert _predicted(web["dir"]) == 12
    assert sum(ApiMinute.objects.filter(endpoint="predict")
               .values_list("requests", flat=True)) == 12
