"""Jobs: a row per long operation, claimed by a conditional UPDATE, held by a renewed lease.

A worker runs a job through `job_run`, which claims it (from `queued`, or from `running` when the
holder's lease expired), renews the lease from a heartbeat thread, records progress, stops between
batches when a cancel was asked for, and marks the job succeeded, cancelled or failed.

A job may also wait for other jobs (an evaluation for the pre-annotation that computes its missing
scores): its work raises `JobWaiting` after adding them to `depends_on`; the job is `waiting`,
holds no worker, and is queued again when the last of them ends (at once by the worker that ran
it, or by the periodic sweep), to run from the start. The sweep also sends again the task of a
queued job whose message the broker no longer holds.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from annotator.errors import ApplicationError, ConflictError
from annotator.models import Dataset, Job

logger = logging.getLogger(__name__)

# The one table from job type to the Celery task that runs it and its queue. Jobs are sent by
# task name, so this module never imports the tasks (which import the services). A job whose task
# the application does not define fails saying so (`job_enqueue`).
JOB_TASKS: dict[str, tuple[str, str]] = {
    Job.Type.IMPORT: ("annotator.tasks.import_ava_task", "default"),
    Job.Type.INGEST: ("annotator.tasks.ingest_video_task", "default"),
    Job.Type.PREANNOTATE: ("annotator.tasks.preannotate_video_task", "gpu"),
    Job.Type.EVALUATE: ("annotator.tasks.evaluate_task", "default"),
    Job.Type.TRAIN: ("annotator.tasks.train_model_task", "gpu"),
    Job.Type.EXPORT_TRAINING: ("annotator.tasks.export_training_task", "default"),
    Job.Type.UNCERTAINTY: ("annotator.tasks.uncertainty_task", "default"),
    Job.Type.SEED_DEMO: ("annotator.tasks.seed_demo_task", "default"),
}


class JobCancelled(Exception):
    """Raised inside a job's work when a cancel was asked for; finished batches stay."""


class JobWaiting(Exception):  # a signal, like JobCancelled, not an error: no "Error" suffix
    """Raised inside a job's work after it added the jobs it waits for to `depends_on`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_queue(job_type: str) -> str:
    """The queue a job type's task runs on (`gpu` or `default`)."""
    return JOB_TASKS[job_type][1]


def job_enqueue(job: Job) -> None:
    """Send the job's task, looked up by name, once the surrounding transaction commits. When no
    task runs the job type or the broker cannot be reached, the job fails, saying so, rather than
    stay queued with nothing to run it."""
    job_id = job.pk
    route = JOB_TASKS.get(job.job_type)
    if route is None:
        _enqueue_failed(job, f"no task runs '{job.job_type}' jobs")
        return
    name, queue = route

    def send() -> None:
        if name not in current_app.tasks:  # the app's registry, filled by autodiscovery
            _enqueue_failed(
                job,
                f"no task {name!r} is installed to run '{job.job_type}' jobs; this version of "
                "the application cannot run them",
            )
            return
        try:
            # The registered task by name, not `send_task`: it honours CELERY_TASK_ALWAYS_EAGER
            # (the benchmarks run jobs in-process that way).
            current_app.tasks[name].apply_async(args=[job_id], queue=queue)
        except OperationalError as error:
            logger.error("job %s: could not reach the broker: %s", job_id, error)
            _enqueue_failed(
                job,
                f"could not queue the job on the {queue!r} queue: the broker (Redis) is "
                f"unreachable ({error}); start the job again once it runs",
            )

    transaction.on_commit(send)


def _enqueue_failed(job: Job, message: str) -> None:
    """Fail a queued job that could not be sent; the caller's copy shows it too."""
    logger.error("job %s: %s", job.pk, message)
    job.status, job.finished_at, job.message = Job.Status.FAILED, timezone.now(), message
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=job.status, finished_at=job.finished_at, message=job.message
    )


