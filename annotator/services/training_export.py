"""Training bundles: a dataset's ground truth, frames and proposals for PySlowFast and mmaction2.

The bundle holds ground truth only (DESIGN.md's rule, `models.ground_truth_q`) on reviewed
keyframes, split into train and validation by video; excluded reviewed keyframes go to the
excluded-timestamps files. Predicted boxes and proposals are the person boxes that carry a
detector score. `inference.bundle` does the time mapping, the frames and the file layouts; this
module reads the database into its dataclasses. A job writes the bundle under MEDIA_ROOT (one
directory per dataset, so a later export reuses the frames of unchanged videos) and packs it into
one tar file that the API streams.
"""

from __future__ import annotations

import os
import tarfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min

from annotator.errors import ApplicationError, ConflictError
from annotator.models import (
    Action,
    BoxLabel,
    Dataset,
    Job,
    Keyframe,
    PersonBox,
    Video,
    ground_truth_q,
)
from annotator.services.evaluation import EvaluationSet, snapshot_sha256
from annotator.services.jobs import JobContext, Progress, job_create, job_refuse_if_active

if TYPE_CHECKING:
    from inference.bundle import BundleSpec, BundleVideo

DEFAULT_SHORT_SIDE = 360
CHUNK = 20_000  # rows per database fetch


