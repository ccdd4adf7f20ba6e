"""Rollback speed: from saving a rollback in the admin's own form to the first API answer and
the first consumer row with the new variant.

Steps:
1. in a scratch runtime directory (SQLite database, filesystem Celery broker, free ports), do
   what `make run` does: migrate, collectstatic, bootstrap (admin user, API token, a first
   model: BENCH_TRAIN_HOURS of simulated history, 2), then `manage.py runstack`;
2. wait until the consumer writes rows and the predict API answers with the ML variant;
3. log in to the admin with the bootstrap credentials (a real session: login form, CSRF), load
   the Service configuration form, and save it with the variant set to the baseline and a
   reason — exactly what an operator does;
4. from the moment the save is sent, poll POST /api/v1/predict (every 10 ms) and the
   predictions table (every 10 ms) until each shows the baseline; print both times;
5. save ML back through the same form (the guardrail allowing) and repeat, BENCH_ROUNDS (3)
   times; print each round and the worst.
Goal: ≤ 1 s for both. The stack is stopped (SIGTERM to its process group) at the end.
"""

from __future__ import annotations

import html
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TRAIN_HOURS = os.environ.get("BENCH_TRAIN_HOURS", "2")
POLL_S = 0.01
TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_env(runtime: Path) -> dict[str, str]:
    """The environment of a fresh `make run`: everything embedded, under `runtime`."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "CELERY_", "KAFKA_", "VOLSITE_", "TEST_"))}
    return {**keep, "VOLSITE_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "volsite.settings", "OMP_NUM_THREADS": "1",
            "TQDM_DISABLE": "1"}


def prepare(env: dict[str, str]) -> None:
    for args in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"],
                 ["bootstrap", "--train-hours", TRAIN_HOURS]):
        subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)


def wait(what: str, predicate, timeout: float = 180.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"bench: timed out waiting for {what}")


class Admin:
    """A logged-in admin session that saves the Service configuration form as a browser does."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base, self.http = base, requests.Session()
        page = self.http.get(f"{base}/admin/login/")
        self.http.post(f"{base}/admin/login/", data={
            "username": username, "password": password, "next": "/admin/",
            "csrfmiddlewaretoken": self._csrf(page.text)}, allow_redirects=False)
        assert "sessionid" in self.http.cookies, "admin login failed"

    @staticmethod
    def _csrf(text: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)

    def config_form(self) -> dict[str, str]:
        """The form's current values: inputs, checked boxes, selected options, textareas."""
        text = self.http.get(f"{self.base}/admin/predictions/serviceconfig/1/change/").text
        form = text[text.index('id="serviceconfig_form"'):]
        data: dict[str, str] = {}
        for tag in re.findall(r"<input[^>]*>", form):
            name = re.search(r'name="([^"]+)"', tag)
            kind = re.search(r'type="([^"]+)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if not name or (kind and kind.group(1) in ("submit", "button")):
                continue
            if kind and kind.group(1) == "checkbox" and "checked" not in tag:
                continue
            if value:
                data[name.group(1)] = html.unescape(value.group(1))
            else:
                data[name.group(1)] = "on" if kind and kind.group(1) == "checkbox" else ""
        for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
            chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
            data[name] = html.unescape(chosen.group(1)) if chosen else ""
        return data

    def save_variant(self, variant: str, reason: str) -> float:
        """Save the form with `variant`; returns the monotonic time the save was sent."""
        data = {**self.config_form(), "active_variant": variant, "reason": reason}
        sent = time.monotonic()
        response = self.http.post(f"{self.base}/admin/predictions/serviceconfig/1/change/",
                                  data=data, allow_redirects=False)
        if response.status_code != 302:
            errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S)
            raise SystemExit(f"bench: the admin refused the save ({response.status_code}): "
                             f"{[re.sub('<[^>]+>', ' ', e).strip() for e in errors]} "
                             f"{sorted(data)}")
        return sent


