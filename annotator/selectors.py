"""Selectors own the non-trivial reads: filtered lists, keyframe state, exports, health."""

from __future__ import annotations

import re
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from annotator.errors import ApplicationError
from annotator.models import (
    GT_SOURCES,
    GT_STATES,
    Action,
    BoxLabel,
    BoxScore,
    Dataset,
    Job,
    Keyframe,
    ModelVersion,
    PersonBox,
    State,
    Video,
)

KEYFRAME_ORDERINGS = [
    "timestamp",
    "-timestamp",
    "video",
    "-video",
    "status",
    "-status",
    "id",
    "-id",
]


def safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "dataset"


def keyframe_list(
    *,
    queryset: QuerySet[Keyframe] | None = None,
    dataset: int | None = None,
    video: int | None = None,
    status: str | None = None,
    assignee: int | str | None = None,
    ordering: str = "id",
) -> QuerySet[Keyframe]:
    """Keyframes filtered by dataset, video, status and assignee (a user id, or 'none' for
    unassigned), ordered by one of KEYFRAME_ORDERINGS (then id)."""
    if ordering not in KEYFRAME_ORDERINGS:
        raise ApplicationError(f"ordering = {ordering!r}: expected one of {KEYFRAME_ORDERINGS}")
    keyframes = Keyframe.objects.all() if queryset is None else queryset
    if dataset is not None:
        keyframes = keyframes.filter(video__dataset_id=dataset)
    if video is not None:
        keyframes = keyframes.filter(video_id=video)
    if status:
        keyframes = keyframes.filter(status=status)
    if assignee == "none":
        keyframes = keyframes.filter(assignee__isnull=True)
    elif assignee is not None:
        keyframes = keyframes.filter(assignee_id=assignee)
    return keyframes.order_by(ordering, "id")


def keyframe_get(*, keyframe_id: int) -> Keyframe:
    """One keyframe with its video, boxes and their labels, in a fixed number of queries."""
    labels = Prefetch(
        "labels", queryset=BoxLabel.objects.select_related("action").order_by("action__action_id")
    )
    boxes = Prefetch("boxes", queryset=PersonBox.objects.order_by("id").prefetch_related(labels))
    keyframes = Keyframe.objects.select_related("video").prefetch_related(boxes)
    return get_object_or_404(keyframes, pk=keyframe_id)


def labelmap_text(*, dataset: Dataset) -> str:
    """The dataset's actions as a pbtxt label map (`label { name label_id label_type }`)."""
    from inference.ava import ActionLabel, LabelMap, format_labelmap

    actions = tuple(
        ActionLabel(id=action.action_id, name=action.name, type=action.action_type)
        for action in Action.objects.filter(dataset=dataset).order_by("action_id")
    )
    return format_labelmap(LabelMap(actions=actions))


def health_check() -> dict[str, str]:
    """Ping the database, Redis and the Celery workers; 'ok' or the reason for each."""
    import redis
    from celery import current_app

    report = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        report["database"] = "ok"
    except Exception as error:  # the health endpoint reports failures, it never raises them
        report["database"] = f"error: {error}"
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        report["redis"] = "ok"
    except Exception as error:
        report["redis"] = f"error: {error}"
    if report["redis"] != "ok":
        report["worker"] = "unknown: redis is down"
        return report
    try:
        replies = current_app.control.ping(timeout=1.0)
        report["worker"] = "ok" if replies else "error: no worker answered"
    except Exception as error:
        report["worker"] = f"error: {error}"
    return report


# --- AVA export ------------------------------------------------------------------------------


EXPORT_CHUNK = 20_000


