"""Job claims, the lease sweep and cancellation (the worker-level behaviour is in the pipeline
integration tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.errors import ConflictError
from annotator.models import Job
from annotator.services.jobs import (
    job_cancel,
    job_claim,
    job_create,
    job_refuse_if_active,
    jobs_sweep,
)
from tests.conftest import NO_REDIS
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def expired(**fields: object) -> Job:
    past = timezone.now() - timedelta(seconds=5)
    return Job.objects.create(
        job_type="import", status="running", worker="gone:1", lease_until=past, **fields
    )


def test_a_claim_takes_a_queued_job_once() -> None:
    job = Job.objects.create(job_type="import")

    assert job_claim(job_id=job.pk, worker="a:1")
    assert not job_claim(job_id=job.pk, worker="b:2")
    job.refresh_from_db()
    assert (job.status, job.worker, job.attempts) == ("running", "a:1", 1)


def test_a_claim_takes_over_an_expired_lease() -> None:
    job = expired(attempts=1)

    assert job_claim(job_id=job.pk, worker="b:2")
    job.refresh_from_db()
    assert (job.worker, job.attempts) == ("b:2", 2)


def test_the_sweep_requeues_expired_jobs(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    job = expired(attempts=1)
    fresh = Job.objects.create(
        job_type="import",
        status="running",
        worker="alive:1",
        lease_until=timezone.now() + timedelta(minutes=1),
    )

    with django_capture_on_commit_callbacks() as callbacks:
        assert jobs_sweep() == [job.pk]

    assert len(callbacks) == 1  # the task is sent again once the transaction commits
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert (job.status, job.worker) == ("queued", "")
    assert fresh.status == "running"


def test_the_sweep_gives_up_after_the_maximum_attempts(settings) -> None:  # type: ignore[no-untyped-def]
    settings.JOB_MAX_ATTEMPTS = 3
    job = expired(attempts=3)

    assert jobs_sweep() == []

    job.refresh_from_db()
    assert job.status == "failed"
    assert "gave up after 3 attempts" in job.message


def test_cancelling_a_queued_job_is_immediate_and_a_finished_one_is_409() -> None:
    from annotator.errors import ConflictError

    job = Job.objects.create(job_type="import")
    assert job_cancel(job_id=job.pk).status == "cancelled"
    with pytest.raises(ConflictError):
        job_cancel(job_id=job.pk)


def test_a_job_whose_broker_is_unreachable_fails_saying_so(transactional_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from webapp.celery import app

    monkeypatch.setattr(app.conf, "broker_url", NO_REDIS)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)

    job = job_create(job_type=Job.Type.EVALUATE, params={})

    assert job.status == Job.Status.FAILED  # what the caller (a 202 response) shows
    stored = Job.objects.get(pk=job.pk)
    assert (stored.status, stored.message) == (Job.Status.FAILED, job.message)
    assert stored.message.startswith(
        "could not queue the job on the 'default' queue: the broker (Redis) is unreachable ("
    )


def test_every_job_type_has_one_task_and_queue_and_the_tasks_are_registered() -> None:
    from celery import current_app

    from annotator.services.jobs import JOB_TASKS, job_queue

    assert set(JOB_TASKS) == set(Job.Type.values)
    assert {job_queue(job_type) for job_type in Job.Type.values} == {"default", "gpu"}
    for job_type, (name, _) in JOB_TASKS.items():
        if job_type != Job.Type.TRAIN:  # the training task comes with the training work
            assert current_app.tasks[name].name == name


def test_a_job_type_without_an_installed_task_fails_the_job_instead_of_raising(
    django_capture_on_commit_callbacks, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from annotator.services import jobs

    monkeypatch.setitem(jobs.JOB_TASKS, Job.Type.TRAIN, ("annotator.tasks.no_such_task", "gpu"))
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(job_type=Job.Type.TRAIN, params={})

    stored = Job.objects.get(pk=job.pk)
    assert (stored.status, job.status) == (Job.Status.FAILED, Job.Status.FAILED)
    assert stored.message == (
        "no task 'annotator.tasks.no_such_task' is installed to run 'train' jobs; this version "
        "of the application cannot run them"
    )


def test_a_train_job_is_queued_for_its_task_or_failed_saying_it_is_missing(
    django_capture_on_commit_callbacks, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from celery import current_app

    sent: list[tuple[str, object, object]] = []

    def record(self, args=None, kwargs=None, **options):  # type: ignore[no-untyped-def]
        sent.append((self.name, args, options.get("queue")))

    monkeypatch.setattr("celery.app.task.Task.apply_async", record)  # no broker in this test
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(job_type=Job.Type.TRAIN, params={})

    stored = Job.objects.get(pk=job.pk)
    if "annotator.tasks.train_model_task" in current_app.tasks:
        assert stored.status == Job.Status.QUEUED
        assert sent == [("annotator.tasks.train_model_task", [job.pk], "gpu")]
    else:
        assert stored.status == Job.Status.FAILED and sent == []
        assert "no task 'annotator.tasks.train_model_task' is installed" in stored.message


@pytest.mark.parametrize("status", ["queued", "running", "waiting"])
def test_one_active_job_of_a_type_per_dataset(status: str) -> None:
    dataset, other = DatasetFactory(name="clips"), DatasetFactory()
    running = Job.objects.create(job_type="train", status=status, dataset=dataset)
    with pytest.raises(ConflictError) as refused:
        job_refuse_if_active(dataset=dataset, job_type="train", noun="training")
    assert refused.value.message == (
        f"dataset 'clips' already has training job {running.pk} ({status})"
    )
    assert refused.value.extra == {"job": running.pk}
    # Another type, another dataset, or a finished job: no refusal.
    job_refuse_if_active(dataset=dataset, job_type="export_training", noun="training export")
    job_refuse_if_active(dataset=other, job_type="train", noun="training")
    Job.objects.filter(pk=running.pk).update(status="succeeded")
    job_refuse_if_active(dataset=dataset, job_type="train", noun="training")
