"""Reads of gold answers and per-reviewer figures: a user's own blind answer on a gold keyframe,
every answer for the managers' approval page, and per reviewer the pace, what became of the
suggestions on the keyframes they reviewed, and their agreement with the approved gold answers
(inference.agreement), each figure with the keyframes behind it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from annotator.errors import ApplicationError
from annotator.models import Action, BoxLabel, GoldAnswer, Keyframe, PersonBox, Source, State
from annotator.roles import ROLES
from inference.agreement import AgreementCounts, LabelledBox, hourly_rate, keyframe_agreement

MACHINE = (Source.MODEL, Source.DETECTOR)
SUGGESTION_STATES = (State.ACCEPTED, State.EDITED, State.REJECTED)
FIGURES = ("reviewed", *SUGGESTION_STATES, "gold")
FIGURE_KEYFRAMES_LIMIT = 500  # rows of a figure's keyframe list (the page says how many in all)


def gold_answer_boxes(*, keyframe_id: int, user: AbstractBaseUser) -> list[dict[str, Any]]:
    """The user's own answer on a gold keyframe as review boxes (human, accepted, no scores);
    empty before they answer. Nobody else's answer and no suggestion is ever part of it."""
    answer = GoldAnswer.objects.filter(keyframe_id=keyframe_id, reviewer=user).first()
    return [
        {
            "id": box["id"],
            "person_id": box["person_id"],
            "x1": box["x1"],
            "y1": box["y1"],
            "x2": box["x2"],
            "y2": box["y2"],
            "source": Source.HUMAN,
            "state": State.ACCEPTED,
            "model_version": None,
            "detector_score": None,
            "labels": [
                {
                    "id": None,
                    "action_id": action_id,
                    "source": Source.HUMAN,
                    "state": State.ACCEPTED,
                    "score": None,
                }
                for action_id in box["labels"]
            ],
        }
        for box in (answer.boxes if answer else [])
    ]


def gold_answer_state(*, keyframe_id: int, user: AbstractBaseUser) -> str:
    """Where the user's answer on a gold keyframe stands: `none`, `draft` or `submitted`."""
    answer = GoldAnswer.objects.filter(keyframe_id=keyframe_id, reviewer=user).first()
    if answer is None:
        return "none"
    return "submitted" if answer.submitted_at else "draft"


def gold_answer_list(
    *,
    keyframe_id: int | None = None,
    reviewer_id: int | None = None,
    approved: bool | None = None,
) -> QuerySet[GoldAnswer]:
    """Answers on gold keyframes with their keyframe, video, reviewer and approver, in keyframe
    and reviewer order; filtered by keyframe, reviewer and approval."""
    answers = GoldAnswer.objects.select_related(
        "keyframe__video", "reviewer", "approved_by"
    ).order_by("keyframe__video_id", "keyframe__timestamp", "reviewer__username", "id")
    if keyframe_id is not None:
        answers = answers.filter(keyframe_id=keyframe_id)
    if reviewer_id is not None:
        answers = answers.filter(reviewer_id=reviewer_id)
    if approved is not None:
        answers = answers.filter(approved_at__isnull=not approved)
    return answers


def _action_names(dataset_ids: set[int]) -> dict[tuple[int, int], Action]:
    actions = Action.objects.filter(dataset_id__in=dataset_ids)
    return {(action.dataset_id, action.action_id): action for action in actions}


def gold_keyframes(*, reviewer_id: int | None = None) -> list[dict[str, Any]]:
    """The managers' gold page: every gold keyframe (only those the reviewer answered, when
    given) with each reviewer's answer, its boxes and label names, and which one is approved.
    Three queries."""
    keyframes = Keyframe.objects.filter(gold=True).select_related("video")
    if reviewer_id is not None:
        keyframes = keyframes.filter(gold_answers__reviewer_id=reviewer_id)
    keyframes_list = list(keyframes.order_by("video__video_id", "timestamp", "id").distinct())
    answers: dict[int, list[GoldAnswer]] = defaultdict(list)
    for answer in gold_answer_list().filter(keyframe__in=keyframes_list):
        answers[answer.keyframe_id].append(answer)
    names = _action_names({keyframe.video.dataset_id for keyframe in keyframes_list})
    rows = []
    for keyframe in keyframes_list:
        dataset_id = keyframe.video.dataset_id
        rows.append(
            {
                "keyframe": keyframe,
                "approved": any(answer.approved_at for answer in answers[keyframe.pk]),
                "answers": [
                    {
                        "answer": answer,
                        "boxes": [
                            {
                                **box,
                                "names": [
                                    names[(dataset_id, a)].name
                                    if (dataset_id, a) in names
                                    else str(a)
                                    for a in box["labels"]
                                ],
                            }
                            for box in answer.boxes
                        ],
                    }
                    for answer in answers[keyframe.pk]
                ],
            }
        )
    return rows


