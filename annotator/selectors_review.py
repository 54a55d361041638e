"""Reads of the review UI: a keyframe with everything its page shows, the reviewer's queue size
and the home page's progress per dataset and video, each in a fixed number of queries."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from annotator.errors import NotAllowedError
from annotator.models import (
    Action,
    BoxLabel,
    Dataset,
    Job,
    Keyframe,
    PersonBox,
    Source,
    State,
    Video,
    ground_truth_q,
)
from annotator.selectors_gold import gold_answer_boxes, gold_answer_state
from annotator.services.annotations import keyframe_check_editable
from annotator.services.ingest import keyframe_media
from annotator.services.review import review_queue, review_queue_head

MACHINE = (Source.MODEL, Source.DETECTOR)


def _boxes_prefetch(queryset: QuerySet[PersonBox]) -> Prefetch:
    labels = Prefetch(
        "labels", queryset=BoxLabel.objects.select_related("action").order_by("action__action_id")
    )
    return Prefetch("boxes", queryset=queryset.order_by("id").prefetch_related(labels))


def _label_dict(label: BoxLabel, *, scores: bool) -> dict[str, Any]:
    return {
        "id": label.pk,
        "action_id": label.action.action_id,
        "source": label.source,
        "state": label.state,
        "score": label.score if scores else None,
    }


def _box_dict(box: PersonBox, labels: list[BoxLabel], *, scores: bool) -> dict[str, Any]:
    return {
        "id": box.pk,
        "person_id": box.person_id,
        "x1": box.x1,
        "y1": box.y1,
        "x2": box.x2,
        "y2": box.y2,
        "source": box.source,
        "state": box.state,
        "detector_score": box.detector_score if scores else None,
        "labels": [_label_dict(label, scores=scores) for label in labels],
    }


def _offered(box: PersonBox, keyframe: Keyframe) -> bool:
    """Gold keyframes are reviewed blind: no machine suggestion. On reviewed and gold keyframes
    the detector boxes an evaluation made are not offered either."""
    if box.source in MACHINE and box.state == State.SUGGESTED:
        if keyframe.gold:
            return False
        evaluation = box.job is not None and box.job.job_type == Job.Type.EVALUATE
        if evaluation and keyframe.status == Keyframe.Status.REVIEWED:
            return False
    return True


def keyframe_boxes_for_review(keyframe: Keyframe) -> list[dict[str, Any]]:
    """The boxes and labels the review page shows (suggestions and scores hidden on gold)."""
    boxes = []
    for box in keyframe.boxes.all():
        if not _offered(box, keyframe):
            continue
        labels = [
            label
            for label in box.labels.all()
            if not (keyframe.gold and label.source in MACHINE and label.state == State.SUGGESTED)
        ]
        boxes.append(_box_dict(box, labels, scores=not keyframe.gold))
    return boxes


def previous_keyframe_annotations(*, keyframe: Keyframe) -> dict[str, Any] | None:
    """The ground truth on the video's keyframe before this one (what `carry forward` copies and
    new boxes take their person id from); None at the video's first keyframe."""
    previous = (
        Keyframe.objects.filter(video_id=keyframe.video_id, timestamp__lt=keyframe.timestamp)
        .order_by("-timestamp")
        .prefetch_related(
            _boxes_prefetch(PersonBox.objects.filter(ground_truth_q()).select_related("job"))
        )
        .first()
    )
    if previous is None:
        return None
    boxes = []
    for box in previous.boxes.all():
        labels = [
            label
            for label in box.labels.all()
            if label.state != State.REJECTED
            and (label.source in (Source.HUMAN, Source.IMPORT) or label.state != State.SUGGESTED)
        ]
        boxes.append(_box_dict(box, labels, scores=False))
    return {"id": previous.pk, "timestamp": previous.timestamp, "boxes": boxes}


