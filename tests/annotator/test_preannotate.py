"""Pre-annotation: model registration, person boxes, scores and suggestions, re-runs, REST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.core.files import File
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.errors import ConflictError
from annotator.models import (
    BoxLabel,
    BoxScore,
    Dataset,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Video,
)
from annotator.services.annotations import BoxInput, LabelInput, keyframe_annotations_save
from annotator.services.datasets import labelmap_import
from annotator.services.imports import ava_import
from annotator.services.ingest import video_ingest
from annotator.services.preannotate import preannotate_start
from annotator.tasks import preannotate_video_task
from inference.hashing import file_sha256
from tests.generated import detector_weights, small_checkpoint, write_index_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def model_version(ava_dataset, checkpoint, media_root):  # type: ignore[no-untyped-def]
    call_command("register_model", str(checkpoint), dataset=ava_dataset.name, activate=True)
    return ModelVersion.objects.get(dataset=ava_dataset, name="small")


def run(video: Video, **params) -> Job:  # type: ignore[no-untyped-def]
    """Start a job and run its task in this process, as a worker would."""
    job = preannotate_start(video=video, **params)
    preannotate_video_task(job.pk)
    job.refresh_from_db()
    return job


def vector(box: PersonBox, version: ModelVersion) -> np.ndarray:
    """The version's stored scores on the box."""
    return np.frombuffer(box.model_scores.get(model_version=version).scores, dtype=np.float16)


def all_scores() -> set[tuple[int, int, bytes, int]]:
    return set(BoxScore.objects.values_list("box_id", "model_version_id", "scores", "job_id"))


def model_labels(box: PersonBox) -> dict[int, float]:
    return {
        label.action.action_id: label.score
        for label in box.labels.filter(source="model").select_related("action")
    }


def test_register_model_copies_the_checkpoint_and_reads_config_labels_and_preprocess(
    ava_dataset, checkpoint, media_root, capsys
):  # type: ignore[no-untyped-def]
    call_command(
        "register_model", str(checkpoint), dataset=ava_dataset.name, name="v1", activate=True
    )

    version = ModelVersion.objects.get(name="v1")
    ava_dataset.refresh_from_db()
    assert ava_dataset.active_model_version == version and version.status == "ready"
    stored = Path(version.checkpoint.path)
    assert stored.is_relative_to(media_root) and stored.read_bytes() == checkpoint.read_bytes()
    assert version.sha256 == file_sha256(checkpoint)
    assert (version.config["num_frames"], version.config["alpha"], version.config["tau"]) == (
        4,
        4,
        16,
    )
    assert [label["id"] for label in version.label_map] == list(
        ava_dataset.actions.values_list("action_id", flat=True)
    )
    assert version.preprocess == {"short_side": 128, "mean": [0.45] * 3, "std": [0.225] * 3}
    assert "'v1'" in capsys.readouterr().out


def test_register_model_refuses_label_maps_that_do_not_match_the_dataset(
    tmp_path, media_root, checkpoint
):  # type: ignore[no-untyped-def]
    pbtxt = tmp_path / "two.pbtxt"
    pbtxt.write_text('label { name: "stand" label_id: 12 label_type: PERSON_MOVEMENT }\n')
    labelmap_import(dataset_name="two", path=pbtxt)

    with pytest.raises(
        CommandError, match=r"label map ids \[1, 2, 3.*not action ids of dataset 'two' \(79 of 80\)"
    ):
        call_command("register_model", str(checkpoint), dataset="two")
    classifier = small_checkpoint(tmp_path / "clip.pt", head="classification", num_classes=400)
    with pytest.raises(CommandError, match="head 'classification'"):
        call_command("register_model", str(classifier), dataset="two")
    assert not ModelVersion.objects.exists()


def test_ingest_shows_the_frames_of_the_active_models_clip_rule(ava_dataset, media_root, tmp_path):  # type: ignore[no-untyped-def]
    from annotator.services.ingest import keyframe_media
    from annotator.services.model_versions import model_version_register

    model_version_register(
        dataset=ava_dataset,
        path=small_checkpoint(tmp_path / "8x2.pt", num_frames=8, alpha=2, tau=4),
        activate=True,
    )
    path = write_index_video(tmp_path / "index.mp4", 30, 90)
    video = Video(dataset=ava_dataset, video_id="index")
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    video_ingest(video_id=video.pk)

    media = keyframe_media(keyframe=video.keyframes.get(timestamp=1))
    assert media is not None
    # 16 Fast frames 2 grid frames apart, the keyframe (frame 30) at position 8.
    assert media["model_frames"]["frame_indices"] == list(range(14, 46, 2))
    assert media["model_frames"]["slow_positions"] == [0, 2, 4, 6, 8, 10, 12, 15]


