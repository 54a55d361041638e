"""Fixtures of the pre-annotation and evaluation tests: a small checkpoint, a light person
detector and an ingested generated video."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files import File

from annotator.models import Video
from annotator.services.ingest import video_ingest
from tests.generated import LIGHT_DETECTOR, detector_weights, small_checkpoint, write_index_video


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
    path = write_index_video(tmp_path / "index.mp4", 30, 120)
    video = Video(dataset=ava_dataset, video_id="index")
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    video_ingest(video_id=video.pk)
    video.refresh_from_db()
    return video
