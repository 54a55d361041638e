"""Training jobs: a new model version trained on a dataset's reviewed ground truth.

`training_start` freezes the ground truth (DESIGN.md's rule, the AVA export's rows) of the chosen
training and validation videos as AVA CSVs and a label map stored with a new ModelVersion
(status `training`, parent = the base version, content hash, hyper-parameters, who started it),
so later edits never change what the job trains on. `training_run` (the `gpu` queue) hands those
files to `inference.train.train` with a progress callback that records the loss curve on the job
and stops at the next step when a cancel was asked for; the checkpoint is written under
MEDIA_ROOT, and a run of the same job after a lost worker resumes from its last checkpoint. When
training ends the version is ready, and an evaluation job scores it and its parent on the
validation videos. Promotion and rollback are the audited `dataset_activate_model`; archiving is
`model_version_archive`.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator import selectors
from annotator.errors import ApplicationError, ConflictError
from annotator.models import (
    Action,
    AuditEvent,
    Dataset,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Video,
)
from annotator.services.evaluation import evaluation_start
from annotator.services.jobs import JobCancelled, JobContext, job_create, job_refuse_if_active

if TYPE_CHECKING:
    from inference.train import TrainProgress

DEFAULT_PRESET = "small"
# TrainConfig's defaults (a test keeps them equal), here without importing torch into the web app.
DEFAULT_EPOCHS = 8
DEFAULT_LR = 0.02
DEFAULT_BATCH_SIZE = 2
CURVE_POINTS = 2000  # loss-curve points kept on the job; a longer run keeps every n-th step
SNAPSHOT_FILES = ("train.csv", "val.csv", "action_list.pbtxt")


def training_dir(model_version_pk: int) -> Path:
    """Where a training version's frozen data and checkpoint live."""
    return Path(settings.MEDIA_ROOT) / "training" / f"version-{model_version_pk}"


def _videos(dataset: Dataset, video_ids: Sequence[str], field: str) -> list[Video]:
    if not video_ids:
        raise ApplicationError(f"{field}: name at least one video")
    found = {v.video_id: v for v in Video.objects.filter(dataset=dataset, video_id__in=video_ids)}
    missing = [video_id for video_id in video_ids if video_id not in found]
    if missing:
        raise ApplicationError(f"{field}: no video {missing[0]!r} in dataset {dataset.name!r}")
    videos = [found[video_id] for video_id in dict.fromkeys(video_ids)]
    for video in videos:
        if not video.file or video.status != Video.Status.READY:
            raise ApplicationError(f"{field}: video {video.video_id!r} has no ingested media file")
        if not Keyframe.objects.filter(video=video, status=Keyframe.Status.REVIEWED).exists():
            raise ApplicationError(f"{field}: video {video.video_id!r} has no reviewed keyframes")
    return videos


def _snapshot_write(dataset: Dataset, folder: Path, train: list[Video], val: list[Video]) -> str:
    """Write the ground truth of both splits and the label map; the sha256 of the three files."""
    from inference.ava import ActionLabel, LabelMap, write_labelmap

    folder.mkdir(parents=True, exist_ok=True)
    for name, videos in (("train.csv", train), ("val.csv", val)):
        with (folder / name).open("w") as handle:
            for text in selectors.ava_ground_truth_lines(
                dataset=dataset, video_pks=[video.pk for video in videos]
            ):
                handle.write(text)
    actions = Action.objects.filter(dataset=dataset).order_by("action_id")
    write_labelmap(
        folder / "action_list.pbtxt",
        LabelMap(actions=tuple(ActionLabel(a.action_id, a.name, a.action_type) for a in actions)),
    )
    digest = hashlib.sha256()
    for name in SNAPSHOT_FILES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()


