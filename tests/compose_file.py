"""compose.yaml read as `docker compose` reads it: interpolated with the variables of an env file
(`.env.example` by default, what an operator copies to `.env`). Used by the deployment-file
tests and by tests that start a process the way compose.yaml does."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

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
