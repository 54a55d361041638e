"""Gold keyframes: a manager marks a random sample of a video's or dataset's keyframes gold; the
review page then shows them blind (no suggestions, no scores) and pre-annotation leaves them."""

from __future__ import annotations

import random
from typing import Any

from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import AuditEvent, Keyframe
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
