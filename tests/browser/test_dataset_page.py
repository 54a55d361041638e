"""The dataset page in Chromium: a manager exports a training bundle from its form and a real
worker writes it; the job page links the tar and the dataset page lists the job (a screenshot for
the README under var/screenshots/dataset.png)."""

from __future__ import annotations

import pytest

from annotator.models import Job
from tests.annotator.test_training_export import box, ingested, reviewed
from tests.browser.test_csp import visit, watched
from tests.browser.test_review import SCREENSHOTS, until_true

pytestmark = pytest.mark.browser


@pytest.fixture
def dataset(ava_dataset, media_root, tmp_path):  # type: ignore[no-untyped-def]
    """Train video `walk` and validation video `talk`, 4 s each, a labelled keyframe reviewed in
    each."""
    for video_id in ("walk", "talk"):
        video = ingested(ava_dataset, tmp_path, video_id, 4)
        box(reviewed(video, 1), 0.2, (12, "human", "accepted"), source="human", person_id=1)
    return ava_dataset


@pytest.mark.integration
def test_a_manager_exports_a_training_bundle_from_the_dataset_page(  # type: ignore[no-untyped-def]
    celery_worker, manager_page, dataset
) -> None:
    page = manager_page
    watched(page)
    violations = visit(page, f"/datasets/{dataset.pk}/", "#export-training-form")
    assert violations == []
    assert page.locator("#dataset-name").inner_text() == dataset.name
    assert page.locator("#videos tbody tr").count() == 2
    assert "1 / 3" in page.locator("#videos tbody tr", has_text="talk").inner_text()

    page.select_option("#export_val_videos", ["talk"])
    page.locator("#export_short_side").fill("72")
    page.locator("#export_short_side").press("Enter")  # the form submits from the keyboard

    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get(job_type="export_training")
    assert page.url.endswith(f"/jobs/{job.pk}/")
    until_true(page, "document.getElementById('job-status').textContent === 'succeeded'", 120_000)
    page.locator("#job-bundle").wait_for(state="visible")  # shown by the poll, no reload
    download = f"/api/v1/datasets/{dataset.pk}/export-training/{job.pk}/"
    assert page.locator("#job-bundle").get_attribute("href") == download
    response = page.request.get(download)
    assert response.ok and response.headers["content-type"] == "application/x-tar"

    page.goto(f"/datasets/{dataset.pk}/")
    item = page.locator("#jobs .job", has_text=f"job {job.pk}")
    assert item.locator("a").get_attribute("href") == f"/jobs/{job.pk}/"
    until_true(
        page, "document.querySelector('#jobs .job-status').textContent.startsWith('succeeded')"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dataset.png"), full_page=True)
