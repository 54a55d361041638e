"""AVA CSV imports: validate the whole file, then write all of it in one transaction, or nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
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
from annotator.services.jobs import Progress
from annotator.validation import VIDEO_ID, VIDEO_ID_PATTERN

IMPORT_KINDS = ["gt", "predictions", "person-boxes", "excluded"]
# Every NOT NULL column without a database default (`flag_comment` came after the first import).
KEYFRAME_COLUMNS = (
    "video_id",
    "timestamp",
    "status",
    "version",
    "excluded",
    "gold",
    "flag_comment",
)
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
MAX_TIMESTAMP = 2**31 - 1  # Keyframe.timestamp is a 32-bit integer column


def _chunks(items: list, size: int = 900) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _video_id_ok(video_id: str) -> bool:
    return VIDEO_ID.fullmatch(video_id) is not None


def _row_errors(path: str | Path, table: Any, video_ids: set[str], reason: str) -> list[str]:
    """`file:line: field 'video_id' = ...: reason` for every row naming one of `video_ids`."""
    if not video_ids:
        return []
    index = [i for i, video_id in enumerate(table.videos) if video_id in video_ids]
    rows = np.flatnonzero(np.isin(table.video, index))
    return [
        f"{path}:{table.line[i]}: field 'video_id' = {table.videos[table.video[i]]!r}: {reason}"
        for i in rows
    ]


def _line_key(message: str) -> int:
    match = re.match(r".*?:(\d+): ", message)
    return int(match.group(1)) if match else 0


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

    if kind not in IMPORT_KINDS:
        raise ApplicationError(f"kind {kind!r}: must be one of {IMPORT_KINDS}")
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
            raise AvaFormatError(
                _row_errors(path, table, set(table.videos) - set(videos), "unknown video")
            )
        # The rule uploads follow holds for the videos an import creates; timestamps fit the
        # database's 32-bit column.
        bad_ids = {
            video_id for video_id in set(table.videos) - set(videos) if not _video_id_ok(video_id)
        }
        problems = _row_errors(path, table, bad_ids, f"must match {VIDEO_ID_PATTERN}")
        late = np.flatnonzero(table.timestamp > MAX_TIMESTAMP)
        problems += [
            f"{path}:{table.line[i]}: field 'timestamp' = '{table.timestamp[i]}': must be <= "
            f"{MAX_TIMESTAMP}"
            for i in late
        ]
        if problems:
            problems.sort(key=_line_key)
            raise AvaFormatError(problems)
    except AvaFormatError as error:
        # An uploaded file is stored under another name: show the name the user knows.
        name = display_name or str(path)
        shown = [line.replace(str(path), name) for line in error.messages[:SHOWN_ERRORS]]
        message = f"{error.rows} bad row(s) in {name}; nothing was imported:\n" + "\n".join(shown)
        if error.total > len(shown):
            message += f"\n... and {error.total - len(shown)} more error(s)"
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
        video_pks = np.array([videos[video_id] for video_id in table.videos], dtype=np.int64)
        row_keyframes = _keyframes_ensure(video_pks[table.video], table.timestamp)
        touched = np.unique(row_keyframes).tolist()
        report(0.3, "writing")
        result: dict[str, Any] = {
            "kind": kind,
            "rows": len(table),
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
            result["rule_violations"] = _count_rule_violations(dataset, table, row_keyframes)
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


def _keyframes_ensure(row_video: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Create the keyframes the rows name; return each row's keyframe pk (N,)."""
    pairs, inverse = np.unique(
        np.stack([row_video, timestamps], axis=1), axis=0, return_inverse=True
    )
    # The database assigns ids; ON CONFLICT skips keyframes that exist already.
    status = Keyframe.Status.UNREVIEWED
    rows = [
        (video_pk, timestamp, status, 1, False, False, "") for video_pk, timestamp in pairs.tolist()
    ]
    rows_insert(Keyframe, KEYFRAME_COLUMNS, rows, ignore_conflicts=True)
    pks = {}
    for chunk in _chunks(np.unique(pairs[:, 0]).tolist()):
        keyframes = Keyframe.objects.filter(video_id__in=chunk).values_list(
            "video_id", "timestamp", "pk"
        )
        for video_pk, timestamp, pk in keyframes.iterator(chunk_size=BATCH):
            pks[(video_pk, timestamp)] = pk
    pair_pks = np.array(
        [pks[(video_pk, timestamp)] for video_pk, timestamp in pairs.tolist()], dtype=np.int64
    )
    return pair_pks[inverse.reshape(-1)]


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
    row_keyframes: np.ndarray,
    touched: list[int],
    actions: dict[int, int],
    source: str,
    model_version: ModelVersion | None,
    report: Progress,
) -> dict[str, int]:
    """Replace this source's earlier unreviewed boxes on the touched keyframes with the file's."""
    replaced = PersonBox.objects.filter(source=source)
    if source == Source.MODEL:
        replaced = replaced.filter(model_version=model_version)
    if source != Source.IMPORT:
        # A suggestion a reviewer accepted or edited is ground truth now: never replaced.
        replaced = replaced.filter(state=State.SUGGESTED)
    deleted = 0
    for chunk in _chunks(touched):
        deleted += replaced.filter(keyframe_id__in=chunk).delete()[1].get("annotator.PersonBox", 0)

    with_box = ~table.keyframe_only
    box_of_row, first_rows = _group_boxes(table, row_keyframes, keep_person=source == Source.IMPORT)
    box_pks = np.array(ids_reserve(PersonBox, len(first_rows)), dtype=np.int64)
    state = State.ACCEPTED if source == Source.IMPORT else State.SUGGESTED
    version_pk = model_version.pk if model_version is not None else None
    now = timezone.now()
    value = table.value[first_rows]
    person: list[int | None] = [None] * len(first_rows)
    if source == Source.IMPORT:
        person = [None if v != v else int(v) for v in value.tolist()]
    detector_score = value.tolist() if source == Source.DETECTOR else [None] * len(first_rows)
    x1, y1, x2, y2 = table.box[first_rows].T.tolist()
    box_rows = [
        (pk, keyframe, person_id, a, b, c, d, source, state, version_pk, score, now, now)
        for pk, keyframe, person_id, a, b, c, d, score in zip(
            box_pks.tolist(),
            row_keyframes[first_rows].tolist(),
            person,
            x1,
            y1,
            x2,
            y2,
            detector_score,
            strict=True,
        )
    ]
    report(0.5, "writing boxes")
    rows_insert(PersonBox, BOX_COLUMNS, box_rows)
    label_rows: list[tuple] = []
    if source != Source.DETECTOR:
        report(0.75, "writing labels")
        rows = np.flatnonzero(with_box)
        action_pks = np.array([actions.get(a, 0) for a in range(max(actions) + 1)], dtype=np.int64)[
            table.action[rows]
        ]
        scores = table.value[rows].tolist() if source == Source.MODEL else [None] * len(rows)
        label_pks = ids_reserve(BoxLabel, len(rows))
        label_rows = [
            (pk, box, action, source, state, score)
            for pk, box, action, score in zip(
                label_pks,
                box_pks[box_of_row[rows]].tolist(),
                action_pks.tolist(),
                scores,
                strict=True,
            )
        ]
        rows_insert(BoxLabel, LABEL_COLUMNS, label_rows)
    return {"boxes": len(box_rows), "labels": len(label_rows), "boxes_replaced": deleted}


