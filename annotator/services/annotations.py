"""Saving one keyframe's boxes and labels: optimistic lock, review rules, audit trail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotator.errors import ApplicationError, ConflictError, NotAllowedError
from annotator.models import (
    Action,
    AuditEvent,
    BoxLabel,
    GoldAnswer,
    Keyframe,
    PersonBox,
    Source,
    State,
    is_ground_truth,
)
from annotator.roles import is_manager

MACHINE_SOURCES = (Source.MODEL, Source.DETECTOR)


@dataclass(frozen=True)
class LabelInput:
    action_id: int
    state: str = State.ACCEPTED


@dataclass(frozen=True)
class BoxInput:
    x1: float
    y1: float
    x2: float
    y2: float
    id: int | None = None
    person_id: int | None = None
    state: str | None = None
    labels: tuple[LabelInput, ...] = field(default_factory=tuple)


def keyframe_check_editable(*, keyframe: Keyframe, user: AbstractBaseUser) -> None:
    """Reviewers edit keyframes assigned to them or unassigned; managers edit any."""
    if is_manager(user):
        return
    if keyframe.assignee_id not in (None, user.pk):
        raise NotAllowedError(f"keyframe {keyframe.pk} is assigned to another reviewer")
    if keyframe.live_lease_holder_id() not in (None, user.pk):  # someone else's work in progress
        raise NotAllowedError(f"keyframe {keyframe.pk} is leased to another reviewer")


def review_rules_check(*, keyframe: Keyframe, rules: dict[str, dict[str, int]]) -> None:
    """Raise naming the box and the rule when a ground-truth box breaks the dataset's rules."""
    if not rules:
        return
    boxes = keyframe.boxes.prefetch_related("labels__action").order_by("id")
    _rules_raise(
        [
            (
                f"box {box.pk} (person {box.person_id})",
                Counter(
                    label.action.action_type
                    for label in box.labels.all()
                    if is_ground_truth(label.source, label.state)
                ),
            )
            for box in boxes
            if is_ground_truth(box.source, box.state)
        ],
        rules,
    )


def _rules_raise(boxes: list[tuple[str, Counter[str]]], rules: dict[str, dict[str, int]]) -> None:
    """Raise naming each box (its name, its label count per action type) and rule it breaks."""
    problems = []
    for name, counts in boxes:
        for action_type, bounds in rules.items():
            count = counts.get(action_type, 0)
            low, high = bounds.get("min", 0), bounds.get("max")
            if count < low or (high is not None and count > high):
                rule = f"{low}..{high}" if high is not None else f">= {low}"
                problems.append(f"{name} has {count} {action_type} labels; the rule is {rule}")
    if problems:
        raise ApplicationError("; ".join(problems), extra={"rule_violations": problems})


def _box_snapshot(box: PersonBox) -> dict[str, Any]:
    return {
        "person_id": box.person_id,
        "x1": box.x1,
        "y1": box.y1,
        "x2": box.x2,
        "y2": box.y2,
        "source": box.source,
        "state": box.state,
    }


def _validate_box(box: BoxInput, index: int) -> None:
    for name in ("x1", "y1", "x2", "y2"):
        value = getattr(box, name)
        if not 0.0 <= value <= 1.0:
            raise ApplicationError(f"boxes[{index}]: field '{name}' = {value!r}: must be in [0, 1]")
    if box.x1 >= box.x2:
        raise ApplicationError(f"boxes[{index}]: x1 = {box.x1!r} must be < x2 = {box.x2!r}")
    if box.y1 >= box.y2:
        raise ApplicationError(f"boxes[{index}]: y1 = {box.y1!r} must be < y2 = {box.y2!r}")
    if box.state is not None and box.state not in State.values:
        raise ApplicationError(
            f"boxes[{index}]: field 'state' = {box.state!r}: must be one of {State.values}"
        )
    for label in box.labels:
        if label.state not in State.values:
            raise ApplicationError(
                f"boxes[{index}]: label state {label.state!r}: must be one of {State.values}"
            )


