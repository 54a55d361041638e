"""The manager's form on the dashboard that starts an evaluation: it offers the chosen dataset's
versions, starts the job over REST and opens its page, and shows why a start was refused."""

from __future__ import annotations

import pytest

from annotator.models import Action, Dataset, Job, Keyframe, ModelVersion, Video

pytestmark = pytest.mark.browser


@pytest.fixture
def datasets(db):  # type: ignore[no-untyped-def]
    """Two datasets with two external versions each and one reviewed gold keyframe."""
    made = {}
    for name in ("first", "second"):
        dataset = Dataset.objects.create(name=name)
        Action.objects.create(dataset=dataset, action_id=1, name="walk")
        video = Video.objects.create(dataset=dataset, video_id=f"{name}-clip", status="ready")
        Keyframe.objects.create(video=video, timestamp=1, status="reviewed", gold=True)
        versions = [
            ModelVersion.objects.create(dataset=dataset, name=f"{name}-{v}", status="external")
            for v in ("a", "b")
        ]
        made[name] = (dataset, versions)
    return made


def test_a_manager_starts_an_evaluation_and_lands_on_its_job(
    manager_page, datasets, use_redis
) -> None:  # type: ignore[no-untyped-def]
    page = manager_page
    page.goto("/evaluation/")
    assert page.locator("#start").get_attribute("open") is not None  # no reports yet: open
    dataset, (a, b) = datasets["second"]
    page.select_option("#start-dataset", str(dataset.pk))
    offered = page.locator("#start-model option:not([hidden])").all_inner_texts()
    assert offered == ["second-a", "second-b"]
    assert page.locator("#start-videos option:not([hidden])").all_inner_texts() == ["second-clip"]
    video = Video.objects.get(video_id="second-clip")
    page.select_option("#start-videos", [str(video.pk)])
    page.select_option("#start-model", str(b.pk))
    page.select_option("#start-baseline", str(a.pk))
    page.select_option("#start-boxes", "ground_truth")
    page.check("#start-gold")
    page.click("#start-form button[type=submit]")

    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get()
    assert page.url.endswith(f"/jobs/{job.pk}/")
    assert page.locator("h1").inner_text() == f"Evaluate job {job.pk}"
    assert (job.job_type, job.dataset, job.params["model_versions"]) == (
        "evaluate",
        dataset,
        [a.pk, b.pk],
    )
    assert (job.params["box_source"], job.params["gold_only"]) == ("ground_truth", True)
    assert job.params["videos"] == [video.pk]
    assert job.status == "queued" and page.locator("#job-status").inner_text() == "queued"


def test_a_refused_start_says_why_and_starts_nothing(manager_page, datasets) -> None:  # type: ignore[no-untyped-def]
    page = manager_page
    page.goto("/evaluation/")
    dataset, (a, _) = datasets["first"]
    page.select_option("#start-dataset", str(dataset.pk))
    page.select_option("#start-model", str(a.pk))
    page.select_option("#start-baseline", str(a.pk))
    page.click("#start-form button[type=submit]")

    error = page.locator("#start-error")
    error.wait_for(state="visible")
    assert "the same version as model_version" in error.inner_text()
    assert not Job.objects.exists()
    assert page.url.endswith("/evaluation/")


def test_reviewers_see_no_start_form(reviewer_page, datasets) -> None:  # type: ignore[no-untyped-def]
    reviewer_page.goto("/evaluation/")
    assert reviewer_page.locator("#start").count() == 0
    assert "No evaluation reports yet" in reviewer_page.locator("main").inner_text()


def test_a_finished_evaluations_page_links_to_its_report(reviewer_page, datasets) -> None:  # type: ignore[no-untyped-def]
    dataset, _ = datasets["first"]
    job = Job.objects.create(
        job_type="evaluate", status="succeeded", dataset=dataset, result={"reports": [7, 8]}
    )
    reviewer_page.goto(f"/jobs/{job.pk}/")
    link = reviewer_page.locator("#job-report a")
    link.wait_for(state="visible")
    assert link.get_attribute("href") == "/evaluation/?report=8"  # model B, against its baseline