def _group_boxes(
    table: Any, row_keyframes: np.ndarray, *, keep_person: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rows that repeat a box (same keyframe, coordinates and person id) are one box with several
    labels. Returns each row's box index (-1 for 2-column rows) and each box's first row, with
    boxes numbered in file order so that ids and exports follow the file."""
    rows = np.flatnonzero(~table.keyframe_only)
    person = table.value[rows] if keep_person else np.zeros(len(rows))
    keys = np.column_stack([row_keyframes[rows], table.box[rows], np.nan_to_num(person, nan=-1.0)])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    box_of_row = np.full(len(table), -1, dtype=np.int64)
    box_of_row[rows] = rank[inverse.reshape(-1)]
    return box_of_row, rows[first[order]]


def _count_rule_violations(dataset: Dataset, table: Any, row_keyframes: np.ndarray) -> int:
    """How many boxes of a ground-truth file break the dataset's review rules (they are kept)."""
    rules = dataset.review_rules or {}
    if not rules:
        return 0
    box_of_row, first_rows = _group_boxes(table, row_keyframes, keep_person=True)
    type_names = list(rules)
    types = dict(Action.objects.filter(dataset=dataset).values_list("action_id", "action_type"))
    rows = np.flatnonzero(box_of_row >= 0)
    type_of_row = np.array(
        [
            type_names.index(types[a]) if types[a] in rules else -1
            for a in table.action[rows].tolist()
        ]
    )
    counted = type_of_row >= 0
    counts = np.zeros((len(first_rows), len(type_names)), dtype=np.int64)
    np.add.at(counts, (box_of_row[rows][counted], type_of_row[counted]), 1)
    low = np.array([rules[name].get("min", 0) for name in type_names])
    high = np.array([rules[name].get("max", np.iinfo(np.int64).max) for name in type_names])
    return int(np.any((counts < low) | (counts > high), axis=1).sum())