def keyframe_annotations_save(
    *,
    keyframe_id: int,
    version: int,
    boxes: list[BoxInput],
    user: AbstractBaseUser,
    status: str | None = None,
) -> Keyframe:
    """Replace a keyframe's annotation with `boxes` if `version` is current; else ConflictError.

    The request is the keyframe's complete annotation: a box or label it omits is deleted when a
    human made it and marked rejected when a machine suggested it (so the suggestion is not offered
    again). A machine box that is kept becomes accepted, or edited when its coordinates changed.
    On a gold keyframe the boxes are the user's own answer instead (gold_answer_save): the
    keyframe and everyone else's answers stay as they are.
    """
    for index, box in enumerate(boxes):
        _validate_box(box, index)
    with transaction.atomic():
        keyframe = Keyframe.objects.select_related("video__dataset").get(pk=keyframe_id)
        keyframe_check_editable(keyframe=keyframe, user=user)
        if keyframe.gold:
            if keyframe.version != version:
                raise ConflictError(
                    f"keyframe {keyframe_id} changed since version {version}; reload it"
                )
            gold_answer_save(keyframe=keyframe, boxes=boxes, user=user, status=status)
            return keyframe
        updated = Keyframe.objects.filter(pk=keyframe_id, version=version).update(
            version=F("version") + 1
        )
        if updated != 1:
            raise ConflictError(
                f"keyframe {keyframe_id} changed since version {version}; reload it"
            )
        return keyframe_annotations_write(keyframe=keyframe, boxes=boxes, user=user, status=status)


def keyframe_annotations_write(
    *, keyframe: Keyframe, boxes: list[BoxInput], user: AbstractBaseUser, status: str | None
) -> Keyframe:
    """Write `boxes` as the keyframe's complete annotation (the rules of
    keyframe_annotations_save), audited; the caller holds the transaction and the version."""
    with transaction.atomic():
        dataset = keyframe.video.dataset
        actions = {action.action_id: action for action in Action.objects.filter(dataset=dataset)}
        existing = {box.pk: box for box in keyframe.boxes.prefetch_related("labels")}
        audit: list[AuditEvent] = []

        def record(
            verb: str, object_type: str, object_id: int | None, before: Any, after: Any
        ) -> None:
            audit.append(
                AuditEvent(
                    user=user,
                    verb=verb,
                    keyframe=keyframe,
                    object_type=object_type,
                    object_id=object_id,
                    before=before,
                    after=after,
                )
            )

        kept: set[int] = set()
        for index, box_input in enumerate(boxes):
            box = _box_save(keyframe, existing, box_input, index, record)
            kept.add(box.pk)
            _labels_save(box, box_input, actions, index, record)
        for box in existing.values():
            if box.pk in kept:
                continue
            before = _box_snapshot(box)
            if box.source in MACHINE_SOURCES:
                if box.state != State.REJECTED:
                    box.state = State.REJECTED
                    box.save(update_fields=["state", "updated_at"])
                    record("box.reject", "box", box.pk, before, _box_snapshot(box))
            else:
                box_pk = box.pk
                box.delete()
                record("box.delete", "box", box_pk, before, None)

        now = timezone.now()
        keyframe.refresh_from_db()
        if status is not None:
            if status not in Keyframe.Status.values:
                raise ApplicationError(
                    f"field 'status' = {status!r}: must be one of {Keyframe.Status.values}"
                )
            # Whoever marks a keyframe reviewed is its reviewer, also when it was reviewed
            # already (by an import, which names nobody, or by another person).
            if status == Keyframe.Status.REVIEWED:
                review_rules_check(keyframe=keyframe, rules=dataset.review_rules)
                _suggestions_reject(keyframe, record)
                keyframe.reviewed_by = user  # type: ignore[assignment]
                keyframe.reviewed_at = now
            if status != keyframe.status:
                record(
                    "keyframe.status",
                    "keyframe",
                    keyframe.pk,
                    {"status": keyframe.status},
                    {"status": status},
                )
            keyframe.status = status
            keyframe.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        AuditEvent.objects.bulk_create(audit)
    return keyframe


def _suggestions_reject(keyframe: Keyframe, record: Any) -> None:
    """Reviewed: the machine suggestions nobody accepted are rejected, so none stays pending."""
    pending = BoxLabel.objects.filter(box__keyframe=keyframe, state=State.SUGGESTED)
    for label_pk, box_pk, action_id in pending.values_list("pk", "box_id", "action__action_id"):
        before = {"box": box_pk, "action_id": action_id, "state": State.SUGGESTED}
        record("label.reject", "label", label_pk, before, {**before, "state": State.REJECTED})
    pending.update(state=State.REJECTED)
    boxes = keyframe.boxes.filter(state=State.SUGGESTED)
    for box in boxes:
        record("box.reject", "box", box.pk, _box_snapshot(box), {"state": State.REJECTED})
    boxes.update(state=State.REJECTED)


