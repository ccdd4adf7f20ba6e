"""Secrets: a placeholder key is refused at startup, and secret files are private from the
first byte (not written world-readable and chmod-ed afterwards)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = "replace-with-a-long-random-string-from-your-secret-store"


def start(env_overrides: dict[str, str], code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"VOLSITE_RUNTIME_DIR": str(tmp_path), **env_overrides})
    script = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
              f"'volsite.settings'); {code}; django.setup(); print('started')")
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("key", [PLACEHOLDER, "django-insecure-abc123", "change-me"])
def test_startup_refuses_a_placeholder_secret_when_debug_is_off(tmp_path, key):
    result = start({"DJANGO_SECRET_KEY": key}, "pass", tmp_path)
    assert result.returncode != 0
    assert "placeholder" in result.stderr


def test_startup_refuses_the_placeholder_metrics_token_of_env_example(tmp_path):
    token = "replace-with-a-random-token-from-your-secret-store"
    assert f"METRICS_TOKEN={token}" in (ROOT / ".env.example").read_text()
    result = start({"DJANGO_SECRET_KEY": "k" * 50, "METRICS_TOKEN": token}, "pass", tmp_path)
    assert result.returncode != 0
    assert "METRICS_TOKEN is a placeholder" in result.stderr


def test_a_placeholder_secret_is_tolerated_in_debug(tmp_path):
    result = start({"DJANGO_SECRET_KEY": PLACEHOLDER, "DJANGO_DEBUG": "true"}, "pass", tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_generated_secret_key_file_is_private_even_if_no_chmod_follows(tmp_path):
    # umask 0 and every chmod a no-op: only a file created 0600 ends up private.
    code = ("import pathlib; os.umask(0); os.chmod = lambda *a, **k: None; "
            "pathlib.Path.chmod = lambda *a, **k: None")
    result = start({}, code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_an_existing_secret_file_is_narrowed_before_it_is_written(tmp_path):
    from predictions.core.private_files import write_private

    path = tmp_path / "credentials.txt"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new secret")
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text() == "new secret"
