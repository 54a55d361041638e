"""A new user on a seeded demo: the queue has suggestions, the dashboard a report (screenshots
for the README under var/screenshots/demo-*.png)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from annotator.models import Dataset, EvaluationReport
from annotator.services.demo import DEMO_DATASET
from tests.conftest import ROOT

SCREENSHOTS = ROOT / "var" / "screenshots"


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"demo-{name}.png"))


@pytest.mark.integration
def test_a_new_user_finds_suggestions_and_a_report_on_the_demo(celery_worker, manager_page):  # type: ignore[no-untyped-def]
    call_command("seed_demo", "--timeout", "900", stdout=StringIO())
    dataset = Dataset.objects.get(name=DEMO_DATASET)
    report = EvaluationReport.objects.get(dataset=dataset)
    page = manager_page

    page.goto("/")
    assert int(page.locator("#queue-count").inner_text()) > 0
    screenshot(page, "home")

    page.click("#start-reviewing")
    page.wait_for_url("**/review/*/")
    page.wait_for_selector("#review[data-ready='true']")
    assert page.locator("g.box").count() > 0  # the imported person boxes, with suggestions
    screenshot(page, "review")

    page.goto(f"/evaluation/?report={report.pk}")
    page.wait_for_selector("#figure svg g.single")
    assert page.locator("#figure svg g.single").count() == len(
        [c for c in report.per_class.values() if c.get("ap") is not None]
    )
    screenshot(page, "dashboard")