def test_ground_truth_and_imported_boxes_are_scored_and_suggested_above_the_floor(
    video, model_version, reviewer, tmp_path
):  # type: ignore[no-untyped-def]
    from inference.checkpoints import load_model
    from inference.predict import KeyframeBoxes, predict_video

    first = video.keyframes.get(timestamp=1)
    human = PersonBox.objects.create(
        keyframe=first, x1=0.1, y1=0.1, x2=0.5, y2=0.9, source="human", state="accepted"
    )
    stand = video.dataset.actions.get(action_id=12)
    BoxLabel.objects.create(box=human, action=stand, source="human", state="accepted")
    boxes_csv = tmp_path / "boxes.csv"
    boxes_csv.write_text(
        "index,0001,0.120,0.100,0.500,0.900,,0.950\n"  # the human box again: not scored
        "index,0001,0.600,0.200,0.900,0.800,,0.900\n"
        "index,0002,0.200,0.300,0.700,0.950,,0.800\n"
    )
    ava_import(dataset=video.dataset, path=boxes_csv, kind="person-boxes")
    versions = dict(video.keyframes.values_list("timestamp", "version"))

    job = run(video)

    assert job.status == "succeeded", job.message
    assert job.result["person_boxes"] == "imported" and job.result["keyframes_written"] == 3
    assert job.result["frames_decoded"] <= video.frame_count
    duplicate = PersonBox.objects.get(keyframe=first, x1=0.12)
    assert not duplicate.model_scores.exists() and not duplicate.labels.exists()
    other = PersonBox.objects.get(keyframe=first, x1=0.6)
    second = PersonBox.objects.get(keyframe__timestamp=2, source="detector")
    human.refresh_from_db()
    model = load_model(model_version.checkpoint.path)
    requests = [
        KeyframeBoxes(1, np.array([[0.1, 0.1, 0.5, 0.9], [0.6, 0.2, 0.9, 0.8]], np.float32)),
        KeyframeBoxes(2, np.array([[0.2, 0.3, 0.7, 0.95]], np.float32)),
    ]
    expected = dict(predict_video(model, video.file.path, requests))
    for box, reference in (
        (human, expected[1][0]),
        (other, expected[1][1]),
        (second, expected[2][0]),
    ):
        assert box.model_version is None  # shared by every version; its scores are its own rows
        assert box.model_scores.get().job == job
        scores = vector(box, model_version)
        np.testing.assert_allclose(scores.astype(np.float32), reference, atol=2e-3)
        wanted = {
            action["id"]: float(score)
            for action, score in zip(model_version.label_map, scores, strict=True)
            if score >= 0.5 and not (box == human and action["id"] == 12)
        }
        assert model_labels(box) == pytest.approx(wanted)
        assert set(box.labels.filter(source="model").values_list("state", flat=True)) <= {
            "suggested"
        }
    assert human.labels.get(action=stand).source == "human"  # never replaced
    assert {ts: version + 1 for ts, version in versions.items()} == dict(
        video.keyframes.values_list("timestamp", "version")
    )
    with pytest.raises(ConflictError):  # the reviewer's stale save: 409 and the new suggestions
        keyframe_annotations_save(
            keyframe_id=first.pk, version=versions[1], boxes=[], user=reviewer
        )


