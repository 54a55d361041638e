"""Browser tests: Playwright driving Debian's Chromium against pytest-django's `live_server`.

`browser` is one headless Chromium for the session; `login_page(user)` opens a page logged in as
that user (a session cookie, no form round trip) that fails the test on any JavaScript error;
`reviewer_page` and `manager_page` are the usual personas. Playwright's own browser download does
not work here, so the tests use /usr/bin/chromium and are skipped, saying so, without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole session."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop in this thread, and Django refuses ORM calls
    # while any loop runs here. The tests' own ORM calls are plain synchronous code, so the check
    # is lifted while Playwright lives (and put back after).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def login_page(browser, live_server, transactional_db) -> Iterator[Callable[[Any], Any]]:  # type: ignore[no-untyped-def]
    """`login_page(user)`: a new page logged in as `user`, its base URL the live server."""
    from django.conf import settings
    from django.test import Client

    contexts = []
    errors: list[str] = []

    def open_page(user: Any) -> Any:
        client = Client()
        client.force_login(user)
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1600, "height": 1000}
        )
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def reviewer_page(login_page, reviewer):  # type: ignore[no-untyped-def]
    return login_page(reviewer)


@pytest.fixture
def manager_page(login_page, manager):  # type: ignore[no-untyped-def]
    return login_page(manager)
