"""Uncertainty of a keyframe's scores: sum of p(1 - p), on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from inference.uncertainty import score_uncertainty


def test_it_sums_bernoulli_variances_over_boxes_and_classes() -> None:
    boxes = [np.array([0.5, 0.25, 1.0]), np.array([0.75, 0.0, 0.5], dtype=np.float16)]
    # 0.25 + 0.1875 + 0 + 0.1875 + 0 + 0.25
    assert score_uncertainty(boxes) == pytest.approx(0.875)
    assert score_uncertainty([]) == 0.0


def test_it_refuses_values_that_are_not_probabilities() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        score_uncertainty([np.array([0.5, 1.5])])
