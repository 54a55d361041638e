"""Box geometry: the one IoU (row-wise, one against many, boxes without area), overlap tests,
clipping and pre-annotation's plan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.boxes import PlannedBox, clip_normalised, iou, overlaps_any, plan_keyframe_boxes


def test_it_computes_iou_row_wise_and_one_against_many():
    a = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    b = np.array([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]])
    assert iou(a, b) == pytest.approx([1 / 7, 0.0])
    assert iou(a[0], b) == pytest.approx([1 / 7, 0.0])
    assert iou(a[0], a[0]) == pytest.approx(1.0)


def test_two_boxes_without_area_have_nan_iou_unless_told_otherwise():
    point = np.array([0.5, 0.5, 0.5, 0.5])
    assert math.isnan(float(iou(point, point)))
    assert float(iou(point, point, zero_union=0.0)) == 0.0
    # one box with area: the union is its area, the IoU 0
    assert float(iou(point, np.array([0.0, 0.0, 1.0, 1.0]))) == 0.0


def test_overlaps_any_applies_the_threshold_inclusively():
    box = (0.0, 0.0, 1.0, 1.0)
    half = (0.0, 0.0, 1.0, 0.5)  # IoU exactly 0.5
    assert overlaps_any(box, [half], 0.5)
    assert not overlaps_any(box, [half], 0.51)
    assert not overlaps_any(box, [], 0.5)


def test_clip_normalised_divides_by_the_size_and_flags_boxes_left_without_area():
    boxes = np.array([[10, 20, 110, 220], [-5, -5, 50, 400], [300, 10, 400, 20]], np.float32)
    clipped, valid = clip_normalised(boxes, width=200, height=400)
    assert clipped[0] == pytest.approx([0.05, 0.05, 0.55, 0.55])
    assert clipped[1] == pytest.approx([0.0, 0.0, 0.25, 1.0])
    assert valid.tolist() == [True, True, False]  # the third lies right of the image


def test_plan_keeps_ground_truth_first_and_drops_machine_boxes_on_blockers_for_suggestions():
    truth = [PlannedBox(coords=(0.1, 0.1, 0.4, 0.9), box_id=7)]
    rejected = (0.6, 0.1, 0.9, 0.9)
    machine = [
        PlannedBox(coords=(0.1, 0.1, 0.4, 0.88), detector_score=0.9),  # on the ground truth
        PlannedBox(coords=(0.6, 0.1, 0.9, 0.9), detector_score=0.8),  # on the rejected box
        PlannedBox(coords=(0.45, 0.1, 0.55, 0.5), detector_score=0.7),  # clear of both
    ]
    blockers = [truth[0].coords, rejected]
    suggested = plan_keyframe_boxes(truth, blockers, machine, suggest=True, overlap_iou=0.5)
    assert suggested == [truth[0], machine[2]]
    everything = plan_keyframe_boxes(truth, blockers, machine, suggest=False, overlap_iou=0.5)
    assert everything == [truth[0], *machine]
