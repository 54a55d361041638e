"""Pre-annotation links its new detector boxes into person tracks and stores the keyframes'
uncertainty under the active version. The detector is the one seam replaced: it returns generated
boxes of two people who cross, so the tracks are known."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.models import BoxScore, Keyframe, ModelVersion, PersonBox
from annotator.services import preannotate
from annotator.services.preannotate import preannotate_start
from annotator.tasks import preannotate_video_task

pytestmark = pytest.mark.django_db

# Per keyframe second: a near person (tall box) walking right, a far one (small) walking left
# through them; on the second and third keyframes someone stands where a reviewer drew person 42.
NEAR = {1: 0.30, 2: 0.36, 3: 0.42}
FAR = {1: 0.45, 2: 0.39, 3: 0.33}
CORNER = (0.0, 0.0, 0.12, 0.3)


def detections(timestamp: int) -> np.ndarray:
    rows = [
        [FAR[timestamp], 0.3, FAR[timestamp] + 0.15, 0.6, 0.8],
        [NEAR[timestamp], 0.2, NEAR[timestamp] + 0.3, 0.9, 0.9],
    ]
    if timestamp > 1:
        rows.append([0.01, 0.0, 0.13, 0.3, 0.7])
    if timestamp == 3:
        rows.reverse()  # the detector's order says nothing about who is who
    return np.asarray(rows, dtype=np.float32)


@pytest.fixture
def crossing_detector(monkeypatch):  # type: ignore[no-untyped-def]
    def detect(video, keyframes, threshold, device, context):  # type: ignore[no-untyped-def]
        return {keyframe.pk: detections(keyframe.timestamp) for keyframe in keyframes}

    monkeypatch.setattr(preannotate, "_detect", detect)


@pytest.fixture
def model_version(ava_dataset, checkpoint, media_root):  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    call_command("register_model", str(checkpoint), dataset=ava_dataset.name, activate=True)
    return ModelVersion.objects.get(dataset=ava_dataset, name="small")


def test_detector_boxes_arrive_as_tracks_and_human_ids_stay(
    video, model_version, crossing_detector
):  # type: ignore[no-untyped-def]
    first = video.keyframes.get(timestamp=1)
    human = PersonBox.objects.create(
        keyframe=first, person_id=42, x1=CORNER[0], y1=CORNER[1], x2=CORNER[2], y2=CORNER[3],
        source="human", state="accepted",
    )  # fmt: skip
    job = preannotate_start(video=video, person_boxes="auto")
    preannotate_video_task(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.message

    human.refresh_from_db()
    assert human.person_id == 42
    tracks: dict[int, dict[float, int]] = {}
    for box in PersonBox.objects.filter(job=job).select_related("keyframe"):
        assert box.person_id is not None
        tracks.setdefault(box.keyframe.timestamp, {})[round(box.x1, 2)] = box.person_id
    near, far = tracks[1][NEAR[1]], tracks[1][FAR[1]]
    assert near != far and 42 not in (near, far)
    for timestamp in (2, 3):
        assert tracks[timestamp][round(NEAR[timestamp], 2)] == near, timestamp
        assert tracks[timestamp][round(FAR[timestamp], 2)] == far, timestamp
        assert tracks[timestamp][0.01] == 42  # the reviewer's person, followed
    assert FAR[3] < NEAR[3]  # they crossed

    # The active version's scores were written, so was each keyframe's uncertainty.
    for keyframe in Keyframe.objects.filter(video=video):
        vectors = [
            np.frombuffer(bytes(scores), dtype=np.float16).astype(np.float64)
            for scores in BoxScore.objects.filter(
                box__keyframe=keyframe, model_version=model_version
            ).values_list("scores", flat=True)
        ]
        assert vectors
        expected = sum(float(np.sum(p * (1 - p))) for p in vectors)
        assert keyframe.uncertainty == pytest.approx(expected, rel=1e-6)
