"""Person tracks: linking a keyframe's boxes to the previous keyframe's by optimal assignment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from inference.boxes import iou

TRACK_IOU = 0.3


def link_boxes(
    previous: np.ndarray,
    previous_ids: Sequence[int],
    current: np.ndarray,
    *,
    next_id: int,
    threshold: float = TRACK_IOU,
) -> list[int]:
    """Person ids for `current` boxes (N, 4): the id of the previous keyframe's box (M, 4) each is
    matched to by maximum-total-IoU assignment (`scipy.optimize.linear_sum_assignment`), when
    that IoU is >= `threshold`; otherwise a fresh id counting up from `next_id`."""
    previous = np.asarray(previous, dtype=np.float64).reshape(-1, 4)
    current = np.asarray(current, dtype=np.float64).reshape(-1, 4)
    if len(previous_ids) != len(previous):
        raise ValueError(f"{len(previous_ids)} ids for {len(previous)} previous boxes")
    ids: list[int | None] = [None] * len(current)
    if len(previous) and len(current):
        overlap = iou(current[:, None, :], previous[None, :, :], zero_union=0.0)  # (N, M)
        rows, columns = linear_sum_assignment(overlap, maximize=True)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            if overlap[row, column] >= threshold:
                ids[row] = int(previous_ids[column])
    linked: list[int] = []
    for person_id in ids:
        if person_id is None:
            person_id = next_id
            next_id += 1
        linked.append(person_id)
    return linked
