"""A configuration change reaches every web worker within a second, without a restart:
the production web server (`python -m volsite.web`, 2 workers) on the test database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from predictions.management.stack import web_argv
from predictions.services import service_config_update
from tests.helpers import free_port, need, postgres_in_use, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 1.0


def database_url() -> str:
    from django.db import connection

    d = connection.settings_dict
    auth = quote(d["USER"] or "") + (":" + quote(d["PASSWORD"]) if d["PASSWORD"] else "")
    return f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


@pytest.fixture
def web_server(tmp_path, model_version):
    need("PostgreSQL", postgres_in_use(), "worker processes must share the test database")
    port = free_port()
    access_log = tmp_path / "access.log"
    env = {**os.environ, "DATABASE_URL": database_url(), "WEB_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "2", "WEB_ACCESS_LOG": str(access_log),
           "CONFIG_REFRESH_SECONDS": "0.5", "API_THROTTLE_PREDICT": "off",
           "VOLSITE_RUNTIME_DIR": str(tmp_path), "OMP_NUM_THREADS": "1",
           "DJANGO_SECRET_KEY": "test-only-web-server"}
    proc = subprocess.Popen(web_argv(sys.executable), cwd=ROOT, env=env,
                            stdout=open(tmp_path / "web.out", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/api/v1/health") == 200, timeout=60,
                   interval=0.2, what="the web server to answer")
        yield {"base": f"http://127.0.0.1:{port}", "access_log": access_log, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except (OSError, urllib.error.URLError):
        return None


def _predict(base: str, token: str, body: bytes, tag: str) -> str:
    request = urllib.request.Request(f"{base}/api/v1/predict?r={tag}", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["model_variant"]


def _answers_after_flip(server, token: str, body: bytes, variant: str, tag: str,
                        seconds: float) -> list[tuple[float, str, str]]:
    """Flip the variant, then ask from 4 threads for `seconds`: (sent after flip, tag, answer)."""
    answers: list[tuple[float, str, str]] = []
    lock = threading.Lock()
    service_config_update(actor_name="tests", reason="propagation drill", active_variant=variant)
    flipped = time.monotonic()

    def ask(worker: int) -> None:
        i = 0
        while (sent := time.monotonic() - flipped) < seconds:
            request_tag = f"{tag}-{worker}-{i}"
            answer = _predict(server["base"], token, body, request_tag)
            with lock:
                answers.append((sent, request_tag, answer))
            i += 1

    threads = [threading.Thread(target=ask, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def _worker_of(access_log: Path) -> dict[str, str]:
    tags = {}
    for line in access_log.read_text().splitlines():
        # "<worker pid> <address> "POST /api/v1/predict?r=<tag> HTTP/1.1" 200 …" (volsite/web.py)
        match = re.match(r"(\d+) \S+ \"POST /api/v1/predict\?r=(\S+) \S+\" 200", line)
        if match:
            tags[match.group(2)] = match.group(1)
    return tags


def test_a_variant_flip_reaches_every_worker_within_a_second(web_server, api_user, feature_names):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=api_user).key
    body = json.dumps({"rows": [dict.fromkeys(feature_names, 0.002)]}).encode()
    wait_until(lambda: _predict(web_server["base"], token, body, "warm") == "ml", timeout=30,
               what="the ML variant to serve")
    for variant, tag in (("baseline", "rollback"), ("ml", "restore")):
        answers = _answers_after_flip(web_server, token, body, variant, tag, DEADLINE_S + 1.0)
        late = [(sent, t, a) for sent, t, a in answers if sent >= DEADLINE_S]
        assert late and all(a == variant for _, _, a in late), [
            (round(s, 3), a) for s, _, a in answers if a != variant]
        time.sleep(0.3)  # let the workers write their access log
        worker_of = _worker_of(web_server["access_log"])
        workers = {worker_of.get(t) for _, t, _ in late} - {None}
        assert len(workers) == 2, f"answers after {DEADLINE_S} s came from workers {workers}"
