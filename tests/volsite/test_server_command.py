"""One production web server command everywhere it is written down (issue #18)."""

from __future__ import annotations

import sys

from predictions.management.stack import web_argv
from tests.helpers import ROOT

COMMAND = "python -m volsite.web"


def test_make_run_starts_the_production_command():
    assert web_argv("python") == COMMAND.split()
    assert web_argv(sys.executable)[1:] == ["-m", "volsite.web"]


def test_the_docs_the_image_and_compose_name_the_same_command():
    exec_form = '["python", "-m", "volsite.web"]'
    assert f"CMD {exec_form}" in (ROOT / "Dockerfile").read_text()
    assert f"command: {exec_form}" in (ROOT / "compose.yaml").read_text()
    for doc in ("README.md", "docs/runbook.md", "docs/architecture.md"):
        text = (ROOT / doc).read_text()
        assert f"`{COMMAND}`" in text, doc
        assert "gunicorn" not in text, doc
