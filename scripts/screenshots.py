"""`make screenshots`: pictures of the operator's pages for the README and the guides, taken
from a real stack with the headless Chromium of the browser tests (tests/browser.py).

Steps:
1. a scratch runtime folder (SQLite, embedded broker, filesystem Celery transport: the
   `make run` defaults), `migrate`, `collectstatic` and `bootstrap` (a first model trained on
   simulated history, the admin login and API token);
2. `manage.py runstack` on spare ports: every process, the simulator at real-time speed;
3. predict traffic from a client thread for SCREENSHOT_MINUTES (default 4) while the stream
   scores ticks and beat matures labels, then one drift report (Evidently, for real);
4. Chromium logs into the admin and photographs five pages into docs/img/screenshots/;
5. the stack is stopped and every picture is checked to be under 300 KB.

Nothing is made up: every number on the pictures comes from those minutes of running.
Takes about SCREENSHOT_MINUTES + 3 minutes on two cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chromium_context, chromium_path  # noqa: E402

OUT = ROOT / "docs" / "img" / "screenshots"
MAX_BYTES = 300 * 1024
MAX_HEIGHT = 1500  # px: a taller page is cut there (the top is what the guides show)
# The predictions list is the densest picture (a hundred rows of numbers, times to the second):
# its first forty-odd rows tell the story and keep it under MAX_BYTES.
PAGE_HEIGHTS = {"predictions": 1100}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def predict_traffic(base: str, token: str, stop: threading.Event) -> int:
    """A few predict requests a second until `stop`, as a client would send them."""
    with urllib.request.urlopen(f"{base}/api/v1/version", timeout=5) as response:
        names = json.loads(response.read())["feature_names"]
    sent = 0
    while not stop.is_set():
        rows = [{name: 0.0005 * (1 + (sent + i) % 7) for name in names} for i in range(4)]
        request = urllib.request.Request(
            f"{base}/api/v1/predict", data=json.dumps({"rows": rows}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}"})
        try:
            urllib.request.urlopen(request, timeout=5).read()
            sent += 1
        except OSError:
            pass
        stop.wait(0.25)
    return sent


def latest_ids(env: dict[str, str]) -> tuple[int, int]:
    """(promoted model version id, newest ok drift report id)."""
    code = ("from drift.models import DriftReport; from predictions.models import ServiceConfig;"
            "print('IDS', ServiceConfig.load().active_model_version_id,"
            " DriftReport.objects.filter(status='ok').values_list('id', flat=True).first())")
    version, report = re.search(r"IDS (\d+) (\S+)", manage(env, "shell", "-c", code)).groups()
    if report == "None":
        sys.exit("the drift report did not succeed: run longer (SCREENSHOT_MINUTES)")
    return int(version), int(report)


def photograph(base: str, login: str, password: str, pages: dict[str, tuple[str, str]],
               profile: Path) -> None:
    """Each page from the top, or from the element `start` selects (a page whose point is
    below the fold), at most MAX_HEIGHT pixels."""
    OUT.mkdir(parents=True, exist_ok=True)
    with chromium_context(profile) as context:
        page = context.pages[0] if context.pages else context.new_page()
        # SQLite serialises the stack's writers and these reads: a list page may wait for a
        # lock (up to 20 s each query) while the consumer writes.
        page.set_default_timeout(180_000)
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.fill("#id_username", login)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        for name, (path, start) in pages.items():
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            top = 0
            if start:
                top = max(0, int(page.locator(start).bounding_box()["y"]) - 40)
            height = min(page.evaluate("document.documentElement.scrollHeight") - top,
                         PAGE_HEIGHTS.get(name, MAX_HEIGHT))
            target = OUT / f"{name}.png"
            page.screenshot(path=str(target), full_page=True,
                            clip={"x": 0, "y": top, "width": 1280, "height": height})
            print(f"  {target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens under make
    if chromium_path() is None:
        sys.exit("chromium is missing: install the Debian package chromium")
    minutes = float(os.environ.get("SCREENSHOT_MINUTES", "4"))
    runtime = Path(tempfile.mkdtemp(prefix="volsite-screenshots-"))
    web_port, kafka_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "CELERY_BROKER_URL", "KAFKA_BOOTSTRAP",
                                "DJANGO_SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR"))}
    env.update(VOLSITE_RUNTIME_DIR=str(runtime), WEB_BIND=f"127.0.0.1:{web_port}",
               KAFKA_PORT=str(kafka_port), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    base = f"http://127.0.0.1:{web_port}"
    print(f"runtime folder {runtime}; training the first model (about 1.5 minutes)")
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "bootstrap")
    credentials = (runtime / "admin-credentials.txt").read_text()
    login, password, token = re.search(r"login: (\S+) / (\S+)\s+API token: (\S+)",
                                       credentials).groups()

    stack = subprocess.Popen([sys.executable, "manage.py", "runstack"], cwd=ROOT, env=env,
                             stdout=open(runtime / "runstack.log", "wb"),
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"{base}/api/v1/health", 60)
        print(f"stack up at {base}; running for {minutes:g} minutes with predict traffic")
        stop = threading.Event()
        client = threading.Thread(target=predict_traffic, args=(base, token, stop))
        client.start()
        time.sleep(minutes * 60)
        stop.set()
        client.join()
        manage(env, "shell", "-c", "from drift.services import drift_report_create; "
                                   "drift_report_create()")
        version, report = latest_ids(env)
        time.sleep(5)  # one more scrape of the freshest minute
        photograph(base, login, password, {
            "admin-overview": ("/admin/", ""),
            "slo-page": ("/slo/?window=1h", ""),
            # its quality charts, below the version's fields
            "model-version": (f"/admin/predictions/modelversion/{version}/change/",
                              ".field-quality_charts"),
            "drift-report": (f"/admin/drift/driftreport/{report}/change/", ""),
            "predictions": ("/admin/predictions/prediction/", ""),
        }, runtime / "chromium-profile")
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGTERM)
            stack.wait(timeout=60)
    too_big = [p.name for p in OUT.glob("*.png") if p.stat().st_size >= MAX_BYTES]
    if too_big:
        sys.exit(f"over 300 KB: {too_big}")
    print(f"done; logs in {runtime}")


if __name__ == "__main__":
    main()
