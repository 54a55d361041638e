"""Agreement with gold on hand-computed keyframes: greedy IoU matching, box recall and precision,
label F1 per action type over matched boxes, counts summed over keyframes."""

from __future__ import annotations

import pytest

from inference.agreement import (
    AgreementCounts,
    LabelledBox,
    hourly_rate,
    keyframe_agreement,
    match_greedy,
)

STAND, SIT, TALK, WATCH, CARRY = 1, 2, 3, 4, 5
TYPES = {
    STAND: "PERSON_MOVEMENT",
    SIT: "PERSON_MOVEMENT",
    TALK: "PERSON_INTERACTION",
    WATCH: "PERSON_INTERACTION",
    CARRY: "OBJECT_MANIPULATION",
}


def box(x1: float, y1: float, x2: float, y2: float, *actions: int) -> LabelledBox:
    return LabelledBox(coords=(x1, y1, x2, y2), actions=frozenset(actions))


def test_it_matches_counts_and_scores_a_hand_computed_keyframe() -> None:
    gold = [
        box(0.0, 0.0, 0.4, 1.0, STAND, TALK),
        box(0.5, 0.0, 0.9, 1.0, SIT, CARRY),
        box(0.0, 0.0, 0.1, 0.1, STAND),  # nobody drew this one
    ]
    answer = [
        box(0.05, 0.0, 0.45, 1.0, STAND, WATCH),  # IoU 0.35 / 0.45 = 0.78 with the first
        box(0.5, 0.0, 0.9, 1.0, SIT, CARRY),
        box(0.6, 0.0, 0.7, 0.2, STAND),  # IoU 0.02 / 0.4 with the second: no match
    ]
    counts = keyframe_agreement(answer, gold, TYPES)
    assert (counts.gold_boxes, counts.answer_boxes, counts.matched_boxes) == (3, 3, 2)
    figures = counts.figures()
    assert figures["box_recall"] == pytest.approx(2 / 3)
    assert figures["box_precision"] == pytest.approx(2 / 3)
    # PERSON_MOVEMENT: stand and sit both right; PERSON_INTERACTION: watch for talk (1 FP,
    # 1 FN); OBJECT_MANIPULATION: carry right. The unmatched box's stand counts nowhere.
    assert figures["label_f1"] == {
        "OBJECT_MANIPULATION": 1.0,
        "PERSON_INTERACTION": 0.0,
        "PERSON_MOVEMENT": 1.0,
    }

    total = AgreementCounts()
    total.add(counts)
    total.add(keyframe_agreement([], [box(0.2, 0.2, 0.3, 0.3, SIT)], TYPES))
    total.add(keyframe_agreement([box(0.0, 0.0, 0.4, 1.0, SIT, TALK)], gold[:1], TYPES))
    figures = total.figures()
    assert figures["box_recall"] == pytest.approx(3 / 5)
    assert figures["box_precision"] == pytest.approx(3 / 4)
    # PERSON_MOVEMENT: TP 2 + (sit for stand: FP 1, FN 1) -> 2*2 / (2*2 + 2) = 2/3
    # PERSON_INTERACTION: FP 1, FN 1 + TP 1 (talk) -> 2 / (2 + 2) = 1/2
    assert figures["label_f1"] == {
        "OBJECT_MANIPULATION": 1.0,
        "PERSON_INTERACTION": pytest.approx(0.5),
        "PERSON_MOVEMENT": pytest.approx(2 / 3),
    }


def test_matching_is_greedy_by_iou_and_one_to_one() -> None:
    gold = [(0.0, 0.0, 0.5, 1.0), (0.1, 0.0, 0.6, 1.0)]
    # The answer's only box lies closest to the second gold box (IoU 1) though it overlaps the
    # first too (IoU 0.4 / 0.6); a second answer box exactly on the first.
    assert match_greedy([(0.1, 0.0, 0.6, 1.0)], gold) == [(0, 1)]
    assert match_greedy([(0.1, 0.0, 0.6, 1.0), (0.0, 0.0, 0.5, 1.0)], gold) == [(0, 1), (1, 0)]
    assert match_greedy([(0.7, 0.0, 0.9, 1.0)], gold) == []
    assert AgreementCounts().figures() == {
        "gold_boxes": 0,
        "answer_boxes": 0,
        "matched_boxes": 0,
        "box_recall": None,
        "box_precision": None,
        "label_f1": {},
    }
    with pytest.raises(ValueError, match="action type"):
        keyframe_agreement([box(0, 0, 1, 1, 99)], [], TYPES)


def test_hourly_rate_counts_the_keyframes_finished_within_the_idle_gap() -> None:
    # Finishes at 0, 60 and 180 s: 2 keyframes in 180 s of work = 40 per hour. A break of an
    # hour, then 30 s more for one keyframe: 3 in 210 s.
    assert hourly_rate([60.0, 0.0, 180.0]) == pytest.approx(40.0)
    assert hourly_rate([0.0, 60.0, 180.0, 3780.0, 3810.0]) == pytest.approx(3 * 3600 / 210)
    assert hourly_rate([]) is None and hourly_rate([5.0]) is None
    assert hourly_rate([0.0, 1200.0]) is None  # one break, no work measured
    assert hourly_rate([0.0, 1200.0], idle_gap=1800.0) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="idle_gap"):
        hourly_rate([0.0], idle_gap=0)
