"""The demo seeding: `manage.py seed_demo` on an empty database, run by a real worker."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from annotator.models import (
    BoxLabel,
    Dataset,
    EvaluationReport,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Source,
    State,
    Video,
)
from annotator.services.demo import DEMO_CHECKPOINT, DEMO_DATASET, DEMO_MODEL, demo_seed_start
from inference.hashing import file_sha256


@pytest.mark.integration
def test_seed_demo_on_an_empty_database_then_reuses_it(celery_worker) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("seed_demo", "--timeout", "900", stdout=out)
    printed = out.getvalue()
    assert "demo: seeding the demo" in printed
    assert "rendering" in printed  # progress lines while it seeds
    assert printed.rstrip().endswith("dashboard")

    dataset = Dataset.objects.get(name=DEMO_DATASET)
    # Its own taxonomy: the generator's 14 actions, not AVA's 80.
    assert dataset.actions.count() == 14
    videos = list(Video.objects.filter(dataset=dataset).order_by("video_id"))
    assert len(videos) == 4
    assert all(video.status == Video.Status.READY for video in videos)

    reviewed_videos = {
        key.video.video_id
        for key in Keyframe.objects.filter(
            video__dataset=dataset, status=Keyframe.Status.REVIEWED
        ).select_related("video")
    }
    assert len(reviewed_videos) == 2
    to_review = [video for video in videos if video.video_id not in reviewed_videos]
    assert len(to_review) == 2
    for video in to_review:
        # Imported person boxes, scored by the shipped model: suggestions to review.
        boxes = PersonBox.objects.filter(keyframe__video=video)
        assert boxes.filter(source=Source.DETECTOR).exists(), video.video_id
        suggested = BoxLabel.objects.filter(
            box__keyframe__video=video, source=Source.MODEL, state=State.SUGGESTED
        )
        assert suggested.exists(), video.video_id
        assert not Keyframe.objects.filter(video=video, status=Keyframe.Status.REVIEWED).exists()

    version = ModelVersion.objects.get(dataset=dataset, name=DEMO_MODEL)
    dataset.refresh_from_db()
    assert dataset.active_model_version_id == version.pk
    assert version.sha256 == file_sha256(DEMO_CHECKPOINT)
    assert version.metrics  # the training record travels with the checkpoint
    report = EvaluationReport.objects.get(dataset=dataset, model_version=version)
    assert report.mean_ap is not None and 0.0 <= report.mean_ap <= 1.0
    assert report.per_class

    jobs = Job.objects.count()
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "reusing it" in again.getvalue()
    assert Job.objects.count() == jobs
    assert Video.objects.count() == 4


@pytest.mark.django_db
def test_an_instance_with_videos_gets_no_demo() -> None:
    dataset = Dataset.objects.create(name="team")
    Video.objects.create(dataset=dataset, video_id="own-video")
    job, reason = demo_seed_start()
    assert job is None
    assert "has videos" in reason
    assert not Job.objects.filter(job_type=Job.Type.SEED_DEMO).exists()
