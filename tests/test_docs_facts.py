"""What the operator documents state, checked against the code, so a change to one fails
until the other follows: the README's API table against the OpenAPI paths, its settings table
against volsite/settings.py (names and defaults) and .env.example, the periodic tasks in the
README and docs/architecture.md against volsite/periodic_tasks.py, and the runbook's alert
table against the Prometheus rules (every alert with a runbook_url whose anchor exists)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from volsite.periodic_tasks import PERIODIC_TASKS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text()


def section(text: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of the same or a higher
    level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n") + len(heading) + 1
    ends = [m.start() for m in re.finditer(rf"(?m)^#{{1,{level}}} ", text[start:])]
    return text[start:start + ends[0]] if ends else text[start:]


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """Cells of the rows of the markdown table whose header line starts with `header_start`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# --- The API table ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def openapi_operations() -> set[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, item in schema["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")}


def test_the_readme_api_table_lists_every_openapi_operation_and_no_other(openapi_operations):
    documented = set()
    for cells in table_rows(section(README, "## API"), "| method and path"):
        method, path = ticked(cells[0])[0].split(" ", 1)
        path = re.sub(r"<([^>]+)>", r"{\1}", path.split("?", 1)[0])
        documented.add((method, path))
    assert documented == openapi_operations


# --- The settings table ----------------------------------------------------------------------

ENV_READERS = re.compile(r'env_(?:str|int|float|bool|list)\(\s*"([A-Z][A-Z0-9_]+)"'
                         r'(?:\s*,\s*([^)\n]+))?\)')
PRODUCT_CODE = [p for d in ("volsite", "predictions", "monitoring", "drift")
                for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts]


def settings_variables() -> dict[str, str | None]:
    """Every environment variable volsite/settings.py reads, with its default's source text."""
    text = (ROOT / "volsite" / "settings.py").read_text()
    return {name: default.strip() if default else None
            for name, default in ENV_READERS.findall(text)}


def readme_variables() -> dict[str, str]:
    rows = table_rows(section(README, "## Configuration"), "| variable")
    return {name: cells[1] for cells in rows for name in ticked(cells[0])}


def test_every_variable_settings_reads_is_in_the_readme_table_and_env_example():
    documented = readme_variables()
    example = (ROOT / ".env.example").read_text()
    read = settings_variables()
    assert sorted(set(read) - set(documented)) == []
    assert sorted(n for n in read if not re.search(rf"(?m)^#? ?{n}=", example)) == []


def test_every_variable_in_the_readme_table_is_read_by_the_product():
    code = "\n".join(p.read_text() for p in PRODUCT_CODE)
    assert sorted(n for n in readme_variables() if f'"{n}"' not in code) == []


def literal(source: str):
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return None


def test_the_readme_defaults_are_the_settings_defaults():
    documented = readme_variables()
    wrong = []
    for name, source in settings_variables().items():
        default = literal(source) if source else None
        cell = ticked(documented.get(name, ""))
        if default is None or not cell:
            continue  # computed defaults (paths, CPU count) are described in words
        shown = cell[0]
        if isinstance(default, bool):
            same = shown == str(default).lower()
        elif isinstance(default, int | float):
            same = literal(shown.replace("_", "")) == default
        else:
            same = shown == default
        if not same:
            wrong.append(f"{name}: README {shown!r}, settings.py {source}")
    assert wrong == []


# --- The periodic tasks ----------------------------------------------------------------------

def test_the_readme_lists_every_periodic_task_with_its_task_and_interval_setting():
    rows = table_rows(README, "| periodic task")
    documented = {ticked(cells[0])[0]: cells for cells in rows}
    assert list(documented) == [job.name for job in PERIODIC_TASKS]
    for job in PERIODIC_TASKS:
        cells = documented[job.name]
        assert ticked(cells[1]) == [job.task], job.name
        if job.setting:
            assert job.setting in ticked(cells[2]), job.name
        assert ("admin" in cells[3]) is job.admin_owned, job.name


def test_the_architecture_page_names_every_periodic_task():
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    beat = next(line for line in architecture.splitlines() if line.startswith("| beat |"))
    assert sorted(n for n in ticked(beat) if re.fullmatch(r"[a-z]+(-[a-z]+)*", n)) == \
        sorted(job.name for job in PERIODIC_TASKS)


# --- Alerts and the runbook ------------------------------------------------------------------

@pytest.fixture(scope="module")
def alerts() -> dict[str, dict]:
    rules = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "rules.yml").read_text())
    return {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]
            if "alert" in rule}


def runbook_anchors() -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"(?m)^#{1,6} (.+)$", RUNBOOK)}


def test_the_runbook_alert_table_lists_every_alert_with_its_severity(alerts):
    rows = table_rows(section(RUNBOOK, "## Alerts"), "| alert")
    documented = {ticked(cells[0])[0]: cells[1] for cells in rows}
    assert documented == {name: rule["labels"]["severity"] for name, rule in alerts.items()}


def test_every_alert_has_a_runbook_url_to_a_heading_that_exists(alerts):
    anchors = runbook_anchors()
    broken = []
    for name, rule in alerts.items():
        url = rule["annotations"].get("runbook_url", "")
        page, _, anchor = url.partition("#")
        if page != "docs/runbook.md" or anchor not in anchors:
            broken.append(f"{name}: {url!r}")
    assert broken == []


def test_every_link_inside_the_runbook_points_at_a_heading():
    links = re.findall(r"\]\(#([^)]+)\)", RUNBOOK)
    assert links and sorted(set(links) - runbook_anchors()) == []


def test_the_anchor_rule_is_githubs():
    assert github_anchor("Auto-rollback fired") == "auto-rollback-fired"
    assert github_anchor("Celery broker (Redis) down") == "celery-broker-redis-down"
    assert github_anchor("Consumer stopped, lag growing, predictions stale") == \
        "consumer-stopped-lag-growing-predictions-stale"


# --- The Grafana guide and the pictures --------------------------------------------------------

def test_the_grafana_guide_has_a_section_for_every_panel():
    import json

    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "volsite-dashboard.json").read_text())
    guide = (ROOT / "docs" / "grafana.md").read_text()
    headings = set(re.findall(r"(?m)^### (.+)$", guide))
    panels = [p["title"] for p in dashboard["panels"] if p["type"] != "row"]
    assert sorted(set(panels) - headings) == []


def test_every_picture_the_docs_show_exists_and_screenshots_stay_small():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = [f"{page.relative_to(ROOT)}: {target}" for page in pages
               for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text())
               if not (page.parent / target).is_file()]
    assert missing == []
    shots = sorted((ROOT / "docs" / "img" / "screenshots").glob("*.png"))
    assert shots, "no screenshots: run `make screenshots`"
    assert [s.name for s in shots if s.stat().st_size >= 300 * 1024] == []
