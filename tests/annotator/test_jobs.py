"""Job claims, the lease sweep and cancellation (the worker-level behaviour is in the pipeline
integration tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import Job
from annotator.services.jobs import job_cancel, job_claim, job_create, jobs_sweep

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

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:9/0")  # nothing listens
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)

    job = job_create(job_type=Job.Type.EVALUATE, params={})

    assert job.status == Job.Status.FAILED  # what the caller (a 202 response) shows
    stored = Job.objects.get(pk=job.pk)
    assert (stored.status, stored.message) == (Job.Status.FAILED, job.message)
    assert stored.message.startswith(
        "could not queue the job on the 'default' queue: the broker (Redis) is unreachable ("
    )
