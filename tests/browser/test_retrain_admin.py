"""The admin's "Retrain from reviewed data" on a model version: its form starts a training job."""

from __future__ import annotations

import pytest

from annotator.models import Job, ModelVersion
from tests.factories import labelled_dataset

pytestmark = pytest.mark.browser


@pytest.fixture
def dataset(db):  # type: ignore[no-untyped-def]
    """Two ingested videos with a reviewed, labelled keyframe each and a ready version."""
    dataset = labelled_dataset()
    ModelVersion.objects.create(
        dataset=dataset, name="v1", status="ready", checkpoint="checkpoints/v1.pt"
    )
    return dataset


def test_the_admin_action_on_a_version_starts_a_training_job_from_it(
    manager_page, dataset, use_redis, media_root
) -> None:  # type: ignore[no-untyped-def]
    page = manager_page
    version = ModelVersion.objects.get(name="v1")
    page.goto("/admin/annotator/modelversion/")
    page.check(f"input.action-select[value='{version.pk}']")
    page.select_option("select[name=action]", "retrain")
    page.click("button[name=index]")

    page.wait_for_selector("#retrain-form")
    assert page.locator("#id_base_version").input_value() == str(version.pk)
    assert page.locator("#id_epochs").input_value() == "8"  # the defaults are shown
    page.select_option("#id_train_videos", ["clip-a"])
    page.select_option("#id_val_videos", ["clip-b"])
    page.fill("#id_epochs", "2")
    page.click("#retrain-form input[type=submit]")

    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get(job_type="train")
    assert page.url.endswith(f"/jobs/{job.pk}/")
    trained = ModelVersion.objects.get(pk=job.params["model_version"])
    assert (trained.status, trained.parent, trained.dataset) == ("training", version, dataset)
    assert trained.hyperparameters["epochs"] == 2
    assert trained.hyperparameters["train_videos"] == ["clip-a"]
    assert trained.hyperparameters["val_videos"] == ["clip-b"]
