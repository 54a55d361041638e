"""Managers split the review work: keyframes (a range of a video, a whole video, or a number of
a video's or dataset's keyframes) assigned to a reviewer, and released again. Only keyframes still
to review move; a reviewer's queue puts their assigned keyframes first."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet

from annotator.errors import ApplicationError
from annotator.models import AuditEvent, Keyframe
from annotator.roles import has_role
from annotator.services.review import QUEUE_STATUSES

ASSIGNMENT_ACTIONS = ("assign", "release")


def keyframes_selection(
    *,
    video_id: int | None,
    dataset_id: int | None,
    timestamp_from: int | None,
    timestamp_to: int | None,
) -> QuerySet[Keyframe]:
    """A video's or dataset's keyframes still to review (not excluded), optionally within a range
    of seconds, in video and time order."""
    if (video_id is None) == (dataset_id is None):
        raise ApplicationError("give either 'video' or 'dataset' (exactly one)")
    if timestamp_from is not None and timestamp_to is not None and timestamp_from > timestamp_to:
        raise ApplicationError(
            f"field 'timestamp_from' = {timestamp_from} is after 'timestamp_to' = {timestamp_to}"
        )
    keyframes = Keyframe.objects.filter(status__in=QUEUE_STATUSES, excluded=False)
    if video_id is not None:
        keyframes = keyframes.filter(video_id=video_id)
    else:
        keyframes = keyframes.filter(video__dataset_id=dataset_id)
    if timestamp_from is not None:
        keyframes = keyframes.filter(timestamp__gte=timestamp_from)
    if timestamp_to is not None:
        keyframes = keyframes.filter(timestamp__lte=timestamp_to)
    return keyframes.order_by("video_id", "timestamp", "id")


def keyframes_assign(
    *,
    user: Any,
    action: str,
    reviewer_id: int | None = None,
    video_id: int | None = None,
    dataset_id: int | None = None,
    timestamp_from: int | None = None,
    timestamp_to: int | None = None,
    count: int | None = None,
) -> list[int]:
    """Assign the chosen keyframes still to review, and assigned to nobody else, to a reviewer
    (the first `count` of them in video and time order when given), or release them (the
    reviewer's, or anyone's without a reviewer); audited. Returns the keyframes changed."""
    if action not in ASSIGNMENT_ACTIONS:
        raise ApplicationError(f"field 'action' = {action!r}: must be one of {ASSIGNMENT_ACTIONS}")
    if count is not None and count < 1:
        raise ApplicationError(f"field 'count' = {count}: must be at least 1")
    reviewer = None
    if reviewer_id is not None:
        reviewer = get_user_model().objects.filter(pk=reviewer_id).first()
        if reviewer is None or not has_role(reviewer):
            raise ApplicationError(f"field 'reviewer' = {reviewer_id}: no reviewer with this id")
    elif action == "assign":
        raise ApplicationError("field 'reviewer': whom to assign the keyframes to")
    keyframes = keyframes_selection(
        video_id=video_id,
        dataset_id=dataset_id,
        timestamp_from=timestamp_from,
        timestamp_to=timestamp_to,
    )
    if action == "assign":
        keyframes = keyframes.filter(Q(assignee__isnull=True) | Q(assignee=reviewer))
    elif reviewer is not None:
        keyframes = keyframes.filter(assignee=reviewer)
    else:
        keyframes = keyframes.filter(assignee__isnull=False)
    with transaction.atomic():
        ids = list(keyframes.values_list("pk", flat=True)[:count])
        Keyframe.objects.filter(pk__in=ids).update(
            assignee=reviewer if action == "assign" else None
        )
        AuditEvent.objects.create(
            user=user,
            verb=f"keyframes.{action}",
            object_type="keyframe",
            before=None,
            after={
                "reviewer": reviewer_id,
                "keyframes": ids,
                "video": video_id,
                "dataset": dataset_id,
                "timestamp_from": timestamp_from,
                "timestamp_to": timestamp_to,
                "count": count,
            },
        )
    return ids
