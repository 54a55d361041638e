"""Evaluation jobs: frame-mAP of one or two model versions on a dataset's reviewed keyframes.

The evaluation set is the dataset's reviewed keyframes that are not excluded (of chosen videos, or
all; optionally only gold keyframes, reviewed blind). Ground truth is what the AVA export writes
(`models.ground_truth_q`); detections are a model version's scores on person boxes:

- `detections` (the default, as AVA evaluates): the version's scores (`BoxScore`) on the person
  boxes of the detector or of an imported person-box file, whatever reviewers did with them since
  (accepted, edited or rejected), plus the boxes of the version's imported predictions file,
  scored by their labels. Boxes people drew are not detections.
- `ground_truth`: only the ground-truth boxes, each with the version's scores: its own
  `BoxScore`, else those of a box of the version at the same place (to 1e-3, the AVA CSV
  precision), which is how imported predictions on ground-truth boxes arrive.

Scores missing on part of the set are computed first: the job starts a pre-annotation job on the
`gpu` queue per version and video, for exactly the keyframes that lack them (reviewed and gold
ones included, without suggestions), and waits for them (`JobWaiting`); it then runs again from
the start. A version without a checkpoint, a video without its file, or a pre-annotation that
failed fails the job with a message that says which. The columns go to
`inference.evaluation.evaluate_frame_ap` in memory; one EvaluationReport per version is written,
replacing what an earlier attempt of the same job wrote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce

from annotator.errors import ApplicationError, ConflictError
from annotator.models import (
    Action,
    BoxLabel,
    BoxScore,
    Dataset,
    EvaluationReport,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Source,
    Video,
    ground_truth_q,
)
from annotator.services.jobs import JobContext, JobWaiting, job_create
from annotator.services.preannotate import preannotate_start
from inference.detections import (
    Detections,
    EvaluationSet,
    ground_truth_rows,
    on_ground_truth,
    snapshot_sha256,
)

if TYPE_CHECKING:
    from inference.ava import AvaRows, LabelMap
    from inference.evaluation import EvaluationResult

SCORED_BOX_SOURCES = ("detections", "ground_truth")
MISSING_EXAMPLES = 5  # keyframes named in the message when scores are missing
CHUNK = 20_000  # rows per database fetch
BATCH_BOXES = 4096  # boxes per batch of detection rows


def evaluation_start(
    *,
    dataset: Dataset,
    model_version: ModelVersion,
    baseline: ModelVersion | None = None,
    videos: Sequence[Video] | None = None,
    gold_only: bool = False,
    box_source: str = "detections",
    user: Any = None,
) -> Job:
    """Queue an evaluation of a model version (and a baseline to compare it with) on the dataset."""
    if box_source not in SCORED_BOX_SOURCES:
        raise ApplicationError(f"box_source = {box_source!r}: expected one of {SCORED_BOX_SOURCES}")
    versions = [baseline, model_version] if baseline is not None else [model_version]
    for version in versions:
        if version.dataset_id != dataset.pk:
            raise ApplicationError(
                f"model version {version.pk} ({version.name!r}) belongs to another dataset"
            )
    if baseline is not None and baseline.pk == model_version.pk:
        raise ApplicationError(f"baseline = {baseline.pk}: the same version as model_version")
    for video in videos or ():
        if video.dataset_id != dataset.pk:
            raise ApplicationError(f"video {video.pk} ({video.video_id!r}) is in another dataset")
    if not Action.objects.filter(dataset=dataset, evaluated=True).exists():
        raise ApplicationError(f"dataset {dataset.name!r} has no evaluated actions")
    video_pks = sorted({video.pk for video in videos}) if videos else None
    if not evaluation_keyframes(dataset=dataset, videos=video_pks, gold_only=gold_only).exists():
        raise ApplicationError(_empty_set_message(dataset, gold_only))
    params = {
        "model_versions": [version.pk for version in versions],
        "videos": video_pks,
        "gold_only": gold_only,
        "box_source": box_source,
    }
    return job_create(job_type=Job.Type.EVALUATE, params=params, user=user, dataset=dataset)


def evaluation_keyframes(
    *, dataset: Dataset, videos: Sequence[int] | None = None, gold_only: bool = False
) -> QuerySet[Keyframe]:
    """The evaluation set: reviewed, not excluded keyframes (of `videos`; gold only on request)."""
    keyframes = Keyframe.objects.filter(
        video__dataset=dataset, status=Keyframe.Status.REVIEWED, excluded=False
    )
    if videos:
        keyframes = keyframes.filter(video_id__in=videos)
    if gold_only:
        keyframes = keyframes.filter(gold=True)
    return keyframes


def _empty_set_message(dataset: Dataset, gold_only: bool) -> str:
    kind = "reviewed gold" if gold_only else "reviewed"
    return (
        f"the evaluation set is empty: dataset {dataset.name!r} has no {kind}, non-excluded "
        "keyframes in the chosen videos"
    )


# --- the job -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth rows of the set and the boxes they sit on."""

    rows: AvaRows
    records: list[tuple[Any, ...]]  # (video id, timestamp, x1, y1, x2, y2, action id, person id)
    boxes: dict[int, tuple[int, tuple[float, float, float, float]]]  # pk -> (keyframe, coords)


