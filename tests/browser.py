"""The headless Chromium of the browser tests and of `make screenshots`: Debian's
/usr/bin/chromium driven by Playwright for Python (never `playwright install`: no browser is
downloaded). Free of Django, so the screenshot script can use it outside the suite."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    return shutil.which("chromium")


@contextlib.contextmanager
def chromium_context(profile: Path) -> Iterator[object]:
    """A Playwright browser context of headless Chromium with a fresh profile folder (a
    persistent context is how Playwright takes our own --user-data-dir)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
            viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()
