"""Box geometry on x1 y1 x2 y2 boxes: IoU, overlap tests, clipping, and pre-annotation's plan.

The one IoU of the project: evaluation, synthetic data and pre-annotation all call `iou`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Coords = tuple[float, float, float, float]


def iou(a: np.ndarray, b: np.ndarray, *, zero_union: float = math.nan) -> np.ndarray:
    """IoU of boxes `a` and `b` (..., 4), broadcast against each other, continuous coordinates.

    Row-wise for two (N, 4) arrays, one against many for (4,) and (M, 4). Two boxes without area
    have no union: their IoU is `zero_union`, NaN by default as in the official AVA evaluator
    (whose argmax takes NaN for the largest).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    height = np.maximum(0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
    width = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
    intersection = height * width
    area_a = (a[..., 3] - a[..., 1]) * (a[..., 2] - a[..., 0])
    area_b = (b[..., 3] - b[..., 1]) * (b[..., 2] - b[..., 0])
    union = area_a + area_b - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        result = intersection / union
    if not math.isnan(zero_union):
        result = np.where(union > 0, result, zero_union)
    return np.asarray(result)


def overlaps_any(box: Sequence[float], others: Sequence[Sequence[float]], threshold: float) -> bool:
    """Whether any of `others` has IoU >= `threshold` with `box`."""
    if not len(others):
        return False
    candidates = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    return bool(np.any(iou(np.asarray(box, dtype=np.float64), candidates) >= threshold))


def clip_normalised(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel boxes (N, 4) divided by the image size and clipped to [0, 1], with a mask of those
    that keep an area."""
    scale = np.array([width, height, width, height], np.float32)
    normalised = np.clip(np.asarray(boxes, np.float32) / scale, 0.0, 1.0)
    valid = (normalised[:, 0] < normalised[:, 2]) & (normalised[:, 1] < normalised[:, 3])
    return normalised, valid


@dataclass(frozen=True)
class PlannedBox:
    """A box to score: an existing one (`box_id`) or a new detector box."""

    coords: Coords
    box_id: int | None = None
    detector_score: float | None = None


def plan_keyframe_boxes(
    truth: Sequence[PlannedBox],
    blockers: Sequence[Coords],
    machine: Sequence[PlannedBox],
    *,
    suggest: bool,
    overlap_iou: float,
) -> list[PlannedBox]:
    """A keyframe's boxes to score: its ground truth, then the machine boxes. For suggestions
    only machine boxes clear of every blocker (ground truth, rejected boxes), so a reviewer sees
    no duplicate; otherwise every machine box, as it came."""
    plan = list(truth)
    plan.extend(
        box for box in machine if not (suggest and overlaps_any(box.coords, blockers, overlap_iou))
    )
    return plan