def _box_save(
    keyframe: Keyframe, existing: dict[int, PersonBox], box_input: BoxInput, index: int, record: Any
) -> PersonBox:
    coords = (box_input.x1, box_input.y1, box_input.x2, box_input.y2)
    if box_input.id is None:
        box = PersonBox.objects.create(
            keyframe=keyframe,
            person_id=box_input.person_id,
            x1=coords[0],
            y1=coords[1],
            x2=coords[2],
            y2=coords[3],
            source=Source.HUMAN,
            state=box_input.state or State.ACCEPTED,
        )
        record("box.create", "box", box.pk, None, _box_snapshot(box))
        return box
    box = existing.get(box_input.id)
    if box is None:
        raise ApplicationError(
            f"boxes[{index}]: box {box_input.id} is not on keyframe {keyframe.pk}"
        )
    before = _box_snapshot(box)
    moved = coords != (box.x1, box.y1, box.x2, box.y2)
    box.x1, box.y1, box.x2, box.y2 = coords
    box.person_id = box_input.person_id
    if box_input.state is not None:
        box.state = box_input.state
    elif box.source in MACHINE_SOURCES:
        box.state = State.EDITED if moved else State.ACCEPTED
    elif moved and box.source == Source.IMPORT:
        box.state = State.EDITED
    after = _box_snapshot(box)
    if after != before:
        box.save()
        record("box.update", "box", box.pk, before, after)
    return box


def _labels_save(
    box: PersonBox, box_input: BoxInput, actions: dict[int, Action], index: int, record: Any
) -> None:
    current = {label.action.action_id: label for label in box.labels.select_related("action")}
    wanted: dict[int, str] = {}
    for label in box_input.labels:
        if label.action_id not in actions:
            raise ApplicationError(f"boxes[{index}]: unknown action id {label.action_id}")
        if label.action_id in wanted:
            raise ApplicationError(f"boxes[{index}]: action id {label.action_id} given twice")
        wanted[label.action_id] = label.state
    for action_id, state in wanted.items():
        existing = current.get(action_id)
        if existing is None:
            created = BoxLabel.objects.create(
                box=box, action=actions[action_id], source=Source.HUMAN, state=state
            )
            record(
                "label.create",
                "label",
                created.pk,
                None,
                {"box": box.pk, "action_id": action_id, "state": state},
            )
        elif existing.state != state:
            before = {"box": box.pk, "action_id": action_id, "state": existing.state}
            existing.state = state
            existing.save(update_fields=["state"])
            record("label.update", "label", existing.pk, before, {**before, "state": state})
    for action_id, label in current.items():
        if action_id in wanted:
            continue
        before = {
            "box": box.pk,
            "action_id": action_id,
            "state": label.state,
            "source": label.source,
        }
        if label.source in MACHINE_SOURCES:
            if label.state != State.REJECTED:
                label.state = State.REJECTED
                label.save(update_fields=["state"])
                record(
                    "label.reject", "label", label.pk, before, {**before, "state": State.REJECTED}
                )
        else:
            label_pk = label.pk
            label.delete()
            record("label.delete", "label", label_pk, before, None)