def evaluation_run(*, context: JobContext) -> dict[str, Any]:
    """Score the job's model versions on its evaluation set; write one report per version."""
    from inference.evaluation import evaluate_frame_ap

    job = context.job
    params = job.params
    dataset = Dataset.objects.get(pk=job.dataset_id)
    versions = [ModelVersion.objects.get(pk=pk) for pk in params["model_versions"]]
    box_source = params.get("box_source", "detections")
    labelmap = dataset_labelmap(dataset=dataset)

    context.progress(0.0, "reading ground truth")
    keyframes = evaluation_keyframes(
        dataset=dataset, videos=params.get("videos"), gold_only=bool(params.get("gold_only"))
    )
    evaluation_set = _evaluation_set(keyframes)
    if not evaluation_set.keys:
        raise ApplicationError(_empty_set_message(dataset, bool(params.get("gold_only"))))
    truth = _ground_truth(keyframes, evaluation_set)
    snapshot_hash = snapshot_sha256(labelmap, evaluation_set, truth.records)

    detections: list[Detections] = []
    for version in versions:
        context.check_cancel()
        context.progress(0.1 + 0.3 * len(detections) / len(versions), f"reading {version.name}")
        detections.append(_detections(version, keyframes, evaluation_set, truth, box_source))
    _missing_scores_compute(context, versions, detections, evaluation_set, box_source)

    results: list[EvaluationResult] = []
    for version, found in zip(versions, detections, strict=True):
        context.check_cancel()
        context.progress(0.4 + 0.5 * len(results) / len(versions), f"scoring {version.name}")
        batches = found.batches(evaluation_set, labelmap, BATCH_BOXES)
        results.append(evaluate_frame_ap(truth.rows, batches, labelmap))
    context.check_cancel()
    context.progress(0.95, "writing reports")
    reports = _reports_write(job, versions, results, snapshot_hash, box_source, evaluation_set)
    return {
        "reports": [report.pk for report in reports],
        "keyframes": len(evaluation_set.keys),
        "ground_truth_rows": len(truth.records),
        "scored_boxes": [len(found.boxes) for found in detections],
        "mean_ap": [report.mean_ap for report in reports],
        "snapshot_hash": snapshot_hash,
    }


def dataset_labelmap(*, dataset: Dataset) -> LabelMap:
    """The dataset's evaluated actions as a label map, with their action types."""
    from inference.ava import ActionLabel, LabelMap

    actions = Action.objects.filter(dataset=dataset, evaluated=True).order_by("action_id")
    return LabelMap(
        actions=tuple(
            ActionLabel(id=action.action_id, name=action.name, type=action.action_type)
            for action in actions
        )
    )