def _labelled(boxes: list[dict[str, Any]]) -> list[LabelledBox]:
    return [
        LabelledBox(
            coords=(box["x1"], box["y1"], box["x2"], box["y2"]), actions=frozenset(box["labels"])
        )
        for box in boxes
    ]


def gold_agreement(*, reviewer_id: int | None = None) -> dict[int, list[dict[str, Any]]]:
    """Per reviewer, each submitted answer on a keyframe that has its gold answer, with its
    agreement counts against it, in video and time order. The approved answer is the reference,
    so it is not scored itself. Three queries."""
    approved = {
        answer.keyframe_id: answer
        for answer in GoldAnswer.objects.filter(approved_at__isnull=False)
    }
    answers = GoldAnswer.objects.filter(
        keyframe_id__in=approved, submitted_at__isnull=False
    ).select_related("keyframe__video")
    if reviewer_id is not None:
        answers = answers.filter(reviewer_id=reviewer_id)
    answers_list = [answer for answer in answers if answer.pk != approved[answer.keyframe_id].pk]
    dataset_ids = {answer.keyframe.video.dataset_id for answer in answers_list}
    types: dict[int, dict[int, str]] = defaultdict(dict)  # dataset -> action id -> type
    for (dataset_id, action_id), action in _action_names(dataset_ids).items():
        types[dataset_id][action_id] = action.action_type
    scored: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for answer in sorted(answers_list, key=lambda a: (a.keyframe.video_id, a.keyframe.timestamp)):
        counts = keyframe_agreement(
            _labelled(answer.boxes),
            _labelled(approved[answer.keyframe_id].boxes),
            types[answer.keyframe.video.dataset_id],
        )
        scored[answer.reviewer_id].append({"answer": answer, "counts": counts})
    return scored


