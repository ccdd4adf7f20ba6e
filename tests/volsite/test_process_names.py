"""Every process names itself to PostgreSQL (issue #19): pg_stat_activity shows the web server,
beat, a consumer's slot and a management command by name."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest
from django.db import connection

from predictions.core.process_names import process_name, slot_name
from predictions.management.stack import beat_argv, web_argv
from tests.helpers import (
    ROOT,
    child_env,
    consumer_process,
    free_port,
    need,
    postgres_in_use,
    redis_available,
    wait_port,
    wait_until,
)


@pytest.mark.parametrize(("argv", "name"), [
    (["/v/lib/celery/__main__.py", "-A", "volsite", "worker", "-Q", "stream", "-P", "solo"],
     "volsite-stream"),
    (["/v/bin/celery", "-A", "volsite", "worker", "--queues=celery", "-c", "1"], "volsite-worker"),
    (["/v/bin/celery", "-A", "volsite", "worker", "-Qcelery,stream"], "volsite-stream"),
    (["/v/bin/celery", "-A", "volsite", "beat", "-S", "x"], "volsite-beat"),
    (["/app/manage.py", "ingest", "--source", "simulate"], "volsite-ingest"),
    (["manage.py", "migrate", "--noinput"], "volsite-migrate"),
    (["manage.py", "drift_summary"], "volsite-drift_summary"),
    (["/app/volsite/web.py"], "volsite-web"),
    (["/v/lib/pytest/__main__.py", "-x"], "volsite-tests"),
    ([], "volsite"),
])
def test_a_process_is_named_by_its_command_line(argv, name):
    assert process_name(argv) == name


def test_a_stream_run_adds_its_slot_within_postgresql_s_limit():
    assert slot_name("volsite-consume", 3) == "volsite-consume-slot-3"
    assert len(slot_name("volsite-" + "x" * 80, 1)) == 63


def names_seen() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT application_name FROM pg_stat_activity "
                       "WHERE datname = current_database()")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_pg_stat_activity_names_web_beat_consumer_and_a_command(kafka, model_version, tmp_path):
    need("PostgreSQL", postgres_in_use(), "application_name is PostgreSQL's")
    need("Redis", redis_available(), "beat needs its broker")
    port = free_port()
    env = child_env(kafka, WEB_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1",
                    VOLSITE_RUNTIME_DIR=str(tmp_path))
    log = open(tmp_path / "children.log", "ab")
    children = [
        consumer_process(kafka, tmp_path / "consume.log", "--slot", "0"),
        subprocess.Popen(web_argv(sys.executable), cwd=ROOT, env=env, stdout=log,
                         stderr=subprocess.STDOUT),
        subprocess.Popen(beat_argv(sys.executable, tmp_path), cwd=ROOT, env=env, stdout=log,
                         stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "manage.py", "shell", "-c",
                          "import time; from django.db import connection; "
                          "connection.ensure_connection(); time.sleep(120)"],
                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
    ]
    try:
        assert wait_port(port, timeout=60), (tmp_path / "children.log").read_text()[-2000:]
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ready", timeout=30).read()
        wanted = {"volsite-consume-slot-0", "volsite-web", "volsite-beat", "volsite-shell"}
        wait_until(lambda: wanted <= names_seen(), timeout=60, what=f"{wanted} connected")
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