def gold_answer_save(
    *, keyframe: Keyframe, boxes: list[BoxInput], user: AbstractBaseUser, status: str | None
) -> GoldAnswer:
    """Store `boxes` as the user's blind answer on a gold keyframe (boxes and labels not
    rejected), keeping its box ids; marking it reviewed checks the review rules and submits it.
    Audited."""
    actions = {
        action.action_id: action.action_type
        for action in Action.objects.filter(dataset_id=keyframe.video.dataset_id)
    }
    answer, _ = GoldAnswer.objects.select_for_update().get_or_create(
        keyframe=keyframe, reviewer=user
    )
    before = {"boxes": answer.boxes, "submitted": answer.submitted_at is not None}
    known = {box["id"] for box in answer.boxes}
    next_id = max(known, default=0) + 1
    answered: list[dict[str, Any]] = []
    for index, box in enumerate(boxes):
        if box.state == State.REJECTED:
            continue
        labels: list[int] = []
        for label in box.labels:
            if label.action_id not in actions:
                raise ApplicationError(f"boxes[{index}]: unknown action id {label.action_id}")
            if label.state != State.REJECTED and label.action_id not in labels:
                labels.append(label.action_id)
        if box.id in known:
            box_id = box.id
        else:
            box_id, next_id = next_id, next_id + 1
        answered.append(
            {
                "id": box_id,
                "person_id": box.person_id,
                "x1": box.x1,
                "y1": box.y1,
                "x2": box.x2,
                "y2": box.y2,
                "labels": sorted(labels),
            }
        )
    answer.boxes = answered
    if status == Keyframe.Status.REVIEWED:
        rules = keyframe.video.dataset.review_rules
        if rules:
            _rules_raise(
                [
                    (
                        f"box {box['id']} (person {box['person_id']})",
                        Counter(actions[a] for a in box["labels"]),
                    )
                    for box in answered
                ],
                rules,
            )
        answer.submitted_at = timezone.now()
    answer.save()
    after = {"boxes": answer.boxes, "submitted": answer.submitted_at is not None}
    if after != before:
        AuditEvent.objects.create(
            user=user,
            verb="gold_answer.save",
            keyframe=keyframe,
            object_type="gold_answer",
            object_id=answer.pk,
            before=before,
            after=after,
        )
    return answer


def keyframe_update(
    *,
    keyframe_id: int,
    user: AbstractBaseUser,
    assignee: int | None | object = ...,
    excluded: bool | None = None,
    gold: bool | None = None,
) -> Keyframe:
    """Assign a keyframe, or mark it excluded or gold (managers); bumps the version."""
    from django.contrib.auth import get_user_model

    with transaction.atomic():
        keyframe = Keyframe.objects.select_for_update().get(pk=keyframe_id)
        before = {
            "assignee": keyframe.assignee_id,
            "excluded": keyframe.excluded,
            "gold": keyframe.gold,
        }
        if assignee is not ...:
            if (
                assignee is not None
                and not get_user_model().objects.filter(pk=assignee, is_active=True).exists()
            ):
                raise ApplicationError(f"assignee = {assignee!r}: no such active user")
            keyframe.assignee_id = assignee  # type: ignore[assignment]
        if excluded is not None:
            keyframe.excluded = excluded
        if gold is not None:
            keyframe.gold = gold
        after = {
            "assignee": keyframe.assignee_id,
            "excluded": keyframe.excluded,
            "gold": keyframe.gold,
        }
        if after != before:
            keyframe.version += 1
            keyframe.save(update_fields=["assignee", "excluded", "gold", "version"])
            AuditEvent.objects.create(
                user=user,
                verb="keyframe.update",
                keyframe=keyframe,
                object_type="keyframe",
                object_id=keyframe.pk,
                before=before,
                after=after,
            )
    return keyframe


def keyframe_status_set(*, keyframe_id: int, status: str, user: AbstractBaseUser) -> Keyframe:
    """Set a keyframe's review status (the admin's actions); bumps the version and is audited."""
    if status not in Keyframe.Status.values:
        raise ApplicationError(
            f"field 'status' = {status!r}: must be one of {Keyframe.Status.values}"
        )
    with transaction.atomic():
        keyframe = Keyframe.objects.select_for_update().get(pk=keyframe_id)
        before = {"status": keyframe.status, "reviewed_by": keyframe.reviewed_by_id}
        if status == Keyframe.Status.REVIEWED:
            review_rules_check(keyframe=keyframe, rules=keyframe.video.dataset.review_rules)
            keyframe.reviewed_by = user  # type: ignore[assignment]
            keyframe.reviewed_at = timezone.now()
        keyframe.status = status
        keyframe.version += 1
        keyframe.save(update_fields=["status", "reviewed_by", "reviewed_at", "version"])
        AuditEvent.objects.create(
            user=user,
            verb="keyframe.status",
            keyframe=keyframe,
            object_type="keyframe",
            object_id=keyframe.pk,
            before=before,
            after={"status": keyframe.status, "reviewed_by": keyframe.reviewed_by_id},
        )
    return keyframe