def _evaluation_set(keyframes: QuerySet[Keyframe]) -> EvaluationSet:
    rows = list(keyframes.values_list("pk", "video__video_id", "timestamp"))
    videos = tuple(sorted({video_id for _, video_id, _ in rows}))
    index = {video_id: i for i, video_id in enumerate(videos)}
    return EvaluationSet(
        videos=videos,
        keys={pk: (index[video_id], timestamp) for pk, video_id, timestamp in rows},
    )


def _ground_truth(keyframes: QuerySet[Keyframe], evaluation_set: EvaluationSet) -> GroundTruth:
    """Ground-truth labels of the set as rows, plus a 2-column row per keyframe so that every
    keyframe of the set is a key (one without people scores its detections as false
    positives)."""
    labels = (
        BoxLabel.objects.filter(ground_truth_q(), box__keyframe__in=keyframes)
        .filter(ground_truth_q("box__"))
        .order_by("box__keyframe_id", "box_id", "id")
        .values_list(
            "box__keyframe_id",
            "box_id",
            "box__x1",
            "box__y1",
            "box__x2",
            "box__y2",
            "action__action_id",
            Coalesce("box__person_id", -1),
        )
    )
    keyframe_of: list[int] = []
    coords: list[tuple[float, float, float, float]] = []
    actions: list[int] = []
    persons: list[int] = []
    boxes: dict[int, tuple[int, tuple[float, float, float, float]]] = {}
    for keyframe_pk, box_pk, x1, y1, x2, y2, action_id, person_id in labels.iterator(CHUNK):
        if keyframe_pk not in evaluation_set.keys:
            continue  # its status changed since the set was read
        keyframe_of.append(keyframe_pk)
        coords.append((x1, y1, x2, y2))
        actions.append(action_id)
        persons.append(person_id)
        boxes[box_pk] = (keyframe_pk, (x1, y1, x2, y2))
    rows = ground_truth_rows(evaluation_set, keyframe_of, coords, actions, persons)
    records = [
        (evaluation_set.videos[evaluation_set.keys[pk][0]], evaluation_set.keys[pk][1], *box, a, p)
        for pk, box, a, p in zip(keyframe_of, coords, actions, persons, strict=True)
    ]
    return GroundTruth(rows=rows, records=records, boxes=boxes)


# --- detections --------------------------------------------------------------------------------


def _detections(
    version: ModelVersion,
    keyframes: QuerySet[Keyframe],
    evaluation_set: EvaluationSet,
    truth: GroundTruth,
    box_source: str,
) -> Detections:
    """The version's scored boxes on the set, and the keyframes that lack its scores."""
    vector_ids = np.array([int(entry["id"]) for entry in version.label_map], np.int64)
    placed: dict[int, tuple[int, tuple[float, float, float, float]]] = {}
    vectors: dict[int, bytes] = {}
    vector_rows = BoxScore.objects.filter(
        model_version=version, box__keyframe__in=keyframes
    ).values_list(
        "box_id", "box__keyframe_id", "box__x1", "box__y1", "box__x2", "box__y2", "scores"
    )
    for pk, keyframe_pk, x1, y1, x2, y2, scores in vector_rows.iterator(CHUNK):
        if keyframe_pk not in evaluation_set.keys:
            continue
        if len(scores) != 2 * len(vector_ids):
            raise ApplicationError(
                f"model version {version.name!r}: box {pk} has {len(scores) // 2} scores, "
                f"its label map {len(vector_ids)} actions"
            )
        placed[pk] = (keyframe_pk, (x1, y1, x2, y2))
        vectors[pk] = bytes(scores)
    # The version's own boxes: an imported predictions file's, scored by their labels.
    own = PersonBox.objects.filter(model_version=version, keyframe__in=keyframes).values_list(
        "pk", "keyframe_id", "x1", "y1", "x2", "y2"
    )
    predicted: dict[int, int] = {}  # own box pk -> keyframe pk
    for pk, keyframe_pk, x1, y1, x2, y2 in own.iterator(CHUNK):
        if keyframe_pk in evaluation_set.keys:
            placed.setdefault(pk, (keyframe_pk, (x1, y1, x2, y2)))
            predicted[pk] = keyframe_pk
    labels: dict[int, list[tuple[int, float]]] = {}
    scored_labels = (
        BoxLabel.objects.filter(box__model_version=version, box__keyframe__in=keyframes)
        .filter(score__isnull=False)
        .order_by("box_id", "action__action_id")
        .values_list("box_id", "action__action_id", "score")
    )
    for box_pk, action_id, score in scored_labels.iterator(CHUNK):
        if box_pk not in vectors:
            labels.setdefault(box_pk, []).append((action_id, score))
    scored = {pk for pk in placed if pk in vectors or pk in labels}

    if box_source == "ground_truth":
        sources = on_ground_truth(truth.boxes, placed, scored)
        lacking = {truth.boxes[gt_pk][0] for gt_pk in truth.boxes if gt_pk not in sources}
        chosen = [(sources[gt_pk], *truth.boxes[gt_pk]) for gt_pk in sources]
    else:
        # AVA's detections: the person boxes of the detector or of an imported person-box file
        # (whatever reviewers did with them since), or the version's own predicted boxes.
        detector = _detector_boxes(keyframes, evaluation_set)
        boxes = [pk for pk in scored if pk in detector or pk in predicted]
        lacking = _lacking_detections(version, detector, set(boxes), predicted, truth)
        chosen = [(pk, *placed[pk]) for pk in boxes]
    # a key's rows together, as in a CSV file (the evaluator caps them per key as they come)
    chosen.sort(key=lambda item: (item[1], item[0]))
    return Detections(
        boxes=chosen, vectors=vectors, labels=labels, vector_ids=vector_ids, lacking=lacking
    )


