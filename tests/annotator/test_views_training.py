"""The model versions page (lineage, promotion, rollback, archive) and the training form page."""

from __future__ import annotations

import pytest

from annotator.models import AuditEvent, Job, ModelVersion
from tests.factories import labelled_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(media_root):  # type: ignore[no-untyped-def]
    return labelled_dataset()


@pytest.fixture
def versions(dataset, manager):  # type: ignore[no-untyped-def]
    """v1 (active) <- v2 <- v3, v3 trained by the manager with a val mAP."""
    v1 = ModelVersion.objects.create(dataset=dataset, name="v1", checkpoint="checkpoints/1.pt")
    v2 = ModelVersion.objects.create(
        dataset=dataset, name="v2", checkpoint="checkpoints/2.pt", parent=v1
    )
    v3 = ModelVersion.objects.create(
        dataset=dataset,
        name="v3",
        checkpoint="checkpoints/3.pt",
        parent=v2,
        created_by=manager,
        training_snapshot_hash="ab" * 32,
        metrics={"val_map": 0.4321},
    )
    dataset.active_model_version = v1
    dataset.save()
    return v1, v2, v3


def test_it_lists_versions_with_their_lineage(client, manager, versions) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    page = client.get("/models/").content.decode()
    row = page.split(f'data-version="{versions[2].pk}"')[1].split("</tr>")[0]
    assert "v2 &larr; v1" in row and "0.4321" in row and manager.username in row
    assert "abababababab" in row
    assert f"/datasets/{versions[0].dataset_id}/train/" in page


def test_a_manager_promotes_and_rolls_back_audited(client, manager, versions) -> None:  # type: ignore[no-untyped-def]
    v1, _, v3 = versions
    client.force_login(manager)
    assert client.post(f"/models/{v3.pk}/promote/").status_code == 302
    v3.dataset.refresh_from_db()
    assert v3.dataset.active_model_version == v3
    page = client.get("/models/").content.decode()
    assert f'action="/models/{v1.pk}/promote/"' in page and "Roll back to v1" in page

    client.post(f"/models/{v1.pk}/promote/")  # the rollback button's form

    v1.dataset.refresh_from_db()
    assert v1.dataset.active_model_version == v1
    events = AuditEvent.objects.filter(verb="dataset.activate_model").order_by("id")
    assert [e.after["active_model_version"] for e in events] == [v3.pk, v1.pk]


def test_a_reviewer_sees_the_lineage_but_cannot_change_it(client, reviewer, versions) -> None:  # type: ignore[no-untyped-def]
    _, v2, _ = versions
    client.force_login(reviewer)
    page = client.get("/models/")
    assert page.status_code == 200 and b"Promote" not in page.content
    assert client.post(f"/models/{v2.pk}/promote/").status_code == 403
    assert client.post(f"/models/{v2.pk}/archive/").status_code == 403
    assert client.get(f"/datasets/{v2.dataset_id}/train/").status_code == 403


def test_the_training_form_shows_defaults_and_starts_a_job(client, manager, versions) -> None:  # type: ignore[no-untyped-def]
    v1 = versions[0]
    client.force_login(manager)
    form = client.get(f"/datasets/{v1.dataset_id}/train/").content.decode()
    assert 'name="epochs" value="8"' in form and 'name="lr" value="0.02"' in form
    assert 'name="batch_size" value="2"' in form

    response = client.post(
        f"/datasets/{v1.dataset_id}/train/",
        {
            "train_videos": ["clip-a"],
            "val_videos": ["clip-b"],
            "base_version": v1.pk,
            "preset": "small",
            "epochs": 3,
            "lr": 0.01,
            "batch_size": 4,
        },
    )

    job = Job.objects.get(job_type="train")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    trained = ModelVersion.objects.get(pk=job.params["model_version"])
    assert (trained.parent, trained.status, trained.hyperparameters["epochs"]) == (
        v1,
        "training",
        3,
    )


def test_the_training_form_shows_why_a_start_was_refused(client, manager, versions) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    response = client.post(
        f"/datasets/{versions[0].dataset_id}/train/",
        {
            "train_videos": ["clip-a"],
            "val_videos": ["clip-a"],
            "preset": "small",
            "epochs": 1,
            "lr": 0.01,
            "batch_size": 1,
        },
    )
    assert response.status_code == 200 and b"both splits" in response.content
    assert not Job.objects.exists()


def test_the_dataset_admin_action_retrains_from_the_active_version(
    client, manager, versions
) -> None:  # type: ignore[no-untyped-def]
    v1 = versions[0]
    client.force_login(manager)
    chosen = {"action": "retrain", "_selected_action": [v1.dataset_id]}
    form = client.post("/admin/annotator/dataset/", chosen)
    assert form.status_code == 200 and b'id="retrain-form"' in form.content
    assert f'<option value="{v1.pk}" selected>'.encode() in form.content  # the active version

    response = client.post(
        "/admin/annotator/dataset/",
        {
            **chosen,
            "apply": "1",
            "train_videos": ["clip-a"],
            "val_videos": ["clip-b"],
            "base_version": v1.pk,
            "preset": "small",
            "epochs": 1,
            "lr": 0.05,
            "batch_size": 8,
        },
    )

    job = Job.objects.get(job_type="train")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert ModelVersion.objects.get(pk=job.params["model_version"]).parent == v1
