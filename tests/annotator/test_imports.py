"""AVA imports: all or nothing, every kind, through the command, the service and REST + a worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.models import BoxLabel, Job, Keyframe, ModelVersion, PersonBox, Video
from annotator.selectors import ava_export_lines
from annotator.services.imports import ava_import
from tests.conftest import wait_for

GT = """\
vid1,0902,0.100,0.200,0.300,0.400,12,0
vid1,0902,0.100,0.200,0.300,0.400,17,0
vid1,0902,0.500,0.200,0.900,0.800,11,1
vid1,0903
vid2,0905,0.100,0.200,0.300,0.400,80,3
"""


def write(tmp_path: Path, text: str, name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.django_db
def test_ground_truth_import_then_export_gives_the_same_rows(ava_dataset, tmp_path, capsys):  # type: ignore[no-untyped-def]
    path = write(tmp_path, GT)

    call_command(
        "import_ava",
        str(path),
        dataset=ava_dataset.name,
        kind="gt",
        create_videos=True,
        time_offset=900,
    )
    call_command("export_ava", str(tmp_path / "out.csv"), dataset=ava_dataset.name)

    assert (tmp_path / "out.csv").read_text() == GT
    assert Video.objects.get(video_id="vid1").time_offset == 900
    assert set(Keyframe.objects.values_list("status", flat=True)) == {"reviewed"}
    assert PersonBox.objects.filter(source="import", state="accepted").count() == 3
    assert "rule_violations: 1" in capsys.readouterr().out  # vid2's box has no pose action


@pytest.mark.django_db
def test_not_reviewed_ground_truth_is_not_exported(ava_dataset, tmp_path):  # type: ignore[no-untyped-def]
    path = write(tmp_path, GT)

    ava_import(dataset=ava_dataset, path=path, kind="gt", create_videos=True, not_reviewed=True)

    assert set(Keyframe.objects.values_list("status", flat=True)) == {"unreviewed"}
    assert "".join(ava_export_lines(dataset=ava_dataset)) == ""


@pytest.mark.django_db
def test_a_bad_file_writes_nothing_and_names_file_line_field_and_value(ava_dataset, tmp_path):  # type: ignore[no-untyped-def]
    path = write(tmp_path, GT + "vid3,0902,0.1,0.2,1.7,0.4,12,0\nvid3,0903,0.1,0.2,0.3,0.4,999,0\n")

    with pytest.raises(CommandError) as raised:
        call_command(
            "import_ava", str(path), dataset=ava_dataset.name, kind="gt", create_videos=True
        )

    message = str(raised.value)
    assert f"{path}:6: field 'x2' = '1.7': must be in [0, 1]" in message
    assert f"{path}:7:" in message and "999" in message
    assert not Video.objects.exists()
    assert not PersonBox.objects.exists()


@pytest.mark.django_db
def test_unknown_videos_are_refused_unless_created(ava_dataset, tmp_path):  # type: ignore[no-untyped-def]
    path = write(tmp_path, GT)

    with pytest.raises(CommandError, match="vid1"):
        call_command("import_ava", str(path), dataset=ava_dataset.name, kind="gt")
    assert not Keyframe.objects.exists()


@pytest.mark.django_db
def test_predictions_belong_to_an_external_model_version_and_replace_an_earlier_import(
    ava_dataset, tmp_path
):  # type: ignore[no-untyped-def]
    ava_import(dataset=ava_dataset, path=write(tmp_path, GT), kind="gt", create_videos=True)
    predictions = (
        "vid1,0902,0.100,0.200,0.300,0.400,12,0.912345\n"
        "vid1,0902,0.100,0.200,0.300,0.400,17,0.250000\n"
    )
    path = write(tmp_path, predictions, "pred.csv")

    ava_import(dataset=ava_dataset, path=path, kind="predictions", model_version="external-a")
    ava_import(dataset=ava_dataset, path=path, kind="predictions", model_version="external-a")

    version = ModelVersion.objects.get(name="external-a")
    assert version.status == "external"
    assert PersonBox.objects.filter(model_version=version).count() == 1
    scores = sorted(
        BoxLabel.objects.filter(box__model_version=version).values_list(
            "action__action_id", "score"
        )
    )
    assert scores == [(12, pytest.approx(0.912345)), (17, pytest.approx(0.25))]
    call_command(
        "export_ava",
        str(tmp_path / "out.csv"),
        dataset=ava_dataset.name,
        source="model",
        model_version="external-a",
    )
    assert (tmp_path / "out.csv").read_text() == predictions


@pytest.mark.django_db
def test_person_boxes_and_excluded_timestamps(ava_dataset, tmp_path):  # type: ignore[no-untyped-def]
    ava_import(dataset=ava_dataset, path=write(tmp_path, GT), kind="gt", create_videos=True)
    boxes = write(tmp_path, "vid1,0903,0.200,0.100,0.600,0.950,,0.987\n", "boxes.csv")
    excluded = write(tmp_path, "vid2,0905\n", "excluded.csv")

    ava_import(dataset=ava_dataset, path=boxes, kind="person-boxes")
    ava_import(dataset=ava_dataset, path=excluded, kind="excluded")

    detected = PersonBox.objects.get(source="detector")
    assert (detected.keyframe.timestamp, detected.state, detected.detector_score) == (
        903,
        "suggested",
        pytest.approx(0.987),
    )
    assert not detected.labels.exists()
    assert list(
        Keyframe.objects.filter(excluded=True).values_list("video__video_id", "timestamp")
    ) == [("vid2", 905)]


@pytest.mark.django_db
def test_rest_import_is_a_job_that_reports_errors(manager_client, ava_dataset, media_root):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    from annotator.tasks import import_ava_task

    upload = SimpleUploadedFile(
        "mine.csv", b"vid1,0902,0.1,0.2,0.3,0.4,12,0\nvid1,0902,oops\n", content_type="text/csv"
    )
    response = manager_client.post(
        f"/api/v1/datasets/{ava_dataset.pk}/imports/",
        {"file": upload, "kind": "gt", "create_videos": True},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]

    import_ava_task.run(
        job_id
    )  # the task body, in this process (the worker test below runs it for real)

    job = Job.objects.get(pk=job_id)
    assert job.status == "failed"
    assert "mine.csv:2: expected 2, 7 or 8 columns" in job.message or "mine.csv:2:" in job.message
    assert not PersonBox.objects.exists()


@pytest.mark.integration
def test_rest_import_runs_on_a_real_worker(celery_worker, manager_client, ava_dataset):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("gt.csv", GT.encode(), content_type="text/csv")
    response = manager_client.post(
        f"/api/v1/datasets/{ava_dataset.pk}/imports/",
        {"file": upload, "kind": "gt", "create_videos": True},
        format="multipart",
    )
    assert response.status_code == 202

    job = wait_for(
        lambda: Job.objects.filter(
            pk=response.json()["id"], status__in=["succeeded", "failed"]
        ).first()
    )

    assert job.status == "succeeded", job.message
    assert job.result["boxes"] == 3 and job.result["labels"] == 4
    export = manager_client.get(f"/api/v1/datasets/{ava_dataset.pk}/export/")
    assert export.status_code == 200
    assert b"".join(export.streaming_content).decode() == GT


@pytest.mark.django_db
def test_an_accepted_detector_box_exports_as_7_columns_and_reads_back(ava_dataset, tmp_path):  # type: ignore[no-untyped-def]
    from inference.ava import read_ava_csv

    ava_import(dataset=ava_dataset, path=write(tmp_path, GT), kind="gt", create_videos=True)
    boxes = write(tmp_path, "vid1,0903,0.200,0.100,0.600,0.950,,0.987\n", "boxes.csv")
    ava_import(dataset=ava_dataset, path=boxes, kind="person-boxes")
    detected = PersonBox.objects.get(source="detector")
    detected.state = "accepted"
    detected.save()
    BoxLabel.objects.create(
        box=detected, action=ava_dataset.actions.get(action_id=12), source="human", state="accepted"
    )

    export = tmp_path / "out.csv"
    export.write_text("".join(ava_export_lines(dataset=ava_dataset)))

    assert "vid1,0903,0.200,0.100,0.600,0.950,12\n" in export.read_text()
    assert "vid1,0903\n" not in export.read_text()
    assert len(read_ava_csv(export, "gt")) == 5
