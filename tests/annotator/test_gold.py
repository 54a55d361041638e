"""Managers mark a random sample of a video's or dataset's keyframes gold (REST and the page);
only keyframes still to review and not gold yet are drawn; reviewers may not."""

from __future__ import annotations

from annotator.models import AuditEvent, Keyframe
from tests.factories import KeyframeFactory, VideoFactory

API = "/api/v1/gold/"


def test_a_manager_marks_a_random_sample_gold(manager_client, reviewer_client, ava_dataset):  # type: ignore[no-untyped-def]
    first, second = VideoFactory(dataset=ava_dataset), VideoFactory(dataset=ava_dataset)
    for video in (first, second):
        for timestamp in range(902, 912):
            KeyframeFactory(video=video, timestamp=timestamp)
    Keyframe.objects.filter(video=first, timestamp__lt=906).update(status="reviewed")

    response = manager_client.post(API, {"video": first.pk, "count": 3, "seed": 1}, format="json")
    assert response.status_code == 200, response.content
    marked = response.json()["keyframes"]
    gold = Keyframe.objects.filter(gold=True)
    assert sorted(gold.values_list("pk", flat=True)) == marked and len(marked) == 3
    assert all(k.video_id == first.pk and k.status == "unreviewed" for k in gold)
    # The same seed over the same candidates draws the same sample; the rest are drawn next.
    Keyframe.objects.update(gold=False)
    again = manager_client.post(API, {"video": first.pk, "count": 3, "seed": 1}, format="json")
    assert again.json()["keyframes"] == marked
    rest = manager_client.post(API, {"video": first.pk, "count": 10}, format="json").json()
    assert len(rest["keyframes"]) == 3 and not set(rest["keyframes"]) & set(marked)  # 6 open

    # A dataset-wide sample draws from every video's open keyframes; seeds vary the sample.
    samples = set()
    for seed in range(5):
        Keyframe.objects.update(gold=False)
        body = {"dataset": ava_dataset.pk, "count": 4, "seed": seed}
        samples.add(tuple(manager_client.post(API, body, format="json").json()["keyframes"]))
    assert len(samples) > 1
    assert AuditEvent.objects.filter(verb="keyframes.gold").count() == 8

    denied = reviewer_client.post(API, {"video": first.pk, "count": 1}, format="json")
    assert denied.status_code == 403
    assert manager_client.post(API, {"count": 1}, format="json").status_code == 400


def test_the_assignment_page_marks_gold(client, manager, ava_dataset):  # type: ignore[no-untyped-def]
    video = VideoFactory(dataset=ava_dataset)
    for timestamp in range(902, 906):
        KeyframeFactory(video=video, timestamp=timestamp)
    client.force_login(manager)
    response = client.post("/assignments/", {"action": "gold", "video": video.pk, "count": "2"})
    assert response.status_code == 200
    assert b"2 keyframes marked gold." in response.content
    assert Keyframe.objects.filter(gold=True).count() == 2
