"""Evaluation jobs compute missing scores first: a pre-annotation job (gpu queue) per version and
video for the keyframes that lack them, the evaluation waiting meanwhile; the versions end scored
on the same person boxes, and what cannot be computed fails the job saying why."""

from __future__ import annotations

import pytest

from annotator import tasks
from annotator.models import BoxLabel, BoxScore, Job, Keyframe, PersonBox, Video
from annotator.services.evaluation import evaluation_start
from annotator.services.jobs import JOB_TASKS, job_cancel, job_queue, jobs_sweep
from annotator.services.model_versions import model_version_register
from tests.generated import small_checkpoint

pytestmark = pytest.mark.django_db
STAND = 12


def run(job: Job) -> Job:
    """The job's task body in this process, as a worker runs it."""
    name = JOB_TASKS[job.job_type][0]
    task = getattr(tasks, name.rsplit(".", 1)[1])
    assert task.name == name
    task.run(job.pk)
    job.refresh_from_db()
    return job


@pytest.fixture
def versions(video, checkpoint, tmp_path):  # type: ignore[no-untyped-def]
    """Version `a` (active) and `b`, a differently initialised one; neither has scored anything."""
    a = model_version_register(dataset=video.dataset, path=checkpoint, name="a", activate=True)
    other = small_checkpoint(tmp_path / "b.pt", seed=1)
    return a, model_version_register(dataset=video.dataset, path=other, name="b")


@pytest.fixture
def reviewed(video):  # type: ignore[no-untyped-def]
    """Every keyframe reviewed with one standing person drawn by hand; the last one gold."""
    stand = video.dataset.actions.get(action_id=STAND)
    for keyframe in video.keyframes.all():
        box = PersonBox.objects.create(
            keyframe=keyframe, x1=0.1, y1=0.1, x2=0.5, y2=0.9, source="human", state="accepted"
        )
        BoxLabel.objects.create(box=box, action=stand, source="human", state="accepted")
    video.keyframes.update(status=Keyframe.Status.REVIEWED)
    video.keyframes.filter(timestamp=3).update(gold=True)
    return list(video.keyframes.order_by("timestamp"))


def test_missing_scores_are_computed_on_the_gpu_queue_and_then_the_reports_written(
    video, versions, reviewed, use_light_detector, settings
):  # type: ignore[no-untyped-def]
    settings.PERSON_DETECTOR_THRESHOLD = 0.0
    a, b = versions
    job = run(evaluation_start(dataset=video.dataset, model_version=b, baseline=a))

    assert job.status == Job.Status.WAITING and not job.worker
    (first,) = job.depends_on.all()  # one pre-annotation job per video at a time: b's waits
    assert (first.job_type, job_queue(first.job_type), first.video) == ("preannotate", "gpu", video)
    assert first.params["model_version"] == a.pk and first.params["started_by"] == job.pk
    assert first.params["suggest"] is False
    assert first.params["keyframes"] == [keyframe.pk for keyframe in reviewed]
    assert job.message == (
        f"waiting for pre-annotation jobs {first.pk} to compute the missing scores "
        "(3 keyframes of 'a', 3 keyframes of 'b')"
    )
    assert run(job).status == Job.Status.WAITING  # a re-delivered task: not claimable

    assert run(first).status == Job.Status.SUCCEEDED
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED  # woken by the end of the job it waited for
    job = run(job)
    assert job.status == Job.Status.WAITING
    second = job.depends_on.exclude(pk=first.pk).get()
    assert second.params["model_version"] == b.pk
    assert run(second).status == Job.Status.SUCCEEDED
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    job = run(job)

    assert job.status == Job.Status.SUCCEEDED, job.message
    assert len(job.result["reports"]) == 2 and job.result["keyframes"] == 3
    detector = PersonBox.objects.filter(source="detector", keyframe__video=video)
    assert detector.exists() and set(detector.values_list("job", flat=True)) == {first.pk}
    assert second.result["boxes_created"] == 0  # b was scored on the boxes a's run made
    assert set(detector.values_list("keyframe__timestamp", flat=True)) == {1, 2, 3}  # gold too
    for box in detector:
        assert set(box.model_scores.values_list("model_version", flat=True)) == {a.pk, b.pk}
    assert job.result["scored_boxes"] == [detector.count()] * 2  # the hand-drawn box is not one
    assert not BoxLabel.objects.filter(source="model").exists()  # no suggestions on reviewed
    # Boxes were added once (a reviewer's open copy is stale then); scores alone change nothing.
    assert set(video.keyframes.values_list("version", flat=True)) == {2}

    again = run(evaluation_start(dataset=video.dataset, model_version=b, baseline=a))
    assert again.status == Job.Status.SUCCEEDED and not again.depends_on.exists()
    assert again.result["mean_ap"] == job.result["mean_ap"]