def job_create(
    *,
    job_type: str,
    params: dict[str, Any],
    user: Any = None,
    dataset: Any = None,
    video: Any = None,
    upload: Any = None,
) -> Job:
    """Create a queued job and enqueue its task on commit."""
    with transaction.atomic():
        job = Job.objects.create(
            job_type=job_type, params=params, created_by=user, dataset=dataset, video=video
        )
        if upload is not None:
            job.upload.save(f"job-{job.pk}-{os.path.basename(upload.name)}", upload, save=True)
        job_enqueue(job)
    return job


def job_refuse_if_active(*, dataset: Dataset, job_type: str, noun: str) -> None:
    """Lock the dataset's row and refuse (409, naming the job) while it has an active job of
    `job_type`: one at a time per dataset. Call inside the transaction that creates the job."""
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    running = Job.objects.filter(dataset=dataset, job_type=job_type, status__in=Job.ACTIVE).first()
    if running is not None:
        raise ConflictError(
            f"dataset {dataset.name!r} already has {noun} job {running.pk} ({running.status})",
            extra={"job": running.pk},
        )


def job_claim(*, job_id: int, worker: str) -> bool:
    """Take the job if it is queued or its holder's lease expired; False if someone else has it."""
    now = timezone.now()
    claimable = Q(status=Job.Status.QUEUED) | Q(status=Job.Status.RUNNING, lease_until__lt=now)
    updated = Job.objects.filter(claimable, pk=job_id, cancel_requested=False).update(
        status=Job.Status.RUNNING,
        worker=worker,
        lease_until=now + timedelta(seconds=settings.JOB_LEASE_SECONDS),
        started_at=now,
        attempts=F("attempts") + 1,
    )
    return updated == 1


def job_heartbeat(*, job_id: int, worker: str) -> bool:
    """Renew the lease while this worker holds the job; False if it lost the job."""
    lease = timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)
    updated = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, worker=worker).update(
        lease_until=lease
    )
    return updated == 1


def job_progress(*, job_id: int, progress: float, message: str = "") -> None:
    Job.objects.filter(pk=job_id).update(progress=min(max(progress, 0.0), 1.0), message=message)


def job_finish(
    *,
    job_id: int,
    worker: str,
    status: str,
    message: str = "",
    result: dict[str, Any] | None = None,
) -> None:
    fields: dict[str, Any] = {
        "status": status,
        "message": message,
        "finished_at": timezone.now(),
        "lease_until": None,
    }
    if result is not None:
        fields["result"] = result
    if status == Job.Status.SUCCEEDED:
        fields["progress"] = 1.0
    Job.objects.filter(pk=job_id, worker=worker, status=Job.Status.RUNNING).update(**fields)


def job_wait(*, job_id: int, worker: str, message: str) -> None:
    """Park a running job until the jobs in its `depends_on` end; it holds no worker meanwhile.
    Its attempts start again from zero: waiting is not a lost worker."""
    with transaction.atomic():
        updated = Job.objects.filter(pk=job_id, worker=worker, status=Job.Status.RUNNING).update(
            status=Job.Status.WAITING, message=message, lease_until=None, worker="", attempts=0
        )
        if updated == 1:
            # The jobs may all have ended before this update (a fast or failed one): wake now.
            jobs_wake(Job.objects.filter(pk=job_id))


