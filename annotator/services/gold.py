"""Gold keyframes: a manager marks a random sample of a video's or dataset's keyframes gold; the
review page then shows them blind (no suggestions, no scores) and pre-annotation leaves them.
Each reviewer's answer is stored apart (annotations.gold_answer_save); the first answer a manager
approves is the gold answer, written to the keyframe as its ground truth."""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError
from annotator.models import AuditEvent, GoldAnswer, Keyframe
from annotator.services.annotations import BoxInput, LabelInput, keyframe_annotations_write
from annotator.services.assignment import keyframes_selection


def keyframes_mark_gold(
    *,
    user: Any,
    count: int,
    video_id: int | None = None,
    dataset_id: int | None = None,
    seed: int | None = None,
) -> list[int]:
    """Mark `count` keyframes drawn at random (uniformly, without replacement) from the video's
    or dataset's keyframes still to review and not gold yet; all of them when fewer. Audited;
    returns the keyframes marked."""
    if count < 1:
        raise ApplicationError(f"field 'count' = {count}: must be at least 1")
    candidates = keyframes_selection(
        video_id=video_id, dataset_id=dataset_id, timestamp_from=None, timestamp_to=None
    ).filter(gold=False)
    with transaction.atomic():
        pool = list(candidates.values_list("pk", flat=True))
        chosen = sorted(random.Random(seed).sample(pool, min(count, len(pool))))
        Keyframe.objects.filter(pk__in=chosen).update(gold=True)
        AuditEvent.objects.create(
            user=user,
            verb="keyframes.gold",
            object_type="keyframe",
            after={"keyframes": chosen, "video": video_id, "dataset": dataset_id, "seed": seed},
        )
    return chosen


def gold_answer_approve(
    *, answer_id: int, user: AbstractBaseUser, replace: bool = False
) -> GoldAnswer:
    """Approve a submitted answer as its keyframe's gold answer: its boxes and labels become the
    keyframe's human annotation and the keyframe is reviewed, its version bumped. A keyframe that
    has its gold answer already is a 409 unless `replace`: then this answer takes the place of
    the approved one (a wrong approval is corrected, never stacked). Audited, with the answer
    replaced."""
    with transaction.atomic():
        answer = GoldAnswer.objects.select_for_update().get(pk=answer_id)
        keyframe = (
            Keyframe.objects.select_for_update()
            .select_related("video__dataset")
            .get(pk=answer.keyframe_id)
        )
        if not keyframe.gold:
            raise ApplicationError(f"keyframe {keyframe.pk} is not gold")
        if answer.submitted_at is None:
            raise ApplicationError(
                f"answer {answer.pk} is a draft: its reviewer has not marked it reviewed"
            )
        approved = GoldAnswer.objects.filter(keyframe=keyframe, approved_at__isnull=False).first()
        if approved is not None and (approved.pk == answer.pk or not replace):
            raise ConflictError(
                f"keyframe {keyframe.pk} already has its gold answer (answer {approved.pk})"
                + ("" if approved.pk == answer.pk else "; approve with replace to change it")
            )
        if approved is not None:  # cleared first: one approved answer per keyframe
            approved.approved_by, approved.approved_at = None, None
            approved.save(update_fields=["approved_by", "approved_at", "updated_at"])
        answer.approved_by = user  # type: ignore[assignment]
        answer.approved_at = timezone.now()
        answer.save(update_fields=["approved_by", "approved_at", "updated_at"])
        boxes = [
            BoxInput(
                x1=box["x1"],
                y1=box["y1"],
                x2=box["x2"],
                y2=box["y2"],
                person_id=box["person_id"],
                labels=tuple(LabelInput(action_id=action_id) for action_id in box["labels"]),
            )
            for box in answer.boxes
        ]
        keyframe_annotations_write(
            keyframe=keyframe, boxes=boxes, user=user, status=Keyframe.Status.REVIEWED
        )
        Keyframe.objects.filter(pk=keyframe.pk).update(version=F("version") + 1)
        AuditEvent.objects.create(
            user=user,
            verb="gold_answer.approve",
            keyframe=keyframe,
            object_type="gold_answer",
            object_id=answer.pk,
            before=None if approved is None else {"replaced": approved.pk},
            after={"reviewer": answer.reviewer_id, "boxes": answer.boxes},
        )
    return answer
