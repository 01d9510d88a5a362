"""Browser tests of the operator pages: headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's
Python client; no browser is downloaded) against the real ASGI application served by uvicorn."""

import os
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlparse

import pytest
from playwright.async_api import Browser, Page, async_playwright

from orchestrator_studio.asgi import application
from tests.fakes.server import serve

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STAFF_PASSWORD = "pw-staff-123"  # the conftest's staff_user


@pytest.fixture
def studio_server() -> Iterator[str]:
    with serve(application) as base_url:
        yield base_url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is missing at {CHROMIUM} (.ci/run installs Debian's chromium package).")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(20_000)
    yield page
    await context.close()


async def log_in(page: Page, base_url: str, next_path: str, username: str = "staff") -> None:
    """The admin's login form, as a person would use it."""
    await page.goto(f"{base_url}/admin/login/?next={next_path}")
    await page.fill("#id_username", username)
    await page.fill("#id_password", STAFF_PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{base_url}{next_path}*")


def origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"