def keyframe_tracks(
    *, keyframe: Keyframe, previous_id: int | None, next_id: int | None
) -> dict[str, list[dict[str, Any]]]:
    """The boxes with a person id on the video's keyframes before and after this one (rejected
    ones left out), so the page can show where each person of this keyframe was and goes; none
    on gold keyframes, which are reviewed blind. One query."""
    tracks: dict[str, list[dict[str, Any]]] = {"previous": [], "next": []}
    neighbours = {pk: side for pk, side in ((previous_id, "previous"), (next_id, "next")) if pk}
    if keyframe.gold or not neighbours:
        return tracks
    boxes = (
        PersonBox.objects.filter(keyframe_id__in=neighbours, person_id__isnull=False)
        .exclude(state=State.REJECTED)
        .order_by("keyframe_id", "id")
        .values("keyframe_id", "person_id", "x1", "y1", "x2", "y2")
    )
    for box in boxes:
        side = neighbours[box.pop("keyframe_id")]
        tracks[side].append(box)
    return tracks


def _read_only_reason(keyframe: Keyframe, user: AbstractBaseUser) -> str | None:
    try:
        keyframe_check_editable(keyframe=keyframe, user=user)
    except NotAllowedError:
        if keyframe.assignee_id not in (None, user.pk):
            return f"assigned to {keyframe.assignee.get_username()}"  # type: ignore[union-attr]
        return f"being reviewed by {keyframe.lease_holder.get_username()}"  # type: ignore[union-attr]
    return None


def keyframe_review(*, keyframe_id: int, user: AbstractBaseUser) -> dict[str, Any]:
    """Everything the review page needs for one keyframe, in a fixed number of queries."""
    keyframe = get_object_or_404(
        Keyframe.objects.select_related(
            "video__dataset", "assignee", "lease_holder", "reviewed_by"
        ).prefetch_related(_boxes_prefetch(PersonBox.objects.select_related("job"))),
        pk=keyframe_id,
    )
    video, dataset = keyframe.video, keyframe.video.dataset
    siblings = Keyframe.objects.filter(video_id=video.pk)
    previous_id = (
        siblings.filter(timestamp__lt=keyframe.timestamp)
        .order_by("-timestamp")
        .values_list("pk", flat=True)
        .first()
    )
    next_id = (
        siblings.filter(timestamp__gt=keyframe.timestamp)
        .order_by("timestamp")
        .values_list("pk", flat=True)
        .first()
    )
    uses = dict(
        BoxLabel.objects.filter(ground_truth_q(), box__keyframe__reviewed_by=user)
        .filter(action__dataset=dataset)
        .values_list("action__action_id")
        .annotate(count=Count("id"))
    )
    actions = [
        {
            "action_id": action.action_id,
            "name": action.name,
            "action_type": action.action_type,
            "uses": uses.get(action.action_id, 0),
        }
        for action in Action.objects.filter(dataset=dataset).order_by("action_id")
    ]
    holder = keyframe.lease_holder if keyframe.live_lease_holder_id() is not None else None
    return {
        "keyframe": {
            "id": keyframe.pk,
            "video": video.pk,
            "timestamp": keyframe.timestamp,
            "status": keyframe.status,
            "version": keyframe.version,
            "gold": keyframe.gold,
            "gold_answer": gold_answer_state(keyframe_id=keyframe.pk, user=user)
            if keyframe.gold
            else None,
            "excluded": keyframe.excluded,
            "flag_comment": keyframe.flag_comment,
            "assignee": keyframe.assignee.get_username() if keyframe.assignee else None,
            "lease_holder": holder.get_username() if holder else None,
            "lease_until": keyframe.lease_until if holder else None,
            "reviewed_by": keyframe.reviewed_by.get_username() if keyframe.reviewed_by else None,
            "reviewed_at": keyframe.reviewed_at,
        },
        "video": {
            "id": video.pk,
            "video_id": video.video_id,
            "fps": video.fps,
            "width": video.width,
            "height": video.height,
            "time_offset": video.time_offset,
        },
        "dataset": {"id": dataset.pk, "name": dataset.name, "review_rules": dataset.review_rules},
        "media": keyframe_media(keyframe=keyframe),
        # A gold keyframe is reviewed blind: the user's own answer, never the keyframe's boxes.
        "boxes": gold_answer_boxes(keyframe_id=keyframe.pk, user=user)
        if keyframe.gold
        else keyframe_boxes_for_review(keyframe),
        "previous": previous_keyframe_annotations(keyframe=keyframe),
        "neighbours": {"previous": previous_id, "next": next_id},
        "tracks": keyframe_tracks(keyframe=keyframe, previous_id=previous_id, next_id=next_id),
        "actions": actions,
        "read_only": _read_only_reason(keyframe, user),
    }