def _fetch_all(queryset: QuerySet) -> list[tuple]:
    """All rows of a values_list queryset as the cursor returns them (no per-row ORM work)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _raw_rows(queryset: QuerySet, chunk: int = EXPORT_CHUNK) -> Iterator[tuple]:
    """Rows of a values_list queryset straight from the database cursor (no per-row ORM work)."""
    sql, params = queryset.query.sql_with_params()
    # A server-side cursor on PostgreSQL, so memory stays flat on big exports.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield from rows


def ava_export_lines(
    *,
    dataset: Dataset,
    source: str = "human",
    model_version: ModelVersion | None = None,
    reviewed_only: bool = False,
) -> Iterator[str]:
    """AVA CSV text of a dataset in chunks, ordered by video id, timestamp, box, label.

    `human` exports ground truth as DESIGN.md defines it: human, imported, accepted or edited boxes
    and labels on reviewed keyframes; a reviewed keyframe without such a box is a 2-column row,
    and a box without a person id (an accepted detector box) 7-column rows. `model` exports a
    model version's scores: its full vector on every box it scored, and the scored labels of
    its imported predictions' boxes.
    """
    from annotator.errors import ApplicationError

    keyframes = Keyframe.objects.filter(video__dataset=dataset)
    if source == "human" or reviewed_only:
        keyframes = keyframes.filter(status=Keyframe.Status.REVIEWED)
    if source == "human":
        # Ground truth lives on reviewed keyframes only (`keyframes` is filtered so above).
        return _export_ground_truth(dataset, keyframes)
    # Checked here, not in the generator: a streamed response has begun before it first runs.
    model_version = model_version or dataset.active_model_version
    if model_version is None:
        raise ApplicationError(
            "source 'model' needs a model version, and the dataset has no active one"
        )
    return _export_model(dataset, keyframes, model_version)


def _ground_truth_sql() -> str:
    """One video's ground-truth label rows in (timestamp, box, label) order.

    Written out rather than built by the ORM so that the order is by the box's own id: the
    database then walks the (video, timestamp) index, each keyframe's boxes and each box's labels
    in index order and never sorts (the ORM orders by the label's box_id column, which SQLite
    does not know equals the box id, and sorts every video's rows).
    """
    keyframe, box = Keyframe._meta.db_table, PersonBox._meta.db_table
    label, action = BoxLabel._meta.db_table, Action._meta.db_table
    ground_truth = "({t}.source IN (%s, %s) OR {t}.state IN (%s, %s)) AND {t}.state <> %s"
    return (
        # CASTs drop the columns' declared types, so SQLite's driver does not look up a
        # converter for each of the millions of values (a third of the query's time).
        f"SELECT CAST(k.timestamp AS BIGINT), CAST(b.x1 AS DOUBLE PRECISION), "
        f"CAST(b.y1 AS DOUBLE PRECISION), CAST(b.x2 AS DOUBLE PRECISION), "
        f"CAST(b.y2 AS DOUBLE PRECISION), CAST(a.action_id AS BIGINT), CAST(b.person_id AS BIGINT) "
        f"FROM {keyframe} k JOIN {box} b ON b.keyframe_id = k.id "
        f"JOIN {label} l ON l.box_id = b.id JOIN {action} a ON a.id = l.action_id "
        f"WHERE k.video_id = %s AND k.status = %s "
        f"AND {ground_truth.format(t='b')} AND {ground_truth.format(t='l')} "
        f"ORDER BY k.timestamp, b.id, l.id"
    )


def ava_ground_truth_lines(*, dataset: Dataset, video_pks: list[int]) -> Iterator[str]:
    """The ground truth of some of a dataset's videos as AVA CSV text (what the export writes)."""
    keyframes = Keyframe.objects.filter(video__dataset=dataset, status=Keyframe.Status.REVIEWED)
    return _export_ground_truth(dataset, keyframes, video_pks)


def _export_ground_truth(
    dataset: Dataset, keyframes: QuerySet[Keyframe], video_pks: list[int] | None = None
) -> Iterator[str]:
    from inference.ava import video_records_text

    sql = _ground_truth_sql()
    states = [*GT_SOURCES, *GT_STATES, State.REJECTED]
    videos = dataset.videos.order_by("video_id").values_list("pk", "video_id")
    if video_pks is not None:
        videos = videos.filter(pk__in=video_pks)
    for video_pk, video_id in list(videos):
        with connection.cursor() as cursor:
            cursor.execute(sql, [video_pk, Keyframe.Status.REVIEWED, *states, *states])
            records = cursor.fetchall()
        labelled = {record[0] for record in records}
        timestamps = _fetch_all(keyframes.filter(video_id=video_pk).values_list("timestamp"))
        empty = [key for key in timestamps if key[0] not in labelled]
        if empty:
            # A reviewed keyframe without labels is a 2-column row, in its place in time order
            # (the sort is stable and the rows are already in order: timsort merges two runs).
            records.extend(empty)
            records.sort(key=itemgetter(0))
        if records:
            yield video_records_text(video_id, records, "gt")


def _export_model(
    dataset: Dataset, keyframes: QuerySet[Keyframe], model_version: ModelVersion
) -> Iterator[str]:
    import numpy as np

    from inference.ava import records_text

    action_ids = [entry["id"] for entry in model_version.label_map]
    vector = BoxScore.objects.filter(box=OuterRef("pk"), model_version=model_version)
    boxes = (
        PersonBox.objects.filter(keyframe__in=keyframes)
        .annotate(scores=Subquery(vector.values("scores")[:1]))
        .filter(Q(model_version=model_version) | Q(scores__isnull=False))
        .order_by("keyframe__video__video_id", "keyframe__timestamp", "id")
        .values_list(
            "id",
            "keyframe__video__video_id",
            "keyframe__timestamp",
            "x1",
            "y1",
            "x2",
            "y2",
            "scores",
        )
    )
    labels = (
        BoxLabel.objects.filter(box__keyframe__in=keyframes, box__model_version=model_version)
        .exclude(score__isnull=True)
        .values_list("box_id", "action__action_id", "score")
    )
    scored_labels: dict[int, list[tuple[int, float]]] = {}
    for box_id, action_id, score in _raw_rows(labels):
        scored_labels.setdefault(box_id, []).append((action_id, score))
    rows: list[tuple] = []
    for box_id, video_id, timestamp, x1, y1, x2, y2, scores in boxes.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        if scores is not None:
            vector = np.frombuffer(scores, dtype=np.float16)
            pairs: list[tuple[int, float]] = list(zip(action_ids, vector.tolist(), strict=True))
        else:
            pairs = sorted(scored_labels.get(box_id, []))
        rows.extend(
            (video_id, timestamp, x1, y1, x2, y2, action_id, score) for action_id, score in pairs
        )
        if len(rows) >= EXPORT_CHUNK:
            yield records_text(rows, "predictions")
            rows = []
    if rows:
        yield records_text(rows, "predictions")


LINEAGE_DEPTH = 50  # parents shown at most (a chain is a tree's path; this bounds a bad cycle)


def model_version_lineage(version: ModelVersion) -> list[ModelVersion]:
    """The version and its parents, newest first."""
    chain = [version]
    while chain[-1].parent_id is not None and len(chain) < LINEAGE_DEPTH:
        parent = ModelVersion.objects.filter(pk=chain[-1].parent_id).first()
        if parent is None or parent in chain:
            break
        chain.append(parent)
    return chain


def model_version_previous_active(*, dataset: Dataset) -> ModelVersion | None:
    """The version that was active before the current one (the rollback target), from the audit
    trail of promotions."""
    from annotator.models import AuditEvent

    events = AuditEvent.objects.filter(
        verb="dataset.activate_model", object_type="dataset", object_id=dataset.pk
    ).order_by("-at", "-id")
    for event in events[:LINEAGE_DEPTH]:
        before = (event.before or {}).get("active_model_version")
        if before is not None and before != dataset.active_model_version_id:
            return ModelVersion.objects.filter(pk=before, dataset=dataset).first()
    return None


# --- dataset pages ---------------------------------------------------------------------------

DATASET_RECENT_JOBS = 10

_REVIEWED = Q(keyframes__status=Keyframe.Status.REVIEWED)


def dataset_list() -> QuerySet[Dataset]:
    """Every dataset with its video count, keyframes reviewed / total and active version."""
    return (
        Dataset.objects.select_related("active_model_version")
        .annotate(
            video_count=Count("videos", distinct=True),
            keyframe_count=Count("videos__keyframes", distinct=True),
            reviewed_count=Count(
                "videos__keyframes",
                filter=Q(videos__keyframes__status=Keyframe.Status.REVIEWED),
                distinct=True,
            ),
        )
        .order_by("name")
    )


def dataset_overview(*, dataset: Dataset) -> dict[str, Any]:
    """A dataset's page: its taxonomy by action type, its videos with keyframes reviewed / total,
    and its newest jobs (a fixed number of queries whatever the number of videos)."""
    by_type = (
        Action.objects.filter(dataset=dataset)
        .values_list("action_type")
        .annotate(count=Count("id"), evaluated=Count("id", filter=Q(evaluated=True)))
        .order_by("action_type")
    )
    rules = dataset.review_rules or {}
    action_types = [
        {
            "type": action_type,
            "count": count,
            "evaluated": evaluated,
            "rule": _rule_text(rules.get(action_type) or {}),
        }
        for action_type, count, evaluated in by_type
    ]
    videos = list(
        Video.objects.filter(dataset=dataset)
        .annotate(
            total=Count("keyframes"),
            reviewed=Count("keyframes", filter=_REVIEWED),
        )
        .order_by("video_id")
        .only("pk", "dataset_id", "video_id", "status", "duration")
    )
    jobs = list(
        Job.objects.filter(Q(dataset=dataset) | Q(video__dataset=dataset))
        .select_related("video")
        .order_by("-created_at", "-id")[:DATASET_RECENT_JOBS]
    )
    return {
        "action_types": action_types,
        "actions": sum(entry["count"] for entry in action_types),
        "evaluated": sum(entry["evaluated"] for entry in action_types),
        "videos": videos,
        "keyframes": sum(video.total for video in videos),
        "reviewed": sum(video.reviewed for video in videos),
        "jobs": jobs,
        "model_versions": list(
            ModelVersion.objects.filter(dataset=dataset).order_by("-created_at", "-id")
        ),
    }


def _rule_text(rule: dict[str, int]) -> str:
    """A review rule per box in words: 'exactly 1', 'at most 3', 'at least 1', or ''."""
    low, high = rule.get("min"), rule.get("max")
    if low is not None and low == high:
        return f"exactly {low}"
    words = [f"at least {low}" if low else "", f"at most {high}" if high is not None else ""]
    return ", ".join(word for word in words if word)
