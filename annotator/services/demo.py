"""The demo: a synthetic dataset seeded through worker jobs, so a new instance shows the whole loop.

`demo_seed_start` queues one `seed_demo` job when the instance has no video and no demo yet. The
job runs in stages, each decided by what the database already holds, and waits (`JobWaiting`)
for the jobs a stage starts: render the videos with the repository's generator and create the
demo dataset from its taxonomy, one ingest job per video; then import the ground truth of the
first videos as reviewed and the generator's person boxes of all, register the shipped model
(`inference/data/demo/`) as the active version, pre-annotate the unreviewed videos from the
imported boxes and start an evaluation on the reviewed ones for the Figure-3 dashboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import Dataset, Job, Keyframe, ModelVersion, PersonBox, Video
from annotator.services.jobs import JobContext, JobWaiting, job_create

DEMO_DATASET = "Demo (synthetic)"
DEMO_MODEL = "demo-small-synthetic"
DEMO_CHECKPOINT = Path(__file__).resolve().parents[2] / "inference" / "data" / "demo" / "small.pt"
# A seed the shipped model was not trained on (scripts/make-demo-model uses 1300): its videos are
# held out for the model. Two reviewed ("train") videos, two to review ("val").
DEMO_SYNTH: dict[str, Any] = {
    "videos": 4,
    "val_videos": 2,
    "seconds": 16.0,
    "seed": 2026,
    "size": "320x180",
}


def demo_synth_dir() -> Path:
    """Where the seeding job renders the demo's videos and annotations."""
    return Path(settings.MEDIA_ROOT) / "demo" / "synth"


def demo_seed_start(*, synth: dict[str, Any] | None = None) -> tuple[Job | None, str]:
    """Queue the seeding job unless the instance has videos, a demo or a seeding under way; the
    job (or None) and why."""
    with transaction.atomic():
        running = Job.objects.filter(job_type=Job.Type.SEED_DEMO, status__in=Job.ACTIVE).first()
        if running is not None:
            return running, f"the demo is being seeded (job {running.pk})"
        if Dataset.objects.filter(name=DEMO_DATASET).exists():
            return None, f"the demo dataset {DEMO_DATASET!r} exists: reusing it"
        if Video.objects.exists():
            return None, "this instance has videos: no demo"
        job = job_create(job_type=Job.Type.SEED_DEMO, params={"synth": synth or DEMO_SYNTH})
    return job, f"seeding the demo (job {job.pk})"


def demo_seed_run(*, context: JobContext) -> dict[str, Any]:
    """Run the next stage of the seeding job; raises `JobWaiting` while its jobs run."""
    job = context.job
    dataset = Dataset.objects.filter(name=DEMO_DATASET).first()
    if dataset is None:
        _render_and_upload(job, context)  # raises JobWaiting
    assert dataset is not None
    failed = Video.objects.filter(dataset=dataset).exclude(status=Video.Status.READY)
    if failed.exists():
        names = ", ".join(f"{v.video_id} ({v.status}: {v.status_message})" for v in failed)
        raise ApplicationError(f"demo videos not ingested: {names}")
    return _annotate_and_evaluate(job, dataset, context)


def _render_and_upload(job: Job, context: JobContext) -> None:
    from annotator.services.datasets import labelmap_import
    from annotator.services.videos import video_create
    from inference.synth import generate_dataset

    def rendered(done: int, total: int) -> None:
        context.progress(0.4 * done / max(total, 1), f"rendering {done}/{total} frames")

    root = demo_synth_dir()
    manifest = generate_dataset(root, progress=rendered, **job.params["synth"])
    context.progress(0.4, "creating the demo dataset")
    with transaction.atomic():
        dataset = labelmap_import(dataset_name=DEMO_DATASET, path=manifest.label_map)
        Dataset.objects.filter(pk=dataset.pk).update(
            description="Synthetic videos from `python -m inference synth`, seeded as a demo."
        )
        for record in manifest.videos:
            path = manifest.video_path(record.video_id)
            with path.open("rb") as handle:
                video_create(dataset=dataset, video_id=record.video_id, upload=File(handle))
        Job.objects.filter(pk=job.pk).update(dataset=dataset)
        ingests = Job.objects.filter(dataset=dataset, job_type=Job.Type.INGEST)
        job.depends_on.add(*ingests)
    raise JobWaiting(f"waiting for {len(manifest.videos)} videos to be ingested")


def _annotate_and_evaluate(job: Job, dataset: Dataset, context: JobContext) -> dict[str, Any]:
    from annotator.services.evaluation import evaluation_start
    from annotator.services.imports import ava_import
    from annotator.services.model_versions import model_version_register
    from annotator.services.preannotate import preannotate_start

    root = demo_synth_dir()
    result: dict[str, Any] = {"dataset": dataset.pk}
    context.progress(0.6, "importing ground truth and person boxes")
    with transaction.atomic():
        imported = PersonBox.objects.filter(keyframe__video__dataset=dataset).exists()
        if not imported:
            result["ground_truth"] = ava_import(dataset=dataset, path=root / "train.csv", kind="gt")
            for split in ("train", "val"):
                path = root / f"{split}_predicted_boxes.csv"
                result[f"{split}_person_boxes"] = ava_import(
                    dataset=dataset, path=path, kind="person-boxes"
                )
    context.progress(0.7, "registering the demo model")
    version = ModelVersion.objects.filter(dataset=dataset, name=DEMO_MODEL).first()
    if version is None:
        version = model_version_register(
            dataset=dataset, path=DEMO_CHECKPOINT, name=DEMO_MODEL, activate=True
        )
    result["model_version"] = version.pk
    context.progress(0.8, "starting pre-annotation and evaluation")
    reviewed = Keyframe.objects.filter(video__dataset=dataset, status=Keyframe.Status.REVIEWED)
    to_review = Video.objects.filter(dataset=dataset).exclude(keyframes__in=reviewed).distinct()
    started = Job.objects.filter(dataset=dataset, job_type=Job.Type.PREANNOTATE)
    if not started.exists():
        result["preannotate_jobs"] = [
            preannotate_start(video=video, person_boxes="imported").pk
            for video in to_review.order_by("video_id")
        ]
    if not Job.objects.filter(dataset=dataset, job_type=Job.Type.EVALUATE).exists():
        result["evaluate_job"] = evaluation_start(dataset=dataset, model_version=version).pk
    return result


def demo_jobs(*, seed_job: Job) -> list[Job]:
    """The seeding job and the jobs of its dataset, oldest first (for progress output)."""
    seed_job.refresh_from_db()
    jobs = [seed_job]
    if seed_job.dataset_id is not None:
        others = Job.objects.filter(dataset_id=seed_job.dataset_id).exclude(pk=seed_job.pk)
        jobs += list(others.order_by("pk"))
    return jobs
