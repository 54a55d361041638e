"""Upload, ingest and pre-annotation through REST, a real Redis and real Celery worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.models import BoxLabel, BoxScore, EvaluationReport, Job, Keyframe, PersonBox, Video
from annotator.services.imports import ava_import
from annotator.services.jobs import broker_job_ids, jobs_sweep
from annotator.services.model_versions import model_version_register
from annotator.services.preannotate import preannotate_start
from annotator.services.uncertainty import uncertainty_recompute_start
from tests.conftest import POOL_VIDEO, WorkerProcess, wait_for
from tests.factories import KeyframeFactory
from tests.generated import (
    LIGHT_DETECTOR,
    detector_weights,
    ingested_index_video,
    write_index_video,
)

pytestmark = pytest.mark.integration
DONE = ("succeeded", "failed", "cancelled")


@pytest.fixture
def model_version(transactional_db, ava_dataset, checkpoint, media_root):  # type: ignore[no-untyped-def]
    return model_version_register(dataset=ava_dataset, path=checkpoint, activate=True)


def finished(job_id: int, timeout: float = 240.0) -> Job:
    return wait_for(lambda: Job.objects.filter(pk=job_id, status__in=DONE).first(), timeout=timeout)


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    """The folder through which this test holds a worker's job at a progress report
    (`annotator.services.jobs.progress_gate`): `hold` names the report, `reached` says the job
    is there, `release` lets it go on."""
    folder = tmp_path / "gate"
    folder.mkdir()
    return folder


def held(gate: Path) -> str:
    """Wait until the worker holds the job at the gate; what it wrote there."""
    reached = gate / "reached"
    return wait_for(lambda: reached.is_file() and reached.read_text(), timeout=240, interval=0.05)


def upload(client, dataset, path: Path, video_id: str):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return client.post(
            "/api/v1/videos/",
            {"dataset": dataset.pk, "video_id": video_id, "file": handle},
            format="multipart",
        )


def ingested(client, dataset, path: Path, video_id: str) -> Video:  # type: ignore[no-untyped-def]
    response = upload(client, dataset, path, video_id)
    assert response.status_code == 201, response.content
    video = Video.objects.get(pk=response.json()["id"])
    job = finished(Job.objects.get(video=video, job_type="ingest").pk)
    assert job.status == "succeeded", job.message
    video.refresh_from_db()
    return video


def test_real_and_generated_videos_are_ingested_preannotated_and_served_over_rest(
    celery_worker, model_version, manager_client, reviewer_client, ava_dataset, tmp_path
):  # type: ignore[no-untyped-def]
    from inference.synth import generate_dataset

    pool = ingested(manager_client, ava_dataset, POOL_VIDEO, "pool")
    assert (pool.status, pool.fps, pool.frame_count) == ("ready", 30.0, 300)
    assert list(pool.keyframes.values_list("timestamp", flat=True)) == list(range(1, 10))
    keyframe = pool.keyframes.get(timestamp=5)
    drawn = {"x1": 0.2, "y1": 0.1, "x2": 0.6, "y2": 0.95, "labels": [{"action_id": 12}]}
    saved = reviewer_client.put(
        f"/api/v1/keyframes/{keyframe.pk}/annotations/",
        {"version": keyframe.version, "boxes": [drawn]},
        format="json",
    )
    assert saved.status_code == 200, saved.content

    response = manager_client.post(
        f"/api/v1/videos/{pool.pk}/preannotate/", {"person_boxes": "human"}, format="json"
    )
    assert response.status_code == 202
    job = finished(response.json()["id"])
    assert job.status == "succeeded", job.message
    assert job.result["keyframes_written"] == 9 and job.result["boxes_scored"] == 1
    detail = reviewer_client.get(f"/api/v1/keyframes/{keyframe.pk}/").json()
    (box,) = detail["boxes"]
    assert box["source"] == "human" and box["model_version"] is None
    assert BoxScore.objects.get(box_id=box["id"]).model_version == model_version
    suggestions = [label for label in box["labels"] if label["source"] == "model"]
    assert suggestions and all(label["state"] == "suggested" for label in suggestions)
    assert all(label["score"] >= 0.2 for label in suggestions)
    assert [label["state"] for label in box["labels"] if label["action_id"] == 12] == ["accepted"]

    synth = generate_dataset(tmp_path / "synth", videos=1, seconds=4, width=320, height=180, seed=1)
    record = synth.videos[0]
    video = ingested(manager_client, ava_dataset, synth.root / record.path, record.video_id)
    with synth.person_boxes["train"].open("rb") as handle:
        imported = manager_client.post(
            f"/api/v1/datasets/{ava_dataset.pk}/imports/",
            {"file": handle, "kind": "person-boxes"},
            format="multipart",
        )
    assert finished(imported.json()["id"]).status == "succeeded"
    boxes = PersonBox.objects.filter(keyframe__video=video, source="detector")
    expected = boxes.count()
    assert expected > 0

    job = finished(manager_client.post(f"/api/v1/videos/{video.pk}/preannotate/").json()["id"])

    assert job.status == "succeeded", job.message
    assert job.result["person_boxes"] == "imported" and job.result["boxes_scored"] == expected
    listed = reviewer_client.get(f"/api/v1/keyframes/?video={video.pk}").json()["results"]
    served = [
        box
        for row in listed
        for box in reviewer_client.get(f"/api/v1/keyframes/{row['id']}/").json()["boxes"]
    ]
    assert len(served) == expected
    scored = BoxScore.objects.filter(box_id__in=[box["id"] for box in served])
    assert list(scored.values_list("model_version", flat=True)) == [model_version.pk] * expected
    assert sum(label["source"] == "model" for box in served for label in box["labels"]) > 0


def test_a_text_file_is_refused_at_upload_and_a_broken_one_fails_its_ingest_job(
    celery_worker, manager_client, ava_dataset, tmp_path
):  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    response = upload(manager_client, ava_dataset, text, "notes")
    assert response.status_code == 400 and "notes.mp4" in response.json()["detail"]
    assert not Video.objects.filter(video_id="notes").exists()

    data = write_index_video(tmp_path / "good.mp4", 30, 90).read_bytes()
    mdat = data.index(b"mdat")
    end = mdat - 4 + int.from_bytes(data[mdat - 4 : mdat], "big")
    half = (mdat + end) // 2
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[:half] + bytes(end - half) + data[end:])  # decodes halfway, then not
    response = upload(manager_client, ava_dataset, broken, "broken")
    assert response.status_code == 201

    job = finished(Job.objects.get(video_id=response.json()["id"], job_type="ingest").pk)
    assert job.status == "failed"
    assert (
        "video broken (broken.mp4)" in job.message and "decoding failed after frame" in job.message
    )
    video = Video.objects.get(video_id="broken")
    assert video.status == "failed" and "broken.mp4" in video.status_message
    assert ingested(manager_client, ava_dataset, tmp_path / "good.mp4", "good").status == "ready"


def test_a_second_request_gets_409_and_cancel_stops_between_batches(
    transactional_db,
    use_redis,
    media_root,
    model_version,
    manager_client,
    ava_dataset,
    tmp_path,
    gate,
):  # type: ignore[no-untyped-def]
    video = ingested_index_video(ava_dataset, tmp_path, seconds=20)
    for keyframe in video.keyframes.all():
        PersonBox.objects.create(
            keyframe=keyframe, x1=0.1, y1=0.1, x2=0.6, y2=0.9, source="human", state="accepted"
        )
    url = f"/api/v1/videos/{video.pk}/preannotate/"
    (gate / "hold").write_text("scoring")  # held after its first batch of one keyframe
    worker = WorkerProcess(
        use_redis, str(media_root), PREANNOTATE_BATCH_SIZE="1", JOB_PROGRESS_GATE=str(gate)
    ).start()
    scored = BoxScore.objects.filter(box__keyframe__video=video)
    try:
        job_id = manager_client.post(url, {"person_boxes": "human"}, format="json").json()["id"]
        conflict = manager_client.post(url, {}, format="json")
        assert conflict.status_code == 409 and conflict.json()["job"] == job_id
        assert held(gate) == f"{job_id} scoring"
        assert scored.count() == 1

        assert manager_client.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 200
        (gate / "release").touch()
        job = finished(job_id)
    finally:
        worker.stop()
    assert job.status == "cancelled" and job.cancel_requested
    assert video.keyframes.count() == 19
    assert scored.count() == 1  # the finished batch stays; the cancel stopped the rest
    bumped = Keyframe.objects.filter(video=video, version=2).count()
    assert bumped == scored.count()
    assert manager_client.post(url, {"person_boxes": "human"}, format="json").status_code == 202


def test_a_worker_killed_mid_job_is_replaced_and_the_job_ends_with_the_right_rows(
    transactional_db, use_redis, media_root, model_version, ava_dataset, tmp_path, gate
):  # type: ignore[no-untyped-def]
    weights = detector_weights(tmp_path / "detector.pt", LIGHT_DETECTOR)
    video = ingested_index_video(ava_dataset, tmp_path, seconds=30)
    env = {
        "JOB_LEASE_SECONDS": "3",
        "JOB_HEARTBEAT_SECONDS": "1",
        "PREANNOTATE_BATCH_SIZE": "1",
        "PREANNOTATE_DISPLAY_FLOOR": "0.5",
        "PERSON_DETECTOR_ARCH": LIGHT_DETECTOR,
        "PERSON_DETECTOR_WEIGHTS": str(weights),
        "PERSON_DETECTOR_MAX_BOXES": "2",
        "JOB_PROGRESS_GATE": str(gate),
    }
    (gate / "hold").write_text("scoring")  # the first worker is held after its first batch
    first = WorkerProcess(use_redis, str(media_root), **env).start()
    second = None
    try:
        job = preannotate_start(video=video, person_boxes="detector", detector_threshold=0.0)
        made = PersonBox.objects.filter(job=job)
        held(gate)
        job.refresh_from_db()
        assert job.status == "running" and job.progress < 1
        assert made.values("keyframe").distinct().count() == 1  # one batch written
        first.kill()
        (gate / "hold").unlink()  # the second worker runs through
        second = WorkerProcess(use_redis, str(media_root), **env).start()
        assert wait_for(jobs_sweep, timeout=30) == [job.pk]  # what beat does once the lease ends
        job = finished(job.pk)
    finally:
        first.kill()
        if second is not None:
            second.stop()

    assert job.status == "succeeded", job.message
    assert job.attempts == 2 and job.result["keyframes_written"] == video.keyframes.count() == 29
    for keyframe in video.keyframes.all():
        boxes = list(made.filter(keyframe=keyframe))
        # Threshold 0 finds many people; the two best of each keyframe are kept, once each.
        assert len(boxes) == 2
        assert len({(box.x1, box.y1, box.x2, box.y2) for box in boxes}) == 2
        for box in boxes:
            vector = np.frombuffer(box.model_scores.get().scores, dtype=np.float16)
            assert box.labels.count() == int((vector.astype(np.float32) >= 0.5).sum())
    assert made.count() == job.result["boxes_created"] == 58


def test_the_sweep_sends_again_a_queued_job_whose_message_the_broker_lost(  # type: ignore[no-untyped-def]
    transactional_db, use_redis, media_root
):
    import redis

    broker = redis.Redis.from_url(use_redis)
    broker.flushdb()  # no message left by an earlier test names this test's job ids
    keyframe = KeyframeFactory()
    job = uncertainty_recompute_start(dataset=keyframe.video.dataset)
    assert broker_job_ids() == {job.pk}
    assert jobs_sweep() == []  # its message is there: nothing to send

    broker.flushdb()  # Redis restarted without its data: the job is queued with no message
    assert broker_job_ids() == set()
    assert jobs_sweep() == [job.pk]
    assert broker_job_ids() == {job.pk}
    assert jobs_sweep() == []  # sent once, not at every sweep

    worker = WorkerProcess(use_redis, str(media_root)).start()
    try:
        job = finished(job.pk)
        # The worker acknowledges after the task returns, so after the job row says succeeded:
        # wait, with the worker still up, for the message to leave the queue and the unacked hash.
        wait_for(lambda: broker_job_ids() == set(), timeout=60)
    finally:
        worker.stop()
    assert job.status == "succeeded", job.message
    assert job.result["keyframes"] == 1


def test_the_soft_time_limit_fails_the_job_with_its_message(
    transactional_db, use_redis, media_root, model_version, ava_dataset, tmp_path, monkeypatch, gate
):  # type: ignore[no-untyped-def]
    from annotator.tasks import preannotate_video_task

    video = ingested_index_video(ava_dataset, tmp_path, seconds=10)
    for keyframe in video.keyframes.all():
        PersonBox.objects.create(
            keyframe=keyframe, x1=0.1, y1=0.1, x2=0.6, y2=0.9, source="human", state="accepted"
        )
    # The sender's settings put the limits in the message (the web process's, in production).
    # The job is held at its first scoring report and never released, so only the limit can
    # end it; torch is already imported when a worker process starts, so the limit fires in the
    # job's own work.
    monkeypatch.setattr(preannotate_video_task, "soft_time_limit", 1)
    monkeypatch.setattr(preannotate_video_task, "_exec_options", None)  # Celery caches them
    (gate / "hold").write_text("scoring")
    worker = WorkerProcess(
        use_redis, str(media_root), JOB_SOFT_TIME_LIMIT_SECONDS="1", JOB_PROGRESS_GATE=str(gate)
    ).start()
    try:
        job = finished(preannotate_start(video=video, person_boxes="human").pk)
    finally:
        worker.stop()
    assert job.status == "failed" and "SoftTimeLimitExceeded" in job.message


def test_an_evaluation_waits_for_the_pre_annotation_it_starts_on_the_gpu_queue(
    celery_worker, model_version, manager_client, ava_dataset, tmp_path
):  # type: ignore[no-untyped-def]
    video = ingested_index_video(ava_dataset, tmp_path, seconds=4)
    stand = ava_dataset.actions.get(action_id=12)
    for keyframe in video.keyframes.all():
        box = PersonBox.objects.create(
            keyframe=keyframe, x1=0.1, y1=0.1, x2=0.5, y2=0.9, source="human", state="accepted"
        )
        BoxLabel.objects.create(box=box, action=stand, source="human", state="accepted")
    video.keyframes.update(status="reviewed")
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("".join(f"index,{t:04d},0.120,0.100,0.500,0.900,,0.9\n" for t in (1, 2, 3)))
    ava_import(dataset=ava_dataset, path=boxes, kind="person-boxes")

    response = manager_client.post(
        f"/api/v1/datasets/{ava_dataset.pk}/evaluate/",
        {"model_version": model_version.pk},
        format="json",
    )
    assert response.status_code == 202
    job = finished(response.json()["id"])

    assert job.status == "succeeded", job.message
    (child,) = job.depends_on.all()
    assert (child.job_type, child.status, child.params["started_by"]) == (
        "preannotate",
        "succeeded",
        job.pk,
    )
    assert child.worker and child.finished_at <= job.finished_at
    assert job.result["scored_boxes"] == [3]  # the imported person boxes, as AVA evaluates
    report = EvaluationReport.objects.get(pk=job.result["reports"][0])
    assert report.per_class["12"]["gt_count"] == 3 and report.per_class["12"]["ap"] == 1.0
