"""The review resource's tracks: boxes with a person id on the previous and next keyframes,
rejected ones left out, none on gold keyframes."""

from __future__ import annotations

from annotator.models import Keyframe
from tests.factories import KeyframeFactory, PersonBoxFactory, VideoFactory


def test_the_review_resource_gives_the_neighbours_person_boxes(reviewer_client, ava_dataset):  # type: ignore[no-untyped-def]
    video = VideoFactory(dataset=ava_dataset)
    before, target, after, later = (KeyframeFactory(video=video, timestamp=t) for t in range(4))
    PersonBoxFactory(keyframe=before, person_id=1, x1=0.1)
    PersonBoxFactory(keyframe=before, person_id=None)  # no track
    PersonBoxFactory(keyframe=before, person_id=2, state="rejected", source="detector")
    PersonBoxFactory(keyframe=after, person_id=1, x1=0.2)
    PersonBoxFactory(keyframe=later, person_id=1, x1=0.3)  # two keyframes on: not a neighbour
    response = reviewer_client.get(f"/api/v1/keyframes/{target.pk}/review/")
    assert response.status_code == 200
    tracks = response.json()["tracks"]
    assert [(box["person_id"], box["x1"]) for box in tracks["previous"]] == [(1, 0.1)]
    assert [(box["person_id"], box["x1"]) for box in tracks["next"]] == [(1, 0.2)]

    Keyframe.objects.filter(pk=target.pk).update(gold=True)
    tracks = reviewer_client.get(f"/api/v1/keyframes/{target.pk}/review/").json()["tracks"]
    assert tracks == {"previous": [], "next": []}