def _videos_by_id(dataset: Dataset, val_videos: Sequence[str]) -> list[Video]:
    """The dataset's validation videos, named by AVA video id; an unknown id is an error."""
    if not val_videos:
        raise ApplicationError("val_videos: name at least one validation video")
    found = {v.video_id: v for v in Video.objects.filter(dataset=dataset, video_id__in=val_videos)}
    missing = [video_id for video_id in val_videos if video_id not in found]
    if missing:
        raise ApplicationError(
            f"val_videos: no video {missing[0]!r} in dataset {dataset.name!r}"
            + (f" (nor {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
        )
    return [found[video_id] for video_id in dict.fromkeys(val_videos)]


def _labelmap(dataset: Dataset, evaluated_only: bool) -> Any:
    from inference.ava import ActionLabel, LabelMap

    actions = Action.objects.filter(dataset=dataset).order_by("action_id")
    if evaluated_only:
        actions = actions.filter(evaluated=True)
    return LabelMap(actions=tuple(ActionLabel(a.action_id, a.name, a.action_type) for a in actions))


def training_bundle_spec(
    *, dataset: Dataset, val_videos: Sequence[str], short_side: int = DEFAULT_SHORT_SIDE
) -> tuple[BundleSpec, list[str]]:
    """The bundle of a dataset as plain data, and notes on the videos left out (no media file)."""
    from inference.bundle import BundleBox, BundleKeyframe, BundleSpec, BundleVideo, ScoredBox

    if short_side < 1:
        raise ApplicationError(f"short_side = {short_side}: must be positive")
    val = {video.pk for video in _videos_by_id(dataset, val_videos)}
    reviewed = Keyframe.objects.filter(video__dataset=dataset, status=Keyframe.Status.REVIEWED)
    keyframes: dict[int, list[tuple[int, int, bool]]] = defaultdict(list)
    for pk, video_pk, timestamp, excluded in (
        reviewed.order_by("video_id", "timestamp")
        .values_list("pk", "video_id", "timestamp", "excluded")
        .iterator(CHUNK)
    ):
        keyframes[video_pk].append((pk, timestamp, excluded))

    labels: dict[int, list[int]] = defaultdict(list)
    truth_labels = BoxLabel.objects.filter(
        ground_truth_q(), ground_truth_q("box__"), box__keyframe__in=reviewed
    ).order_by("box_id", "action__action_id")
    for box_pk, action_id in truth_labels.values_list("box_id", "action__action_id").iterator(
        CHUNK
    ):
        labels[box_pk].append(action_id)
    truth: dict[int, list[Any]] = defaultdict(list)
    truth_boxes = PersonBox.objects.filter(ground_truth_q(), keyframe__in=reviewed).order_by(
        "keyframe_id", "id"
    )
    for pk, keyframe_pk, x1, y1, x2, y2, person_id in truth_boxes.values_list(
        "pk", "keyframe_id", "x1", "y1", "x2", "y2", "person_id"
    ).iterator(CHUNK):
        truth[keyframe_pk].append(BundleBox(x1, y1, x2, y2, person_id, tuple(labels[pk])))
    scored: dict[int, list[Any]] = defaultdict(list)
    detections = PersonBox.objects.filter(
        keyframe__in=reviewed, detector_score__isnull=False, model_version__isnull=True
    ).order_by("keyframe_id", "id")
    for keyframe_pk, x1, y1, x2, y2, score in detections.values_list(
        "keyframe_id", "x1", "y1", "x2", "y2", "detector_score"
    ).iterator(CHUNK):
        scored[keyframe_pk].append(ScoredBox(x1, y1, x2, y2, score))

    spans = dict(
        (pk, (first, last))
        for pk, first, last in Video.objects.filter(dataset=dataset, pk__in=list(keyframes))
        .annotate(first=Min("keyframes__timestamp"), last=Max("keyframes__timestamp"))
        .values_list("pk", "first", "last")
    )
    videos: list[BundleVideo] = []
    skipped: list[str] = []
    for video in Video.objects.filter(pk__in=list(keyframes)).order_by("video_id"):
        if not video.file or video.status != Video.Status.READY:
            skipped.append(f"{video.video_id}: no ingested media file")
            continue
        videos.append(
            BundleVideo(
                video_id=video.video_id,
                path=video.file.path,
                time_offset=video.time_offset,
                keyframe_span=spans[video.pk],
                split="val" if video.pk in val else "train",
                keyframes=tuple(
                    BundleKeyframe(
                        timestamp=timestamp,
                        boxes=tuple(truth[pk]),
                        scored_boxes=tuple(scored[pk]),
                        excluded=excluded,
                    )
                    for pk, timestamp, excluded in keyframes[video.pk]
                ),
            )
        )
    for split in ("train", "val"):
        if not any(video.split == split for video in videos):
            raise ApplicationError(
                f"dataset {dataset.name!r} has no {split} video with reviewed keyframes and a "
                "media file" + (f" ({'; '.join(skipped)})" if skipped else "")
            )
    actions = _labelmap(dataset, evaluated_only=False)
    spec = BundleSpec(
        videos=tuple(videos),
        actions=actions,
        evaluated=_labelmap(dataset, evaluated_only=True),
        short_side=short_side,
        snapshot_hash=_snapshot_hash(actions, videos),
        dataset=dataset.name,
    )
    return spec, skipped


def _snapshot_hash(actions: Any, videos: Sequence[BundleVideo]) -> str:
    """The evaluation's snapshot sha256 of the bundle's ground truth (same data, same hash)."""
    names = tuple(sorted(video.video_id for video in videos))
    index = {name: i for i, name in enumerate(names)}
    keys: dict[int, tuple[int, int]] = {}
    records: list[tuple[Any, ...]] = []
    for video in videos:
        for keyframe in video.keyframes:
            if keyframe.excluded:
                continue
            keys[len(keys)] = (index[video.video_id], keyframe.timestamp)
            for box in keyframe.boxes:
                person = -1 if box.person_id is None else box.person_id
                coords = (box.x1, box.y1, box.x2, box.y2)
                records.extend(
                    (video.video_id, keyframe.timestamp, *coords, action, person)
                    for action in box.action_ids
                )
    return snapshot_sha256(actions, EvaluationSet(videos=names, keys=keys), records)


def training_bundle_write(
    *,
    dataset: Dataset,
    out_dir: str | os.PathLike[str],
    val_videos: Sequence[str],
    short_side: int = DEFAULT_SHORT_SIDE,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write a dataset's training bundle to `out_dir`; frames of unchanged videos are reused."""
    from inference.bundle import write_bundle

    spec, skipped = training_bundle_spec(
        dataset=dataset, val_videos=val_videos, short_side=short_side
    )
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    try:
        summary = write_bundle(out_dir, spec, workers=workers, progress=progress)
    except ValueError as error:
        raise ApplicationError(str(error)) from error
    return {
        **summary.as_dict(),
        "skipped": skipped,
        "snapshot_hash": spec.snapshot_hash,
        "out_dir": str(out_dir),
    }


# --- the job -----------------------------------------------------------------------------------


def _bundle_root(dataset_pk: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "training_bundles" / f"dataset-{dataset_pk}"


def training_export_start(
    *,
    dataset: Dataset,
    val_videos: Sequence[str],
    short_side: int = DEFAULT_SHORT_SIDE,
    user: Any = None,
) -> Job:
    """Queue a training-bundle export of a dataset; one active export per dataset."""
    if short_side < 1:
        raise ApplicationError(f"short_side = {short_side}: must be positive")
    videos = _videos_by_id(dataset, val_videos)
    params = {"val_videos": [video.video_id for video in videos], "short_side": short_side}
    with transaction.atomic():
        job_refuse_if_active(
            dataset=dataset, job_type=Job.Type.EXPORT_TRAINING, noun="training export"
        )
        return job_create(
            job_type=Job.Type.EXPORT_TRAINING, params=params, user=user, dataset=dataset
        )


def training_export_run(*, context: JobContext) -> dict[str, Any]:
    """Write the job's bundle (frames 0-90 % of the progress) and pack it into one tar file."""
    job = context.job
    dataset = Dataset.objects.get(pk=job.dataset_id)
    root = _bundle_root(dataset.pk)
    reported = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - reported[0] >= 0.01 or fraction >= 1.0:
            reported[0] = fraction
            context.check_cancel()
            context.progress(0.9 * fraction, message)

    result = training_bundle_write(
        dataset=dataset,
        out_dir=root / "bundle",
        val_videos=job.params["val_videos"],
        short_side=job.params.get("short_side", DEFAULT_SHORT_SIDE),
        progress=progress,
    )
    context.check_cancel()
    context.progress(0.9, "packing the tar file")
    tar_path = root / f"job-{job.pk}.tar"
    partial = tar_path.with_suffix(".tar.partial")
    bundle, top = root / "bundle", f"training-{dataset.pk}"
    parts = [part for names in result["parts"].values() for part in names]
    with tarfile.open(partial, "w") as archive:
        # What this export wrote: frames of parts an earlier export had but this one has not stay
        # on disk (for reuse) and out of the tar.
        for name in ("README.md", "bundle.json", "mapping.csv", "frame_lists", "annotations"):
            archive.add(bundle / name, arcname=f"{top}/{name}")
        for part in parts:
            archive.add(bundle / "frames" / part, arcname=f"{top}/frames/{part}")
    partial.replace(tar_path)
    result.pop("out_dir")
    return {**result, "tar": str(tar_path.relative_to(settings.MEDIA_ROOT))}


def training_export_tar(*, job: Job) -> Path:
    """The tar file of a finished training export job."""
    if job.job_type != Job.Type.EXPORT_TRAINING:
        raise ApplicationError(f"job {job.pk} is a {job.job_type} job, not a training export")
    if job.status != Job.Status.SUCCEEDED or not job.result.get("tar"):
        raise ConflictError(f"job {job.pk} is {job.status}; its bundle is ready once it succeeds")
    path = Path(settings.MEDIA_ROOT) / job.result["tar"]
    if not path.is_file():
        raise ConflictError(f"job {job.pk}: its tar file is gone; export again")
    return path