def training_start(
    *,
    dataset: Dataset,
    train_videos: Sequence[str],
    val_videos: Sequence[str],
    base_version: ModelVersion | None = None,
    preset: str = DEFAULT_PRESET,
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH_SIZE,
    freeze_backbone: bool = False,
    name: str | None = None,
    user: Any = None,
) -> Job:
    """Freeze the ground truth of the chosen videos with a new `training` model version and queue
    its training job (gpu queue); the base is a version's checkpoint, else `preset`."""
    train, val = (
        _videos(dataset, train_videos, "train_videos"),
        _videos(dataset, val_videos, "val_videos"),
    )
    both = sorted({v.video_id for v in train} & {v.video_id for v in val})
    if both:
        raise ApplicationError(
            f"videos {both} are in both splits; a video trains or validates, never both"
        )
    offsets = {video.time_offset for video in train + val}
    if len(offsets) > 1:
        raise ApplicationError(
            f"the chosen videos have different time offsets {sorted(offsets)}; train videos of "
            "one offset at a time"
        )
    if base_version is not None:
        if base_version.dataset_id != dataset.pk:
            raise ApplicationError(f"base_version {base_version.pk}: belongs to another dataset")
        if not base_version.checkpoint or base_version.status == ModelVersion.Status.TRAINING:
            raise ApplicationError(
                f"base_version {base_version.pk} ({base_version.name!r}) has no finished "
                "checkpoint to train from"
            )
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ApplicationError(
            f"epochs {epochs}, batch_size {batch_size} and lr {lr} must be positive"
        )
    hyperparameters = {
        "base": base_version.name if base_version is not None else preset,
        "preset": None if base_version is not None else preset,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "freeze_backbone": freeze_backbone,
        "train_videos": [video.video_id for video in train],
        "val_videos": [video.video_id for video in val],
        "time_offset": offsets.pop(),
    }
    with transaction.atomic():
        job_refuse_if_active(dataset=dataset, job_type=Job.Type.TRAIN, noun="training")
        name = name or f"{dataset.name}-trained-{timezone.now():%Y%m%d-%H%M%S}"
        if ModelVersion.objects.filter(dataset=dataset, name=name).exists():
            raise ApplicationError(f"dataset {dataset.name!r} has a model version named {name!r}")
        version = ModelVersion.objects.create(
            dataset=dataset,
            name=name,
            status=ModelVersion.Status.TRAINING,
            parent=base_version,
            hyperparameters=hyperparameters,
            created_by=user if getattr(user, "pk", None) else None,
        )
        folder = training_dir(version.pk)
        snapshot_hash = _snapshot_write(dataset, folder, train, val)
        version.training_snapshot = {
            "files": {
                name: str((folder / name).relative_to(settings.MEDIA_ROOT))
                for name in SNAPSHOT_FILES
            },
            "train_videos": hyperparameters["train_videos"],
            "val_videos": hyperparameters["val_videos"],
        }
        version.training_snapshot_hash = snapshot_hash
        version.save(update_fields=["training_snapshot", "training_snapshot_hash"])
        AuditEvent.objects.create(
            user=version.created_by,
            verb="model_version.train",
            object_type="model_version",
            object_id=version.pk,
            before={},
            after={"parent": version.parent_id, "snapshot_hash": snapshot_hash},
        )
        return job_create(
            job_type=Job.Type.TRAIN,
            params={"model_version": version.pk},
            user=user,
            dataset=dataset,
        )


