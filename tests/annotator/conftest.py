"""Fixtures of the pre-annotation and evaluation tests: a small checkpoint, a light person
detector and an ingested generated video."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.generated import LIGHT_DETECTOR, detector_weights, ingested_index_video, small_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_checkpoint(tmp_path_factory.mktemp("model") / "small.pt")


@pytest.fixture(scope="module")
def light_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return detector_weights(tmp_path_factory.mktemp("detector") / "light.pt", LIGHT_DETECTOR)


@pytest.fixture
def use_light_detector(settings, light_detector):  # type: ignore[no-untyped-def]
    settings.PERSON_DETECTOR_ARCH = LIGHT_DETECTOR
    settings.PERSON_DETECTOR_WEIGHTS = str(light_detector)
    settings.PERSON_DETECTOR_MAX_BOXES = 3


@pytest.fixture
def video(ava_dataset, media_root, tmp_path, settings):  # type: ignore[no-untyped-def]
    """A 4 s generated video, ingested: keyframes at 1, 2 and 3 s."""
    settings.PREANNOTATE_BATCH_SIZE = 2
    settings.PREANNOTATE_DISPLAY_FLOOR = 0.5
    return ingested_index_video(ava_dataset, tmp_path, seconds=4)