def _detector_boxes(keyframes: QuerySet[Keyframe], evaluation_set: EvaluationSet) -> dict[int, int]:
    """Box pk -> keyframe pk of every detector or imported person box on the set."""
    rows = PersonBox.objects.filter(source=Source.DETECTOR, keyframe__in=keyframes).values_list(
        "pk", "keyframe_id"
    )
    return {
        pk: keyframe for pk, keyframe in rows.iterator(CHUNK) if keyframe in evaluation_set.keys
    }


def _lacking_detections(
    version: ModelVersion,
    detector: dict[int, int],
    chosen: set[int],
    predicted: dict[int, int],
    truth: GroundTruth,
) -> set[int]:
    """Keyframes where the version's detections are missing. For a version with a checkpoint:
    those without its predictions where a person box lacks its scores, or where people are and
    no person box is (the detector never ran there). For one without (imported predictions):
    those with people but none of its detections."""
    with_people = {keyframe for keyframe, _ in truth.boxes.values()}
    if not version.checkpoint:
        detected = {detector.get(pk, predicted.get(pk)) for pk in chosen}
        return with_people - detected
    lacking = {keyframe for pk, keyframe in detector.items() if pk not in chosen}
    lacking |= with_people - set(detector.values())
    return lacking - set(predicted.values())


