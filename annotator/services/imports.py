"""AVA CSV imports: validate the whole file, then write all of it in one transaction, or nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from annotator.errors import ApplicationError
from annotator.models import (
    Action,
    BoxLabel,
    Dataset,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    Source,
    State,
    Video,
)
from annotator.services.bulk import ids_reserve, rows_insert

KINDS = ["gt", "predictions", "person-boxes", "excluded"]
KEYFRAME_COLUMNS = ("video_id", "timestamp", "status", "version", "excluded", "gold")
BOX_COLUMNS = (
    "id",
    "keyframe_id",
    "person_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "source",
    "state",
    "model_version_id",
    "detector_score",
    "created_at",
    "updated_at",
)
LABEL_COLUMNS = ("id", "box_id", "action_id", "source", "state", "score")
BATCH = 5_000
SHOWN_ERRORS = 50

Progress = Callable[[float, str], None]


def _chunks(items: list, size: int = 900) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ava_import_start(
    *, dataset: Dataset, upload: UploadedFile, params: dict[str, Any], user: Any
) -> Job:
    """Store an uploaded AVA file and queue the job that imports it."""
    from annotator.services.jobs import job_create

    if upload.size and upload.size > settings.MAX_IMPORT_UPLOAD_BYTES:
        raise ApplicationError(
            f"{upload.name}: {upload.size} bytes is over the limit of "
            f"{settings.MAX_IMPORT_UPLOAD_BYTES}"
        )
    params = {**params, "dataset": dataset.pk, "file_name": upload.name}
    return job_create(
        job_type=Job.Type.IMPORT, params=params, user=user, dataset=dataset, upload=upload
    )


def ava_import(
    *,
    dataset: Dataset,
    path: str | Path,
    kind: str,
    model_version: str | None = None,
    create_videos: bool = False,
    time_offset: float = 0.0,
    not_reviewed: bool = False,
    display_name: str | None = None,
    progress: Progress | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Import one AVA file into `dataset`; returns counts. Nothing is written if any row is bad."""
    from inference.ava import AvaFormatError, read_ava_csv, read_excluded, rows_from_records

    if kind not in KINDS:
        raise ApplicationError(f"kind {kind!r}: must be one of {KINDS}")
    report = progress or (lambda fraction, message: None)
    actions = dict(Action.objects.filter(dataset=dataset).values_list("action_id", "pk"))
    videos = dict(Video.objects.filter(dataset=dataset).values_list("video_id", "pk"))
    report(0.0, "reading and validating")
    try:
        if kind == "excluded":
            table = rows_from_records(read_excluded(path))
        else:
            table = read_ava_csv(
                path,
                kind,
                action_ids=set(actions) if kind in ("gt", "predictions") else None,
                videos=None if create_videos else set(videos),
            )
        if kind == "excluded" and not create_videos and set(table.videos) - set(videos):
            unknown = sorted(set(table.videos) - set(videos))[:SHOWN_ERRORS]
            raise AvaFormatError([f"{path}: unknown video id {video_id!r}" for video_id in unknown])
    except AvaFormatError as error:
        # An uploaded file is stored under another name: show the name the user knows.
        name = display_name or str(path)
        shown = [line.replace(str(path), name) for line in error.messages[:SHOWN_ERRORS]]
        message = f"{error.total} bad row(s) in {name}; nothing was imported:\n" + "\n".join(shown)
        if error.total > len(shown):
            message += f"\n... and {error.total - len(shown)} more"
        raise ApplicationError(message, extra={"errors": shown}) from error
    except OSError as error:
        raise ApplicationError(f"{display_name or path}: {error}") from error

    with transaction.atomic():
        new_ids = sorted(set(table.videos) - set(videos))
        Video.objects.bulk_create(
            [
                Video(dataset=dataset, video_id=video_id, time_offset=time_offset)
                for video_id in new_ids
            ],
            batch_size=BATCH,
        )
        videos = dict(Video.objects.filter(dataset=dataset).values_list("video_id", "pk"))
        video_pks = [videos[video_id] for video_id in table.videos]
        row_video = [video_pks[index] for index in table.video.tolist()]
        row_keyframes = _keyframes_ensure(row_video, table.timestamp.tolist())
        touched = sorted(set(row_keyframes))
        report(0.3, "writing")
        result: dict[str, Any] = {
            "kind": kind,
            "rows": len(row_keyframes),
            "videos_created": len(new_ids),
            "keyframes": len(touched),
        }
        if kind == "excluded":
            for chunk in _chunks(touched):
                Keyframe.objects.filter(pk__in=chunk).update(excluded=True)
        elif kind == "gt":
            written = _write_boxes(
                table, row_keyframes, touched, actions, Source.IMPORT, None, report
            )
            result.update(written)
            result["rule_violations"] = _count_rule_violations(dataset, table)
            if not not_reviewed:
                for chunk in _chunks(touched):
                    Keyframe.objects.filter(pk__in=chunk).update(status=Keyframe.Status.REVIEWED)
        elif kind == "predictions":
            version = _external_model_version(dataset, model_version)
            result["model_version"] = version.pk
            result.update(
                _write_boxes(table, row_keyframes, touched, actions, Source.MODEL, version, report)
            )
        else:
            result.update(
                _write_boxes(table, row_keyframes, touched, actions, Source.DETECTOR, None, report)
            )
    report(1.0, "done")
    return result


