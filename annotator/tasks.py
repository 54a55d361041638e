"""Celery tasks: thin, each takes a job id and runs one service under `job_run`.

Their names and queues are listed in `annotator.services.jobs.JOB_TASKS`, which sends them by name.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from annotator.services.jobs import JobContext, job_run, jobs_sweep

TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


@worker_process_init.connect
def preload_inference(**_: Any) -> None:
    """Import torch and the model code when a worker process starts rather than inside a job: the
    first job starts at once, and a time limit never fires inside an import (torch's swallows
    it)."""
    import inference.predict  # noqa: F401


@shared_task(**TASK_OPTIONS)
def import_ava_task(job_id: int) -> None:
    """Import an uploaded AVA CSV (all or nothing)."""
    from annotator.services.imports import ava_import

    def work(context: JobContext) -> dict[str, Any]:
        job = context.job
        return ava_import(
            dataset=job.dataset,
            path=job.upload.path,
            display_name=job.params.get("file_name"),
            progress=context.progress,
            **{
                key: value
                for key, value in job.params.items()
                if key not in ("dataset", "file_name")
            },
        )

    job_run(job_id=job_id, work=work)


@shared_task(**TASK_OPTIONS)
def ingest_video_task(job_id: int) -> None:
    """Probe an uploaded video and create its keyframes."""
    from annotator.services.ingest import video_ingest

    job_run(
        job_id=job_id,
        work=lambda context: video_ingest(video_id=context.job.video_id, context=context),
    )


@shared_task(**TASK_OPTIONS)
def preannotate_video_task(job_id: int) -> None:
    """Find person boxes and score them with the dataset's active model (gpu queue)."""
    from annotator.services.preannotate import video_preannotate

    job_run(job_id=job_id, work=lambda context: video_preannotate(context=context))


@shared_task(**TASK_OPTIONS)
def evaluate_task(job_id: int) -> None:
    """Score model versions on an evaluation set and store their reports (default queue)."""
    from annotator.services.evaluation import evaluation_run

    job_run(job_id=job_id, work=lambda context: evaluation_run(context=context))


@shared_task(**TASK_OPTIONS)
def export_training_task(job_id: int) -> None:
    """Write a dataset's training bundle and pack it into a tar file (default queue)."""
    from annotator.services.training_export import training_export_run

    job_run(job_id=job_id, work=lambda context: training_export_run(context=context))


@shared_task(
    **TASK_OPTIONS,
    soft_time_limit=settings.TRAIN_SOFT_TIME_LIMIT_SECONDS,
    time_limit=settings.TRAIN_TIME_LIMIT_SECONDS,
)
def train_model_task(job_id: int) -> None:
    """Train a new model version on its frozen ground truth, then evaluate it (gpu queue)."""
    from annotator.services.training import training_run

    job_run(job_id=job_id, work=lambda context: training_run(context=context))


@shared_task(**TASK_OPTIONS)
def seed_demo_task(job_id: int) -> None:
    """Seed the demo dataset, one stage per run; it waits for the jobs it starts (default queue)."""
    from annotator.services.demo import demo_seed_run

    job_run(job_id=job_id, work=lambda context: demo_seed_run(context=context))


@shared_task
def jobs_sweep_task() -> list[int]:
    """Re-queue jobs whose worker stopped renewing the lease."""
    return jobs_sweep()


@shared_task(**TASK_OPTIONS)
def uncertainty_task(job_id: int) -> None:
    """Recompute a dataset's keyframe uncertainties under its active version (default queue)."""
    from annotator.services.uncertainty import dataset_uncertainty_run

    job_run(job_id=job_id, work=lambda context: dataset_uncertainty_run(context=context))
