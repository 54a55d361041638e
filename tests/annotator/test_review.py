"""The review queue and its REST endpoints: leases taken by a conditional UPDATE, the queue's order
and filters, lease expiry, read-only keyframes, marks, suggestions rejected on review, and the
fixed query counts of the review resource and the home page."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotator.models import BoxLabel, Keyframe, PersonBox, Source, State
from annotator.services.review import keyframe_take, review_queue
from tests.factories import KeyframeFactory, PersonBoxFactory, VideoFactory


@pytest.fixture
def keyframes(ava_dataset):  # type: ignore[no-untyped-def]
    first = VideoFactory(dataset=ava_dataset, video_id="a")
    second = VideoFactory(dataset=ava_dataset, video_id="b")
    return [
        KeyframeFactory(video=video, timestamp=t) for video in (first, second) for t in (902, 903)
    ]


def test_two_reviewers_taking_the_queue_get_different_keyframes(
    reviewer, other_reviewer, keyframes
):  # type: ignore[no-untyped-def]
    mine = keyframe_take(user=reviewer)
    theirs = keyframe_take(user=other_reviewer)
    assert mine is not None and theirs is not None
    assert mine.pk == keyframes[0].pk and theirs.pk == keyframes[1].pk
    assert (mine.lease_holder, theirs.lease_holder) == (reviewer, other_reviewer)
    # Taking again gives the reviewer the keyframe they hold, not a third one.
    assert keyframe_take(user=reviewer).pk == mine.pk


@pytest.mark.django_db(transaction=True)
def test_reviewers_racing_for_the_queue_never_share_a_keyframe(ava_dataset):  # type: ignore[no-untyped-def]
    from annotator.services.users import user_create

    video = VideoFactory(dataset=ava_dataset)
    for timestamp in range(902, 910):
        KeyframeFactory(video=video, timestamp=timestamp)
    users = [
        user_create(username=f"r{n}", role="reviewer", password="pass-123456") for n in range(4)
    ]
    taken: dict[str, int | None] = {}
    barrier = threading.Barrier(len(users))

    def take(user) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        keyframe = keyframe_take(user=user)
        taken[user.username] = keyframe.pk if keyframe else None
        connection.close()

    threads = [threading.Thread(target=take, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert None not in taken.values()
    assert len(set(taken.values())) == len(users)


def test_the_queue_puts_the_reviewers_own_keyframes_first_and_skips_others(
    reviewer, other_reviewer, keyframes
):  # type: ignore[no-untyped-def]
    assigned = keyframes[3]
    assigned.assignee = reviewer
    assigned.save()
    keyframes[2].assignee = other_reviewer
    keyframes[2].save()
    keyframes[1].status = Keyframe.Status.REVIEWED
    keyframes[1].save()
    excluded = KeyframeFactory(video=keyframes[0].video, timestamp=904, excluded=True)
    queue = list(review_queue(user=reviewer).values_list("pk", flat=True))
    assert queue == [assigned.pk, keyframes[0].pk]
    assert excluded.pk not in queue


def test_a_lease_that_expires_returns_the_keyframe_to_the_queue(
    reviewer, other_reviewer, keyframes, settings
):  # type: ignore[no-untyped-def]
    settings.REVIEW_LEASE_SECONDS = 30
    taken = keyframe_take(user=reviewer, video_id=keyframes[0].video_id)
    assert taken.lease_until > timezone.now() + timedelta(seconds=25)
    assert keyframe_take(user=other_reviewer, video_id=taken.video_id).pk == keyframes[1].pk
    # The first reviewer's lease runs out (their page closed without releasing it).
    Keyframe.objects.filter(pk=taken.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert keyframe_take(user=other_reviewer, video_id=taken.video_id).pk == taken.pk
    taken.refresh_from_db()
    assert taken.lease_holder == other_reviewer


def test_review_redirects_to_exactly_the_keyframe_and_says_when_the_queue_is_empty(
    client, reviewer, keyframes
):  # type: ignore[no-untyped-def]
    client.force_login(reviewer)
    response = client.get("/review/")
    assert response.status_code == 302
    assert response["Location"] == f"/review/{keyframes[0].pk}/"
    video = keyframes[2].video_id
    response = client.get(f"/review/?video={video}")
    assert response["Location"] == f"/review/{keyframes[2].pk}/?video={video}"
    Keyframe.objects.update(status=Keyframe.Status.REVIEWED)
    response = client.get("/review/")
    assert response.status_code == 200
    assert b"Your queue is empty" in response.content


def test_the_lease_endpoints_renew_release_and_refuse_someone_elses(
    reviewer_client, other_reviewer, keyframes
):  # type: ignore[no-untyped-def]
    target = keyframes[0]
    response = reviewer_client.put(f"/api/v1/keyframes/{target.pk}/lease/")
    assert response.status_code == 200 and response.json()["keyframe"] == target.pk
    target.refresh_from_db()
    assert target.lease_holder is not None
    response = reviewer_client.delete(f"/api/v1/keyframes/{target.pk}/lease/")
    assert response.status_code == 204
    target.refresh_from_db()
    assert target.lease_holder is None and target.lease_until is None

    keyframe_take(user=other_reviewer)
    response = reviewer_client.put(f"/api/v1/keyframes/{target.pk}/lease/")
    assert response.status_code == 403
    body = {"version": target.version, "boxes": []}
    response = reviewer_client.put(
        f"/api/v1/keyframes/{target.pk}/annotations/", body, format="json"
    )
    assert response.status_code == 403
    assert "leased to another reviewer" in response.json()["detail"]


def test_a_reviewer_is_refused_on_a_keyframe_assigned_to_someone_else(
    reviewer_client, other_reviewer, keyframes
):  # type: ignore[no-untyped-def]
    target = keyframes[0]
    target.assignee = other_reviewer
    target.save()
    body = {"version": target.version, "boxes": []}
    response = reviewer_client.put(
        f"/api/v1/keyframes/{target.pk}/annotations/", body, format="json"
    )
    assert response.status_code == 403
    review = reviewer_client.get(f"/api/v1/keyframes/{target.pk}/review/").json()
    assert review["read_only"] == f"assigned to {other_reviewer.username}"


def test_the_queue_endpoint_peeks_and_takes(reviewer_client, reviewer, keyframes):  # type: ignore[no-untyped-def]
    peek = reviewer_client.get("/api/v1/review/queue/").json()
    assert peek == {"count": 4, "next": keyframes[0].pk}
    assert Keyframe.objects.filter(lease_holder__isnull=False).count() == 0
    taken = reviewer_client.post("/api/v1/review/queue/", {"skip": keyframes[0].pk}, format="json")
    assert taken.json() == {"keyframe": keyframes[1].pk}
    assert Keyframe.objects.get(pk=keyframes[1].pk).lease_holder == reviewer


def test_flag_with_a_comment_and_exclude(reviewer_client, reviewer, keyframes):  # type: ignore[no-untyped-def]
    target = keyframes[0]
    url = f"/api/v1/keyframes/{target.pk}/mark/"
    response = reviewer_client.post(url, {"version": 1, "mark": "flagged"}, format="json")
    assert response.status_code == 400 and "comment" in response.json()["detail"]
    response = reviewer_client.post(
        url, {"version": 1, "mark": "flagged", "comment": "two people merged"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "flagged"
    response = reviewer_client.post(url, {"version": 1, "mark": "excluded"}, format="json")
    assert response.status_code == 409
    response = reviewer_client.post(url, {"version": 2, "mark": "excluded"}, format="json")
    assert response.status_code == 200 and response.json()["excluded"] is True
    target.refresh_from_db()
    assert target.flag_comment == "two people merged"
    assert target.reviewed_by == reviewer and target.reviewed_at is not None
    assert target.pk not in set(review_queue(user=reviewer).values_list("pk", flat=True))


def test_marking_reviewed_rejects_the_pending_suggestions(reviewer_client, ava_dataset, keyframes):  # type: ignore[no-untyped-def]
    target = keyframes[0]
    stand, walk = (ava_dataset.actions.get(name=name) for name in ("stand", "walk"))
    box = PersonBoxFactory(keyframe=target, source=Source.DETECTOR, state=State.SUGGESTED)
    BoxLabel.objects.create(
        box=box, action=stand, source=Source.MODEL, state="suggested", score=0.9
    )
    BoxLabel.objects.create(box=box, action=walk, source=Source.MODEL, state="suggested", score=0.4)
    other = PersonBoxFactory(keyframe=target, source=Source.DETECTOR, state=State.SUGGESTED)
    body = {
        "version": target.version,
        "status": "reviewed",
        "boxes": [
            {
                "id": box.pk,
                "x1": box.x1,
                "y1": box.y1,
                "x2": box.x2,
                "y2": box.y2,
                "state": "accepted",
                "labels": [
                    {"action_id": stand.action_id, "state": "accepted"},
                    {"action_id": walk.action_id, "state": "suggested"},
                ],
            },
            {
                "id": other.pk,
                "x1": other.x1,
                "y1": other.y1,
                "x2": other.x2,
                "y2": other.y2,
                "state": "suggested",
                "labels": [],
            },
        ],
    }
    response = reviewer_client.put(
        f"/api/v1/keyframes/{target.pk}/annotations/", body, format="json"
    )
    assert response.status_code == 200, response.json()
    states = dict(BoxLabel.objects.filter(box=box).values_list("action__name", "state"))
    assert states == {"stand": "accepted", "walk": "rejected"}
    assert PersonBox.objects.get(pk=other.pk).state == State.REJECTED


def test_the_review_resource_hides_suggestions_on_gold_and_reads_in_fixed_queries(
    reviewer_client, ava_dataset, keyframes
):  # type: ignore[no-untyped-def]
    target = keyframes[1]
    stand = ava_dataset.actions.get(name="stand")

    def add_boxes(count: int) -> None:
        for _ in range(count):
            box = PersonBoxFactory(keyframe=target, source=Source.DETECTOR, state=State.SUGGESTED)
            BoxLabel.objects.create(box=box, action=stand, source=Source.MODEL, score=0.7)
            PersonBoxFactory(keyframe=keyframes[0], person_id=4)

    add_boxes(1)
    with CaptureQueriesContext(connection) as one:
        review = reviewer_client.get(f"/api/v1/keyframes/{target.pk}/review/").json()
    assert review["boxes"][0]["labels"][0]["score"] == 0.7
    assert review["previous"]["id"] == keyframes[0].pk
    assert review["neighbours"] == {"previous": keyframes[0].pk, "next": None}
    add_boxes(5)
    with CaptureQueriesContext(connection) as six:
        review = reviewer_client.get(f"/api/v1/keyframes/{target.pk}/review/").json()
    assert len(review["boxes"]) == 6 and len(review["previous"]["boxes"]) == 6
    assert len(six) == len(one)

    Keyframe.objects.filter(pk=target.pk).update(gold=True)
    review = reviewer_client.get(f"/api/v1/keyframes/{target.pk}/review/").json()
    assert review["boxes"] == []


def test_home_shows_the_queue_and_progress_in_fixed_queries(
    client, reviewer, ava_dataset, keyframes
):  # type: ignore[no-untyped-def]
    client.force_login(reviewer)
    client.get("/")
    with CaptureQueriesContext(connection) as few:
        response = client.get("/")
    assert response.context["progress"]["queue"] == 4
    for video_id in ("c", "d", "e"):
        KeyframeFactory(video=VideoFactory(dataset=ava_dataset, video_id=video_id), timestamp=902)
    Keyframe.objects.filter(pk=keyframes[0].pk).update(status=Keyframe.Status.REVIEWED)
    with CaptureQueriesContext(connection) as more:
        response = client.get("/")
    assert len(more) == len(few)
    row = response.context["progress"]["datasets"][0]
    assert (row["reviewed"], row["total"]) == (1, 7)
    stand = ava_dataset.actions.get(name="stand")
    box = PersonBoxFactory(keyframe=keyframes[2], source=Source.DETECTOR, state=State.SUGGESTED)
    BoxLabel.objects.create(box=box, action=stand, source=Source.MODEL, state="suggested")
    BoxLabel.objects.create(
        box=PersonBoxFactory(keyframe=keyframes[2]), action=stand, source="human", state="accepted"
    )
    row = client.get("/").context["progress"]["datasets"][0]
    assert row["pending"] == 1
    assert [video.pending for video in row["videos"]][:2] == [0, 1]
    assert b"Start reviewing" in response.content


def test_the_keyframe_resource_carries_the_media_urls_of_the_review_resource(
    reviewer_client, video, media_root, keyframes
):  # type: ignore[no-untyped-def]
    keyframe = Keyframe.objects.get(video=video, timestamp=2)
    resource = reviewer_client.get(f"/api/v1/keyframes/{keyframe.pk}/")
    assert resource.status_code == 200
    media = resource.json()["media"]
    review = reviewer_client.get(f"/api/v1/keyframes/{keyframe.pk}/review/").json()
    assert media == review["media"]
    assert media["frame"] == 60 and media["context"]["keyframe_offset"] == pytest.approx(1.5)
    for url in (media["image"], media["model_frames"]["sprite"], media["context"]["clip"]):
        assert url.startswith(f"/media/derived/video-{video.pk}/")
        assert (media_root / url.removeprefix("/media/")).is_file()
    # A keyframe of a video not ingested yet has no media.
    assert reviewer_client.get(f"/api/v1/keyframes/{keyframes[0].pk}/").json()["media"] is None