def _keyframes_ensure(row_video: list[int], timestamps: list[int]) -> list[int]:
    """Create the keyframes the rows name; return each row's keyframe pk."""
    wanted = set(zip(row_video, timestamps, strict=True))
    # The database assigns ids; ON CONFLICT skips keyframes that exist already.
    status = Keyframe.Status.UNREVIEWED
    rows = [
        (video_pk, timestamp, status, 1, False, False) for video_pk, timestamp in sorted(wanted)
    ]
    rows_insert(Keyframe, KEYFRAME_COLUMNS, rows, ignore_conflicts=True)
    mapping = {}
    for chunk in _chunks(sorted({video_pk for video_pk, _ in wanted})):
        keyframes = Keyframe.objects.filter(video_id__in=chunk).values_list(
            "video_id", "timestamp", "pk"
        )
        for video_pk, timestamp, pk in keyframes.iterator(chunk_size=BATCH):
            mapping[(video_pk, timestamp)] = pk
    return [mapping[key] for key in zip(row_video, timestamps, strict=True)]


def _external_model_version(dataset: Dataset, name: str | None) -> ModelVersion:
    if not name:
        raise ApplicationError("importing predictions needs --model-version NAME")
    label_map = [
        {"id": action_id, "name": action_name, "type": action_type}
        for action_id, action_name, action_type in Action.objects.filter(
            dataset=dataset
        ).values_list("action_id", "name", "action_type")
    ]
    version, _ = ModelVersion.objects.get_or_create(
        dataset=dataset,
        name=name,
        defaults={"status": ModelVersion.Status.EXTERNAL, "label_map": label_map},
    )
    return version


def _write_boxes(
    table: Any,
    row_keyframes: list[int],
    touched: list[int],
    actions: dict[int, int],
    source: str,
    model_version: ModelVersion | None,
    report: Progress,
) -> dict[str, int]:
    """Replace this source's earlier unreviewed boxes on the touched keyframes with the file's."""
    replaced = PersonBox.objects.filter(source=source, model_version=model_version)
    if source != Source.IMPORT:
        # A suggestion a reviewer accepted or edited is ground truth now: never replaced.
        replaced = replaced.filter(state=State.SUGGESTED)
    deleted = 0
    for chunk in _chunks(touched):
        deleted += replaced.filter(keyframe_id__in=chunk).delete()[1].get("annotator.PersonBox", 0)

    has_box = (~table.keyframe_only).tolist()
    boxes = table.box.tolist()
    action_column = table.action.tolist()
    column8 = table.value.tolist()
    state = State.ACCEPTED if source == Source.IMPORT else State.SUGGESTED
    version_pk = model_version.pk if model_version is not None else None
    now = timezone.now()
    box_index: dict[tuple, int] = {}
    box_rows: list[list[Any]] = []
    label_rows: list[list[Any]] = []
    for row, keyframe_pk in enumerate(row_keyframes):
        if not has_box[row]:
            continue
        x1, y1, x2, y2 = boxes[row]
        value = column8[row]
        person = int(value) if source == Source.IMPORT and value == value else None
        key = (keyframe_pk, x1, y1, x2, y2, person)
        index = box_index.get(key)
        if index is None:
            index = box_index[key] = len(box_rows)
            detector_score = value if source == Source.DETECTOR else None
            box_rows.append(
                [
                    None,
                    keyframe_pk,
                    person,
                    x1,
                    y1,
                    x2,
                    y2,
                    source,
                    state,
                    version_pk,
                    detector_score,
                    now,
                    now,
                ]
            )
        if source != Source.DETECTOR:
            score = value if source == Source.MODEL else None
            label_rows.append([None, index, actions[action_column[row]], source, state, score])
    report(0.5, "writing boxes")
    for box_row, pk in zip(box_rows, ids_reserve(PersonBox, len(box_rows)), strict=True):
        box_row[0] = pk
    rows_insert(PersonBox, BOX_COLUMNS, box_rows)
    report(0.75, "writing labels")
    for label_row, pk in zip(label_rows, ids_reserve(BoxLabel, len(label_rows)), strict=True):
        label_row[0] = pk
        label_row[1] = box_rows[label_row[1]][0]
    rows_insert(BoxLabel, LABEL_COLUMNS, label_rows)
    return {"boxes": len(box_rows), "labels": len(label_rows), "boxes_replaced": deleted}


def _count_rule_violations(dataset: Dataset, table: Any) -> int:
    """How many boxes of a ground-truth file break the dataset's review rules (they are kept)."""
    rules = dataset.review_rules or {}
    if not rules:
        return 0
    types = dict(Action.objects.filter(dataset=dataset).values_list("action_id", "action_type"))
    per_box: dict[tuple, Counter] = {}
    for video, ts, box, has_box, action_id, person in zip(
        table.video.tolist(),
        table.timestamp.tolist(),
        table.box.tolist(),
        (~table.keyframe_only).tolist(),
        table.action.tolist(),
        table.value.tolist(),
        strict=True,
    ):
        if has_box:
            per_box.setdefault((video, ts, *box, person), Counter())[types[action_id]] += 1
    violations = 0
    for counts in per_box.values():
        for action_type, bounds in rules.items():
            count = counts.get(action_type, 0)
            if count < bounds.get("min", 0) or ("max" in bounds and count > bounds["max"]):
                violations += 1
                break
    return violations