def review_queue_peek(
    *,
    user: AbstractBaseUser,
    dataset_id: int | None = None,
    video_id: int | None = None,
    skip: int | None = None,
    order: str = "default",
) -> dict[str, Any]:
    """How many keyframes wait in the reviewer's queue, and which one comes next (without
    taking it: the page prefetches its media)."""
    queue = review_queue(user=user, dataset_id=dataset_id, video_id=video_id, order=order)
    if skip is not None:
        queue = queue.exclude(pk=skip)
    head = review_queue_head(
        user=user, dataset_id=dataset_id, video_id=video_id, skip=skip, order=order
    )
    return {"count": queue.count(), "next": head}


def home_progress(*, user: AbstractBaseUser) -> dict[str, Any]:
    """The home page: the reviewer's queue size, datasets with their videos' progress, and the
    jobs that run (a fixed number of queries whatever the number of videos)."""
    pending = Q(keyframes__boxes__labels__state=State.SUGGESTED)
    videos = (
        Video.objects.order_by("dataset_id", "video_id")
        .annotate(
            total=Count("keyframes", distinct=True),
            reviewed=Count(
                "keyframes",
                filter=Q(keyframes__status=Keyframe.Status.REVIEWED),
                distinct=True,
            ),
            flagged=Count(
                "keyframes", filter=Q(keyframes__status=Keyframe.Status.FLAGGED), distinct=True
            ),
        )
        .only("pk", "dataset_id", "video_id", "status")
    )
    suggestions = dict(
        Video.objects.filter(pending)
        .values_list("pk")
        .annotate(count=Count("keyframes__boxes__labels"))
    )
    by_dataset: dict[int, list[Any]] = {}
    for video in videos:
        video.pending = suggestions.get(video.pk, 0)
        by_dataset.setdefault(video.dataset_id, []).append(video)
    datasets = []
    for dataset in Dataset.objects.order_by("name"):
        dataset_videos = by_dataset.get(dataset.pk, [])
        datasets.append(
            {
                "dataset": dataset,
                "videos": dataset_videos,
                "total": sum(video.total for video in dataset_videos),
                "reviewed": sum(video.reviewed for video in dataset_videos),
                "pending": sum(video.pending for video in dataset_videos),
                "flagged": sum(video.flagged for video in dataset_videos),
            }
        )
    jobs = list(
        Job.objects.filter(status__in=Job.ACTIVE)
        .select_related("video", "dataset")
        .order_by("-created_at", "-id")[:50]
    )
    return {"queue": review_queue(user=user).count(), "datasets": datasets, "jobs": jobs}


def assignment_summary() -> list[dict[str, Any]]:
    """Per user with a role: the keyframes assigned to them still to review, and those assigned
    and reviewed (two queries)."""
    from django.contrib.auth import get_user_model

    from annotator.roles import ROLES

    counts: dict[int, dict[str, int]] = {}
    rows = (
        Keyframe.objects.filter(assignee__isnull=False)
        .values_list("assignee_id", "status")
        .annotate(count=Count("id"))
        .order_by()
    )
    for assignee_id, status, count in rows:
        entry = counts.setdefault(assignee_id, {"open": 0, "done": 0})
        entry["done" if status == Keyframe.Status.REVIEWED else "open"] += count
    users = (
        get_user_model()
        .objects.filter(Q(groups__name__in=ROLES) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
    )
    return [
        {
            "id": user.pk,
            "username": user.get_username(),
            "assigned_open": counts.get(user.pk, {}).get("open", 0),
            "assigned_reviewed": counts.get(user.pk, {}).get("done", 0),
        }
        for user in users
    ]


def reviewer_keys(*, user: AbstractBaseUser) -> dict[str, str]:
    """The user's effective key bindings, command -> key (their own over the defaults)."""
    from annotator.models import ReviewerSettings
    from annotator.services.keys import keys_effective

    row = ReviewerSettings.objects.filter(user=user).values_list("key_bindings", flat=True).first()
    return keys_effective(row or {})
