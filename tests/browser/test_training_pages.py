"""The training job page draws its loss and learning-rate curve from the REST job resource, and
the model versions page and the training form keep the Content-Security-Policy."""

from __future__ import annotations

import pytest

from annotator.models import Dataset, Job, ModelVersion, Video
from tests.browser.test_csp import visit, watched

pytestmark = pytest.mark.browser


@pytest.fixture
def train_job(db):  # type: ignore[no-untyped-def]
    """A running training job whose worker has recorded five steps."""
    dataset = Dataset.objects.create(name="clips")
    Video.objects.create(dataset=dataset, video_id="clip-a", status="ready")
    version = ModelVersion.objects.create(dataset=dataset, name="v2", status="training")
    curve = [{"step": s, "loss": 1.0 / s, "lr": 0.01 * s} for s in range(1, 6)]
    return Job.objects.create(
        job_type="train",
        status="running",
        dataset=dataset,
        params={"model_version": version.pk},
        result={"model_version": version.pk, "steps": 10, "curve": curve, "evaluation_job": 77},
    )


def test_the_job_page_draws_the_loss_and_learning_rate_per_step(manager_page, train_job) -> None:  # type: ignore[no-untyped-def]
    page = manager_page
    errors = watched(page)

    violations = visit(page, f"/jobs/{train_job.pk}/", "#train-curve:not([hidden]) path.loss")

    loss = page.locator("#train-curve-svg path.loss").get_attribute("d")
    rate = page.locator("#train-curve-svg path.lr").get_attribute("d")
    assert loss.count("L") == rate.count("L") == 4  # five points each
    # Loss falls and the learning rate rises: the first point is the loss's highest, the lr's
    # lowest (SVG y grows downwards).
    loss_y = [float(p.split(",")[1]) for p in loss[1:].split("L")]
    rate_y = [float(p.split(",")[1]) for p in rate[1:].split("L")]
    assert loss_y == sorted(loss_y) and rate_y == sorted(rate_y, reverse=True)
    assert "step 5: loss 0.2000" in page.locator("#train-curve-last").inner_text()
    assert page.locator("#job-evaluation a").get_attribute("href") == "/jobs/77/"
    assert violations == []
    assert [error for error in errors if "Content Security Policy" in error] == []


def test_the_models_page_and_the_training_form_keep_the_policy(manager_page, train_job) -> None:  # type: ignore[no-untyped-def]
    page = manager_page
    watched(page)
    assert visit(page, "/models/", "table.versions") == []
    assert visit(page, f"/datasets/{train_job.dataset_id}/train/", "#train-form") == []
