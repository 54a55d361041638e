"""The review work queue: leases on keyframes, taken with a conditional UPDATE, and the marks a
reviewer sets besides the annotation (flag with a comment, excluded)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError
from annotator.models import AuditEvent, GoldAnswer, Keyframe
from annotator.services.annotations import keyframe_check_editable

QUEUE_STATUSES = (Keyframe.Status.UNREVIEWED, Keyframe.Status.IN_PROGRESS)
TAKE_ATTEMPTS = 20  # candidates tried when other reviewers keep taking the first one
MARKS = ("flagged", "excluded")
# `default`: video and time order; `uncertain`: least confident first (Keyframe.uncertainty,
# highest first, keyframes the active version has not scored last).
QUEUE_ORDERS = ("default", "uncertain")


def lease_seconds() -> int:
    return int(getattr(settings, "REVIEW_LEASE_SECONDS", 300))


def lease_free_q(*, user: AbstractBaseUser, now: datetime) -> Q:
    """Keyframes nobody else holds a live lease on, and every gold keyframe: each reviewer's
    answer to one is stored apart (annotations.gold_answer_save), so several answer it at once.
    (Keyframe.live_lease_holder_id is the same rule on one keyframe.)"""
    return (
        Q(lease_until__isnull=True) | Q(lease_until__lte=now) | Q(lease_holder=user) | Q(gold=True)
    )


def review_queue(
    *,
    user: AbstractBaseUser,
    dataset_id: int | None = None,
    video_id: int | None = None,
    now: datetime | None = None,
    order: str = "default",
) -> QuerySet[Keyframe]:
    """The reviewer's queue: unreviewed, not excluded keyframes assigned to them, then those
    assigned to nobody, in video and time order (or least confident first), none leased to
    someone else nor gold and answered by them already."""
    if order not in QUEUE_ORDERS:
        raise ApplicationError(f"field 'order' = {order!r}: must be one of {list(QUEUE_ORDERS)}")
    now = now or timezone.now()
    queryset = Keyframe.objects.filter(
        lease_free_q(user=user, now=now),
        Q(assignee=user) | Q(assignee__isnull=True),
        status__in=QUEUE_STATUSES,
        excluded=False,
    )
    if dataset_id is not None:
        queryset = queryset.filter(video__dataset_id=dataset_id)
    if video_id is not None:
        queryset = queryset.filter(video_id=video_id)
    # A gold keyframe stays in the queue for every reviewer until they submit their own answer.
    answered = GoldAnswer.objects.filter(reviewer=user, submitted_at__isnull=False)
    queryset = queryset.exclude(pk__in=answered.values("keyframe_id"))
    mine_first = Case(
        When(assignee=user, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    queryset = queryset.annotate(queue_rank=mine_first)
    if order == "uncertain":
        return queryset.order_by("queue_rank", F("uncertainty").desc(nulls_last=True), "id")
    return queryset.order_by("queue_rank", "video_id", "timestamp", "id")


def review_queue_head(
    *,
    user: AbstractBaseUser,
    dataset_id: int | None = None,
    video_id: int | None = None,
    skip: int | None = None,
    now: datetime | None = None,
    order: str = "default",
) -> int | None:
    """The first keyframe of the reviewer's queue (review_queue's order), read without sorting
    the whole queue (one ORDER BY over assigned and unassigned keyframes sorts every keyframe
    still to review): first their assigned keyframes (few, sorted), then the unassigned ones,
    in the uncertain order the scored before the unscored, each read per status by
    _first_per_status."""
    queue = review_queue(
        user=user, dataset_id=dataset_id, video_id=video_id, now=now, order=order
    ).values_list("pk", flat=True)
    if skip is not None:
        queue = queue.exclude(pk=skip)
    unassigned = queue.filter(assignee__isnull=True)
    if order == "uncertain":
        mine = queue.filter(assignee=user).order_by(F("uncertainty").desc(nulls_last=True), "id")
        return (
            mine.first()
            or _first_per_status(unassigned.filter(uncertainty__isnull=False), "-uncertainty", "id")
            or _first_per_status(unassigned.filter(uncertainty__isnull=True), "id")
        )
    mine = queue.filter(assignee=user).order_by("video_id", "timestamp", "id")
    return mine.first() or _first_per_status(unassigned, "video_id", "timestamp", "id")


def _first_per_status(keyframes: QuerySet[Keyframe], *order: str) -> int | None:
    """The first of `keyframes` in `order` (numeric fields, "-" for descending): the first of
    each queue status, each a query that walks an index on (status, *order) to its first row,
    then the first of those. (One query over both statuses makes PostgreSQL sort them all.)"""
    fields = [name.lstrip("-") for name in order]
    signs = [-1 if name.startswith("-") else 1 for name in order]
    heads = []
    for status in QUEUE_STATUSES:
        head = keyframes.filter(status=status).order_by(*order).values_list("pk", *fields).first()
        if head is not None:
            pk, *values = head
            heads.append(([sign * value for sign, value in zip(signs, values, strict=True)], pk))
    return min(heads)[1] if heads else None


def keyframe_take(
    *,
    user: AbstractBaseUser,
    dataset_id: int | None = None,
    video_id: int | None = None,
    skip: int | None = None,
    order: str = "default",
) -> Keyframe | None:
    """Lease the first keyframe of the reviewer's queue to them (None when the queue is empty).

    The lease is taken by a conditional UPDATE that only matches while no one else holds it, so
    two reviewers taking the queue at once never get the same keyframe: the loser moves on to the
    next candidate. A gold keyframe is the exception: a lease holds nobody off it (lease_free_q).
    The reviewer's other leases are released (one keyframe open at a time).
    """
    for _ in range(TAKE_ATTEMPTS):
        now = timezone.now()
        candidate = review_queue_head(
            user=user, dataset_id=dataset_id, video_id=video_id, skip=skip, now=now, order=order
        )
        if candidate is None:
            return None
        with transaction.atomic():
            taken = Keyframe.objects.filter(
                lease_free_q(user=user, now=now),
                pk=candidate,
                status__in=QUEUE_STATUSES,
                excluded=False,
            ).update(lease_holder=user, lease_until=now + timedelta(seconds=lease_seconds()))
            if taken == 1:
                Keyframe.objects.filter(lease_holder=user).exclude(pk=candidate).update(
                    lease_holder=None, lease_until=None
                )
                return Keyframe.objects.get(pk=candidate)
    return None


def keyframe_lease_renew(*, user: AbstractBaseUser, keyframe_id: int) -> Keyframe:
    """Extend (or take) the reviewer's lease on a keyframe they may edit; ConflictError when
    someone else holds it."""
    now = timezone.now()
    keyframe = Keyframe.objects.get(pk=keyframe_id)
    keyframe_check_editable(keyframe=keyframe, user=user)
    renewed = Keyframe.objects.filter(lease_free_q(user=user, now=now), pk=keyframe_id).update(
        lease_holder=user, lease_until=now + timedelta(seconds=lease_seconds())
    )
    if renewed != 1:
        raise ConflictError(f"keyframe {keyframe_id} is leased to another reviewer")
    return Keyframe.objects.get(pk=keyframe_id)


def keyframe_lease_release(*, user: AbstractBaseUser, keyframe_id: int) -> None:
    """Give the reviewer's lease on a keyframe back (nothing happens if they do not hold it)."""
    Keyframe.objects.filter(pk=keyframe_id, lease_holder=user).update(
        lease_holder=None, lease_until=None
    )