def job_cancel(*, job_id: int) -> Job:
    """Ask a job to stop: a queued or waiting job is cancelled at once (with the jobs it started
    for itself), a running one between batches."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status not in Job.ACTIVE:
            raise ConflictError(
                f"job {job_id} is {job.status}; only queued, waiting or running jobs can be "
                "cancelled"
            )
        job.cancel_requested = True
        if job.status in (Job.Status.QUEUED, Job.Status.WAITING):
            job.status = Job.Status.CANCELLED
            job.finished_at = timezone.now()
        job.save(update_fields=["cancel_requested", "status", "finished_at"])
        started = job.depends_on.filter(status__in=Job.ACTIVE, params__started_by=job.pk)
        for child in started.values_list("pk", flat=True):
            job_cancel(job_id=child)
    return job


def jobs_sweep() -> list[int]:
    """Re-queue running jobs whose lease expired (their worker died) and send their tasks again."""
    now = timezone.now()
    requeued = []
    Job.objects.filter(
        status=Job.Status.RUNNING, lease_until__lt=now, cancel_requested=True
    ).update(status=Job.Status.CANCELLED, finished_at=now, lease_until=None, message="cancelled")
    # A job whose workers keep dying (a hard time limit, a crash on its input) is not retried
    # forever.
    Job.objects.filter(
        status=Job.Status.RUNNING, lease_until__lt=now, attempts__gte=settings.JOB_MAX_ATTEMPTS
    ).update(
        status=Job.Status.FAILED,
        finished_at=now,
        lease_until=None,
        message=f"gave up after {settings.JOB_MAX_ATTEMPTS} attempts: the worker was lost "
        "each time (killed, out of memory or past the hard time limit)",
    )
    for job in Job.objects.filter(status=Job.Status.RUNNING, lease_until__lt=now):
        with transaction.atomic():
            updated = Job.objects.filter(
                pk=job.pk, status=Job.Status.RUNNING, lease_until__lt=now
            ).update(status=Job.Status.QUEUED, worker="", lease_until=None)
            if updated == 1:
                job_enqueue(job)
                requeued.append(job.pk)
    if requeued:
        logger.warning("re-queued jobs with expired leases: %s", requeued)
    # Waiting jobs whose last dependency ended without waking them (it was failed by this sweep,
    # or its worker died between finishing and waking).
    woken = jobs_wake(Job.objects.filter(status=Job.Status.WAITING))
    return requeued + woken + _resend_lost(sent=requeued + woken)


def _resend_lost(sent: list[int]) -> list[int]:
    """Send again the task of each queued job (but those just `sent`) that has no message in the
    broker (lost with a flushed or restarted Redis that kept no data). A message sent twice does
    no harm: the second claim finds the job taken and the task returns."""
    queued = set(
        Job.objects.filter(status=Job.Status.QUEUED)
        .exclude(pk__in=sent)
        .values_list("pk", flat=True)
    )
    if not queued:
        return []
    waiting = broker_job_ids()  # read after the jobs: a job queued meanwhile is not counted lost
    if waiting is None:
        return []
    lost = Job.objects.filter(pk__in=queued - waiting, status=Job.Status.QUEUED).order_by("pk")
    sent_again = []
    for job in lost:  # still queued: not claimed or cancelled since the first read
        job_enqueue(job)
        sent_again.append(job.pk)
    if sent_again:
        logger.warning(
            "sent again the tasks of queued jobs missing from the broker: %s", sent_again
        )
    return sent_again


def broker_job_ids() -> set[int] | None:
    """Ids of the jobs whose task messages are in the broker: waiting on a queue or reserved by a
    worker (with late acks a message stays in Redis' `unacked` hash until its task ends). None
    when the broker is not Redis or cannot be read."""
    tasks = {name for name, _ in JOB_TASKS.values()}
    queues = {queue for _, queue in JOB_TASKS.values()}
    try:
        with current_app.connection_for_read() as broker:
            if broker.transport.driver_type != "redis":
                return None
            # kombu's Redis transport: a queue is a list per priority step (`_q_for_pri` names
            # it), a reserved message sits in a hash; each message is JSON whose base64 body is
            # Celery's protocol-2 [args, kwargs, embed], and our tasks take the job id alone.
            channel = broker.default_channel
            client = channel.client
            raw = [
                json.loads(item)
                for queue in queues
                for priority in channel.priority_steps
                for item in client.lrange(channel._q_for_pri(queue, priority), 0, -1)
            ]
            raw += [json.loads(item)[0] for item in client.hvals(channel.unacked_key)]
    except (OperationalError, RedisError, OSError) as error:
        logger.error("could not read the broker's queues: %s", error)
        return None
    ids = set()
    for message in raw:
        if message.get("headers", {}).get("task") not in tasks:
            continue
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        ids.add(int(args[0]))
    return ids


def jobs_wake(jobs: QuerySet[Job]) -> list[int]:
    """Queue again each of these waiting jobs that no longer waits for an active job."""
    woken = []
    for job in jobs.filter(status=Job.Status.WAITING):
        if job.depends_on.filter(status__in=Job.ACTIVE).exists():
            continue
        with transaction.atomic():
            updated = Job.objects.filter(pk=job.pk, status=Job.Status.WAITING).update(
                status=Job.Status.QUEUED
            )
            if updated == 1:
                job_enqueue(job)
                woken.append(job.pk)
    return woken


# A job's progress report: (fraction done in [0, 1], message); JobContext.progress is one.
Progress = Callable[[float, str], None]


class JobContext:
    """What a job's work sees: progress reporting and the cancel check between batches."""

    def __init__(self, job: Job, worker: str) -> None:
        self.job = job
        self.worker = worker

    def progress(self, fraction: float, message: str = "") -> None:
        job_progress(job_id=self.job.pk, progress=fraction, message=message)
        progress_gate(job_id=self.job.pk, message=message)

    def check_cancel(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()


GATE_POLL_SECONDS = 0.05


def progress_gate(*, job_id: int, message: str) -> None:
    """Hold the job here while a test asks it to (JOB_PROGRESS_GATE, a folder; off by default).

    When the folder's `hold` file exists and the progress message starts with its text, the
    worker writes `reached` (the job id and the message) and waits until `release` exists. Tests
    act at a known point of a job this way (cancel it, kill its worker, let a time limit fire)
    whatever the speed of the machine.
    """
    folder = settings.JOB_PROGRESS_GATE
    if not folder:
        return
    gate = Path(folder)
    try:
        wanted = (gate / "hold").read_text()
    except FileNotFoundError:
        return
    if not message.startswith(wanted):
        return
    (gate / "reached").write_text(f"{job_id} {message}")
    while not (gate / "release").exists():
        time.sleep(GATE_POLL_SECONDS)


class _Heartbeat(threading.Thread):
    def __init__(self, job_id: int, worker: str) -> None:
        super().__init__(daemon=True, name=f"job-{job_id}-heartbeat")
        self.job_id = job_id
        self.worker = worker
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                if not job_heartbeat(job_id=self.job_id, worker=self.worker):
                    return
        finally:
            connection.close()


def job_run(*, job_id: int, work: Callable[[JobContext], dict[str, Any] | None]) -> None:
    """Claim the job and run `work`; record success, cancellation or failure on the row."""
    worker = worker_name()
    if not job_claim(job_id=job_id, worker=worker):
        logger.info("job %s: not claimable (taken, finished or cancelled)", job_id)
        return
    job = Job.objects.get(pk=job_id)
    heartbeat = _Heartbeat(job_id, worker)
    heartbeat.start()
    try:
        result = work(JobContext(job, worker))
    except JobCancelled:
        job_finish(job_id=job_id, worker=worker, status=Job.Status.CANCELLED, message="cancelled")
    except JobWaiting as waiting:
        job_wait(job_id=job_id, worker=worker, message=waiting.message)
    except ApplicationError as error:
        job_finish(
            job_id=job_id,
            worker=worker,
            status=Job.Status.FAILED,
            message=error.message,
            result={"errors": error.extra.get("errors", [])} if error.extra else None,
        )
    except Exception as error:
        logger.exception("job %s failed", job_id)
        job_finish(
            job_id=job_id,
            worker=worker,
            status=Job.Status.FAILED,
            message=f"{type(error).__name__}: {error}",
        )
    else:
        job_finish(job_id=job_id, worker=worker, status=Job.Status.SUCCEEDED, result=result or {})
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
    jobs_wake(Job.objects.filter(depends_on=job_id))  # those that waited for this one
