"""A reviewer's answer on a keyframe against its gold answer: boxes matched greedily by IoU, box
recall and precision, and label F1 per action type over the matched boxes. Counts add up over
keyframes, so a reviewer's figures are those of the summed counts. Also a reviewer's pace:
keyframes reviewed per hour of work."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from inference.boxes import Coords, iou

MATCH_IOU = 0.5
# A pause longer than this between two reviews is a break: neither work time nor a keyframe.
IDLE_GAP_SECONDS = 600.0


@dataclass(frozen=True)
class LabelledBox:
    """A person box (x1 y1 x2 y2, normalised) with its action ids."""

    coords: Coords
    actions: frozenset[int]


@dataclass
class AgreementCounts:
    """Additive counts behind the figures."""

    gold_boxes: int = 0
    answer_boxes: int = 0
    matched_boxes: int = 0
    # per action type: true positives, false positives, false negatives over matched boxes
    true_positives: Counter[str] = field(default_factory=Counter)
    false_positives: Counter[str] = field(default_factory=Counter)
    false_negatives: Counter[str] = field(default_factory=Counter)

    def add(self, other: AgreementCounts) -> None:
        self.gold_boxes += other.gold_boxes
        self.answer_boxes += other.answer_boxes
        self.matched_boxes += other.matched_boxes
        self.true_positives.update(other.true_positives)
        self.false_positives.update(other.false_positives)
        self.false_negatives.update(other.false_negatives)

    def figures(self) -> dict[str, object]:
        """The box counts, box recall and precision (None without boxes) and label F1 per
        action type."""
        types = sorted(
            set(self.true_positives) | set(self.false_positives) | set(self.false_negatives)
        )
        f1 = {}
        for action_type in types:
            tp = self.true_positives[action_type]
            wrong = self.false_positives[action_type] + self.false_negatives[action_type]
            f1[action_type] = 2 * tp / (2 * tp + wrong) if 2 * tp + wrong else None
        return {
            "gold_boxes": self.gold_boxes,
            "answer_boxes": self.answer_boxes,
            "matched_boxes": self.matched_boxes,
            "box_recall": self.matched_boxes / self.gold_boxes if self.gold_boxes else None,
            "box_precision": (
                self.matched_boxes / self.answer_boxes if self.answer_boxes else None
            ),
            "label_f1": f1,
        }


def match_greedy(
    answer: Sequence[Coords], gold: Sequence[Coords], threshold: float = MATCH_IOU
) -> list[tuple[int, int]]:
    """(answer index, gold index) pairs: the highest-IoU pair first, each box used once, only
    pairs with IoU >= `threshold`."""
    if not len(answer) or not len(gold):
        return []
    a = np.asarray(answer, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gold, dtype=np.float64).reshape(-1, 4)
    overlap = iou(a[:, None, :], g[None, :, :], zero_union=0.0)  # (A, G)
    order = np.argsort(-overlap, axis=None, kind="stable")
    pairs: list[tuple[int, int]] = []
    used_a: set[int] = set()
    used_g: set[int] = set()
    for flat in order.tolist():
        i, j = divmod(flat, len(g))
        if overlap[i, j] < threshold:
            break
        if i in used_a or j in used_g:
            continue
        pairs.append((i, j))
        used_a.add(i)
        used_g.add(j)
    return pairs


def keyframe_agreement(
    answer: Sequence[LabelledBox],
    gold: Sequence[LabelledBox],
    action_types: Mapping[int, str],
    threshold: float = MATCH_IOU,
) -> AgreementCounts:
    """The counts of one keyframe: boxes matched at IoU >= `threshold` (greedy by IoU), and over
    the matched boxes, per action type, the labels both gave, only the answer gave, only the
    gold gave."""
    if unknown := {a for box in (*answer, *gold) for a in box.actions} - set(action_types):
        raise ValueError(f"action ids {sorted(unknown)} have no action type")
    pairs = match_greedy([box.coords for box in answer], [box.coords for box in gold], threshold)
    counts = AgreementCounts(
        gold_boxes=len(gold), answer_boxes=len(answer), matched_boxes=len(pairs)
    )
    for i, j in pairs:
        given, wanted = answer[i].actions, gold[j].actions
        counts.true_positives.update(action_types[a] for a in given & wanted)
        counts.false_positives.update(action_types[a] for a in given - wanted)
        counts.false_negatives.update(action_types[a] for a in wanted - given)
    return counts


def hourly_rate(times: Sequence[float], idle_gap: float = IDLE_GAP_SECONDS) -> float | None:
    """Keyframes reviewed per hour of work from the times (seconds) reviews were finished: each
    finish within `idle_gap` seconds of the previous one is a keyframe done in that gap; the
    first finish of a session has no known start, so it counts neither. None without such gap."""
    if idle_gap <= 0:
        raise ValueError(f"idle_gap = {idle_gap}: must be positive")
    ordered = sorted(times)
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    worked = [gap for gap in gaps if gap <= idle_gap]
    seconds = sum(worked)
    if not worked or seconds <= 0:
        return None
    return len(worked) * 3600.0 / seconds
