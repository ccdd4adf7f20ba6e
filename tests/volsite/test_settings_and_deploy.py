from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.helpers import CI, need, redis_available

ROOT = Path(__file__).resolve().parents[2]


def run_check(env_overrides: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"VOLSITE_RUNTIME_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = run_check({
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE": "true",
        "DJANGO_ALLOWED_HOSTS": "volsite.example.com",
    }, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_plain_http_defaults(tmp_path):
    result = run_check({"DJANGO_SECRET_KEY": secrets.token_urlsafe(64)}, tmp_path)
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stdout + result.stderr


def test_debug_is_off_by_default():
    assert settings.DEBUG is False


def test_without_a_secret_in_the_environment_a_random_one_is_kept_private(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env["VOLSITE_RUNTIME_DIR"] = str(tmp_path)
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    out = subprocess.run([sys.executable, "-c", f"import django, os; os.environ.setdefault("
                          f"'DJANGO_SETTINGS_MODULE','volsite.settings'); django.setup(); {code}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    key_file = tmp_path / "secret_key"
    assert out.strip() == key_file.read_text().strip() and len(out.strip()) > 50
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_ci_runs_against_postgresql_and_redis():
    """With CI=true the suite must use the real services (the provisioning script starts them)."""
    from django.db import connection

    if not CI:
        need("CI mode", False, "this check only applies with CI=true")
    assert connection.vendor == "postgresql"
    assert redis_available()


@pytest.mark.django_db
def test_behind_tls_probes_are_not_redirected_but_pages_are(client):
    from django.test import Client, override_settings

    with override_settings(SECURE_SSL_REDIRECT=True):
        secure_client = Client()
        assert secure_client.get("/api/v1/health").status_code == 200
        assert secure_client.get("/metrics").status_code == 200
        response = secure_client.get("/admin/")
        assert response.status_code == 301 and response["Location"].startswith("https://")