def test_detector_boxes_are_made_once_and_reused_and_reviewer_decisions_stay(
    video, model_version, reviewer, use_light_detector
):  # type: ignore[no-untyped-def]
    job = run(video, detector_threshold=0.0)

    assert job.status == "succeeded", job.message
    assert job.result["person_boxes"] == "shared"
    made = PersonBox.objects.filter(job=job)
    assert made.count() == job.result["boxes_created"] > 0
    assert all(box.source == "detector" and box.detector_score is not None for box in made)
    counts = (made.count(), BoxLabel.objects.filter(box__job=job).count(), BoxScore.objects.count())

    # Re-delivered after a crash (the sweep re-queues it): the same rows, not twice as many.
    Job.objects.filter(pk=job.pk).update(status="queued")
    preannotate_video_task(job.pk)
    assert (
        made.count(),
        BoxLabel.objects.filter(box__job=job).count(),
        BoxScore.objects.count(),
    ) == counts

    first, second, third = video.keyframes.order_by("timestamp")
    kept = PersonBox.objects.filter(keyframe=first).first()
    assert kept is not None
    first_boxes = PersonBox.objects.filter(keyframe=first).count()
    save = BoxInput(
        id=kept.pk,
        x1=kept.x1,
        y1=kept.y1,
        x2=kept.x2,
        y2=kept.y2,
        labels=(LabelInput(action_id=12, state="accepted"),),
    )
    first.refresh_from_db()
    keyframe_annotations_save(
        keyframe_id=first.pk, version=first.version, boxes=[save], user=reviewer
    )
    Keyframe.objects.filter(pk=second.pk).update(status="reviewed")
    Keyframe.objects.filter(pk=third.pk).update(gold=True)
    second_rows = set(BoxScore.objects.filter(box__keyframe=second).values_list("id", "scores"))

    again = run(video, detector_threshold=0.0)

    assert again.status == "succeeded", again.message
    assert again.result["keyframes"] == 1 and again.result["keyframes_written"] == 1
    assert again.result["boxes_created"] == 0  # the first run's boxes are reused
    kept.refresh_from_db()
    assert kept.state == "accepted" and kept.labels.get(action__action_id=12).state == "accepted"
    assert kept.model_scores.get().job == again
    rejected = PersonBox.objects.filter(keyframe=first, state="rejected")
    assert rejected.count() == first_boxes - 1
    assert set(BoxScore.objects.filter(box__in=rejected).values_list("job", flat=True)) == {
        job.pk  # a rejected box is not scored again for suggestions
    }
    assert PersonBox.objects.filter(keyframe=first).count() == first_boxes
    assert set(BoxScore.objects.filter(box__keyframe=second).values_list("id", "scores")) == (
        second_rows
    )

    # Detecting afresh: the detector finds the same people again, and each is the accepted or a
    # rejected box already, so nothing is added.
    fresh = run(video, detector_threshold=0.0, person_boxes="detector")
    assert fresh.status == "succeeded", fresh.message
    assert fresh.result["boxes_created"] == 0
    assert PersonBox.objects.filter(keyframe=first).count() == first_boxes


def test_a_second_version_scores_the_same_boxes_and_the_first_keeps_its_scores(
    video, model_version, use_light_detector, tmp_path
):  # type: ignore[no-untyped-def]
    from annotator.services.model_versions import model_version_register

    first = run(video, detector_threshold=0.0)
    assert first.status == "succeeded", first.message
    boxes = set(PersonBox.objects.values_list("id", flat=True))
    before = all_scores()
    assert {version for _, version, _, _ in before} == {model_version.pk}

    other = model_version_register(
        dataset=video.dataset, path=small_checkpoint(tmp_path / "other.pt", seed=1), name="other"
    )
    second = run(video, model_version=other)

    assert second.status == "succeeded", second.message
    assert (second.params["model_version"], second.result["boxes_created"]) == (other.pk, 0)
    assert set(PersonBox.objects.values_list("id", flat=True)) == boxes
    after = all_scores()
    assert before <= after  # the first version's scores stay, byte for byte
    assert {box for box, version, _, _ in after if version == other.pk} == boxes
    differ = [
        not np.array_equal(vector(box, model_version), vector(box, other))
        for box in PersonBox.objects.all()
    ]
    assert all(differ)


def test_without_detector_weights_the_job_fails_saying_where_to_put_them(
    video, model_version, settings, monkeypatch, tmp_path
):  # type: ignore[no-untyped-def]
    settings.PERSON_DETECTOR_WEIGHTS = ""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    job = run(video, person_boxes="detector")

    cache = tmp_path / "torch" / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    assert job.status == "failed"
    assert "no person detector weights" in job.message and str(cache) in job.message
    assert "PERSON_DETECTOR_WEIGHTS" in job.message
    settings.PERSON_DETECTOR_WEIGHTS = str(tmp_path / "nowhere.pth")
    assert "not found at PERSON_DETECTOR_WEIGHTS=" in run(video, person_boxes="detector").message


