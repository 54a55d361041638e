"""Person detection without Django: weights found locally or a message saying where to put them,
and normalised, clipped, best-first person boxes from a real (randomly initialised) Faster R-CNN."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.detect import detect_people, detector_weights_path, load_detector
from tests.generated import LIGHT_DETECTOR, detector_weights


def test_an_unknown_architecture_or_a_missing_file_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="PERSON_DETECTOR_ARCH = 'yolo'"):
        detector_weights_path("yolo")
    missing = tmp_path / "none.pth"
    with pytest.raises(ValueError, match=f"not found at PERSON_DETECTOR_WEIGHTS={missing}"):
        detector_weights_path(LIGHT_DETECTOR, str(missing))


def test_the_configured_file_wins_and_wrong_weights_name_the_file(tmp_path):
    weights = detector_weights(tmp_path / "light.pth", LIGHT_DETECTOR)
    assert detector_weights_path(LIGHT_DETECTOR, str(weights)) == weights
    with pytest.raises(ValueError, match=f"{weights}: not fasterrcnn_resnet50_fpn COCO weights"):
        load_detector("fasterrcnn_resnet50_fpn", weights, device="cpu")


def test_people_come_normalised_best_first_and_capped(tmp_path):
    weights = detector_weights(tmp_path / "light.pth", LIGHT_DETECTOR)
    model = load_detector(LIGHT_DETECTOR, weights, device="cpu")
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)) for _ in range(2)
    ]
    found = detect_people(model, images, threshold=0.0, max_boxes=5)
    assert len(found) == 2
    for people in found:
        assert people.dtype == np.float32 and people.shape[1] == 5
        assert 0 < len(people) <= 5
        assert np.all((people[:, :4] >= 0) & (people[:, :4] <= 1))
        assert np.all(people[:, 0] < people[:, 2]) and np.all(people[:, 1] < people[:, 3])
        assert np.all(np.diff(people[:, 4]) <= 0)  # best first
