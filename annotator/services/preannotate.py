"""Pre-annotation: person boxes and a model version's action scores, as suggestions for reviewers.

Person boxes are shared by every model version; each version's scores on a box are its own
`BoxScore` row, so scoring a video with version B keeps version A's scores on the same boxes and
the two can be compared on them. Ground-truth boxes (drawn, imported or accepted by a reviewer)
are always scored. Machine boxes come from an imported AVA person-box file or the Faster R-CNN
person detector; for suggestions, only those that no ground-truth or rejected box overlaps
(IoU >= 0.5), so a reviewer sees no duplicate; for an evaluation, all of them, as the detector
gave them. With `person_boxes="auto"` the detector runs only on keyframes that have no detector
boxes yet: earlier runs' boxes are reused, so versions are scored on the same boxes; `"detector"`
detects afresh and replaces the untouched ones (with every version's scores on them). The model
scores every box through `inference.predict.predict_video`, one decode per video, and each box
gets suggested labels from the display floor up.

By default the keyframes to score are those not reviewed (`include_reviewed` adds the reviewed
ones) and never the gold ones, which are reviewed blind. An explicit keyframe list (what an
evaluation asks for, `suggest=False`) scores exactly those, reviewed and gold ones included, and
writes scores without suggestions; gold keyframes never get suggestions.

Results are written per batch of keyframes. Writing a keyframe replaces the run's version's
scores and the untouched suggestions earlier runs left on its boxes, so a re-delivered job
neither duplicates nor loses rows; what a reviewer accepted, edited or rejected stays.

New detector boxes arrive as person tracks: each takes the person id of the previous keyframe's
box it is matched to by optimal assignment on IoU (`inference.tracks.link_boxes`), or a new id;
no existing box's id changes. When the version is the dataset's active one, each batch also
stores its keyframes' uncertainty (the least-confident-first queue).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q

from annotator.errors import ApplicationError, ConflictError
from annotator.models import (
    Action,
    BoxLabel,
    BoxScore,
    Dataset,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Source,
    State,
    Video,
    is_ground_truth,
)
from annotator.services.jobs import JobContext, job_create
from annotator.services.model_versions import model_version_checkpoint
from annotator.services.uncertainty import keyframes_uncertainty_update
from annotator.services.videos import derived_media_dir
from inference.boxes import PlannedBox, overlaps_any, plan_keyframe_boxes
from inference.tracks import link_boxes

PERSON_BOX_SOURCES = ("auto", "imported", "detector", "human")
OVERLAP_IOU = 0.5
DETECT_BATCH = 4  # keyframe images per detector call


def preannotate_start(
    *,
    video: Video,
    user: Any = None,
    include_reviewed: bool = False,
    person_boxes: str = "auto",
    detector_threshold: float | None = None,
    model_version: ModelVersion | None = None,
    keyframes: Sequence[int] | None = None,
    suggest: bool = True,
    started_by: Job | None = None,
) -> Job:
    """Queue pre-annotation of a video with a model version (the dataset's active one by default);
    one active job per video. `keyframes` (pks) scores exactly those; `started_by` is the job
    that waits for this one (cancelling it cancels this one)."""
    if person_boxes not in PERSON_BOX_SOURCES:
        raise ApplicationError(
            f"person_boxes = {person_boxes!r}: expected one of {PERSON_BOX_SOURCES}"
        )
    if detector_threshold is not None and not 0.0 <= detector_threshold <= 1.0:
        raise ApplicationError(f"detector_threshold = {detector_threshold!r}: must be in [0, 1]")
    if video.status != Video.Status.READY:
        raise ApplicationError(
            f"video {video.video_id} is {video.status}; it can be pre-annotated once ingested"
        )
    version = model_version or video.dataset.active_model_version
    if version is None:
        raise ApplicationError(
            f"dataset {video.dataset.name!r} has no active model version; register one with "
            "`python manage.py register_model FILE --dataset NAME --activate`"
        )
    if version.dataset_id != video.dataset_id:
        raise ApplicationError(f"model version {version.name!r} belongs to another dataset")
    if not version.checkpoint:
        raise ApplicationError(
            f"model version {version.name!r} has no checkpoint (imported predictions only)"
        )
    params = {
        "video": video.pk,
        "model_version": version.pk,
        "include_reviewed": include_reviewed,
        "person_boxes": person_boxes,
        "detector_threshold": (
            settings.PERSON_DETECTOR_THRESHOLD if detector_threshold is None else detector_threshold
        ),
        "keyframes": sorted(keyframes) if keyframes is not None else None,
        "suggest": suggest,
        "started_by": started_by.pk if started_by is not None else None,
    }
    with transaction.atomic():
        # The row lock makes concurrent starts queue on PostgreSQL; SQLite's IMMEDIATE
        # transactions already run one writer at a time.
        Video.objects.select_for_update().filter(pk=video.pk).first()
        running = (
            Job.objects.filter(video=video, job_type=Job.Type.PREANNOTATE, status__in=Job.ACTIVE)
            .order_by("created_at")
            .first()
        )
        if running is not None:
            raise ConflictError(
                f"video {video.video_id} already has pre-annotation job {running.pk} "
                f"({running.status})",
                extra={"job": running.pk},
            )
        return job_create(
            job_type=Job.Type.PREANNOTATE,
            params=params,
            user=user,
            dataset=video.dataset,
            video=video,
        )


def video_preannotate(*, context: JobContext) -> dict[str, Any]:
    """Find person boxes and score them for every keyframe of the job's video; write per batch."""
    job = context.job
    video = Video.objects.select_related("dataset").get(pk=job.video_id)
    version = ModelVersion.objects.get(pk=job.params["model_version"])
    checkpoint = model_version_checkpoint(model_version=version)  # fail before the detector runs
    include_reviewed = bool(job.params.get("include_reviewed", False))
    chosen = job.params.get("keyframes")
    writer = _BatchWriter(
        job, version, include_reviewed, chosen is not None, bool(job.params.get("suggest", True))
    )
    keyframes = _keyframes_to_annotate(video, include_reviewed, chosen)
    source = _box_source(video, job.params.get("person_boxes", "auto"))
    existing = _existing_boxes(video, keyframes)
    device = _device()
    detections: dict[int, np.ndarray] = {}
    to_detect = _keyframes_to_detect(keyframes, source, existing)
    if to_detect:
        threshold = float(job.params.get("detector_threshold", settings.PERSON_DETECTOR_THRESHOLD))
        detections = _detect(video, to_detect, threshold, device, context)
    plans = _plan_boxes(keyframes, source, existing, detections, writer.suggest)
    start = 0.3 if to_detect else 0.0  # the detector took the first 30 %
    scored = _score(video, version, checkpoint, keyframes, plans, device, writer, context, start)
    return {
        "keyframes": len(keyframes),
        "person_boxes": source,
        "frames_decoded": scored,
        "frame_count": video.frame_count,
        **writer.totals,
    }


def _device() -> str:
    from inference import default_device

    return default_device(settings.INFERENCE_DEVICE)


def _keyframes_to_annotate(
    video: Video, include_reviewed: bool, chosen: Sequence[int] | None
) -> list[Keyframe]:
    """Keyframes inside the file: the chosen ones, else those not gold (reviewed blind) and,
    unless asked for, not reviewed."""
    keyframes = video.keyframes.order_by("timestamp")
    if chosen is not None:
        keyframes = keyframes.filter(pk__in=chosen)
    else:
        keyframes = keyframes.filter(gold=False)
        if not include_reviewed:
            keyframes = keyframes.exclude(status=Keyframe.Status.REVIEWED)
    duration = video.duration or 0.0
    return [
        keyframe
        for keyframe in keyframes
        if 0 <= keyframe.timestamp - video.time_offset <= duration
    ]


def _imported_boxes() -> Q:
    """Boxes of an imported AVA person-box file (detector boxes no job made), in any state."""
    return Q(source=Source.DETECTOR, job__isnull=True)


def _is_imported(box: PersonBox) -> bool:
    """The same rule as `_imported_boxes`, on a loaded box."""
    return box.source == Source.DETECTOR and box.job_id is None


def _box_source(video: Video, requested: str) -> str:
    """`imported`, `human`, `detector` (afresh) or `shared` (earlier detector boxes, the detector
    where a keyframe has none)."""
    if requested != "auto":
        return requested
    imported = PersonBox.objects.filter(_imported_boxes(), keyframe__video=video).exists()
    return "imported" if imported else "shared"


def _is_detected(box: PersonBox) -> bool:
    """A box an earlier pre-annotation's detector made, in any state."""
    return box.source == Source.DETECTOR and box.job_id is not None


def _is_ground_truth(box: PersonBox) -> bool:
    return is_ground_truth(box.source, box.state)


def _overlaps(coords: tuple[float, ...], blockers: Sequence[tuple[float, ...]]) -> bool:
    return overlaps_any(coords, blockers, OVERLAP_IOU)


def _existing_boxes(video: Video, keyframes: list[Keyframe]) -> dict[int, list[PersonBox]]:
    wanted = {keyframe.pk for keyframe in keyframes}
    existing: dict[int, list[PersonBox]] = {}
    for box in PersonBox.objects.filter(keyframe__video=video).order_by("keyframe_id", "id"):
        if box.keyframe_id in wanted:
            existing.setdefault(box.keyframe_id, []).append(box)
    return existing


def _keyframes_to_detect(
    keyframes: list[Keyframe], source: str, existing: dict[int, list[PersonBox]]
) -> list[Keyframe]:
    if source == "detector":
        return keyframes
    if source == "shared":  # the detector's boxes are made once per keyframe, then reused
        return [k for k in keyframes if not any(map(_is_detected, existing.get(k.pk, [])))]
    return []


def _plan_boxes(
    keyframes: list[Keyframe],
    source: str,
    existing: dict[int, list[PersonBox]],
    detections: dict[int, np.ndarray],
    suggest: bool,
) -> dict[int, list[PlannedBox]]:
    """Per keyframe, the boxes to score: its ground truth, then the machine boxes. For
    suggestions, only machine boxes clear of ground truth and of rejected boxes (a reviewer
    sees no duplicate); for an evaluation, every machine box, as the detector gave it."""
    plans = {}
    for keyframe in keyframes:
        boxes = existing.get(keyframe.pk, [])
        truth = [box for box in boxes if _is_ground_truth(box)]
        blockers = [_coords(box) for box in boxes if box in truth or box.state == State.REJECTED]
        machine: list[PlannedBox] = []
        if keyframe.pk in detections:
            machine = [
                PlannedBox(coords=(x1, y1, x2, y2), detector_score=score)
                for x1, y1, x2, y2, score in detections[keyframe.pk].tolist()
            ]
        elif source in ("imported", "shared"):
            reused = _is_detected if source == "shared" else _is_imported
            machine = [
                PlannedBox(coords=_coords(box), box_id=box.pk)
                for box in boxes
                if reused(box)
                and box not in truth
                and not (suggest and box.state == State.REJECTED)
            ]
        plans[keyframe.pk] = plan_keyframe_boxes(
            [PlannedBox(coords=_coords(box), box_id=box.pk) for box in truth],
            blockers,
            machine,
            suggest=suggest,
            overlap_iou=OVERLAP_IOU,
        )
    return plans


def _coords(box: PersonBox) -> tuple[float, float, float, float]:
    return (box.x1, box.y1, box.x2, box.y2)


# --- person detector ---------------------------------------------------------------------------


def _detect(
    video: Video, keyframes: list[Keyframe], threshold: float, device: str, context: JobContext
) -> dict[int, np.ndarray]:
    """Person boxes per keyframe from the detector, run on the keyframe images of the ingest."""
    from inference.detect import detect_people, detector_weights_path, load_detector

    arch = settings.PERSON_DETECTOR_ARCH
    try:
        path = detector_weights_path(arch, settings.PERSON_DETECTOR_WEIGHTS)
        model = load_detector(
            arch, path, device=device, min_size=settings.PERSON_DETECTOR_MIN_SIZE or None
        )
    except ValueError as error:
        raise ApplicationError(str(error)) from error
    found: dict[int, np.ndarray] = {}
    chunk: list[tuple[Keyframe, Any]] = []
    for item in _keyframe_images(video, keyframes):
        chunk.append(item)
        if len(chunk) == DETECT_BATCH or len(found) + len(chunk) == len(keyframes):
            images = [image for _, image in chunk]
            boxes = detect_people(model, images, threshold, settings.PERSON_DETECTOR_MAX_BOXES)
            found.update(
                (keyframe.pk, people) for (keyframe, _), people in zip(chunk, boxes, strict=True)
            )
            chunk = []
            context.check_cancel()
            context.progress(0.3 * len(found) / len(keyframes), "finding people")
    return found


def _keyframe_images(video: Video, keyframes: list[Keyframe]) -> Iterator[tuple[Keyframe, Any]]:
    """The ingest's keyframe images; when some are missing, one decode of the video instead."""
    from inference.media import MANIFEST, decode_keyframe_images, derived_size, keyframe_images

    directory = derived_media_dir(video)
    paths = [directory / "keyframes" / f"{keyframe.timestamp}.jpg" for keyframe in keyframes]
    if (directory / MANIFEST).is_file() and all(path.is_file() for path in paths):
        yield from zip(keyframes, keyframe_images(paths), strict=True)
        return
    assert video.width is not None and video.height is not None
    size = derived_size(video.width, video.height)
    by_timestamp = {keyframe.timestamp: keyframe for keyframe in keyframes}
    decoded = decode_keyframe_images(video.file.path, by_timestamp, video.time_offset, size)
    with closing(decoded):
        for timestamp, image in decoded:
            yield by_timestamp[timestamp], image


# --- scores and writes -------------------------------------------------------------------------


def _score(
    video: Video,
    version: ModelVersion,
    checkpoint: Path,
    keyframes: list[Keyframe],
    plans: dict[int, list[PlannedBox]],
    device: str,
    writer: _BatchWriter,
    context: JobContext,
    start: float,
) -> int:
    """Score every planned box with the model, writing each batch; returns frames decoded."""
    from inference.checkpoints import load_model
    from inference.predict import KeyframeBoxes, predict_video
    from inference.video import DecodeStats

    model = load_model(checkpoint, device=device)
    model_ids = list(model.label_map.ids)  # type: ignore[union-attr, arg-type]  # set on load
    if model_ids != [int(label["id"]) for label in version.label_map]:
        raise ApplicationError(
            f"model version {version.name!r}: the checkpoint's label map differs from the "
            "registered one"
        )
    by_timestamp = {keyframe.timestamp: keyframe for keyframe in keyframes}
    requests = [
        KeyframeBoxes(
            timestamp=keyframe.timestamp,
            boxes=np.asarray([box.coords for box in plans[keyframe.pk]], dtype=np.float32).reshape(
                -1, 4
            ),
        )
        for keyframe in keyframes
    ]
    stats = DecodeStats()
    batch: list[tuple[Keyframe, list[PlannedBox], np.ndarray]] = []
    done = 0
    predictions = predict_video(
        model,
        Path(video.file.path),
        requests,
        time_offset=video.time_offset,
        batch_size=settings.PREANNOTATE_BATCH_SIZE,
        stats=stats,
    )
    with closing(predictions):  # type: ignore[type-var]  # a generator: stops its decoding
        for timestamp, scores in predictions:
            keyframe = by_timestamp[timestamp]
            batch.append((keyframe, plans[keyframe.pk], scores))
            if len(batch) == settings.PREANNOTATE_BATCH_SIZE or done + len(batch) == len(keyframes):
                writer.write(batch)
                done += len(batch)
                batch = []
                context.progress(start + (1 - start) * done / len(keyframes), "scoring")
                context.check_cancel()
    return stats.frames_decoded


class _BatchWriter:
    """Writes scored keyframes, a transaction per batch: the version's scores on each box, and
    suggestions replacing earlier untouched ones."""

    def __init__(
        self,
        job: Job,
        version: ModelVersion,
        include_reviewed: bool,
        chosen: bool,
        suggest: bool,
    ) -> None:
        self.job = job
        self.version = version
        self.include_reviewed = include_reviewed
        self.chosen = chosen
        self.suggest = suggest
        self.redetect = job.params.get("person_boxes") == "detector"
        self.floor = settings.PREANNOTATE_DISPLAY_FLOOR
        ids = [int(label["id"]) for label in version.label_map]
        actions = dict(
            Action.objects.filter(dataset_id=version.dataset_id).values_list("action_id", "pk")
        )
        missing = [action_id for action_id in ids if action_id not in actions]
        if missing:
            raise ApplicationError(
                f"model version {version.name!r} scores action ids {missing[:20]} that its "
                "dataset no longer has"
            )
        self.action_pks = [actions[action_id] for action_id in ids]
        self.totals: Counter[str] = Counter()

    def write(self, batch: list[tuple[Keyframe, list[PlannedBox], np.ndarray]]) -> None:
        with transaction.atomic():
            for keyframe, plan, scores in batch:
                self._write_keyframe(keyframe, plan, scores)
            active = Dataset.objects.filter(pk=self.version.dataset_id).values_list(
                "active_model_version_id", flat=True
            )
            if active.first() == self.version.pk:  # the queue orders by the active version's
                keyframes_uncertainty_update(
                    keyframe_ids=[keyframe.pk for keyframe, _, _ in batch],
                    model_version_id=self.version.pk,
                )

    def _skipped(self, keyframe: Keyframe) -> tuple[bool, bool]:
        """Whether to leave the keyframe alone (deleted, or made gold or reviewed while the
        model ran, when it was not chosen), and whether it is gold."""
        current = Keyframe.objects.filter(pk=keyframe.pk).values_list("status", "gold").first()
        if current is None:
            return True, False
        status, gold = current
        if self.chosen:
            return False, gold
        reviewed = status == Keyframe.Status.REVIEWED and not self.include_reviewed
        return gold or reviewed, gold

    def _write_keyframe(
        self, keyframe: Keyframe, plan: list[PlannedBox], scores: np.ndarray
    ) -> None:
        skipped, gold = self._skipped(keyframe)
        if skipped:
            self.totals["keyframes_skipped"] += 1
            return
        suggest = self.suggest and not gold
        if self.redetect:  # the detector ran afresh: its earlier boxes go, with their scores
            PersonBox.objects.filter(
                keyframe=keyframe, source=Source.DETECTOR, state=State.SUGGESTED, job__isnull=False
            ).delete()
        existing = {box.pk: box for box in PersonBox.objects.filter(keyframe=keyframe)}
        blockers = [
            _coords(box)
            for box in existing.values()
            if _is_ground_truth(box) or box.state == State.REJECTED
        ]
        vectors = scores.astype(np.float16)  # (N, classes): what is stored is what is suggested
        scored: list[tuple[PersonBox, np.ndarray]] = []
        created: list[PersonBox] = []
        for box, vector in zip(plan, vectors, strict=True):
            if box.box_id is not None:
                row = existing.get(box.box_id)
                if row is None or _coords(row) != box.coords:
                    continue  # a reviewer deleted or moved it while the model ran
            elif not (self.suggest and _overlaps(box.coords, blockers)):  # drawn meanwhile?
                row = PersonBox(
                    keyframe=keyframe,
                    x1=box.coords[0],
                    y1=box.coords[1],
                    x2=box.coords[2],
                    y2=box.coords[3],
                    source=Source.DETECTOR,
                    state=State.SUGGESTED,
                    detector_score=box.detector_score,
                    job=self.job,
                )
                created.append(row)
            else:
                continue
            scored.append((row, vector))
        self._link_tracks(keyframe, created, existing.values())
        PersonBox.objects.bulk_create(created)
        BoxScore.objects.bulk_create(
            [
                BoxScore(box=row, model_version=self.version, scores=vector.tobytes(), job=self.job)
                for row, vector in scored
            ],
            update_conflicts=True,
            unique_fields=["box", "model_version"],
            update_fields=["scores", "job"],
        )
        labels = self._suggest(keyframe, scored) if suggest else []
        if created or suggest:  # what a reviewer has open changed
            Keyframe.objects.filter(pk=keyframe.pk).update(version=F("version") + 1)
        self.totals["keyframes_written"] += 1
        self.totals["boxes_scored"] += len(scored)
        self.totals["boxes_created"] += len(created)
        self.totals["labels"] += len(labels)

    def _link_tracks(
        self, keyframe: Keyframe, created: list[PersonBox], present: Iterable[PersonBox]
    ) -> None:
        """Give the new detector boxes person ids: the id of the previous keyframe's box each is
        matched to (optimal assignment on IoU >= TRACK_IOU), else a new one. Ids already on the
        keyframe are not given again; existing boxes, a person's above all, keep theirs."""
        if not created:
            return
        taken = {box.person_id for box in present if box.person_id is not None}
        previous = (
            Keyframe.objects.filter(video_id=keyframe.video_id, timestamp__lt=keyframe.timestamp)
            .order_by("-timestamp")
            .values_list("pk", flat=True)
            .first()
        )
        tracked = [
            box
            for box in PersonBox.objects.filter(keyframe_id=previous, person_id__isnull=False)
            .exclude(state=State.REJECTED)
            .order_by("id")
            if box.person_id not in taken
        ]
        highest = PersonBox.objects.filter(keyframe__video_id=keyframe.video_id).aggregate(
            highest=Max("person_id")
        )["highest"]
        ids = link_boxes(
            np.asarray([_coords(box) for box in tracked], dtype=np.float64).reshape(-1, 4),
            [int(box.person_id) for box in tracked],  # type: ignore[arg-type]
            np.asarray([_coords(box) for box in created], dtype=np.float64).reshape(-1, 4),
            next_id=max([highest or 0, *taken]) + 1,
        )
        for box, person_id in zip(created, ids, strict=True):
            box.person_id = person_id

    def _suggest(
        self, keyframe: Keyframe, scored: list[tuple[PersonBox, np.ndarray]]
    ) -> list[BoxLabel]:
        """Replace the untouched model suggestions on the scored boxes with this version's; a
        rejected box gets none."""
        scored = [(row, vector) for row, vector in scored if row.state != State.REJECTED]
        BoxLabel.objects.filter(
            box_id__in=[row.pk for row, _ in scored], source=Source.MODEL, state=State.SUGGESTED
        ).delete()
        taken = set(
            BoxLabel.objects.filter(box__keyframe=keyframe).values_list("box_id", "action_id")
        )
        labels = [
            BoxLabel(
                box=row,
                action_id=self.action_pks[index],
                source=Source.MODEL,
                state=State.SUGGESTED,
                score=float(vector[index]),
            )
            for row, vector in scored
            for index in np.flatnonzero(vector.astype(np.float32) >= self.floor).tolist()
            if (row.pk, self.action_pks[index]) not in taken  # a human or reviewed label stays
        ]
        return BoxLabel.objects.bulk_create(labels)