@pytest.mark.slow
def test_the_default_resnet50_detector_stores_people(video, model_version, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.PERSON_DETECTOR_WEIGHTS = str(
        detector_weights(tmp_path / "r50.pt", "fasterrcnn_resnet50_fpn")
    )
    settings.PERSON_DETECTOR_MIN_SIZE = 240
    settings.PERSON_DETECTOR_MAX_BOXES = 2
    Keyframe.objects.filter(video=video).exclude(timestamp=2).update(gold=True)  # one keyframe

    job = run(video, person_boxes="detector", detector_threshold=0.0)

    assert job.status == "succeeded", job.message
    assert PersonBox.objects.filter(job=job, keyframe__timestamp=2, source="detector").count() == 2


def test_rest_starts_one_job_per_video_and_names_the_running_one(
    video, model_version, manager_client, reviewer_client
):  # type: ignore[no-untyped-def]
    url = f"/api/v1/videos/{video.pk}/preannotate/"

    assert reviewer_client.post(url, {}, format="json").status_code == 403
    response = manager_client.post(url, {"person_boxes": "human"}, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.job_type, job.status, job.video, job.params["model_version"]) == (
        "preannotate",
        "queued",
        video,
        model_version.pk,
    )
    assert response.json()["params"]["person_boxes"] == "human"

    conflict = manager_client.post(url, {}, format="json")
    assert conflict.status_code == 409
    assert (
        conflict.json()["job"] == job.pk and f"job {job.pk} (queued)" in conflict.json()["detail"]
    )
    assert Job.objects.filter(job_type="preannotate").count() == 1

    assert manager_client.post(url, {"person_boxes": "psychic"}, format="json").status_code == 400
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    assert manager_client.post(url, {}, format="json").status_code == 202


def test_rest_refuses_videos_not_ingested_and_datasets_without_a_model(video, manager_client):  # type: ignore[no-untyped-def]
    url = f"/api/v1/videos/{video.pk}/preannotate/"
    response = manager_client.post(url, {}, format="json")
    assert response.status_code == 400
    assert "has no active model version" in response.json()["detail"]
    assert "register_model" in response.json()["detail"]

    Video.objects.filter(pk=video.pk).update(status="ingesting")
    response = manager_client.post(url, {}, format="json")
    assert response.status_code == 400 and "is ingesting" in response.json()["detail"]
    assert (
        manager_client.post("/api/v1/videos/999999/preannotate/", {}, format="json").status_code
        == 404
    )


def test_rest_scores_with_a_chosen_version_of_the_videos_dataset_only(
    video, model_version, manager_client
):  # type: ignore[no-untyped-def]
    url = f"/api/v1/videos/{video.pk}/preannotate/"
    external = ModelVersion.objects.create(dataset=video.dataset, name="file", status="external")
    stranger = ModelVersion.objects.create(
        dataset=Dataset.objects.create(name="other"), name="elsewhere"
    )

    response = manager_client.post(url, {"model_version": stranger.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["model_version"] == (
        f"{stranger.pk}: no such model version in this dataset"
    )
    response = manager_client.post(url, {"model_version": external.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "model version 'file' has no checkpoint (imported predictions only)"
    )
    response = manager_client.post(url, {"model_version": model_version.pk}, format="json")
    assert response.status_code == 202 and response.json()["params"]["model_version"] == (
        model_version.pk
    )


def test_the_job_page_shows_progress_to_logged_in_users_with_a_role(video, reviewer, client):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    job = Job.objects.create(job_type="preannotate", video=video, progress=0.25, message="scoring")
    url = f"/jobs/{job.pk}/"

    assert client.get(url).status_code == 302  # to the login page
    client.force_login(get_user_model().objects.create_user("nobody", password="x-123456789"))
    assert client.get(url).status_code == 403
    client.force_login(reviewer)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-url="/api/v1/jobs/{job.pk}/"' in html and "js/job-progress.js" in html
    assert 'value="0.25"' in html and "scoring" in html
    assert client.get("/jobs/999999/").status_code == 404
