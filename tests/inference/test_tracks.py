"""Person tracks by optimal assignment on IoU, on generated trajectories where two people cross."""

from __future__ import annotations

import numpy as np
import pytest

from inference.tracks import link_boxes


def crossing(step: int) -> dict[str, list[float]]:
    """A near person (tall box) walks right while a far one (small box) walks left past them."""
    near_x, far_x = 0.05 + 0.06 * step, 0.75 - 0.06 * step
    return {
        "near": [near_x, 0.2, near_x + 0.3, 0.9],
        "far": [far_x, 0.3, far_x + 0.15, 0.6],
    }


def test_people_who_cross_keep_their_ids_whatever_order_the_detector_gives() -> None:
    rng = np.random.default_rng(0)
    names = ["near", "far"]
    previous = np.asarray([crossing(0)[name] for name in names])
    previous_ids = link_boxes(np.zeros((0, 4)), [], previous, next_id=1)
    assert previous_ids == [1, 2]
    identity = dict(zip(names, previous_ids, strict=True))
    for step in range(1, 11):
        order = list(rng.permutation(names))
        current = np.asarray([crossing(step)[name] for name in order])
        ids = link_boxes(previous, previous_ids, current, next_id=3)
        assert dict(zip(order, ids, strict=True)) == identity, f"step {step}"
        previous, previous_ids = current, ids
    # They have crossed: the near one is now right of the far one.
    assert crossing(10)["near"][0] > crossing(10)["far"][0]


def test_below_the_iou_threshold_a_box_starts_a_new_track() -> None:
    previous = np.asarray([[0.1, 0.1, 0.3, 0.5], [0.6, 0.1, 0.8, 0.5]])
    current = np.asarray(
        [
            [0.62, 0.1, 0.82, 0.5],  # the second person, moved a little: IoU 0.82
            [0.2, 0.1, 0.4, 0.5],  # half a width from the first: IoU 1/3, still them
            [0.1, 0.6, 0.3, 0.95],  # someone new below
        ]
    )
    assert link_boxes(previous, [7, 4], current, next_id=9) == [4, 7, 9]
    moved_far = np.asarray([[0.25, 0.1, 0.45, 0.5]])  # IoU 1/7 with the first: too little
    assert link_boxes(previous, [7, 4], moved_far, next_id=9) == [9]
    assert link_boxes(previous, [7, 4], np.zeros((0, 4)), next_id=9) == []
    with pytest.raises(ValueError, match="ids"):
        link_boxes(previous, [7], current, next_id=9)
