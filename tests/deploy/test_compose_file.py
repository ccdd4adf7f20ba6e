"""compose.yaml as `docker compose` would read it: interpolated with the variables of
`.env.example` (what an operator copies to `.env`), then validated against the Compose
Specification's JSON schema. The schema is the one check-jsonschema ships (pinned in
requirements-dev.txt, `--builtin-schema vendor.compose-spec`): no Docker engine runs here, so
this is what stands between a typo and a stack that cannot start. The schema cannot see
references between sections, so those are checked here too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.compose_file import (
    COMPOSE,
    ENV_EXAMPLE,
    ROOT,
    InterpolationError,
    compose_config,
    dotenv,
    interpolate,
    interpolated,
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_config()


def test_interpolation_follows_the_specification():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET} $SET $$SET", env) == "x x $SET"
    assert interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "d  d"
    assert interpolate("${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt}", env) == "alt  alt"
    with pytest.raises(InterpolationError, match="EMPTY is missing: say so"):
        interpolate("${EMPTY:?say so}", env)


def test_the_file_parses_and_every_required_variable_is_in_env_example(compose):
    # Reaching here means YAML parsed and no ${NAME:?…} was left unset by .env.example.
    assert {"web", "worker", "stream-worker", "beat", "migrate", "prometheus"} <= set(
        compose["services"])


def validate(compose: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema (requirements-dev.txt, beside this interpreter) on the rendered file."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    assert checker.exists(), "check-jsonschema (requirements-dev.txt) is not installed"
    rendered = tmp_path / "compose.yaml"
    rendered.write_text(yaml.safe_dump(compose, sort_keys=False))
    return subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec",
                           str(rendered)], capture_output=True, text=True, timeout=120)


def test_it_validates_against_the_compose_specification(compose, tmp_path):
    result = validate(compose, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_catches_a_misplaced_block(tmp_path):
    """The schema check can fail: the bug of #20 (a top-level block pasted inside a service)
    is refused."""
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["prometheus"]["metrics-token"] = {"content": "x"}
    result = validate(interpolated(broken, dotenv(ENV_EXAMPLE)), tmp_path)
    assert result.returncode != 0
    assert "metrics-token" in result.stdout + result.stderr


def test_every_reference_names_something_defined(compose):
    services = compose["services"]
    configs, volumes = set(compose.get("configs", {})), set(compose.get("volumes", {}))
    for name, service in services.items():
        for config in service.get("configs", []):
            source = config["source"] if isinstance(config, dict) else config
            assert source in configs, f"{name}: config {source!r} is not defined"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name}: volume {source!r} is not defined"
            else:
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repository"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name}: depends on unknown {dependency!r}"
        pid = service.get("pid", "")
        if pid.startswith("service:"):
            assert pid.split(":", 1)[1] in services


def test_prometheus_gets_the_metrics_token_where_its_config_reads_it(compose):
    scrape = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    web_job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "volsite-web")
    token_file = web_job["authorization"]["credentials_file"]
    mounted = {c["target"] for c in compose["services"]["prometheus"]["configs"]}
    assert f"/etc/prometheus/{token_file}" in mounted
    assert compose["configs"]["metrics-token"]["content"] == dotenv(ENV_EXAMPLE)["METRICS_TOKEN"]
    assert compose["services"]["web"]["environment"]["METRICS_TOKEN"] == \
        dotenv(ENV_EXAMPLE)["METRICS_TOKEN"]