def training_run(*, context: JobContext) -> dict[str, Any]:
    """Train the job's version on its frozen data; on success start its evaluation."""
    from inference import default_device
    from inference.train import LossNotFinite, TrainConfig, train

    job = context.job
    version = ModelVersion.objects.get(pk=job.params["model_version"])
    hyper = version.hyperparameters
    folder = training_dir(version.pk)
    media = Path(settings.MEDIA_ROOT)
    files = {name: media / path for name, path in version.training_snapshot["files"].items()}
    video_dir = _video_links(version, folder / "videos")
    base = hyper["preset"] or str(Path(version.parent.checkpoint.path))  # type: ignore[union-attr]
    config = TrainConfig(
        epochs=hyper["epochs"],
        batch_size=hyper["batch_size"],
        lr=hyper["lr"],
        freeze="backbone" if hyper["freeze_backbone"] else "none",
        time_offset=hyper["time_offset"],
        workers=settings.TRAIN_LOADER_WORKERS,
        checkpoint_every=settings.TRAIN_CHECKPOINT_EVERY,
    )
    curve: list[dict[str, float]] = list(job.result.get("curve", []))

    def progress(step: TrainProgress) -> None:
        every = max(1, step.steps // CURVE_POINTS)
        if step.step % every == 0 or step.step == step.steps:
            curve[:] = [point for point in curve if point["step"] < step.step]  # a resumed run
            curve.append({"step": step.step, "loss": step.loss, "lr": step.lr})
            Job.objects.filter(pk=job.pk).update(
                result={"model_version": version.pk, "steps": step.steps, "curve": curve}
            )
        context.progress(
            0.95 * step.step / step.steps,
            f"epoch {step.epoch}/{step.epochs} step {step.step}/{step.steps} "
            f"loss {step.loss:.4f} lr {step.lr:.3g}",
        )
        context.check_cancel()

    context.progress(0.0, "training starts")
    out = folder / "model.pt"
    try:
        with _children_allowed():
            result = train(
                train_gt=files["train.csv"],
                val_gt=files["val.csv"],
                videos=video_dir,
                labelmap=files["action_list.pbtxt"],
                base=base,
                out=out,
                config=config,
                device=default_device(settings.INFERENCE_DEVICE),
                progress=progress,
            )
    except JobCancelled:
        _stopped(version, "cancelled", out)
        raise
    except LossNotFinite as error:
        _stopped(version, str(error), out)
        raise ApplicationError(f"training failed: {error}") from error
    except ValueError as error:
        _stopped(version, str(error), out)
        raise ApplicationError(f"training could not run: {error}") from error
    except Exception as error:
        _stopped(version, f"{type(error).__name__}: {error}", out)
        raise
    context.progress(0.97, "registering the model version")
    evaluation = _training_finish(version, out, job)
    return {
        "model_version": version.pk,
        "steps": result.steps,
        "curve": curve,
        "val_map": result.val_map,
        "val_map_initial": result.val_map_initial,
        "resumed_from_step": result.resumed_from_step,
        "evaluation_job": evaluation.pk if evaluation is not None else None,
    }


@contextmanager
def _children_allowed() -> Iterator[None]:
    """Let the training's DataLoader start its worker processes inside a Celery prefork child.

    Celery's pool processes are daemonic, and multiprocessing refuses children to a daemonic
    process; the loader's workers exit with their parent (they watch it), which is what the rule
    protects against, so the flag is lifted while training runs.
    """
    process = multiprocessing.current_process()
    daemonic = process.daemon
    if daemonic:
        process._config["daemon"] = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if daemonic:
            process._config["daemon"] = True  # type: ignore[attr-defined]


def _video_links(version: ModelVersion, folder: Path) -> Path:
    """A folder of `<video id>.<ext>` links to the videos' media files (what the library reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = version.hyperparameters["train_videos"] + version.hyperparameters["val_videos"]
    for video in Video.objects.filter(dataset_id=version.dataset_id, video_id__in=ids):
        source = Path(video.file.path)
        link = folder / f"{video.video_id}{source.suffix}"
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(source, link)
    return folder


def _stopped(version: ModelVersion, reason: str, out: Path) -> None:
    """A run that ended without a model: the version fails; its last checkpoint stays on disk."""
    kept = str(out.relative_to(settings.MEDIA_ROOT)) if out.exists() else None
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.FAILED,
        metrics={**version.metrics, "stopped": reason, "last_checkpoint": kept},
    )


def _training_finish(version: ModelVersion, out: Path, job: Job) -> Job | None:
    """Make the trained version ready and start its evaluation against its parent."""
    from inference.checkpoints import config_to_dict, load_checkpoint
    from inference.hashing import file_sha256

    checkpoint = load_checkpoint(out)
    metrics = dict(checkpoint.get("metrics") or {})
    with transaction.atomic():
        version.status = ModelVersion.Status.READY
        version.config = config_to_dict(checkpoint["config"])
        version.label_map = checkpoint["label_map"].records()
        version.preprocess = dict(checkpoint["preprocess"])
        version.checkpoint.name = str(out.relative_to(settings.MEDIA_ROOT))
        version.sha256 = file_sha256(out)
        version.metrics = {
            key: metrics.get(key)
            for key in ("val_map", "val_map_initial", "epochs", "steps", "losses", "samples_per_s")
        }
        version.save()
    val_ids = version.hyperparameters["val_videos"]
    videos = list(Video.objects.filter(dataset_id=version.dataset_id, video_id__in=val_ids))
    parent = version.parent if version.parent is not None and version.parent.checkpoint else None
    # Detector boxes on the validation keyframes are what AVA scores; without any, the
    # ground-truth boxes.
    detected = PersonBox.objects.filter(
        keyframe__video__in=videos, detector_score__isnull=False, model_version__isnull=True
    ).exists()
    try:
        return evaluation_start(
            dataset=version.dataset,
            model_version=version,
            baseline=parent,
            videos=videos,
            box_source="detections" if detected else "ground_truth",
            user=job.created_by,
        )
    except ApplicationError as error:
        ModelVersion.objects.filter(pk=version.pk).update(
            metrics={**version.metrics, "evaluation_error": error.message}
        )
        return None


def model_version_archive(*, model_version: ModelVersion, user: Any = None) -> ModelVersion:
    """Archive a version (kept with its lineage, never used); not the dataset's active one."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        if version.dataset.active_model_version_id == version.pk:
            raise ConflictError(
                f"model version {version.name!r} is active; promote another version first"
            )
        if version.status == ModelVersion.Status.TRAINING:
            raise ConflictError(f"model version {version.name!r} is still training")
        before = version.status
        version.status = ModelVersion.Status.ARCHIVED
        version.save(update_fields=["status"])
        AuditEvent.objects.create(
            user=user if getattr(user, "pk", None) else None,
            verb="model_version.archive",
            object_type="model_version",
            object_id=version.pk,
            before={"status": before},
            after={"status": version.status},
        )
    return version