def _missing_scores_compute(
    context: JobContext,
    versions: list[ModelVersion],
    detections: list[Detections],
    evaluation_set: EvaluationSet,
    box_source: str,
) -> None:
    """Start a pre-annotation job (gpu queue) per version and video for the keyframes that lack
    the version's scores, and wait for them (`JobWaiting`); the job runs again once they end.
    Keyframes that such a run of this job covered count as scored (nobody was found there)."""
    job = context.job
    ours = {
        (child.params["model_version"], child.video_id): child
        for child in job.depends_on.filter(params__started_by=job.pk)
    }
    ended = [child for child in ours.values() if child.status != Job.Status.SUCCEEDED]
    if ended:
        raise ApplicationError(
            "the pre-annotation that computes the missing scores did not succeed: "
            + "; ".join(f"job {child.pk} ({child.status}): {child.message}" for child in ended)
        )
    needed: dict[tuple[ModelVersion, int], list[int]] = {}
    problems = []
    video_pks = dict(
        Video.objects.filter(
            dataset_id=job.dataset_id, video_id__in=evaluation_set.videos
        ).values_list("video_id", "pk")
    )
    for version, found in zip(versions, detections, strict=True):
        video_of = [
            (pk, video_pks[evaluation_set.videos[evaluation_set.keys[pk][0]]])
            for pk in sorted(found.lacking)
        ]
        wanted = [item for item in video_of if (version.pk, item[1]) not in ours]
        if wanted and not version.checkpoint:
            lacking = {keyframe_pk for keyframe_pk, _ in wanted}
            problems.append(
                _missing_message(version, lacking, evaluation_set, box_source)
                + "; it has no checkpoint to compute them with: import its predictions"
            )
        for keyframe_pk, video_pk in wanted:
            needed.setdefault((version, video_pk), []).append(keyframe_pk)
    if not needed:
        return
    videos = Video.objects.in_bulk({video_pk for _, video_pk in needed})
    problems.extend(
        f"video {video.video_id} lacks scores and is {video.status}: it needs its file ingested"
        for video in videos.values()
        if video.status != Video.Status.READY
    )
    if problems:
        raise ApplicationError("; ".join(problems))
    waits: dict[int, None] = {}  # job pks, in order, once each
    for (version, video_pk), keyframe_pks in needed.items():
        try:
            child = preannotate_start(
                video=videos[video_pk],
                user=job.created_by,
                model_version=version,
                keyframes=keyframe_pks,
                suggest=False,
                started_by=job,
                person_boxes="human" if box_source == "ground_truth" else "auto",
            )
        except ConflictError as conflict:  # the video's running job first, then this one
            child = Job.objects.get(pk=conflict.extra["job"])
        job.depends_on.add(child)
        waits[child.pk] = None
    counts: dict[str, int] = {}
    for (version, _), keyframe_pks in needed.items():
        counts[version.name] = counts.get(version.name, 0) + len(keyframe_pks)
    missing = ", ".join(f"{count} keyframes of {name!r}" for name, count in counts.items())
    raise JobWaiting(
        f"waiting for pre-annotation jobs {', '.join(map(str, waits))} to compute the missing "
        f"scores ({missing})"
    )


def _missing_message(
    version: ModelVersion, lacking: set[int], evaluation_set: EvaluationSet, box_source: str
) -> str:
    examples = ", ".join(evaluation_set.name(pk) for pk in sorted(lacking)[:MISSING_EXAMPLES])
    boxes = "ground-truth boxes" if box_source == "ground_truth" else "person boxes"
    return (
        f"model version {version.name!r} lacks its scores on the {boxes} of {len(lacking)} of "
        f"the {len(evaluation_set.keys)} keyframes in the evaluation set (e.g. {examples})"
    )


# --- reports -----------------------------------------------------------------------------------


def _reports_write(
    job: Job,
    versions: list[ModelVersion],
    results: list[EvaluationResult],
    snapshot_hash: str,
    box_source: str,
    evaluation_set: EvaluationSet,
) -> list[EvaluationReport]:
    """One report per version, replacing those an earlier attempt of this job wrote."""
    reports: list[EvaluationReport] = []
    with transaction.atomic():
        EvaluationReport.objects.filter(job=job).delete()
        for position, (version, result) in enumerate(zip(versions, results, strict=True)):
            role = "baseline" if position == 0 and len(versions) == 2 else "model"
            params = {
                **job.params,
                "role": role,
                "keyframes": len(evaluation_set.keys),
                "videos_evaluated": len(evaluation_set.videos),
            }
            if role == "model" and reports:
                params["baseline_report"] = reports[0].pk
            reports.append(
                EvaluationReport.objects.create(
                    dataset_id=job.dataset_id,
                    model_version=version,
                    job=job,
                    box_source=box_source,
                    snapshot_hash=snapshot_hash,
                    params=params,
                    mean_ap=None if math.isnan(result.mean_ap) else result.mean_ap,
                    per_class={
                        str(action_id): {
                            "ap": ap,
                            "gt_count": result.gt_count[action_id],
                            "detections": result.detection_count[action_id],
                        }
                        for action_id, ap in result.ap.items()
                    },
                    per_type=result.type_mean_ap,
                )
            )
    return reports
