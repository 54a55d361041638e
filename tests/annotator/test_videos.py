"""Video upload: checked in the request, size-limited, ingested by a job; deletion removes files."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.models import Job, Keyframe, Video
from annotator.services.videos import derived_media_dir
from tests.conftest import POOL_VIDEO

pytestmark = pytest.mark.django_db
POOL = POOL_VIDEO


def upload(client, dataset, name: str, content: bytes, video_id: str = "pool"):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/videos/",
        {
            "dataset": dataset.pk,
            "video_id": video_id,
            "file": SimpleUploadedFile(name, content, "video/mp4"),
        },
        format="multipart",
    )


def test_upload_stores_the_file_and_queues_an_ingest_job(manager_client, ava_dataset, media_root):  # type: ignore[no-untyped-def]
    response = upload(manager_client, ava_dataset, "pool.mp4", POOL.read_bytes())

    assert response.status_code == 201, response.json()
    video = Video.objects.get(pk=response.json()["id"])
    assert Path(video.file.path).read_bytes() == POOL.read_bytes()
    job = Job.objects.get(video=video)
    assert (job.job_type, job.status) == ("ingest", "queued")


def test_ingest_probes_and_creates_keyframes(manager_client, ava_dataset, media_root):  # type: ignore[no-untyped-def]
    from annotator.tasks import ingest_video_task

    video_pk = upload(manager_client, ava_dataset, "pool.mp4", POOL.read_bytes()).json()["id"]

    ingest_video_task.run(Job.objects.get(video_id=video_pk).pk)

    video = Video.objects.get(pk=video_pk)
    assert video.status == "ready"
    assert (video.width, video.height, round(video.fps, 3), video.codec) == (340, 256, 30.0, "h264")
    # A 10 s video: keyframes at whole seconds at least 1 s from either end.
    assert list(Keyframe.objects.filter(video=video).values_list("timestamp", flat=True)) == list(
        range(1, 10)
    )


def test_a_text_file_named_mp4_gets_400_saying_why(manager_client, ava_dataset, media_root):  # type: ignore[no-untyped-def]
    response = upload(manager_client, ava_dataset, "notes.mp4", b"this is not a video\n" * 100)

    assert response.status_code == 400
    assert "notes.mp4" in response.json()["detail"]
    assert not Video.objects.exists()


def test_uploads_over_the_limit_are_refused(manager_client, ava_dataset, media_root, settings):  # type: ignore[no-untyped-def]
    settings.MAX_VIDEO_UPLOAD_BYTES = 1000

    response = upload(manager_client, ava_dataset, "pool.mp4", POOL.read_bytes())

    assert response.status_code == 400
    assert "over the limit of 1000" in response.json()["detail"]
    assert not Video.objects.exists()


def test_a_duplicate_video_id_is_refused(manager_client, ava_dataset, media_root):  # type: ignore[no-untyped-def]
    assert upload(manager_client, ava_dataset, "pool.mp4", POOL.read_bytes()).status_code == 201

    response = upload(manager_client, ava_dataset, "pool.mp4", POOL.read_bytes())

    assert response.status_code == 400
    assert "already exists" in response.json()["detail"]


def test_deleting_a_video_deletes_its_rows_and_derived_files(
    manager_client, ava_dataset, media_root, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    video = Video.objects.get(
        pk=upload(manager_client, ava_dataset, "pool.mp4", POOL.read_bytes()).json()["id"]
    )
    Keyframe.objects.create(video=video, timestamp=1)
    derived = derived_media_dir(video)
    derived.mkdir(parents=True)
    (derived / "keyframe-1.jpg").write_bytes(b"jpeg")
    stored = Path(video.file.path)

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.delete(f"/api/v1/videos/{video.pk}/")

    assert response.status_code == 204
    assert not Video.objects.exists() and not Keyframe.objects.exists()
    assert not stored.exists() and not derived.exists()


def test_import_video_command_adds_server_files(ava_dataset, media_root, capsys):  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    call_command("import_video", str(POOL), dataset=ava_dataset.name, time_offset=900)

    video = Video.objects.get(video_id="pool_30fps")
    assert video.time_offset == 900
    assert Job.objects.filter(video=video, job_type="ingest").exists()
    assert "ingest queued" in capsys.readouterr().out


def test_import_video_command_refuses_a_missing_file(ava_dataset, media_root):  # type: ignore[no-untyped-def]
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("import_video", "/nonexistent.mp4", dataset=ava_dataset.name)