def test_ground_truth_scoring_scores_the_drawn_boxes_only(video, versions, reviewed):  # type: ignore[no-untyped-def]
    a, _ = versions
    job = run(evaluation_start(dataset=video.dataset, model_version=a, box_source="ground_truth"))
    (child,) = job.depends_on.all()
    assert child.params["person_boxes"] == "human"
    assert run(child).status == Job.Status.SUCCEEDED
    job = run(Job.objects.get(pk=job.pk))

    assert job.status == Job.Status.SUCCEEDED, job.message
    assert not PersonBox.objects.filter(source="detector").exists()
    assert BoxScore.objects.filter(model_version=a, box__source="human").count() == 3


def test_a_failed_pre_annotation_fails_the_evaluation_naming_it(
    video, versions, reviewed, settings
):  # type: ignore[no-untyped-def]
    settings.PERSON_DETECTOR_WEIGHTS = ""  # the detector cannot run here
    a, _ = versions
    job = run(evaluation_start(dataset=video.dataset, model_version=a))
    (child,) = job.depends_on.all()
    assert run(child).status == Job.Status.FAILED
    job.refresh_from_db()
    job = run(job)

    assert job.status == Job.Status.FAILED
    assert job.message.startswith(
        "the pre-annotation that computes the missing scores did not succeed: "
        f"job {child.pk} (failed): "
    )
    assert "PERSON_DETECTOR_WEIGHTS" in job.message


def test_cancelling_a_waiting_evaluation_cancels_the_jobs_it_started(video, versions, reviewed):  # type: ignore[no-untyped-def]
    a, _ = versions
    job = run(evaluation_start(dataset=video.dataset, model_version=a))
    (child,) = job.depends_on.all()

    job_cancel(job_id=job.pk)

    job.refresh_from_db()
    child.refresh_from_db()
    assert (job.status, child.status) == (Job.Status.CANCELLED, Job.Status.CANCELLED)


def test_the_sweep_wakes_a_waiting_job_whose_dependencies_ended_without_waking_it(
    video, versions, reviewed
):  # type: ignore[no-untyped-def]
    a, _ = versions
    job = run(evaluation_start(dataset=video.dataset, model_version=a))
    assert jobs_sweep() == []  # its dependency is still queued
    (child,) = job.depends_on.all()
    Job.objects.filter(pk=child.pk).update(status=Job.Status.FAILED)  # as the sweep gives up

    assert jobs_sweep() == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_what_cannot_be_computed_fails_at_once_saying_why(video, versions, reviewed, ava_dataset):  # type: ignore[no-untyped-def]
    a, _ = versions
    Video.objects.filter(pk=video.pk).update(status=Video.Status.UPLOADED)
    job = run(evaluation_start(dataset=video.dataset, model_version=a))
    assert job.status == Job.Status.FAILED
    assert job.message == "video index lacks scores and is uploaded: it needs its file ingested"
    assert not job.depends_on.exists()

    Video.objects.filter(pk=video.pk).update(status=Video.Status.READY)
    a.checkpoint = ""
    a.save()
    job = run(evaluation_start(dataset=video.dataset, model_version=a))
    assert job.status == Job.Status.FAILED
    assert job.message == (
        "model version 'a' lacks its scores on the person boxes of 3 of the 3 keyframes in the "
        "evaluation set (e.g. index@1, index@2, index@3); it has no checkpoint to compute them "
        "with: import its predictions"
    )


def test_a_running_pre_annotation_of_the_video_is_waited_for_then_its_own_job_runs(
    video, versions, reviewed
):  # type: ignore[no-untyped-def]
    from annotator.services.jobs import jobs_wake
    from annotator.services.preannotate import preannotate_start

    a, _ = versions
    theirs = preannotate_start(video=video)  # someone's pre-annotation with the active version
    job = run(evaluation_start(dataset=video.dataset, model_version=a))

    assert job.status == Job.Status.WAITING
    assert list(job.depends_on.all()) == [theirs]  # one pre-annotation job per video at a time
    Job.objects.filter(pk=theirs.pk).update(status=Job.Status.SUCCEEDED)  # it skipped reviewed
    assert jobs_wake(Job.objects.filter(pk=job.pk)) == [job.pk]
    job = run(Job.objects.get(pk=job.pk))

    assert job.status == Job.Status.WAITING
    ours = job.depends_on.exclude(pk=theirs.pk).get()
    assert ours.params["started_by"] == job.pk and ours.params["keyframes"] == [
        keyframe.pk for keyframe in reviewed
    ]