def _reviewers() -> QuerySet[Any]:
    return (
        get_user_model()
        .objects.filter(Q(groups__name__in=ROLES) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
    )


def _suggestion_counts() -> dict[int, dict[str, int]]:
    """Per reviewer: the machine boxes and labels on the (not gold) keyframes they reviewed,
    by what became of them (accepted, edited, rejected). Two queries."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SUGGESTION_STATES, 0))
    reviewed = {"keyframe__status": Keyframe.Status.REVIEWED, "keyframe__gold": False}
    boxes = (
        PersonBox.objects.filter(
            source__in=MACHINE, state__in=SUGGESTION_STATES, keyframe__reviewed_by__isnull=False
        )
        .filter(**reviewed)
        .values_list("keyframe__reviewed_by", "state")
        .annotate(count=Count("id"))
        .order_by()
    )
    labels = (
        BoxLabel.objects.filter(
            source__in=MACHINE,
            state__in=SUGGESTION_STATES,
            box__keyframe__reviewed_by__isnull=False,
        )
        .filter(**{f"box__{key}": value for key, value in reviewed.items()})
        .values_list("box__keyframe__reviewed_by", "state")
        .annotate(count=Count("id"))
        .order_by()
    )
    for user_id, state, count in [*boxes, *labels]:
        counts[user_id][state] += count
    return counts


def _review_times() -> dict[int, list[float]]:
    """Per reviewer, when they finished each keyframe: non-gold keyframes they marked reviewed
    and gold answers they submitted. Two queries."""
    times: dict[int, list[float]] = defaultdict(list)
    keyframes = Keyframe.objects.filter(
        status=Keyframe.Status.REVIEWED,
        gold=False,
        reviewed_by__isnull=False,
        reviewed_at__isnull=False,
    ).values_list("reviewed_by", "reviewed_at")
    answers = GoldAnswer.objects.filter(submitted_at__isnull=False).values_list(
        "reviewer", "submitted_at"
    )
    for user_id, at in [*keyframes, *answers]:
        times[user_id].append(at.timestamp())
    return times


def reviewer_figures() -> list[dict[str, Any]]:
    """Per user with a role: keyframes reviewed and reviewed per hour, the suggestions accepted,
    edited and rejected on the keyframes they reviewed, and their agreement with the approved
    gold answers (box recall and precision, label F1 per action type), with the URL of the
    keyframes behind each figure. A fixed number of queries."""
    times = _review_times()
    suggestions = _suggestion_counts()
    agreement = gold_agreement()
    rows = []
    for user in _reviewers():
        counts = AgreementCounts()
        for item in agreement.get(user.pk, []):
            counts.add(item["counts"])
        rows.append(
            {
                "id": user.pk,
                "username": user.get_username(),
                "keyframes_reviewed": len(times.get(user.pk, [])),
                "reviewed_per_hour": hourly_rate(times.get(user.pk, [])),
                "suggestions": suggestions.get(user.pk, dict.fromkeys(SUGGESTION_STATES, 0)),
                "gold": {"keyframes": len(agreement.get(user.pk, [])), **counts.figures()},
                "links": {
                    figure: reverse("reviewer-keyframes", args=[user.pk, figure])
                    for figure in FIGURES
                },
            }
        )
    return rows


def reviewer_figure_keyframes(
    *, reviewer_id: int, figure: str, limit: int = FIGURE_KEYFRAMES_LIMIT
) -> dict[str, Any]:
    """The keyframes behind one of a reviewer's figures, in video and time order (`rows`, the
    first `limit`; `total`, how many in all): `reviewed` (keyframes reviewed and gold answers
    submitted), `accepted` / `edited` / `rejected` (reviewed keyframes with such a suggestion,
    and how many), `gold` (answers scored against a gold answer, with their keyframe's
    figures)."""
    if figure not in FIGURES:
        raise ApplicationError(f"figure = {figure!r}: must be one of {list(FIGURES)}")
    if figure == "gold":
        scored = gold_agreement(reviewer_id=reviewer_id).get(reviewer_id, [])
        rows = [
            {
                "keyframe": item["answer"].keyframe,
                "count": None,
                "agreement": item["counts"].figures(),
            }
            for item in scored[:limit]
        ]
        return {"rows": rows, "total": len(scored)}
    keyframes = Keyframe.objects.select_related("video").order_by("video_id", "timestamp", "id")
    if figure == "reviewed":
        reviewed = keyframes.filter(
            Q(status=Keyframe.Status.REVIEWED, gold=False, reviewed_by_id=reviewer_id)
            | Q(gold_answers__reviewer_id=reviewer_id, gold_answers__submitted_at__isnull=False)
        ).distinct()
        rows = [
            {"keyframe": keyframe, "count": None, "agreement": None}
            for keyframe in reviewed[:limit]
        ]
        return {"rows": rows, "total": reviewed.count()}
    machine = Q(boxes__source__in=MACHINE, boxes__state=figure) | Q(
        boxes__labels__source__in=MACHINE, boxes__labels__state=figure
    )
    with_figure = (
        keyframes.filter(status=Keyframe.Status.REVIEWED, gold=False, reviewed_by_id=reviewer_id)
        .filter(machine)
        .distinct()
    )
    page = list(with_figure[:limit])
    shown = [keyframe.pk for keyframe in page]
    box_counts = dict(
        PersonBox.objects.filter(keyframe__in=shown, source__in=MACHINE, state=figure)
        .values_list("keyframe")
        .annotate(count=Count("id"))
        .order_by()
    )
    label_counts = dict(
        BoxLabel.objects.filter(box__keyframe__in=shown, source__in=MACHINE, state=figure)
        .values_list("box__keyframe")
        .annotate(count=Count("id"))
        .order_by()
    )
    rows = [
        {
            "keyframe": keyframe,
            "count": box_counts.get(keyframe.pk, 0) + label_counts.get(keyframe.pk, 0),
            "agreement": None,
        }
        for keyframe in page
    ]
    return {"rows": rows, "total": with_figure.count()}
