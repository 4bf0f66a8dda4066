"""A real browser for the web UI tests: Debian's Chromium, headless, driven by Playwright.

Browsers are never downloaded at test time: Chromium comes from the system (``apt-get
install chromium``; scripts/test installs it when missing). Without it these tests are
skipped, unless TAIPAN_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.server import Server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("TAIPAN_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("TAIPAN_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is not installed: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    # Playwright gives each launch a new, empty user-data-dir of its own.
    with sync_playwright() as pw:
        found = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield found
        finally:
            found.close()


@pytest.fixture(scope="session")
def ui_server(server_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    with server_factory({"TAIPAN_SIGNUP": "invite"}) as srv:
        yield srv


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """Where this test saves its screenshots (test-artifacts/ is not committed)."""
    folder = ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_page(browser: Browser, server: Server, *, phone: bool = False) -> Page:
    """A page in a fresh context: its own cookies, as a separate person's browser."""
    if phone:
        context = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    else:
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    return page
