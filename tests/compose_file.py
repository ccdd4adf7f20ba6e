"""compose.yaml read as `docker compose` reads it: interpolated with the variables of an env file
(`.env.example` by default, what an operator copies to `.env`). Used by the deployment-file
tests and by tests that start a process the way compose.yaml does."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt},
# ${NAME+alt}, $NAME; `$$` is a literal dollar (the Compose Specification, "Interpolation").
_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
                       r"(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    pass


def dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file as compose reads them: comments and blanks skipped,
    one pair of surrounding quotes removed."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value, op, arg = env.get(name), match["op"], match["arg"] or ""
        empty = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return interpolate(arg, env) if empty else value
        if op in (":?", "?"):
            if empty:
                raise InterpolationError(f"required variable {name} is missing: {arg}")
            return value
        if op in (":+", "+"):
            return "" if empty else interpolate(arg, env)
        return value or ""

    return _VARIABLE.sub(one, text)


def interpolated(node, env: dict[str, str]):
    """The parsed file with every string value interpolated (keys are not, as in compose)."""
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


def compose_config(env_file: Path = ENV_EXAMPLE) -> dict:
    """compose.yaml parsed (YAML merge keys resolved) and interpolated with `env_file`."""
    return interpolated(yaml.safe_load(COMPOSE.read_text()), dotenv(env_file))


def compose_command(service: str) -> list[str]:
    """A compose service's command, run from this checkout's virtualenv."""
    command = compose_config()["services"][service]["command"]
    program = Path(sys.executable) if command[0] == "python" else \
        Path(sys.executable).parent / command[0]
    assert program.exists(), f"{command[0]} is not in {program.parent}"
    return [str(program), *command[1:]]


class ComposeWeb:
    """compose.yaml's web service run here: its command and environment (production settings:
    DJANGO_SECURE and DJANGO_BEHIND_PROXY on), with this machine's addresses and `env` on top.
    Requests go as the TLS proxy in front of web sends them (X-Forwarded-Proto: https)."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        port = free_port()
        multiproc = tmp_path / "prometheus-multiproc"
        multiproc.mkdir(exist_ok=True)
        compose_env = {k: str(v) for k, v in
                       compose_config()["services"]["web"]["environment"].items()}
        self.env = {**os.environ, **compose_env,
                    "WEB_BIND": f"127.0.0.1:{port}", "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
                    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                    "METRICS_TOKEN": secrets.token_urlsafe(32),
                    "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
                    # compose's service names (postgres, redis, kafka) do not resolve here
                    "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "memory://"),
                    "VOLSITE_RUNTIME_DIR": str(tmp_path), **env}
        self.address, self.base = f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
        self.log = tmp_path / "web.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(compose_command("web"), cwd=ROOT, env=self.env,
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.request("/api/v1/health")[0] != 200:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"web did not answer; see {self.log}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def request(self, path: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return http(self.base + path, data=data,
                    headers={"X-Forwarded-Proto": "https", **(headers or {})})


def http(url: str, data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """(status, body) of a GET (or a POST with `data`); status 0 when nothing answered."""
    try:
        request = urllib.request.Request(url, data=data, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""