def api_variant(base: str, token: str, row: dict[str, float]) -> str | None:
    response = requests.post(f"{base}/api/v1/predict", json={"rows": [row]},
                             headers={"Authorization": f"Token {token}"}, timeout=5)
    return response.json().get("model_variant") if response.status_code == 200 else None


def newest_row_variant(db: Path, after_id: int) -> tuple[int, str | None]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
        row = conn.execute("SELECT id, variant FROM predictions_prediction WHERE id > ? "
                           "ORDER BY id LIMIT 1", (after_id,)).fetchone()
    return (row[0], row[1]) if row else (after_id, None)


def last_id(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM predictions_prediction").fetchone()[0]


def time_to(variant: str, sent: float, probe) -> float:
    """Seconds from `sent` until `probe()` returns `variant` (polled every POLL_S)."""
    while time.monotonic() - sent < TIMEOUT_S:
        if probe() == variant:
            return time.monotonic() - sent
        time.sleep(POLL_S)
    return float("inf")


def measure(admin: Admin, variant: str, base: str, token: str, row: dict, db: Path
            ) -> tuple[float, float]:
    """One change through the form: (s to the API's answer, s to the consumer's first row)."""
    start_id = last_id(db)
    sent = admin.save_variant(variant, f"bench/rollback.py: to {variant}")
    api_s = time_to(variant, sent, lambda: api_variant(base, token, row))
    seen = {"id": start_id}

    def next_row_variant() -> str | None:
        """The variant of each new row in turn: the first one of `variant` ends the wait."""
        while True:
            row_id, found = newest_row_variant(db, seen["id"])
            if found is None or found == variant:
                return found
            seen["id"] = row_id

    return api_s, time_to(variant, sent, next_row_variant)


def run_stack(env: dict[str, str], web: str, kafka_port: int, runtime: Path) -> subprocess.Popen:
    log = open(runtime / "runstack.log", "ab")
    return subprocess.Popen([PY, "manage.py", "runstack", "--bind", web, "--kafka-port",
                             str(kafka_port), "--speed", "1"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def bench(runtime: Path) -> list[tuple[str, float, float]]:
    env = scratch_env(runtime)
    prepare(env)
    web, db = f"127.0.0.1:{free_port()}", runtime / "volsite.sqlite3"
    username, password, token = re.search(r"login: (\S+) / (\S+)\s+API token: (\S+)",
                                          (runtime / "admin-credentials.txt").read_text()).groups()
    stack = run_stack(env, web, free_port(), runtime)
    base = f"http://{web}"
    try:
        wait("the web server", lambda: _get_ok(f"{base}/api/v1/health"))
        names = requests.get(f"{base}/api/v1/version", timeout=5).json()["feature_names"]
        row = dict.fromkeys(names, 0.001)
        wait("the consumer's first rows", lambda: last_id(db) > 0, timeout=300)
        admin = Admin(base, username, password)
        serving = api_variant(base, token, row)
        if serving != "ml":
            raise SystemExit(f"bench: the bootstrap model serves {serving!r}, not ml (the "
                             "guardrail); nothing to roll back from")
        results = []
        for i in range(ROUNDS):
            api_s, row_s = measure(admin, "baseline", base, token, row, db)
            results.append((f"round {i + 1}: ml → baseline", api_s, row_s))
            measure(admin, "ml", base, token, row, db)
        return results
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        stack.wait(timeout=60)


def _get_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.common import table

    with tempfile.TemporaryDirectory(prefix="volsite-bench-rollback-") as tmp:
        results = bench(Path(tmp))
    rows = [[name, f"{api_s * 1000:.0f}", f"{row_s * 1000:.0f}"] for name, api_s, row_s in results]
    rows.append(["worst", f"{max(r[1] for r in results) * 1000:.0f}",
                 f"{max(r[2] for r in results) * 1000:.0f}"])
    print(table("Rollback through the admin form: ms from the save to the new variant "
                "(goal ≤ 1000)", ["change", "first API answer", "first consumer row"], rows))


if __name__ == "__main__":
    main()