def keyframe_mark(
    *, user: AbstractBaseUser, keyframe_id: int, version: int, mark: str, comment: str = ""
) -> Keyframe:
    """Flag a keyframe with a comment, or mark it excluded (AVA's excluded timestamps); bumps
    the version, ConflictError on a stale one."""
    if mark not in MARKS:
        raise ApplicationError(f"field 'mark' = {mark!r}: must be one of {list(MARKS)}")
    if mark == "flagged" and not comment.strip():
        raise ApplicationError("field 'comment': a flag needs a comment saying what is wrong")
    with transaction.atomic():
        keyframe = Keyframe.objects.select_for_update().get(pk=keyframe_id)
        keyframe_check_editable(keyframe=keyframe, user=user)
        if keyframe.version != version:
            raise ConflictError(
                f"keyframe {keyframe_id} changed since version {version}; reload it"
            )
        before = {
            "status": keyframe.status,
            "excluded": keyframe.excluded,
            "flag_comment": keyframe.flag_comment,
        }
        if mark == "flagged":
            keyframe.status = Keyframe.Status.FLAGGED
            keyframe.flag_comment = comment.strip()
        else:
            keyframe.excluded = True
        keyframe.reviewed_by = user  # type: ignore[assignment]
        keyframe.reviewed_at = timezone.now()
        keyframe.version = F("version") + 1  # type: ignore[assignment]
        keyframe.save(
            update_fields=[
                "status",
                "flag_comment",
                "excluded",
                "reviewed_by",
                "reviewed_at",
                "version",
            ]
        )
        keyframe.refresh_from_db()
        AuditEvent.objects.create(
            user=user,
            verb=f"keyframe.{mark}",
            keyframe=keyframe,
            object_type="keyframe",
            object_id=keyframe.pk,
            before=before,
            after={
                "status": keyframe.status,
                "excluded": keyframe.excluded,
                "flag_comment": keyframe.flag_comment,
            },
        )
    return keyframe
