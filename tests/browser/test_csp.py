"""The Content-Security-Policy in Chromium: every page, the admin and the API docs included, runs
with no violation (the policy allows no inline script or style)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.annotator.report_pairs import report_pair

pytestmark = pytest.mark.browser

# Registered before any page script runs; Playwright's init scripts are not subject to the CSP.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}`);
});
"""


def watched(page: Any) -> list[str]:
    """Console errors of `page`, recorded from now on (a CSP refusal is one)."""
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    return errors


def visit(page: Any, url: str, ready: str) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.ok, url
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__violations")


def test_no_page_breaks_the_policy(manager_page) -> None:  # type: ignore[no-untyped-def]
    baseline, report = report_pair()
    page = manager_page
    errors = watched(page)
    pages = [
        ("/", "main"),
        (f"/evaluation/?report={report.pk}&baseline={baseline.pk}", "#figure svg g.pair"),
        ("/assignments/", "#assign-form"),
        ("/gold/", "main h1"),
        ("/reviewers/", "#reviewer-figures"),
        ("/datasets/", "#datasets"),
        (f"/datasets/{report.dataset_id}/", "#export-training-form"),
        ("/settings/keys/", "#key-settings[data-ready='true']"),
        ("/admin/", "#content"),
        ("/admin/annotator/keyframe/", "#changelist"),
        ("/api/docs/", ".swagger-ui .info"),
        ("/no-such-page/", "h1"),
    ]

    violations = {}
    for url, ready in pages:
        if url == "/no-such-page/":
            page.goto(url)
            page.wait_for_selector(ready)
            violations[url] = page.evaluate("window.__violations")
            continue
        violations[url] = visit(page, url, ready)

    assert violations == {url: [] for url, _ in pages}
    assert [error for error in errors if "Content Security Policy" in error] == []


def test_the_login_page_and_the_admin_login_keep_the_policy(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    errors = watched(page)

    found = {url: visit(page, url, "form") for url in ("/login/", "/admin/login/")}

    context.close()
    assert found == {"/login/": [], "/admin/login/": []}
    assert errors == []


def test_the_recorder_sees_an_inline_style_the_policy_refuses(manager_page) -> None:  # type: ignore[no-untyped-def]
    page = manager_page
    watched(page)
    visit(page, "/", "main")

    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    page.wait_for_function("window.__violations.length > 0")

    assert page.evaluate("window.__violations")[0].startswith("style-src")
